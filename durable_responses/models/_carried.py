"""What continue-as-new carries into the next run: private to the workflows, never a caller's."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from .fitting import RecordedItem
from .request import ResponseRequest


class ResumeState(BaseModel):
    """What continue-as-new carries into the next run. Set by the workflow, not by callers."""

    response_id: str | None = None
    status: str | None = None
    model: str = ""
    started_at: datetime | None = None
    deadline_at: datetime | None = None
    polls: int = 0
    interval_seconds: float | None = None
    runs: int = 1
    # streaming only
    cursor: int | None = None
    text: str = ""
    text_offset: int = 0
    reasoning_summary: str = ""
    reasoning_offset: int = 0
    chunks: int = 0
    resumes: int = 0
    chunk_seconds: float | None = None
    polling_fallback: bool = False
    items: list[RecordedItem] = Field(
        default_factory=list,
        description="Streaming: the output items recorded, message text elided (it is `text`).",
    )
    activity: str | None = Field(default=None, description="The latest item, in a line.")
    webhooks: bool = Field(default=False, description="A webhook receiver will wake the run.")
    current_index: int | None = Field(default=None, description="Streaming: item being written.")
    current_item: dict[str, Any] | None = Field(
        default=None, description="Streaming: that item as it was added (text elided)."
    )
    tier_fallback: bool = Field(
        default=False, description="Flex stayed unavailable: created on the default tier."
    )
    recheck_seconds: float | None = Field(
        default=None, description="After a webhook the poll did not confirm: the next re-poll."
    )
    recheck_until: datetime | None = Field(
        default=None, description="... and when those re-polls give way to the safety net."
    )

    @property
    def text_length(self) -> int:
        """Absolute length of the recorded text (the part before `text_offset` was dropped)."""
        return self.text_offset + len(self.text)

    @property
    def reasoning_length(self) -> int:
        """... and of the recorded reasoning summary."""
        return self.reasoning_offset + len(self.reasoning_summary)


class CarriedRequest(ResponseRequest):
    """The workflows' run input: the public request, plus the state a continued run carries.

    Callers send a `ResponseRequest`; only continue-as-new sets `resume`. The field keeps its
    name so runs that continued as new before this split still decode.
    """

    resume: ResumeState | None = Field(default=None, description="Set by continue-as-new only.")
