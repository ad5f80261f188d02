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
import itertools
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import empty_pb2
from openai.types.responses import Response
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
from durable_responses.models import DEFAULT_MODEL, ResponseParams, is_terminal, names

from ._replies import SCRIPT_EXHAUSTED, SCRIPT_UNSUPPORTED, ProviderError, Reply, Script, echo
from ._upstream import ScriptedResponse, sdk_error


def _event(value: dict[str, Any]) -> dict[str, Any]:
    """An event as the reader gets it from the wire: decoded JSON (`activities/raw_events.py`)."""
    decoded: dict[str, Any] = json.loads(json.dumps(value))
    return decoded


class _EventStream:
    """What the stream reader reads: the events, decoded from JSON, then the end of the stream."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self._events = events

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
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
            raise sdk_error(chosen.refusals[refusals])
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
            raise sdk_error(
                ProviderError(
                    status=404, message=f"No response with id '{response_id}'.", param="id"
                )
            )
        return response

    # ---- the activities ------------------------------------------------------------------------

    @activity.defn(name=names.CREATE_ACTIVITY)
    async def create_background_response(self, input: CreateResponseInput) -> ResponseSnapshot:
        """Create: `queued`, or already finished when the reply takes no time. It answers at
        once even when asked for first polls (`CreateResponseInput.first_polls`), which would
        take real time: every poll is then a durable one in workflow time, as `polls_for`
        counts them."""
        with translated_errors():
            response = await self._create(input.params)
        status = "queued" if response.reply.takes > timedelta(0) else response.reply.status
        snapshot = await self._snapshot(response, status)
        return snapshot.model_copy(update={"webhooks": self.webhooks})

    @activity.defn(name=names.RETRIEVE_ACTIVITY)
    async def retrieve_response(self, input: ResponseRef) -> ResponseSnapshot:
        """A poll: `in_progress` until the reply's `takes` has passed in workflow time."""
        with translated_errors():
            response = self._get(input.response_id)
        response.polls += 1
        status = response.status_at(await self.now())
        return await self._snapshot(response, status, partial_output=input.partial_output)

    @activity.defn(name=names.CANCEL_ACTIVITY)
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

    @activity.defn(name=names.STREAM_READER_ACTIVITY)
    async def stream_background_response(self, input: StreamReaderInput) -> StreamReaderEnd:
        """The real stream reader over the reply's events; `takes` passes after
        `response.created`."""
        return await _ScriptedStreamReader(self, input).run()

    @activity.defn(name=names.MEASURE_INPUT_ACTIVITY)
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

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        async for event in super().__aiter__():
            yield event
        await self._provider._stream_wait(self._takes)
        for value in self._rest:
            yield _event(value)
            await asyncio.sleep(0)
