"""Wire contracts shared by workflows, activities and clients: pydantic models and names.

A leaf module: it imports neither `workflows` nor the OpenAI SDK, so the workflow sandbox can
pass it through and no `openai` type ever crosses an activity boundary. Every field has a
default, so adding one never breaks a running workflow.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

TASK_QUEUE = "durable-responses"
"""The one task queue every worker of this project polls (overridable on the worker)."""

DEFAULT_MODEL = "o3"
"""Model used when a request names none and the worker sets no `DURABLE_RESPONSES_MODEL`."""

ResponseStatus = Literal["queued", "in_progress", "completed", "failed", "cancelled", "incomplete"]
ACTIVE_STATUSES = frozenset({"queued", "in_progress"})

# Create parameters the workflows own; a request may not set them through `params`.
RESERVED_PARAMS = frozenset({"background", "stream", "store"})
METADATA_WORKFLOW_KEY = "temporal_workflow_id"


def is_terminal(status: str | None) -> bool:
    """Anything but queued/in_progress is final, including statuses added to the API later."""
    return status is not None and status not in ACTIVE_STATUSES


class ErrorType:
    """`ApplicationError.type` values a caller can match on."""

    # Calls to the API (raised by activities; see activities/errors.py).
    BAD_REQUEST = "OpenAIBadRequest"
    AUTHENTICATION = "OpenAIAuthentication"
    PERMISSION_DENIED = "OpenAIPermissionDenied"
    NOT_FOUND = "OpenAINotFound"
    UNPROCESSABLE = "OpenAIUnprocessableEntity"
    QUOTA_EXCEEDED = "OpenAIQuotaExceeded"
    STREAM_EXPIRED = "OpenAIStreamExpired"
    REQUEST_TIMEOUT = "OpenAIRequestTimeout"
    CONFLICT = "OpenAIConflict"
    RATE_LIMITED = "OpenAIRateLimited"
    SERVER_ERROR = "OpenAIServerError"
    CONNECTION_ERROR = "OpenAIConnectionError"
    TIMEOUT = "OpenAITimeout"
    API_ERROR = "OpenAIError"
    # Outcomes of a workflow.
    RESPONSE_FAILED = "ResponseFailed"
    RESPONSE_CANCELLED = "ResponseCancelled"
    DEADLINE_EXCEEDED = "DeadlineExceeded"
    INVALID_REQUEST = "InvalidRequest"
    POLL_QUEUE_UNSERVED = "PollQueueUnserved"


# ---- requests ------------------------------------------------------------------------------------


class Reasoning(BaseModel):
    """The Responses API `reasoning` option."""

    effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None
    summary: Literal["auto", "concise", "detailed"] | None = None


class ResponseParams(BaseModel):
    """What goes to `POST /v1/responses`; field names mirror the Responses API."""

    model_config = ConfigDict(extra="forbid")

    input: str | list[dict[str, Any]] = Field(
        default="", description="The prompt: a string or a list of input messages/items."
    )
    instructions: str | None = Field(default=None, description="System/developer message.")
    model: str | None = Field(
        default=None,
        description="Model id; None takes the worker's default (DURABLE_RESPONSES_MODEL, o3).",
    )
    previous_response_id: str | None = Field(default=None, description="Multi-turn chaining.")
    max_output_tokens: int | None = Field(default=None, ge=1)
    reasoning: Reasoning | None = None
    metadata: dict[str, str] = Field(
        default_factory=dict,
        description=f"Up to 15 pairs; `{METADATA_WORKFLOW_KEY}` is added by the workflow.",
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Other create parameters passed through verbatim (tools, text, temperature…).",
    )

    @field_validator("metadata")
    @classmethod
    def _metadata_fits(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > 15:
            raise ValueError("at most 15 metadata pairs (the workflow adds its own id)")
        if METADATA_WORKFLOW_KEY in value:
            raise ValueError(f"metadata key {METADATA_WORKFLOW_KEY!r} is set by the workflow")
        return value

    @field_validator("params")
    @classmethod
    def _params_not_owned(cls, value: dict[str, Any]) -> dict[str, Any]:
        owned = sorted(RESERVED_PARAMS & value.keys())
        if owned:
            raise ValueError(f"{owned} are set by the workflow and cannot be passed in params")
        first_class = sorted(value.keys() & (ResponseParams.model_fields.keys() - {"params"}))
        if first_class:
            raise ValueError(f"{first_class} are top-level request fields, not params")
        return value

    @model_validator(mode="after")
    def _has_input(self) -> ResponseParams:
        if not self.input and self.previous_response_id is None:
            raise ValueError("'input' is required (a non-empty string or list of items)")
        return self

    def api_params(self) -> ResponseParams:
        """Just the API part of a (sub-class) request."""
        return ResponseParams.model_validate(
            self.model_dump(include=set(ResponseParams.model_fields))
        )


class PollPolicy(BaseModel):
    """How often to poll: the interval starts short and grows, because long runs are long."""

    model_config = ConfigDict(extra="forbid")

    initial_interval_seconds: float = Field(default=2.0, gt=0)
    backoff: float = Field(default=1.5, ge=1.0)
    max_interval_seconds: float = Field(default=60.0, gt=0)
    max_polls_per_run: int = Field(
        default=1000, ge=1, description="Continue-as-new after this many polls in one run."
    )
    task_queue: str | None = Field(
        default=None,
        min_length=1,
        description="Poll with regular activities on this task queue, so a task-queue-wide "
        "dispatch rate limits them (see README, Rate limits); default: local activities on "
        "the workflow's worker (fewer history events, no server-side rate limit).",
    )
    task_queue_timeout_seconds: float = Field(
        default=600.0,
        gt=0,
        description="With `task_queue`: fail (`PollQueueUnserved`) when no worker starts a "
        "poll for this long, rather than wait silently for a queue nobody serves.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> PollPolicy:
        if self.max_interval_seconds < self.initial_interval_seconds:
            raise ValueError("max_interval_seconds must be >= initial_interval_seconds")
        return self

    def next_interval(self, current: float) -> float:
        return min(current * self.backoff, self.max_interval_seconds)


class StreamPolicy(BaseModel):
    """How the streaming workflow cuts the stream into recorded chunks."""

    model_config = ConfigDict(extra="forbid")

    first_chunk_seconds: float = Field(
        default=0.5, gt=0, description="Budget of the first chunk: first text shows fast."
    )
    chunk_growth: float = Field(default=2.0, ge=1.0)
    max_chunk_seconds: float = Field(
        default=5.0, gt=0, description="Longest chunk: bounds how late followers see text."
    )
    max_chunk_chars: int = Field(
        default=32_000, ge=1, description="A chunk ends early past this much text."
    )
    heartbeat_timeout_seconds: float = Field(
        default=3.0, gt=0, description="How fast a dead worker's chunk is given to another."
    )
    max_chunks_per_run: int = Field(
        default=500, ge=1, description="Continue-as-new after this many chunks in one run."
    )
    max_carried_chars: int = Field(
        default=500_000,
        ge=1,
        description="Text kept in workflow state; beyond it the head is dropped (see README).",
    )

    @model_validator(mode="after")
    def _ordered(self) -> StreamPolicy:
        if self.max_chunk_seconds < self.first_chunk_seconds:
            raise ValueError("max_chunk_seconds must be >= first_chunk_seconds")
        return self


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
    chunks: int = 0
    resumes: int = 0
    chunk_seconds: float | None = None
    polling_fallback: bool = False


class ResponseRequest(ResponseParams):
    """Input of both workflows: the API parameters plus how to wait for the result."""

    poll: PollPolicy = Field(default_factory=PollPolicy)
    streaming: StreamPolicy = Field(default_factory=StreamPolicy)
    deadline_seconds: float | None = Field(
        default=None, gt=0, description="Give up (and cancel upstream) after this long."
    )
    resume: ResumeState | None = Field(default=None, description="Set by continue-as-new.")


# ---- results -------------------------------------------------------------------------------------


class Usage(BaseModel):
    """Token usage of a response."""

    input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    total_tokens: int = 0


class ResponseErrorInfo(BaseModel):
    """The API's `error` object of a failed response."""

    code: str | None = None
    message: str = ""


