"""What followers of a streaming run exchange with it: text by absolute offset, and state."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from .items import ItemNote


class TextRequest(BaseModel):
    """Input of the `text` query (`wait_seconds` unused) and of the `text_after` update: what
    comes after `offset`, the update waiting up to `wait_seconds` for it."""

    # A misspelt key (`ofset`) is refused, not read as offset 0.
    model_config = ConfigDict(extra="forbid")

    offset: int = Field(default=0, ge=0)
    wait_seconds: float = Field(default=30.0, ge=0, le=300)
    max_chars: int = Field(default=65_536, ge=1)
    items_from: int | None = Field(
        default=None,
        ge=0,
        description="Also describe the output items recorded from this index on (`items`).",
    )


class TextSlice(BaseModel):
    """Answer of `text` and `text_after`: `text` starts at `offset`; ask next from
    `next_offset`."""

    offset: int = 0
    text: str = ""
    next_offset: int = 0
    status: str = ""
    done: bool = False
    response_id: str | None = None
    truncated: bool = Field(
        default=False, description="The asked offset was dropped from state; text starts later."
    )
    items: list[ItemNote] = Field(
        default_factory=list,
        description="Output items recorded from `items_from` on, one line each (only when "
        "asked for).",
    )
    next_item: int | None = Field(default=None, description="Ask next from this item index.")
    activity: str | None = Field(
        default=None, description='What the stream is doing now, e.g. `searching: "…"`.'
    )


class StreamState(BaseModel):
    """Answer of the streaming workflow's `state` query."""

    response_id: str | None = None
    status: str = "starting"
    cursor: int | None = None
    text: str = ""
    text_offset: int = 0
    text_length: int = 0
    reasoning_summary: str = ""
    chunks: int = 0
    resumes: int = 0
    done: bool = False
    items: list[ItemNote] = Field(default_factory=list, description="Output items so far.")


class StreamTail(BaseModel):
    """The text a stream's reader has read but not yet recorded: its heartbeat details.

    Followers read it with `describe` (no history, no handler limit) and take what starts at or
    before their offset. It is the provider's text at absolute `offset`, so once recorded it is
    the same characters: a follower that showed the tail sees no repeat and no gap.
    """

    response_id: str | None = None
    offset: int = Field(default=0, description="Absolute offset of `text`'s first character.")
    text: str = ""
    cursor: int | None = Field(default=None, description="Last event read into `text`.")
    activity: str | None = Field(
        default=None, description='The item being read now, e.g. `searching: "…"`.'
    )
    current_index: int | None = Field(
        default=None, description="Output index of the item being read when `text` ended."
    )
    current_id: str | None = Field(default=None, description="... and its id.")
