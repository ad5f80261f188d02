"""`ScriptedProvider`: our activities, by their names, answering from a script on the workflow
clock, so a user's time-skipping test of a pipeline built on us runs in milliseconds.

The real activities call OpenAI over HTTP in real time while the test server skips every
timer: a 40-minute run would be polled hundreds of times, or its deadline would pass while
the provider still answers. These stand-ins keep each response's duration in *workflow time*
(the test server's clock), so a run is polled exactly as the poll policy says, and a 2-hour
deadline passes after 2 hours of (skipped) time. What they answer goes through the same
conversions as the real activities' (the SDK's `Response`, `snapshot_of`, the one error
translator, the real stream reader), so workflows see what production would show them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

import httpx2
import openai
from google.protobuf import empty_pb2
from openai._models import construct_type
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import BaseModel, ConfigDict, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from durable_responses.activities import (
    CreateResponseInput,
    EncodedSize,
    ResponseRef,
    ResponseSnapshot,
    StreamReaderEnd,
    StreamReaderInput,
    snapshot_of,
)
from durable_responses.activities.errors import translated_errors
from durable_responses.activities.sizing import fit_snapshot
from durable_responses.activities.stream_reader import StreamReader
from durable_responses.models import DEFAULT_MODEL, PollPolicy, ResponseParams, is_terminal

from . import items as _items

SCRIPT_EXHAUSTED = "ScriptExhausted"
"""`ApplicationError.type` of a create the script has no reply for (non-retryable)."""
SCRIPT_UNSUPPORTED = "ScriptUnsupported"
"""`ApplicationError.type` of a scripted reply the kit cannot play as asked (non-retryable)."""


class ProviderError(BaseModel):
    """An HTTP error the provider answers a create with, as the API sends it."""

    model_config = ConfigDict(frozen=True)

    status: int = Field(description="HTTP status: 400, 404, 429, 500...")
    message: str = "scripted error"
    code: str | None = None
    param: str | None = None
    retry_after_seconds: float | None = Field(
        default=None, description="The `retry-after` header (429, 503)."
    )


class Reply(BaseModel):
    """What the provider answers one create with, and how long the response takes.

    `takes` is workflow time from the create to the terminal status: polls before then see
    `in_progress`. `refusals` are errors the create answers first, in order (each retry of
    the same create gets the next one): a 429 is retried by the workflow, a 400 ends it.
    """

    model_config = ConfigDict(frozen=True)

    text: str = Field(default="", description="The answer: one assistant message, last.")
    items: list[dict[str, Any]] = Field(
        default_factory=list, description="Output items before the message (API JSON)."
    )
    reasoning: str | None = Field(default=None, description="A reasoning summary, first.")
    takes: timedelta = timedelta(0)
    status: Literal["completed", "failed", "incomplete"] = "completed"
    error_code: str = "server_error"
    error_message: str = "The model failed to answer."
    incomplete_reason: str = "max_output_tokens"
    refusals: list[ProviderError] = Field(default_factory=list)
    input_tokens: int = 10
    output_tokens: int | None = Field(default=None, description="Default: words of the text.")

    def output(self) -> list[dict[str, Any]]:
        """The output items of the finished response, as the API lists them."""
        out: list[dict[str, Any]] = []
        if self.reasoning is not None:
            out.append(_items.reasoning(self.reasoning))
        out.extend(self.items)
        if self.text or not out:
            out.append(_items.message(self.text))
        return out


def reply(
    text: str = "",
    *,
    items: Sequence[dict[str, Any]] = (),
    reasoning: str | None = None,
    takes: timedelta = timedelta(0),
) -> Reply:
    """A response that completes after `takes` of workflow time with these items and text."""
    return Reply(text=text, items=list(items), reasoning=reasoning, takes=takes)


def failed(
    message: str = "The model failed to answer.",
    *,
    code: str = "server_error",
    takes: timedelta = timedelta(0),
) -> Reply:
    """A response that ends `failed` (the workflow fails with `ResponseFailed`)."""
    return Reply(status="failed", error_code=code, error_message=message, takes=takes)


def incomplete(
    text: str = "", *, reason: str = "max_output_tokens", takes: timedelta = timedelta(0)
) -> Reply:
    """A response that ends `incomplete` with what it wrote so far."""
    return Reply(status="incomplete", text=text, incomplete_reason=reason, takes=takes)


def refused(
    status: int,
    message: str = "scripted error",
    *,
    code: str | None = None,
    param: str | None = None,
) -> Reply:
    """A create the provider refuses (400, 401, 404...): nothing is created upstream."""
    return Reply(refusals=[ProviderError(status=status, message=message, code=code, param=param)])


def rate_limited(
    then: Reply, *, times: int = 1, retry_after: timedelta = timedelta(seconds=30)
) -> Reply:
    """`then`, after `times` answers of 429 with `retry-after` (waited in workflow time)."""
    limit = ProviderError(
        status=429,
        message="Rate limit reached for requests",
        code="rate_limit_exceeded",
        retry_after_seconds=retry_after.total_seconds(),
    )
    return then.model_copy(update={"refusals": [limit] * times + list(then.refusals)})


def polls_for(takes: timedelta, policy: PollPolicy | None = None) -> int:
    """How many polls a run makes of a response that takes `takes`: the first poll whose
    growing sleeps add up to `takes` sees it finished (none when the create already does)."""
    policy = policy or PollPolicy()
    if takes <= timedelta(0):
        return 0
    polls, slept, interval = 0, 0.0, policy.initial_interval_seconds
    while slept < takes.total_seconds():
        polls += 1
        slept += interval
        interval = policy.next_interval(interval)
    return polls


Script = Sequence[Reply] | Callable[[ResponseParams], Reply] | Literal["echo"]
"""Replies in the order of the creates; a function of each create's request (like Pydantic
AI's `FunctionModel`); or `"echo"`: every response answers its input's text."""


def echo(params: ResponseParams) -> Reply:
    """The reply of the `"echo"` script: the text of the request's last user input."""
    if isinstance(params.input, str):
        return reply(params.input)
    for entry in reversed(params.input):
        if entry.get("role", "user") != "user" or "content" not in entry:
            continue
        content = entry["content"]
        if isinstance(content, str):
            return reply(content)
        return reply("".join(str(part.get("text", "")) for part in content))
    return reply("")


