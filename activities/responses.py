"""Activities that call the OpenAI Responses API: create, retrieve, cancel, read a stream
(and, for runs from before the stream reader, read a stream chunk)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncGenerator, Callable
from typing import Any

import openai
from openai import AsyncOpenAI
from openai.types.responses import Response, ResponseStreamEvent
from temporalio import activity
from temporalio.exceptions import ApplicationError

from durable_responses.models import (
    DEFAULT_MODEL,
    METADATA_WORKFLOW_KEY,
    ErrorType,
    ResponseErrorInfo,
    ResponseParams,
    Usage,
    is_terminal,
)
from durable_responses.models.items import describe_item, output_text_of
from durable_responses.models.reaper import ReapReport, ReapRequest

from .errors import stream_error, to_application_error, translated_errors
from .models import (
    CreateResponseInput,
    EncodedSize,
    ReadStreamChunkInput,
    ResponseRef,
    ResponseSnapshot,
    StreamChunk,
    StreamHeartbeat,
    StreamReaderEnd,
    StreamReaderInput,
)
from .sizing import fit_snapshot
from .stream_reader import (
    TERMINAL_EVENTS,
    StreamReader,
    cancel_unrecorded,
    open_background_stream,
)
from .tracing import RESPONSE_ID, openai_call

CALL_TIMEOUT_SECONDS = 20.0
"""Per-call HTTP timeout; shorter than every activity's start-to-close timeout."""
STREAM_CONNECT_GRACE_SECONDS = 30.0
"""Extra HTTP time a stream call gets beyond its chunk budget."""
HEARTBEAT_EVERY_SECONDS = 1.0
"""How often `read_stream_chunk` heartbeats while it waits for events."""


def snapshot_of(response: Response, *, partial_output: bool = False) -> ResponseSnapshot:
    """Our copy of an SDK `Response`: nothing of the SDK crosses the activity boundary.

    A finished response (or, with `partial_output`, a running one) comes with every output
    item as the API sent it; otherwise only its status and item count (see
    `ResponseSnapshot`). Callers fit it under the payload limit (`sizing.fit_snapshot`).
    """
    finished = is_terminal(response.status)
    items = [item.to_dict(mode="json", warnings=False) for item in response.output]
    summary = "".join(
        part.text for item in response.output if item.type == "reasoning" for part in item.summary
    )
    usage = None
    if response.usage is not None:
        details = response.usage.output_tokens_details
        usage = Usage(
            input_tokens=response.usage.input_tokens,
            output_tokens=response.usage.output_tokens,
            reasoning_tokens=details.reasoning_tokens if details is not None else 0,
            total_tokens=response.usage.total_tokens,
        )
    error = None
    if response.error is not None:
        error = ResponseErrorInfo(code=response.error.code, message=response.error.message)
    incomplete = response.incomplete_details
    body = None
    if finished:
        body = response.to_dict(mode="json", warnings=False)
        body.pop("output", None)
    whole = finished or partial_output
    return ResponseSnapshot(
        id=response.id,
        status=response.status or "",
        model=str(response.model),
        output_text=output_text_of(items) if whole else "",
        reasoning_summary=summary if whole else "",
        usage=usage,
        error=error,
        incomplete_reason=incomplete.reason if incomplete is not None else None,
        created_at=response.created_at,
        completed_at=response.completed_at,
        output=items if whole else [],
        response=body,
        service_tier=response.service_tier,
        item_count=len(items),
        activity=describe_item(items[-1]) if items else None,
    )


def _idempotency_key() -> str:
    """Same for every attempt of one activity, different for every other activity and run."""
    info = activity.info()
    return f"durable-responses/{info.workflow_id}/{info.workflow_run_id}/{info.activity_id}"


