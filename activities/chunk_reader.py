"""The chunked stream engine of runs from before the stream reader: one bounded chunk of a
background stream per activity, after the workflow's cursor. Kept so those runs finish as
they started (patch `stream-reader-v1`); new runs use `stream_reader.py`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

import openai
from openai import AsyncOpenAI
from openai.types.responses import Response, ResponseStreamEvent
from temporalio import activity
from temporalio.exceptions import ApplicationError

from durable_responses.models import ErrorType, ResponseParams, is_terminal

from .errors import stream_error, translated_errors
from .models import (
    ReadStreamChunkInput,
    ResponseRef,
    ResponseSnapshot,
    StreamChunk,
    StreamHeartbeat,
)
from .snapshots import snapshot_of
from .streams import (
    CONNECT_TIMEOUT_SECONDS,
    TERMINAL_EVENTS,
    cancel_unrecorded,
    open_background_stream,
    stream_call,
)
from .tracing import RESPONSE_ID, openai_call

STREAM_CONNECT_GRACE_SECONDS = 30.0
"""Extra HTTP time a stream call gets beyond its chunk budget."""


class ChunkReader:
    """One attempt of `read_stream_chunk`."""

    def __init__(
        self,
        client: AsyncOpenAI,
        create_kwargs: Callable[[ResponseParams], dict[str, Any]],
        heartbeat_every: float,
        retrieve: Callable[[ResponseRef], Awaitable[ResponseSnapshot]],
    ) -> None:
        self._client = client
        self._create_kwargs = create_kwargs
        self._heartbeat_every = heartbeat_every
        self._retrieve = retrieve

    async def read(self, input: ReadStreamChunkInput) -> StreamChunk:
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
                await cancel_unrecorded(self._client, chunk.response_id, CONNECT_TIMEOUT_SECONDS)
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
                call = stream_call(
                    self._create_kwargs,
                    input.params,
                    chunk.response_id or None,
                    input.cursor,
                    input.budget_seconds + STREAM_CONNECT_GRACE_SECONDS,
                    "read_stream_chunk",
                )
                stream = await open_background_stream(self._client, call)
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
            snapshot = await self._retrieve(ResponseRef(response_id=chunk.response_id))
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