_STATUS_ERRORS: dict[int, type[openai.APIStatusError]] = {
    400: openai.BadRequestError,
    401: openai.AuthenticationError,
    403: openai.PermissionDeniedError,
    404: openai.NotFoundError,
    409: openai.ConflictError,
    422: openai.UnprocessableEntityError,
    429: openai.RateLimitError,
}


def _sdk_error(error: ProviderError) -> openai.APIStatusError:
    """The SDK's exception for this HTTP error, as the real client would raise it."""
    headers = {}
    if error.retry_after_seconds is not None:
        headers["retry-after"] = f"{error.retry_after_seconds:g}"
    body = {
        "error": {
            "message": error.message,
            "type": "invalid_request_error" if error.status < 500 else "server_error",
            "param": error.param,
            "code": error.code,
        }
    }
    request = httpx2.Request("POST", "https://scripted.invalid/v1/responses")
    response = httpx2.Response(error.status, headers=headers, json=body, request=request)
    cls = _STATUS_ERRORS.get(error.status)
    if cls is None:
        cls = openai.InternalServerError if error.status >= 500 else openai.APIStatusError
    return cls(error.message, response=response, body=body["error"])


@dataclasses.dataclass
class ScriptedResponse:
    """One response the provider created: what was asked, what it answers, and when."""

    id: str
    params: ResponseParams
    reply: Reply
    model: str
    created_at: datetime
    workflow_id: str
    polls: int = 0
    cancelled_at: datetime | None = None

    def status_at(self, now: datetime) -> str:
        if self.cancelled_at is not None:
            return "cancelled"
        if now - self.created_at >= self.reply.takes:
            return self.reply.status
        return "in_progress"

    def body(self, status: str, output: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """The Response object as `GET /v1/responses/{id}` returns it with this status."""
        p = self.params
        finished = is_terminal(status)
        if output is None:
            output = self.reply.output() if finished and status != "cancelled" else []
        words = sum(len(str(part.get("text", "")).split()) for part in _texts(output))
        out_tokens = self.reply.output_tokens if self.reply.output_tokens is not None else words
        usage = None
        if finished:
            usage = {
                "input_tokens": self.reply.input_tokens,
                "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                "output_tokens": out_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": self.reply.input_tokens + out_tokens,
            }
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at.timestamp(),
            "status": status,
            "background": True,
            "completed_at": self.created_at.timestamp() + self.reply.takes.total_seconds()
            if status == "completed"
            else None,
            "error": {"code": self.reply.error_code, "message": self.reply.error_message}
            if status == "failed"
            else None,
            "incomplete_details": {"reason": self.reply.incomplete_reason}
            if status == "incomplete"
            else None,
            "instructions": p.instructions,
            "max_output_tokens": p.max_output_tokens,
            "metadata": dict(p.metadata),
            "model": self.model,
            "output": output,
            "parallel_tool_calls": True if p.parallel_tool_calls is None else p.parallel_tool_calls,
            "previous_response_id": p.previous_response_id,
            "reasoning": None,
            "service_tier": "default" if p.service_tier in (None, "auto") else p.service_tier,
            "store": True,
            "temperature": 1.0,
            "text": {"format": {"type": "text"}},
            "tool_choice": p.tool_choice or "auto",
            "tools": list(p.tools or []),
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": usage,
            "user": None,
        }

    def events(self) -> list[dict[str, Any]]:
        """The response's stream, as `stream=true` sends it (sequence numbers from 0)."""
        events: list[dict[str, Any]] = []

        def emit(type_: str, **fields: Any) -> None:
            events.append({"type": type_, "sequence_number": len(events), **fields})

        emit("response.created", response=self.body("queued"))
        emit("response.in_progress", response=self.body("in_progress"))
        output = self.reply.output() if self.reply.status != "failed" else []
        for index, item in enumerate(output):
            opened = {**item, "status": "in_progress"} if "status" in item else dict(item)
            if item["type"] == "message":
                opened["content"] = []
            elif item["type"] == "reasoning":
                opened["summary"] = []
            emit("response.output_item.added", output_index=index, item=opened)
            if item["type"] == "message":
                for part_index, part in enumerate(item["content"]):
                    for chunk in _chunks(str(part.get("text", ""))):
                        emit(
                            "response.output_text.delta",
                            item_id=item["id"],
                            output_index=index,
                            content_index=part_index,
                            delta=chunk,
                            logprobs=[],
                        )
            elif item["type"] == "reasoning":
                for summary_index, part in enumerate(item["summary"]):
                    emit(
                        "response.reasoning_summary_text.delta",
                        item_id=item["id"],
                        output_index=index,
                        summary_index=summary_index,
                        delta=part["text"],
                    )
            emit("response.output_item.done", output_index=index, item=item)
        status = self.reply.status
        emit(f"response.{status}", response=self.body(status, output))
        return events


