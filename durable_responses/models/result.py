"""What callers get back: results, progress, statuses and the error types to match on."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

from . import items as _items
from .items import (
    ApprovalRequest,
    Citation,
    FunctionCall,
    OutputItem,
    WebSearch,
)

if TYPE_CHECKING:
    from openai.types.responses import Response

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
    RESOURCE_UNAVAILABLE = "OpenAIResourceUnavailable"
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
    # Outcomes of an agent loop.
    AGENT_TURN_LIMIT = "AgentTurnLimit"
    AGENT_BUDGET_EXCEEDED = "AgentBudgetExceeded"
    APPROVAL_REJECTED = "ApprovalRejected"
    APPROVAL_TIMED_OUT = "ApprovalTimedOut"
    SESSION_CONTINUING = "SessionContinuing"


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


class OutputIncomplete(LookupError):
    """A result does not hold every output item whole (see `ResponseResult.omitted_items`,
    `output_text_offset`): the provider has them, `retrieve(response_id)` gets them."""


class ResponseResult(BaseModel):
    """Output of both workflows: the answer text, and every output item of the response."""

    response_id: str = ""
    status: str = ""
    model: str = ""
    output_text: str = ""
    output_text_offset: int = Field(
        default=0, description="Characters dropped from the head (only past max_carried_chars)."
    )
    output: list[OutputItem] = Field(
        default_factory=list,
        description="Every output item as the API sent it (messages with their annotations, "
        "reasoning, function calls, web searches, approval requests, tool outputs...). See "
        "`output_text_lengths` and `omitted_items` for the two ways a very large result "
        "keeps under Temporal's payload limit.",
    )
    output_kind: str = Field(
        default="",
        description="What the response asks of its caller: `text`, `function_calls`, "
        "`approval_requests`, `refusal` or `no_output` (`items.OutputKind`).",
    )
    output_text_lengths: list[int] | None = Field(
        default=None,
        description="Set when the text of messages' `output_text` parts is left out of "
        "`output` (it is `output_text`): the parts' lengths, in order. `output_items()` puts "
        "the text back.",
    )
    omitted_items: list[int] = Field(
        default_factory=list,
        description="Positions of items too large to keep here: `output[i]` holds only their "
        "`id`, `type` and `status`; the provider keeps them whole.",
    )
    response: dict[str, Any] | None = Field(
        default=None,
        description="The API's final response object without its `output` (tools, usage, "
        "instructions...): with `output`, `to_response()` rebuilds the SDK's `Response`.",
    )
    service_tier: str | None = Field(default=None, description="The tier that served it.")
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

    def output_items(self) -> list[OutputItem]:
        """Every output item whole, message text included.

        Raises `OutputIncomplete` if some were too large to keep in the result (the provider
        has them).
        """
        if self.omitted_items:
            raise OutputIncomplete(
                f"items {self.omitted_items} of response {self.response_id} were too large for "
                "the result; retrieve the response from the provider"
            )
        if self.output_text_lengths is None:
            return list(self.output)
        if self.output_text_offset:
            raise OutputIncomplete(
                f"the first {self.output_text_offset} characters of response "
                f"{self.response_id}'s text were not kept; retrieve it from the provider"
            )
        return _items.inflate_message_text(self.output, self.output_text_lengths, self.output_text)

    def to_response(self) -> Response:
        """The SDK's own `openai.types.responses.Response`, as the API sent it.

        Validated by the SDK's model; a response with item types newer than the installed
        SDK is built the way the SDK builds the API's answers (unvalidated, nothing dropped).
        Raises `OutputIncomplete` when the result does not hold everything (see
        `output_items`), and `ValueError` for a result from before items were kept.
        """
        from openai.types.responses import Response
        from pydantic import ValidationError

        if self.response is None:
            raise ValueError(f"result of {self.response_id} holds no response object")
        body = {**self.response, "output": self.output_items()}
        try:
            return Response.model_validate(body)
        except ValidationError:
            return Response.model_construct(**body)

    def function_calls(self) -> list[FunctionCall]:
        """The function (and custom tool) calls the response asks the caller to run."""
        return _items.function_calls(self.output)

    def approval_requests(self) -> list[ApprovalRequest]:
        """The MCP approval requests the response waits on."""
        return _items.approval_requests(self.output)

    def citations(self) -> list[Citation]:
        """Every annotation (URL, file citation...) on the answer text."""
        return _items.citations(self.output)

    def web_searches(self) -> list[WebSearch]:
        """The web searches the response made."""
        return _items.web_searches(self.output)


class Progress(BaseModel):
    """Answer of the `progress` query of both workflows (`cursor`, `text_length`,
    `reasoning_length`, `chunks` and `resumes` count for streams only)."""

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
    items: int = Field(default=0, description="Output items recorded so far.")
    activity: str | None = Field(
        default=None, description='The latest item in a line, e.g. `searching: "…"`.'
    )


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
            "schema": strict_schema(model),
            "strict": True,
        }
    }


def strict_schema(model: type[BaseModel]) -> dict[str, Any]:
    """`model`'s JSON schema as OpenAI's strict mode wants it (see `text_format_param`)."""
    schema: dict[str, Any] = _strict(model.model_json_schema())
    return schema


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