class ResponsesActivities:
    """The OpenAI calls, sharing one `AsyncOpenAI` whose own retries are off.

    Temporal's retry policy is the only retry layer, so the client must have `max_retries=0`;
    `from_env()` builds one from `OPENAI_API_KEY` / `OPENAI_BASE_URL`, which never enter
    workflow history.
    """

    def __init__(
        self,
        client: AsyncOpenAI,
        *,
        default_model: str | None = None,
        heartbeat_every_seconds: float = HEARTBEAT_EVERY_SECONDS,
    ) -> None:
        if client.max_retries != 0:
            raise ValueError("ResponsesActivities needs AsyncOpenAI(max_retries=0)")
        self._client = client
        self._default_model = (
            default_model or os.environ.get("DURABLE_RESPONSES_MODEL") or DEFAULT_MODEL
        )
        self._heartbeat_every = heartbeat_every_seconds

    @classmethod
    def from_env(cls, default_model: str | None = None) -> ResponsesActivities:
        """Client from `OPENAI_API_KEY` / `OPENAI_BASE_URL`; raises `openai.OpenAIError`
        without a key. The default model: `default_model`, `DURABLE_RESPONSES_MODEL`, `o3`."""
        return cls(
            # An empty OPENAI_BASE_URL (compose's default) means the real API, not "".
            AsyncOpenAI(max_retries=0, base_url=os.environ.get("OPENAI_BASE_URL") or None),
            default_model=default_model,
        )

    def all(self) -> list[Callable[..., Any]]:
        """Every activity of this class, for `Worker(activities=...)`."""
        return [
            self.create_background_response,
            self.retrieve_response,
            self.cancel_response,
            self.stream_background_response,
            self.read_stream_chunk,
            self.reap_orphaned_responses,
            self.measure_create_input,
        ]

    def _create_kwargs(self, params: ResponseParams) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": params.model or self._default_model,
            "input": params.input,
            "background": True,
            "store": True,
            "metadata": {**params.metadata, METADATA_WORKFLOW_KEY: activity.info().workflow_id},
            "extra_headers": {"Idempotency-Key": _idempotency_key()},
        }
        if params.input == "" and params.previous_response_id is not None:
            del kwargs["input"]
        for name in ("instructions", "previous_response_id", "max_output_tokens"):
            value = getattr(params, name)
            if value is not None:
                kwargs[name] = value
        if params.reasoning is not None:
            kwargs["reasoning"] = params.reasoning.model_dump(exclude_none=True)
        passed = params.passed_through()
        if passed:
            # Tools, include, service tier, fields this model does not declare...: in the body
            # verbatim, whatever this SDK version names.
            kwargs["extra_body"] = passed
        return kwargs

    @activity.defn(name="create_background_response")
    async def create_background_response(self, input: CreateResponseInput) -> ResponseSnapshot:
        """Start a background response (`background=true`); returns at once, usually queued."""
        with openai_call("create") as span, translated_errors():
            response = await self._client.responses.create(
                **self._create_kwargs(input.params), timeout=CALL_TIMEOUT_SECONDS
            )
            span.set_attribute(RESPONSE_ID, response.id)
        activity.logger.info("created background response %s (%s)", response.id, response.status)
        return await fit_snapshot(snapshot_of(response))

    @activity.defn(name="measure_create_input")
    async def measure_create_input(self, input: CreateResponseInput) -> EncodedSize:
        """The encoded size of a create's input, codec included, which workflow code cannot
        compute: a local activity, so the near-limit input it measures is never uploaded."""
        payloads = await activity.client().data_converter.encode([input])
        return EncodedSize(bytes=sum(payload.ByteSize() for payload in payloads))

    @activity.defn(name="retrieve_response")
    async def retrieve_response(self, input: ResponseRef) -> ResponseSnapshot:
        """One snapshot of a response (`GET /v1/responses/{id}`)."""
        with openai_call("retrieve", input.response_id), translated_errors():
            response = await self._client.responses.retrieve(
                input.response_id, timeout=CALL_TIMEOUT_SECONDS
            )
        return await fit_snapshot(snapshot_of(response, partial_output=input.partial_output))

    @activity.defn(name="cancel_response")
    async def cancel_response(self, input: ResponseRef) -> ResponseSnapshot:
        """Cancel a background response upstream; one that already ended is left as it is."""
        try:
            with openai_call("cancel", input.response_id):
                response = await self._client.responses.cancel(
                    input.response_id, timeout=CALL_TIMEOUT_SECONDS
                )
        except openai.BadRequestError as err:
            # Already completed/failed/incomplete: nothing to stop. Report what it is.
            activity.logger.info("cancel of %s refused: %s", input.response_id, err.message)
            return await self.retrieve_response(input)
        except openai.OpenAIError as err:
            raise to_application_error(err) from None  # no chained SDK text (key material)
        activity.logger.info("cancelled response %s upstream", response.id)
        return await fit_snapshot(snapshot_of(response))

    @activity.defn(name="reap_orphaned_responses")
    async def reap_orphaned_responses(self, input: ReapRequest) -> ReapReport:
        """Cancel responses that closed workflows left running (see `reaper.py`)."""
        from .reaper import reap  # imports this module

        return await reap(activity.client(), self._client, input)

    @activity.defn(name="stream_background_response")
    async def stream_background_response(self, input: StreamReaderInput) -> StreamReaderEnd:
        """Create (or attach to) a background stream and read it to its end over one
        connection, recording batches in the workflow as it goes (see `stream_reader.py`)."""
        reader = StreamReader(self._client, self._create_kwargs, snapshot_of, input)
        return await reader.run()

    @activity.defn(name="read_stream_chunk")
    async def read_stream_chunk(self, input: ReadStreamChunkInput) -> StreamChunk:
        """Read one bounded chunk of a background stream after the workflow's cursor.

        Without a response id (first chunk) it creates the response with `stream=true` and
        heartbeats the id as soon as `response.created` arrives, so a retried attempt resumes
        that response instead of creating another. A retry always resumes from the cursor the
        workflow recorded (the input), never from a heartbeat: events read after it are read
        again, never lost and never doubled.
        """
        info = activity.info()
        known = _heartbeat_of(info.heartbeat_details)
        chunk = StreamChunk(
            response_id=input.response_id or known.response_id or "",
            cursor=input.cursor,
            attempt=info.attempt,
        )
        beating = asyncio.create_task(self._heartbeat_loop(chunk))
        try:
            await self._read_chunk(input, chunk)
        except asyncio.CancelledError:
            details = activity.cancellation_details()
            if input.response_id is None and details is not None and details.cancel_requested:
                await cancel_unrecorded(self._client, chunk.response_id, CALL_TIMEOUT_SECONDS)
            raise
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating
        if chunk.stopped_by in {"interrupted", "end"} and chunk.events == 0:
            return await self._nothing_read(chunk)
        return chunk

    async def _read_chunk(self, input: ReadStreamChunkInput, chunk: StreamChunk) -> None:
        """Open (or create) the stream and read one chunk into `chunk`."""
        with openai_call("stream", chunk.response_id) as span, translated_errors():
            try:
                stream = await open_background_stream(
                    self._client,
                    self._create_kwargs,
                    input.params,
                    chunk.response_id or None,
                    input.cursor,
                    input.budget_seconds + STREAM_CONNECT_GRACE_SECONDS,
                    "read_stream_chunk",
                )
                try:
                    await self._read(stream, input, chunk)
                finally:
                    await stream.close()
            finally:
                span.set_attribute(RESPONSE_ID, chunk.response_id)
                span.set_attribute("openai.stream.cursor", chunk.cursor or 0)
                span.set_attribute("openai.stream.events", chunk.events)

    async def _heartbeat_loop(self, chunk: StreamChunk) -> None:
        # Sleep first: when creating, the first heartbeat must be the one carrying the new
        # response id, sent the moment `response.created` arrives (later ones are throttled).
        while True:
            await asyncio.sleep(self._heartbeat_every)
            activity.heartbeat(
                StreamHeartbeat(response_id=chunk.response_id or None, cursor=chunk.cursor)
            )

    async def _read(
        self,
        stream: openai.AsyncStream[ResponseStreamEvent],
        input: ReadStreamChunkInput,
        chunk: StreamChunk,
    ) -> None:
        loop = asyncio.get_running_loop()
        budget = input.budget_seconds
        if activity.info().attempt > 1:
            budget = min(budget, input.retry_budget_seconds)  # resumed: show text again soon
        deadline = loop.time() + budget
        events = _events(stream)
        shutdown = asyncio.ensure_future(activity.wait_for_worker_shutdown())
        try:
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    chunk.stopped_by = "budget"
                    return
                next_event = asyncio.ensure_future(anext(events))
                done, _ = await asyncio.wait(
                    {next_event, shutdown}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
                if next_event not in done:
                    next_event.cancel()
                    await asyncio.wait({next_event})  # let the read wind down before closing
                    # A graceful worker shutdown hands over what was read; the next chunk
                    # starts at once on another worker.
                    chunk.stopped_by = "shutdown" if shutdown in done else "budget"
                    return
                try:
                    event = next_event.result()
                except StopAsyncIteration:
                    chunk.stopped_by = "end"
                    chunk.interrupted = True
                    return
                except openai.APIConnectionError as err:
                    activity.logger.warning(
                        "stream of %s broke after cursor %s: %s",
                        chunk.response_id,
                        chunk.cursor,
                        err,
                    )
                    chunk.stopped_by = "interrupted"
                    chunk.interrupted = True
                    return
                if self._apply(event, chunk) or len(chunk.text) >= input.max_chars:
                    chunk.stopped_by = "terminal" if is_terminal(chunk.status) else "size"
                    return
        finally:
            shutdown.cancel()
            with contextlib.suppress(RuntimeError):  # a read still running on cancellation
                await events.aclose()

    def _apply(self, event: ResponseStreamEvent, chunk: StreamChunk) -> bool:
        """Fold one event into the chunk; True when it was the terminal event."""
        response = getattr(event, "response", None)
        if isinstance(response, Response):
            chunk.model = str(response.model) or chunk.model
        if isinstance(response, Response) and not chunk.response_id:
            chunk.response_id = response.id
            # First heartbeat goes out at once: from here a retry attaches, not re-creates.
            activity.heartbeat(StreamHeartbeat(response_id=response.id, cursor=chunk.cursor))
            activity.logger.info("created streaming background response %s", response.id)
        if event.type == "error":
            raise stream_error(event, chunk.response_id)
        sequence = event.sequence_number
        if chunk.cursor is not None and sequence <= chunk.cursor:
            return False  # already recorded: a replay must never be applied twice
        chunk.cursor = sequence
        chunk.events += 1
        if event.type == "response.output_text.delta":
            chunk.text += event.delta
        elif event.type == "response.reasoning_summary_text.delta":
            chunk.reasoning_summary += event.delta
        if isinstance(response, Response):
            chunk.status = response.status or chunk.status
            if event.type in TERMINAL_EVENTS:
                # The text already travelled as deltas; carrying it again would double the
                # payload (and break the 2 MB limit for long outputs).
                chunk.snapshot = snapshot_of(response).model_copy(
                    update={"output_text": "", "reasoning_summary": ""}
                )
                return True
        return False

    async def _nothing_read(self, chunk: StreamChunk) -> StreamChunk:
        """A stream that ended before any new event: report a terminal response, else retry."""
        if chunk.response_id:
            snapshot = await self.retrieve_response(ResponseRef(response_id=chunk.response_id))
            if is_terminal(snapshot.status):
                chunk.status = snapshot.status
                chunk.snapshot = snapshot
                chunk.stopped_by = "terminal"
                return chunk
        raise ApplicationError(
            f"stream of {chunk.response_id or 'a new response'} ended before any event "
            f"after cursor {chunk.cursor}",
            type=ErrorType.CONNECTION_ERROR,
        )


async def _events(
    stream: openai.AsyncStream[ResponseStreamEvent],
) -> AsyncGenerator[ResponseStreamEvent, None]:
    async for event in stream:
        yield event


def _heartbeat_of(details: Any) -> StreamHeartbeat:
    if details:
        with contextlib.suppress(Exception):
            return StreamHeartbeat.model_validate(details[0])
    return StreamHeartbeat()
