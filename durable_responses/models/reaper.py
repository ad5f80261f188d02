"""What the reaper is asked and what it reports: responses left running by closed workflows."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ReapRequest(BaseModel):
    """Input of the reaper (command, activity and scheduled workflow alike)."""

    older_than_seconds: float = Field(
        default=600.0,
        ge=0,
        description="Only workflows closed at least this long ago: a run that just closed "
        "may still be cancelling its response itself.",
    )
    dry_run: bool = Field(
        default=False, description="Report what would be cancelled; cancel nothing."
    )
    max_workflows: int = Field(default=1000, ge=1, description="Bound on one pass.")


class ReapReport(BaseModel):
    """What one pass found and did; response ids by outcome."""

    checked: int = Field(default=0, description="Closed workflows with a non-terminal response.")
    cancelled: list[str] = Field(default_factory=list)
    already_ended: list[str] = Field(
        default_factory=list, description="Ended upstream meanwhile (or reaped before)."
    )
    failed: list[str] = Field(default_factory=list, description="Cancel calls that failed.")
    dry_run: bool = False
