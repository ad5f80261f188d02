"""What callers send: the request both workflows take, and how to wait for its result.

A leaf module (pydantic only), so workflow code passes it through the sandbox and clients,
activities and workflows share one definition. Every field has a default, so adding one
never breaks a running workflow.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

TASK_QUEUE = "durable-responses"
"""The one task queue every worker of this project polls (overridable on the worker)."""

DEFAULT_MODEL = "o3"
"""Model used when a request names none and the worker sets no `DURABLE_RESPONSES_MODEL`."""

# Create parameters the workflows own; a request may not set them through `params`.
RESERVED_PARAMS = frozenset({"background", "stream", "store"})
METADATA_WORKFLOW_KEY = "temporal_workflow_id"

MAX_SECONDS = 365 * 24 * 3600
"""Bound of every `*_seconds` duration of a request (a year): longer than any response runs,
and well inside what the workflows' timers, timeouts and datetimes hold. Past it, a deadline of
1e12 s or an interval of 1e15 s overflows `datetime`/`timedelta` in workflow code, which fails
the workflow task again and again instead of failing the workflow."""

FIRST_POLLS_SECONDS = 10.0
"""How long after the create its activity keeps polling itself (`PollPolicy.first_polls_seconds`).

Long enough for the default intervals' first three polls (2, 5 and 9.5 s) and for the short
runs whose Temporal overhead dominates; short because until the activity returns the run shows
no response id or polls, and the activity holds a worker slot. A run of minutes gets durable
sleeps after it, so a crash still costs nothing but the heartbeat timeout."""
MAX_FIRST_POLLS_SECONDS = 60.0
"""Upper bound of `first_polls_seconds`: runs longer than this are what durable sleeps are for."""


class Reasoning(BaseModel):
    """The Responses API `reasoning` option."""

    # A misspelt key (`sumary`) is refused, not silently left out of the create.
    model_config = ConfigDict(extra="forbid")

    effort: Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"] | None = None
    summary: Literal["auto", "concise", "detailed"] | None = None
    mode: str | None = Field(
        default=None, min_length=1, description="Execution mode, e.g. `standard` or `pro`."
    )
    context: Literal["auto", "current_turn", "all_turns"] | None = Field(
        default=None, description="Which reasoning items later turns see."
    )


class BackgroundOptions(BaseModel):
    """The Responses API `background_options`: how soon a background response must finish."""

    model_config = ConfigDict(extra="forbid")

    completion_window: Literal["soonest", "2h", "8h"] | None = Field(
        default=None,
        description="`2h` and `8h` select discounted background execution (polling only, "
        "standard tier); default `soonest`.",
    )
    continuation_id: str | None = Field(
        default=None,
        min_length=1,
        description="Groups related background requests (e.g. the turns of one pipeline) "
        "for queue priority; adds no history to the input.",
    )


class ResponseParams(BaseModel):
    """What goes to `POST /v1/responses`; field names mirror the Responses API.

    Fields the API takes that are not declared here (newer ones included) are accepted at the
    top level and sent verbatim: the API, not this model, decides what it knows.
    """

    model_config = ConfigDict(extra="allow")

    input: str | list[dict[str, Any]] = Field(
        default="", description="The prompt: a string or a list of input messages/items."
    )
    instructions: str | None = Field(default=None, description="System/developer message.")
    model: str | None = Field(
        default=None,
        min_length=1,  # "" would silently take the default
        description="Model id; None takes the worker's default (DURABLE_RESPONSES_MODEL, o3).",
    )
    previous_response_id: str | None = Field(default=None, description="Multi-turn chaining.")
    max_output_tokens: int | None = Field(default=None, ge=1)
    reasoning: Reasoning | None = None
    metadata: dict[str, str] = Field(
        default_factory=dict,
        description=f"Up to 15 pairs; `{METADATA_WORKFLOW_KEY}` is added by the workflow.",
    )
    tools: list[dict[str, Any]] | None = Field(
        default=None, description="Function, web search, MCP, code interpreter... tools."
    )
    tool_choice: str | dict[str, Any] | None = Field(
        default=None, description='`"auto"`, `"none"`, `"required"` or a tool to force.'
    )
    parallel_tool_calls: bool | None = None
    max_tool_calls: int | None = Field(
        default=None, ge=1, description="Cap on built-in tool calls in one response."
    )
    include: list[str] | None = Field(
        default=None,
        description="Extra output to include, e.g. `reasoning.encrypted_content`, "
        "`web_search_call.action.sources`, `code_interpreter_call.outputs`.",
    )
    service_tier: str | None = Field(
        default=None, min_length=1, description="`auto`, `default`, `flex`, `priority`..."
    )
    background_options: BackgroundOptions | None = None
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Other create parameters passed through verbatim (text, temperature…); "
        "the same as setting them at the top level.",
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
        first_class = sorted(value.keys() & _ALWAYS_TOP_LEVEL)
        if first_class:
            raise ValueError(f"{first_class} are top-level request fields, not params")
        return value

    @model_validator(mode="after")
    def _has_input(self) -> ResponseParams:
        if not self.input and self.previous_response_id is None:
            raise ValueError("'input' is required (a non-empty string or list of items)")
        extra = self.model_extra or {}
        owned = sorted(RESERVED_PARAMS & extra.keys())
        if owned:
            raise ValueError(f"{owned} are set by the workflow")
        twice = sorted(self.params.keys() & (extra.keys() | self._set_api_fields()))
        if twice:
            raise ValueError(f"{twice} are set both at the top level and in params")
        if self.discounted_window() and self.service_tier not in (None, "auto", "default"):
            raise ValueError(
                f"background_options.completion_window {self.discounted_window()!r} needs the "
                f"standard tier, not service_tier {self.service_tier!r}"
            )
        return self

    def discounted_window(self) -> str | None:
        """`2h` or `8h` when the request asks for a discounted completion window."""
        window = self.background_options.completion_window if self.background_options else None
        return window if window in ("2h", "8h") else None

    def _set_api_fields(self) -> set[str]:
        return {
            name
            for name in _PASSED_FIELDS
            if name in self.model_fields_set and getattr(self, name) is not None
        }

    def api_params(self) -> ResponseParams:
        """Just the API part of a (sub-class) request: its declared API fields and any
        undeclared top-level ones."""
        own = set(ResponseParams.model_fields)
        wrapper = set(type(self).model_fields) - own
        data = {k: v for k, v in self.model_dump(exclude_none=False).items() if k not in wrapper}
        return ResponseParams.model_validate(data)

    def passed_through(self) -> dict[str, Any]:
        """The create parameters beyond the ones the activities set themselves: the optional
        declared fields that are set, undeclared top-level fields, and `params`."""
        body: dict[str, Any] = {}
        for name in sorted(self._set_api_fields()):
            value = getattr(self, name)
            body[name] = (
                value.model_dump(exclude_none=True) if isinstance(value, BaseModel) else value
            )
        body.update(self.model_extra or {})
        body.update(self.params)
        return body


_PASSED_FIELDS = (
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "max_tool_calls",
    "include",
    "service_tier",
    "background_options",
)
"""Declared optional fields sent only when set (the activities send the rest themselves)."""

_ALWAYS_TOP_LEVEL = frozenset(
    {
        "input",
        "instructions",
        "model",
        "previous_response_id",
        "max_output_tokens",
        "reasoning",
        "metadata",
    }
)
"""Fields `params` never held: runs recorded before `tools`, `include`... were declared may
carry those in `params`, so only these are refused there."""


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
    webhook_interval_seconds: float = Field(
        default=600.0,
        gt=0,
        description="With a webhook receiver (which wakes the run when the response ends), "
        "the first poll comes after this long: a safety net for lost deliveries, growing by "
        "`backoff` up to `webhook_max_interval_seconds`.",
    )
    webhook_max_interval_seconds: float = Field(
        default=1800.0,
        gt=0,
        description="The longest safety-net interval: how late a lost delivery is noticed.",
    )
    webhook_recheck_seconds: float = Field(
        default=2.0,
        gt=0,
        description="After a webhook whose poll still shows the response running (the "
        "provider's reads can lag its events), poll again after this long, doubling, for up to "
        "`webhook_recheck_window_seconds`; then the safety-net interval again.",
    )
    webhook_recheck_window_seconds: float = Field(
        default=120.0,
        ge=0,
        description="How long after such a webhook the short re-polls go on (0: none).",
    )
    window_max_interval_seconds: float = Field(
        default=1800.0,
        gt=0,
        description="With a `2h`/`8h` completion window: polls grow to this interval (a "
        "webhook, if any, still wakes the run at once).",
    )
    first_polls_seconds: float = Field(
        default=FIRST_POLLS_SECONDS,
        ge=0,
        le=MAX_FIRST_POLLS_SECONDS,
        description="The polls due this soon after the create (on the same intervals) are made "
        "by the create activity itself, heartbeating, rather than after durable sleeps: a "
        "response that ends that soon costs one activity and two workflow tasks. Until the "
        "activity returns, `progress` shows the run `starting` with no response id. 0: every "
        "poll after a durable sleep. Not with webhooks, `task_queue`, a completion window, a "
        "flex fallback, or a deadline that soon.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> PollPolicy:
        if self.max_interval_seconds < self.initial_interval_seconds:
            raise ValueError("max_interval_seconds must be >= initial_interval_seconds")
        return self

    def next_interval(self, current: float) -> float:
        return min(current * self.backoff, self.max_interval_seconds)

    def for_run(self, *, webhooks: bool, window: str | None) -> PollPolicy:
        """The intervals to use: a webhook receiver makes polls a slow safety net; a
        discounted completion window (hours) makes them sparse."""
        if webhooks:
            first = max(self.webhook_interval_seconds, self.initial_interval_seconds)
            longest = max(first, self.webhook_max_interval_seconds)
            if window is not None:
                first = longest = max(longest, self.window_max_interval_seconds)
            return self.model_copy(
                update={"initial_interval_seconds": first, "max_interval_seconds": longest}
            )
        if window is not None:
            return self.model_copy(
                update={
                    "initial_interval_seconds": max(self.initial_interval_seconds, 60.0),
                    "max_interval_seconds": max(
                        self.max_interval_seconds, self.window_max_interval_seconds
                    ),
                }
            )
        return self


class StreamPolicy(BaseModel):
    """How the streaming workflow records a stream: one reader per response delivers batches.

    The `*chunk*` fields apply only to runs started before the reader (chunked engine), which
    replay as they ran.
    """

    model_config = ConfigDict(extra="forbid")

    first_chunk_seconds: float = Field(
        default=0.5, gt=0, description="Chunked engine only: budget of the first chunk."
    )
    chunk_growth: float = Field(default=2.0, ge=1.0)
    max_chunk_seconds: float = Field(
        default=5.0, gt=0, description="Chunked engine only: longest chunk."
    )
    max_chunk_chars: int = Field(default=32_000, ge=1, description="Chunked engine only.")
    heartbeat_timeout_seconds: float = Field(
        default=2.0, gt=0, description="How fast a dead worker's reader is given to another."
    )
    max_chunks_per_run: int = Field(
        default=500, ge=1, description="Chunked engine only: chunks per run."
    )
    max_carried_chars: int = Field(
        default=500_000,
        ge=1,
        description="Text (and reasoning summary) kept in workflow state; beyond it the head "
        "is dropped (see README).",
    )
    first_batch_seconds: float = Field(
        default=0.5,
        gt=0,
        description="The reader records its first batches at once (the response id, then the "
        "first text); after that it waits this long, growing by `batch_growth`.",
    )
    batch_growth: float = Field(default=2.0, ge=1.0)
    max_batch_seconds: float = Field(
        default=10.0,
        gt=0,
        description="Longest wait between recorded batches. Followers see the text read since "
        "the last batch without it being recorded (see README, Following a stream).",
    )
    max_batch_chars: int = Field(
        default=32_000, ge=1, description="A batch is recorded early past this much text."
    )
    max_batches_per_run: int = Field(
        default=4_000,
        ge=1,
        description="Continue-as-new after this many recorded batches in one run, even while "
        "live: below the server's signals-per-run cap (10,000 by default).",
    )
    max_history_events: int = Field(
        default=20_000,
        ge=100,
        description="Continue-as-new once a run's history is this long, even while live: far "
        "below the server's 51,200-event limit.",
    )
    max_carried_item_bytes: int = Field(
        default=512 * 1024,
        ge=1024,
        description="Output items kept in workflow state; beyond it the largest are kept as "
        "their id, type and status only (the provider keeps them whole).",
    )

    @model_validator(mode="after")
    def _ordered(self) -> StreamPolicy:
        if self.max_chunk_seconds < self.first_chunk_seconds:
            raise ValueError("max_chunk_seconds must be >= first_chunk_seconds")
        if self.max_batch_seconds < self.first_batch_seconds:
            raise ValueError("max_batch_seconds must be >= first_batch_seconds")
        return self


class ResponseRequest(ResponseParams):
    """Input of both workflows: the API parameters plus how to wait for the result."""

    poll: PollPolicy = Field(default_factory=PollPolicy)
    streaming: StreamPolicy = Field(default_factory=StreamPolicy)
    deadline_seconds: float | None = Field(
        default=None, gt=0, description="Give up (and cancel upstream) after this long."
    )
    flex_fallback_seconds: float | None = Field(
        default=None,
        gt=0,
        description="With `service_tier: flex`: when flex stays unavailable (429 resource "
        "unavailable) for this long, create on the default tier instead; None: keep trying "
        "flex (until the deadline).",
    )

    @model_validator(mode="after")
    def _durations_fit(self) -> ResponseRequest:
        for prefix, part in (("", self), ("poll.", self.poll), ("streaming.", self.streaming)):
            for name in type(part).model_fields:
                value = getattr(part, name)
                if name.endswith("_seconds") and value is not None and value > MAX_SECONDS:
                    raise ValueError(f"{prefix}{name} must be <= {MAX_SECONDS} (a year)")
        return self
