"""What callers get back: results, progress, statuses and the error types to match on."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

ResponseStatus = Literal["queued", "in_progress", "completed", "failed", "cancelled", "incomplete"]
ACTIVE_STATUSES = frozenset({"queued", "in_progress"})


def is_terminal(status: str | None) -> bool:
    """Anything but queued/in_progress is final, including statuses added to the API later;
    no status (none seen yet) is not."""
    return bool(status) and status not in ACTIVE_STATUSES


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
    OUTPUT_INVALID = "StructuredOutputInvalid"
    POLL_QUEUE_UNSERVED = "PollQueueUnserved"


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
    reasoning_length: int = 0
    chunks: int = 0
    resumes: int = 0


ModelT = TypeVar("ModelT", bound=BaseModel)


class ParsedResult(ResponseResult, Generic[ModelT]):
    """A result whose text was asked for as JSON of a model's schema, validated into it."""

    output_parsed: ModelT | None = None


def text_format_param(model: type[BaseModel]) -> dict[str, Any]:
    """The Responses API `text` parameter asking for JSON that `model` validates (strict).

    OpenAI's strict mode wants every object closed (`additionalProperties: false`) with all
    its properties required, and no `default`; optional fields stay nullable. Same shape as
    the SDK's `responses.parse(text_format=...)`, built here without importing the SDK.
    """
    return {
        "format": {
            "type": "json_schema",
            "name": model.__name__,
            "schema": _strict(model.model_json_schema()),
            "strict": True,
        }
    }


def _strict(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    closed = {key: _strict(value) for key, value in schema.items() if key != "default"}
    if closed.get("type") == "object" and "properties" in closed:
        closed["additionalProperties"] = False
        closed["required"] = list(closed["properties"])
    return closed