def _texts(output: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        part
        for item in output
        if item.get("type") == "message"
        for part in item.get("content", [])
        if part.get("type") == "output_text"
    ]


def _chunks(text: str, size: int = 64) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or []


def _event(value: dict[str, Any]) -> ResponseStreamEvent:
    """An SDK event object, built as the SDK's own stream builds it."""
    return cast(ResponseStreamEvent, construct_type(type_=ResponseStreamEvent, value=value))


class _EventStream:
    """What the stream reader reads: the SDK's event objects, then the end of the stream."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self._events = events

    async def __aiter__(self) -> AsyncIterator[ResponseStreamEvent]:
        for event in self._events:
            yield _event(event)
            await asyncio.sleep(0)

    async def close(self) -> None:
        return None


class ScriptedProvider:
    """Our activities (`create_background_response`, `retrieve_response`, `cancel_response`,
    `stream_background_response`, `measure_create_input`) answering from a script instead of
    HTTP, each response lasting its reply's `takes` in workflow time.

        provider = ScriptedProvider([reply("Paris.", takes=timedelta(minutes=40))])
        async with time_skipping_env(provider) as env:
            ...  # your worker and workflows, as in production
        assert provider.creates == 1

    It records what was asked, for assertions: `requests` (every create's parameters),
    `responses` (by id: each with its `polls`), `cancelled`. Set `script` between tests to
    reuse one provider.
    """

    def __init__(
        self,
        script: Script = "echo",
        *,
        default_model: str = DEFAULT_MODEL,
        webhooks: bool = False,
    ) -> None:
        self.script = script
        self.default_model = default_model
        self.webhooks = webhooks
        """Answer as a worker with a webhook receiver does: polls become a slow safety net."""
        self.requests: list[ResponseParams] = []
        self.responses: dict[str, ScriptedResponse] = {}
        self.cancelled: list[str] = []
        self._by_call: dict[str, tuple[Reply, int]] = {}  # a create's replies, by its activity
        self._ids = itertools.count(1)
        self._test_clock: bool | None = None  # the server has the time-skipping test service
        self._latest = datetime.min.replace(tzinfo=UTC)  # the latest workflow time seen

    # ---- what tests assert on ------------------------------------------------------------------

    @property
    def creates(self) -> int:
        """Responses created upstream (a refused create creates none)."""
        return len(self.responses)

    @property
    def polls(self) -> int:
        """Retrieves of all responses."""
        return sum(response.polls for response in self.responses.values())

    def running(self) -> list[str]:
        """Responses neither finished nor cancelled at the latest workflow time seen: after a
        test, none should be left running upstream."""
        return [
            rid
            for rid, response in self.responses.items()
            if not is_terminal(response.status_at(self._latest))
        ]

    def all(self) -> list[Callable[..., Any]]:
        """The activities, for `DurableResponsesPlugin(activities=...)` or a `Worker`."""
        return [
            self.create_background_response,
            self.retrieve_response,
            self.cancel_response,
            self.stream_background_response,
            self.measure_create_input,
        ]

    # ---- the clock and the script --------------------------------------------------------------

    async def now(self) -> datetime:
        """Workflow time: the test server's clock (which skips), else the server's or ours."""
        if self._test_clock is not False:
            try:
                answer = await activity.client().test_service.get_current_time(empty_pb2.Empty())
                self._test_clock = True
                return self._saw(answer.time.ToDatetime(tzinfo=UTC))
            except RPCError:
                self._test_clock = False  # a dev server: no test service
        info = activity.info()
        return self._saw(
            datetime.now(UTC) if info.is_local else info.current_attempt_scheduled_time
        )

    def _saw(self, now: datetime) -> datetime:
        self._latest = max(self._latest, now)
        return now

    async def _stream_wait(self, takes: timedelta) -> None:
        """A streamed reply's `takes`, between `response.created` and the rest.

        On a dev server it passes in real time. The time-skipping server cannot skip it
        while the reader runs: skipped time counts against the reader's heartbeat timeout
        (2 s) and heartbeats reach the server only every half second of real time, so the
        reader would be declared dead and retried. Refused there rather than ignored.
        """
        if takes <= timedelta(0):
            return
        await self.now()  # learn which clock
        if self._test_clock:
            raise ApplicationError(
                f"a streamed reply cannot take workflow time ({takes}) under time skipping: "
                "script takes=0 for stream_response, or test long runs with run_response",
                type=SCRIPT_UNSUPPORTED,
                non_retryable=True,
            )
        await asyncio.sleep(takes.total_seconds())

    def _reply_for(self, params: ResponseParams) -> Reply:
        script = self.script
        if script == "echo":
            return echo(params)
        if callable(script):
            return script(params)
        index = len(self._by_call)
        if index >= len(script):
            raise ApplicationError(
                f"the script has {len(script)} replies and create {index + 1} asked for another",
                type=SCRIPT_EXHAUSTED,
                non_retryable=True,
            )
        return script[index]

    async def _create(self, params: ResponseParams) -> ScriptedResponse:
        """One create as the API sees it: a refusal (raised as the SDK would), or a response."""
        info = activity.info()
        call = f"{info.workflow_id}/{info.workflow_run_id}/{info.activity_id}"
        if call not in self._by_call:
            self.requests.append(params)
            self._by_call[call] = (self._reply_for(params), 0)
        chosen, refusals = self._by_call[call]
        if refusals < len(chosen.refusals):
            self._by_call[call] = (chosen, refusals + 1)
            raise _sdk_error(chosen.refusals[refusals])
        response = ScriptedResponse(
            id=f"resp_scripted{next(self._ids):04d}",
            params=params,
            reply=chosen,
            model=params.model or self.default_model,
            created_at=await self.now(),
            workflow_id=info.workflow_id or "",
        )
        self.responses[response.id] = response
        self._by_call[call] = (chosen, refusals + 1)
        return response

    def _get(self, response_id: str) -> ScriptedResponse:
        response = self.responses.get(response_id)
        if response is None:
            raise _sdk_error(
                ProviderError(
                    status=404, message=f"No response with id '{response_id}'.", param="id"
                )
            )
        return response

    # ---- the activities ------------------------------------------------------------------------

    @activity.defn(name="create_background_response")
    async def create_background_response(self, input: CreateResponseInput) -> ResponseSnapshot:
        """Create: `queued`, or already finished when the reply takes no time."""
        with translated_errors():
            response = await self._create(input.params)
        status = "queued" if response.reply.takes > timedelta(0) else response.reply.status
        snapshot = await self._snapshot(response, status)
        return snapshot.model_copy(update={"webhooks": self.webhooks})

    @activity.defn(name="retrieve_response")
    async def retrieve_response(self, input: ResponseRef) -> ResponseSnapshot:
        """A poll: `in_progress` until the reply's `takes` has passed in workflow time."""
        with translated_errors():
            response = self._get(input.response_id)
        response.polls += 1
        status = response.status_at(await self.now())
        return await self._snapshot(response, status, partial_output=input.partial_output)

    @activity.defn(name="cancel_response")
    async def cancel_response(self, input: ResponseRef) -> ResponseSnapshot:
        """Cancel upstream; a response that already ended stays as it ended."""
        with translated_errors():
            response = self._get(input.response_id)
        status = response.status_at(await self.now())
        if not is_terminal(status):
            response.cancelled_at = await self.now()
            self.cancelled.append(response.id)
            status = "cancelled"
        return await self._snapshot(response, status)

    @activity.defn(name="stream_background_response")
    async def stream_background_response(self, input: StreamReaderInput) -> StreamReaderEnd:
        """The real stream reader over the reply's events; `takes` passes after
        `response.created`."""
        return await _ScriptedStreamReader(self, input).run()

    @activity.defn(name="measure_create_input")
    async def measure_create_input(self, input: CreateResponseInput) -> EncodedSize:
        """As the real one: the encoded size of a create's input."""
        payloads = await activity.client().data_converter.encode([input])
        return EncodedSize(bytes=sum(payload.ByteSize() for payload in payloads))

    async def _snapshot(
        self, response: ScriptedResponse, status: str, *, partial_output: bool = False
    ) -> ResponseSnapshot:
        sdk = Response.model_validate(response.body(status))
        return await fit_snapshot(snapshot_of(sdk, partial_output=partial_output))


class _ScriptedStreamReader(StreamReader):
    """The real reader (batching, signals, heartbeats, resumption), reading scripted events."""

    def __init__(self, provider: ScriptedProvider, input: StreamReaderInput) -> None:
        super().__init__(
            None,  # type: ignore[arg-type]  # never called: `_open` is replaced
            lambda params: {},
            snapshot_of,
            input,
        )
        self._provider = provider

    async def _open(self) -> Any:
        self.stream_opens += 1
        self._attached = bool(self.response_id)
        if self.response_id:
            response = self._provider._get(self.response_id)
            events = response.events()
            return _EventStream([e for e in events if e["sequence_number"] > (self.cursor or -1)])
        if self._input.params is None:
            raise ApplicationError("nothing to create or attach to", non_retryable=True)
        response = await self._provider._create(self._input.params)
        events = response.events()
        # `response.created` first, then the reply's duration, then the rest.
        return _TimedStream(events[:1], self._provider, response.reply.takes, events[1:])


class _TimedStream(_EventStream):
    def __init__(
        self,
        first: list[dict[str, Any]],
        provider: ScriptedProvider,
        takes: timedelta,
        rest: list[dict[str, Any]],
    ) -> None:
        super().__init__(first)
        self._provider, self._takes, self._rest = provider, takes, rest

    async def __aiter__(self) -> AsyncIterator[ResponseStreamEvent]:
        async for event in super().__aiter__():
            yield event
        await self._provider._stream_wait(self._takes)
        for value in self._rest:
            yield _event(value)
            await asyncio.sleep(0)