class ResponseSnapshot(BaseModel):
    """A response as one retrieve saw it; built inside activities from the SDK's object."""

    id: str = ""
    status: str = ""
    model: str = ""
    output_text: str = ""
    reasoning_summary: str = ""
    usage: Usage | None = None
    error: ResponseErrorInfo | None = None
    incomplete_reason: str | None = None
    created_at: float | None = None
    completed_at: float | None = None


class ResponseResult(BaseModel):
    """Output of both workflows."""

    response_id: str = ""
    status: str = ""
    model: str = ""
    output_text: str = ""
    output_text_offset: int = Field(
        default=0, description="Characters dropped from the head (only past max_carried_chars)."
    )
    reasoning_summary: str = ""
    usage: Usage | None = None
    error: ResponseErrorInfo | None = None
    incomplete_reason: str | None = None
    polls: int = 0
    runs: int = Field(default=1, description="Workflow runs: 1 + continue-as-new count.")
    cursor: int | None = Field(default=None, description="Streaming: last sequence_number read.")
    resumes: int = Field(default=0, description="Streaming: reads resumed after a fault.")
    chunks: int = Field(default=0, description="Streaming: chunks recorded.")
    started_at: datetime | None = None
    finished_at: datetime | None = None
    response_created_at: datetime | None = None
    response_completed_at: datetime | None = None


class Progress(BaseModel):
    """Answer of the `progress` query of both workflows."""

    response_id: str | None = None
    status: str = "starting"
    model: str = ""
    polls: int = 0
    runs: int = 1
    elapsed_seconds: float = 0.0
    started_at: datetime | None = None
    next_poll_at: datetime | None = None
    cursor: int | None = None
    text_length: int = 0
    chunks: int = 0
    resumes: int = 0


# ---- activity inputs and outputs -----------------------------------------------------------------


class CreateResponseInput(BaseModel):
    """Input of `create_background_response`."""

    params: ResponseParams = Field(default_factory=lambda: ResponseParams(input="-"))


class ResponseRef(BaseModel):
    """Input of `retrieve_response` and `cancel_response`."""

    response_id: str = ""


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
