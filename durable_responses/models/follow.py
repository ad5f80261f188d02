"""What followers of a streaming run exchange with it: text by absolute offset, and state."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TextRequest(BaseModel):
    """Input of the `text_after` update: what comes after `offset`, waiting up to a while."""

    offset: int = Field(default=0, ge=0)
    wait_seconds: float = Field(default=30.0, ge=0, le=300)
    max_chars: int = Field(default=65_536, ge=1)


class TextSlice(BaseModel):
    """Answer of `text_after`: `text` starts at `offset`; ask next from `next_offset`."""

    offset: int = 0
    text: str = ""
    next_offset: int = 0
    status: str = ""
    done: bool = False
    response_id: str | None = None
    truncated: bool = Field(
        default=False, description="The asked offset was dropped from state; text starts later."
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
