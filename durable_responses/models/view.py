"""What a streaming run shows of its response while it runs: the finished items, the text
recorded so far and the item being written. A gateway builds OpenAI's `Response` and its event
stream from it; a query returns it, so reading costs the run no history.

A leaf module (pydantic only).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .fitting import RecordedItem


class ViewRequest(BaseModel):
    """Input of the `view` query: what the asker has already (so only the rest comes back)."""

    model_config = ConfigDict(extra="forbid")

    items_from: int = Field(default=0, ge=0)
    text_from: int = Field(default=0, ge=0)


class RunView(BaseModel):
    """Answer of the `view` query of `StreamingResponseWorkflow`."""

    upstream_id: str | None = Field(default=None, description="The provider's response id.")
    status: str = "starting"
    model: str = ""
    started_at: datetime | None = None
    items_from: int = 0
    items: list[RecordedItem] = Field(
        default_factory=list, description="Finished items from `items_from` on, text elided."
    )
    item_count: int = 0
    text_offset: int = Field(default=0, description="Absolute offset of `text`.")
    text: str = Field(default="", description="Recorded output text from `text_offset` on.")
    text_length: int = Field(default=0, description="Absolute length of the recorded text.")
    dropped: int = Field(
        default=0, description="Characters of text no longer kept (past max_carried_chars)."
    )
    current_index: int | None = None
    current_item: dict[str, Any] | None = Field(
        default=None, description="The item being written, as added (text elided)."
    )
    finished: bool = Field(default=False, description="The terminal batch is in.")
    response: dict[str, Any] | None = Field(
        default=None, description="Once finished: the response object without its output."
    )
