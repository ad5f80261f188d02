"""Inputs and outputs of the activities: slim copies of what the OpenAI SDK returns.

No `openai` type crosses an activity boundary: activities build these from the SDK's objects.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from durable_responses.models import PollPolicy, ResponseErrorInfo, ResponseParams, Usage
from durable_responses.models.fitting import RecordedItem
from durable_responses.models.items import OutputItem


class ResponseSnapshot(BaseModel):
    """A response as one retrieve saw it; built inside activities from the SDK's object.

    A finished response comes whole: every output item as the API sent it and the response
    object around them (`response`), shaped to fit Temporal's payload limit as a result is
    (`output_text_lengths`, `omitted_items`, `output_text_offset`; see `ResponseResult`).
    A running one comes slim unless asked (`ResponseRef.partial_output`): its status and how
    many items it has, not what they hold, so a long run's polls keep history small.
    """

    id: str = ""
    status: str = ""
    model: str = ""
    output_text: str = ""
    output_text_offset: int = 0
    reasoning_summary: str = ""
    usage: Usage | None = None
    error: ResponseErrorInfo | None = None
    incomplete_reason: str | None = None
    created_at: float | None = None
    completed_at: float | None = None
    output: list[OutputItem] = Field(default_factory=list)
    output_text_lengths: list[int] | None = None
    omitted_items: list[int] = Field(default_factory=list)
    response: dict[str, Any] | None = Field(
        default=None, description="The response object without `output` (finished only)."
    )
    service_tier: str | None = None
    item_count: int = Field(default=0, description="Output items the response has so far.")
    activity: str | None = Field(default=None, description="Its latest item, in a line.")
    webhooks: bool = Field(
        default=False,
        description="Set by the create: a webhook receiver wakes the workflow when the "
        "response ends, so polls are a slow safety net.",
    )
    polls: int = Field(
        default=0, description="Set by the create: the first polls it made itself (retrieves)."
    )


class CreateResponseInput(BaseModel):
    """Input of `create_background_response`."""

    params: ResponseParams = Field(default_factory=lambda: ResponseParams(input="-"))
    first_polls: PollPolicy | None = Field(
        default=None,
        description="Poll on these intervals inside the activity, heartbeating, while the "
        "next poll is due within `first_polls_seconds` of the create (None: answer at once).",
    )
    first_polls_seconds: float = Field(default=0.0, ge=0)


class FirstPollsHeartbeat(BaseModel):
    """Heartbeat details of a create that polls: a retried attempt resumes polling this
    response instead of creating another."""

    response_id: str
    status: str = ""
    model: str = ""
    polls: int = 0
    created_at: float = Field(description="Wall-clock time of the create's answer (epoch s).")


class EncodedSize(BaseModel):
    """How large a value is once the worker's data converter (and codec) has encoded it."""

    bytes: int


class ResponseRef(BaseModel):
    """Input of `retrieve_response` and `cancel_response`."""

    response_id: str = ""
    partial_output: bool = Field(
        default=False,
        description="Also return the text and items of a response still running (the "
        "streaming workflow's polling fallback appends them as they come).",
    )


class ReadStreamChunkInput(BaseModel):
    """Input of `read_stream_chunk`: create+read when `response_id` is None, else resume."""

    params: ResponseParams | None = None
    response_id: str | None = None
    cursor: int | None = Field(default=None, description="Read events after this one.")
    budget_seconds: float = Field(default=1.0, gt=0)
    retry_budget_seconds: float = Field(
        default=0.5, gt=0, description="Budget of a retried attempt: text flows again fast."
    )
    max_chars: int = Field(default=32_000, ge=1)


class StreamChunk(BaseModel):
    """Output of `read_stream_chunk`: what was read after the cursor, and where it stopped."""

    response_id: str = ""
    model: str = Field(default="", description="The model serving the response, once known.")
    text: str = Field(default="", description="Answer text deltas of this chunk, in order.")
    reasoning_summary: str = Field(default="", description="Reasoning summary deltas.")
    cursor: int | None = None
    events: int = 0
    status: str = ""
    snapshot: ResponseSnapshot | None = Field(
        default=None,
        description="The final response when the chunk reached its end; from a stream its "
        "text is left out (it came as deltas).",
    )
    interrupted: bool = Field(
        default=False, description="The connection broke; the next chunk resumes the cursor."
    )
    attempt: int = 1
    stopped_by: Literal["budget", "size", "terminal", "interrupted", "shutdown", "end"] = "budget"


class StreamHeartbeat(BaseModel):
    """Heartbeat details of `read_stream_chunk`: lets a retried create attach, not re-create."""

    response_id: str | None = None
    cursor: int | None = None


class StreamReaderInput(BaseModel):
    """Input of `stream_background_response`: create and read (no `response_id`), or attach
    after `cursor`. A retried attempt asks the workflow where it stands instead of trusting
    this input, which is the state when the reader was first scheduled."""

    params: ResponseParams | None = None
    response_id: str | None = None
    cursor: int | None = Field(default=None, description="Read events after this one.")
    text_length: int = Field(default=0, description="Absolute length of the recorded text.")
    reasoning_length: int = Field(default=0, description="... and of the reasoning summary.")
    item_count: int = Field(default=0, description="... and the output items recorded.")
    first_batch_seconds: float = Field(default=0.5, gt=0)
    batch_growth: float = Field(default=2.0, ge=1.0)
    max_batch_seconds: float = Field(default=10.0, gt=0)
    max_batch_chars: int = Field(default=32_000, ge=1)
    end_in_result: bool = Field(
        default=False,
        description="Return the terminal batch as the result instead of signalling it: the "
        "workflow records it from there (one signal and one workflow task fewer per run).",
    )


class StreamBatch(BaseModel):
    """Signal `record_stream_batch`: events `(after, cursor]` of one response, folded.

    The workflow appends what starts at its recorded cursor and text length and ignores what
    it already has, so a batch delivered twice, or by a reader that lost its worker, is
    harmless. `text` starts at absolute offset `offset`, `reasoning_summary` at
    `reasoning_offset`.
    """

    response_id: str
    model: str = ""
    after: int | None = Field(description="The cursor this batch continues from.")
    cursor: int | None = Field(description="Sequence number of the batch's last event.")
    offset: int = 0
    text: str = ""
    reasoning_offset: int = 0
    reasoning_summary: str = ""
    status: str = ""
    snapshot: ResponseSnapshot | None = Field(
        default=None,
        description="The final response (its text and items came before, left out).",
    )
    attempt: int = 1
    reconnects: int = Field(default=0, description="Cut streams resumed since the last batch.")
    items_from: int = Field(
        default=0, description="Output index of `items[0]`: the items recorded before it."
    )
    items: list[RecordedItem] = Field(
        default_factory=list, description="Output items finished in this batch, in order."
    )
    activity: str | None = Field(default=None, description="The item being read, in a line.")
    current_index: int | None = Field(
        default=None, description="Output index of the item being written, if any."
    )
    current_item: OutputItem | None = Field(
        default=None,
        description="That item as `output_item.added` showed it (text elided): its id and type "
        "let a gateway stream its text before it is done.",
    )


class StreamReaderEnd(BaseModel):
    """Output of `stream_background_response`, once the terminal batch is recorded or, with
    `end_in_result`, is `last`, for the workflow to record."""

    response_id: str = ""
    cursor: int | None = None
    batches: int = 0
    stream_opens: int = 0
    last: StreamBatch | None = None
