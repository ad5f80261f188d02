"""The stream reader: one provider connection for the life of a response, its events delivered
to the workflow as batches it records exactly once.

OpenAI replays a background stream (`starting_after`) only while the response is younger than
five minutes, so a reader that reconnects on a schedule loses the stream of every long run.
This one keeps the same connection until the terminal event and reconnects only after a fault.
Three tasks share one attempt:

- reading folds events into a pending batch (and reattaches after a cut stream);
- delivering signals each batch to its own workflow run (`record_stream_batch`): the response
  id at once, the first text at once (while few run), then at growing intervals (the last is
  the activity's result instead); a signal written to history
  is durable, and the workflow ignores what it already has, so a redelivery or a reader that
  lost its worker is harmless;
- heartbeating carries the read but unrecorded text (`StreamTail`), which followers read with
  `describe` at no history cost.

A retried attempt starts from what the workflow recorded (the `progress` query), never from
its own memory.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any, ClassVar

import openai
from openai import AsyncOpenAI
from openai.types.responses import (
    Response,
    ResponseErrorEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
)
from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from durable_responses.models import (
    ErrorType,
    Progress,
    ResponseParams,
    StreamTail,
    is_terminal,
    names,
)
from durable_responses.models.fitting import RecordedItem
from durable_responses.models.items import describe_item, elide_message_text
from durable_responses.models.limits import MAX_BATCH_ITEM_BYTES, MAX_ITEM_BYTES

from .errors import stream_error, translated_errors
from .models import ResponseSnapshot, StreamBatch, StreamReaderEnd, StreamReaderInput
from .raw_events import Event, RawEvents, event_model, open_raw_stream
from .streams import CONNECT_TIMEOUT_SECONDS, TERMINAL_EVENTS, cancel_unrecorded, stream_call
from .tracing import RESPONSE_ID, openai_call

BATCH_SIGNAL = names.BATCH_SIGNAL  # its old home
"""The workflow's signal that records a `StreamBatch`."""
HANDOVER = "StreamHandover"
"""Retryable error type of a reader that stops for its worker's shutdown after recording what
it read: the next attempt starts on another worker and attaches after the recorded cursor."""
SIGNAL_LIMIT = "SignalLimitReached"
"""Non-retryable error type when the server refuses more signals to this run: the workflow
continues as new and a new reader attaches there."""
HEARTBEAT_EVERY_SECONDS = 0.2
"""How often the tail is handed to the SDK while few streams run; it reaches the server at the
worker's heartbeat throttle (`max_heartbeat_throttle_interval`, 0.5 s with the plugin)."""
MAX_HEARTBEAT_EVERY_SECONDS = 0.5
"""... and at most this rarely when many run: the throttle, so followers' tail lags by no
more than the throttle already makes it."""
QUIET_READERS = 10
"""Readers in one worker process up to which batches and heartbeats keep their own pace.
Beyond, both space out in proportion to the readers (up to `max_batch_seconds` and
`MAX_HEARTBEAT_EVERY_SECONDS`): each signal is a workflow task and each heartbeat an encode,
and at a hundred streams they cost more CPU than the text does. The id and the end still go at
once, the first text too while few run (beyond, it waits for the first interval, one signal and
one workflow task fewer per run); followers read the rest from the heartbeat's tail."""
SILENCE_SECONDS = 900.0
"""Longest wait for the next event before the reader reattaches. Reasoning models can be
silent for minutes before their first token; a short read timeout would reattach after the
replay window and drop to polling. Liveness comes from the heartbeat, not from this."""
STREAM_TIMEOUT = openai.Timeout(SILENCE_SECONDS, connect=CONNECT_TIMEOUT_SECONDS)
FLUSH_SECONDS = 5.0
"""How long a stopping reader tries to record what it read before giving up on it."""
MAX_TAIL_CHARS = 32_000
"""Heartbeat details stay small: followers wait for the batch beyond this."""
REPLAY_COALESCE_SECONDS = 0.05
"""After a reattach, how long the first text batch waits for the replayed burst."""
QUICK_REATTACHES = 5
"""Cut streams resumed in a row within one attempt before the attempt fails and retries."""


class _RunClosed(Exception):
    """The run this reader belongs to has closed (ended or continued as new)."""


def _run_closed() -> ApplicationError:
    return ApplicationError(
        "the workflow run of this reader has closed", type=ErrorType.INVALID_REQUEST
    )


class StreamReader:
    """One attempt of `stream_background_response`."""

    def __init__(
        self,
        client: AsyncOpenAI,
        create_kwargs: Callable[[ResponseParams], dict[str, Any]],
        snapshot_of: Callable[..., ResponseSnapshot],
        input: StreamReaderInput,
    ) -> None:
        info = activity.info()
        self._client = client
        self._create_kwargs = create_kwargs
        self._snapshot_of = snapshot_of
        self._input = input
        self._attempt = info.attempt
        self._handle: WorkflowHandle[Any, Any] = activity.client().get_workflow_handle(
            info.workflow_id or "", run_id=info.workflow_run_id
        )
        self._loop = asyncio.get_running_loop()
        # what is read: the last event and the response it belongs to
        self.response_id = input.response_id or ""
        self.model = ""
        self.cursor = input.cursor
        # what the workflow has recorded (as far as this reader knows)
        self._sent_cursor = input.cursor
        self._sent_length = input.text_length
        self._sent_reasoning = input.reasoning_length
        self._sent_items = input.item_count
        self._id_seen = asyncio.Event()  # `response.created` has arrived
        self._id_sent_event = asyncio.Event()  # the workflow has recorded the id
        if input.response_id is not None:
            self._id_sent_event.set()
        # read since the last batch
        self._text = ""
        self._reasoning = ""
        self._items: list[RecordedItem] = []
        self._activity: str | None = None
        self._current: tuple[int, dict[str, Any]] | None = None
        """The item being written (`output_item.added`, not done yet) and its index."""
        self._status = ""
        self._snapshot: ResponseSnapshot | None = None
        self._reattaches = 0
        self._in_flight: StreamBatch | None = None
        # The first text of every attempt goes at once while few readers run: after a hand-over
        # or a crash it is the text followers have been waiting for (the tail shows it too).
        self._first_text_sent = False
        self._interval = input.first_batch_seconds
        self._due = asyncio.Event()  # something to record at once
        self._changed = asyncio.Event()  # something to record
        self.batches = 0
        self.stream_opens = 0
        self._reported_reattaches = 0  # reattaches already counted in a recorded batch
        self._attached = False  # reading a response created before this connection

    # ---- the attempt -------------------------------------------------------------------------

    running: ClassVar[int] = 0
    """Readers running in this process: the load batches and heartbeats are sized to."""

    @classmethod
    def load(cls) -> float:
        """How much further apart batches and heartbeats go than with few readers (>= 1)."""
        return max(1.0, cls.running / QUIET_READERS)

    async def run(self) -> StreamReaderEnd:
        """Read until the terminal batch is recorded; a fault raises after recording what was
        read, and the retry attaches after the recorded cursor."""
        StreamReader.running += 1
        try:
            return await self._run()
        finally:
            StreamReader.running -= 1

    async def _run(self) -> StreamReaderEnd:
        # Heartbeats first: asking the workflow for its cursor may take longer than the
        # heartbeat timeout, and a reader declared dead would be started again meanwhile.
        heartbeat = asyncio.create_task(self._heartbeat_loop())
        if self._attempt > 1:
            try:
                await self._start_from_workflow()
            except BaseException as err:
                heartbeat.cancel()
                if isinstance(err, _RunClosed):
                    raise _run_closed() from None
                raise
        reading = asyncio.create_task(self._read_all())
        delivering = asyncio.create_task(self._deliver_loop())
        shutdown: asyncio.Future[Any] = asyncio.ensure_future(activity.wait_for_worker_shutdown())
        tasks = [heartbeat, reading, delivering, shutdown]
        try:
            waiting: set[asyncio.Future[Any]] = {reading, delivering, shutdown}
            while True:
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if delivering in done:
                    last = delivering.result()  # the terminal batch is recorded, or is `last`
                    return StreamReaderEnd(
                        response_id=self.response_id,
                        cursor=self.cursor,
                        batches=self.batches + (last is not None),
                        stream_opens=self.stream_opens,
                        last=last,
                    )
                if reading in done:
                    waiting.discard(reading)
                    error = reading.exception()
                    if error is not None:
                        await self._flush(delivering)  # what was read before the fault is kept
                        raise error
                if shutdown in done:
                    waiting.discard(shutdown)
                    if reading.done() and reading.exception() is None:
                        continue  # the end is read: record it here rather than hand over
                    # Never hand over before the id is recorded: the next attempt would create
                    # a second response. Opening a stream takes a moment; shutdown waits.
                    id_sent = asyncio.ensure_future(self._id_sent_event.wait())
                    await asyncio.wait(
                        {id_sent, reading}, timeout=FLUSH_SECONDS * 2, return_when="FIRST_COMPLETED"
                    )
                    id_sent.cancel()
                    if reading.done() and reading.exception() is None:
                        continue  # the end came meanwhile: record it rather than hand over
                    failed = reading.exception() if reading.done() else None
                    await self._flush(delivering)
                    if failed is not None:
                        raise failed  # the create failed: its own error, not a hand-over
                    # A retry, not a completion: the server starts it on another worker with
                    # no workflow task in between (the workflow may be cached on this dying
                    # worker, and its sticky queue would hold that task for seconds).
                    raise ApplicationError(
                        f"worker shutting down: stream of {self.response_id} handed over at "
                        f"cursor {self._sent_cursor}",
                        type=HANDOVER,
                        next_retry_delay=timedelta(milliseconds=10),
                    )
        except asyncio.CancelledError:
            with contextlib.suppress(BaseException):
                await asyncio.shield(self._stop_after_cancel(reading, delivering))
            raise
        except _RunClosed:
            raise _run_closed() from None
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _stop_after_cancel(
        self, reading: asyncio.Task[None], delivering: asyncio.Task[StreamBatch | None]
    ) -> None:
        """Cancelled: record what was read, and never leave a response nobody knows of.

        A create in flight is let finish (aborting it could leave a response the provider
        accepted and nobody can name); its id is then recorded, so the workflow's cleanup
        cancels it, or, if that fails, cancelled here.
        """
        details = activity.cancellation_details()
        requested = details is not None and details.cancel_requested
        if not self.response_id and not reading.done() and self._input.params is not None:
            seen = asyncio.ensure_future(self._id_seen.wait())
            await asyncio.wait(
                {seen, reading}, timeout=CONNECT_TIMEOUT_SECONDS, return_when="FIRST_COMPLETED"
            )
            seen.cancel()
        await self._flush(delivering)
        if requested and not self._id_sent_event.is_set():
            # Not recorded: the workflow's cleanup cannot name it. (A worker's shutdown is not
            # a cancel request: the retry finds the id in this attempt's heartbeat.)
            await cancel_unrecorded(self._client, self.response_id, CONNECT_TIMEOUT_SECONDS)

    async def _start_from_workflow(self) -> None:
        """A retried attempt trusts only what the workflow recorded."""
        delay = 0.2
        while True:
            try:
                progress: Progress = await self._handle.query(
                    names.PROGRESS_QUERY, result_type=Progress, rpc_timeout=timedelta(seconds=5)
                )
                break
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    raise _RunClosed from None
                activity.logger.warning("cannot ask the workflow for its cursor: %s", err)
            except Exception as err:  # a query the workflow worker could not answer yet
                activity.logger.warning("cannot ask the workflow for its cursor: %s", err)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
        if progress.response_id is None:
            # The previous attempt may have created the response and died before its id
            # batch was in history; its heartbeat (`StreamTail`) names it. Attach from the
            # start: the workflow has recorded nothing of it yet.
            known = _tail_of(activity.info().heartbeat_details)
            if known is not None and known.response_id:
                activity.logger.info(
                    "attaching to %s, named by the last heartbeat", known.response_id
                )
                self.response_id = known.response_id
                return
        self.response_id = progress.response_id or ""
        self.cursor = self._sent_cursor = progress.cursor
        self._sent_length = progress.text_length
        self._sent_reasoning = progress.reasoning_length
        self._sent_items = progress.items
        if progress.response_id is not None:
            self._id_sent_event.set()
        else:
            self._id_sent_event.clear()

    # ---- reading -----------------------------------------------------------------------------

    async def _read_all(self) -> None:
        """Read to the terminal event over one connection; reattach only after a cut."""
        while True:
            with openai_call("stream", self.response_id or None) as span, translated_errors():
                try:
                    stream = await self._open()
                    try:
                        if await self._read(stream):
                            return
                    finally:
                        await stream.close()
                finally:
                    span.set_attribute(RESPONSE_ID, self.response_id)
                    span.set_attribute("openai.stream.cursor", self.cursor or 0)
            # The stream ended or broke before the terminal event.
            if not self.response_id:
                raise ApplicationError(
                    "the create stream ended before response.created",
                    type=ErrorType.CONNECTION_ERROR,
                )
            with translated_errors():
                response = await self._client.responses.retrieve(
                    self.response_id, timeout=CONNECT_TIMEOUT_SECONDS
                )
            snapshot = self._snapshot_of(response)
            if is_terminal(snapshot.status):
                self._end_from_snapshot(snapshot)
                return
            self._reattaches += 1
            if self._reattaches > QUICK_REATTACHES:
                raise ApplicationError(
                    f"stream of {self.response_id} broke {self._reattaches} times in a row",
                    type=ErrorType.CONNECTION_ERROR,
                )
            await asyncio.sleep(min(0.1 * 2**self._reattaches, 2.0))

    async def _open(self) -> RawEvents:
        self.stream_opens += 1
        self._attached = bool(self.response_id)
        call = stream_call(
            self._create_kwargs,
            self._input.params,
            self.response_id,
            self.cursor,
            STREAM_TIMEOUT,
            "stream_background_response",
        )
        return await open_raw_stream(self._client, call)

    async def _read(self, stream: RawEvents) -> bool:
        """Fold events in until the terminal one (True) or the stream ends or breaks."""
        try:
            async for event in stream:
                if self._apply(event):
                    return True
        except openai.APIConnectionError as err:
            activity.logger.warning(
                "stream of %s broke after cursor %s: %s", self.response_id, self.cursor, err
            )
        return False

    def _apply(self, event: Event) -> bool:
        """Fold one event into the pending batch; True when it was the terminal event.

        Deltas are read from the JSON as is; the response, an item and an error are built
        into the SDK's models (`event_model`): they are what is recorded.
        """
        kind = event.get("type")
        response = event.get("response")
        if not isinstance(response, dict):
            response = None
        elif response.get("id"):
            self.model = str(response.get("model") or "") or self.model
            if not self.response_id:
                self.response_id = str(response["id"])
                self._id_seen.set()
                activity.heartbeat(self._tail())  # names it to a retry before it is recorded
                activity.logger.info("created streaming background response %s", response["id"])
        if kind == "error":
            raise stream_error(event_model(event, ResponseErrorEvent), self.response_id)
        sequence: int = event["sequence_number"]
        if self.cursor is not None and sequence <= self.cursor:
            return False  # replayed after a reattach: already folded in
        self.cursor = sequence
        self._reattaches = 0
        if kind == "response.output_text.delta":
            self._text += event["delta"]
        elif kind == "response.reasoning_summary_text.delta":
            self._reasoning += event["delta"]
        elif kind == "response.output_item.added":
            added = event_model(event, ResponseOutputItemAddedEvent)
            item = added.item.to_dict(mode="json", warnings=False)
            self._activity = describe_item(item)
            self._current = (added.output_index, item)
        elif kind == "response.output_item.done":
            done = event_model(event, ResponseOutputItemDoneEvent)
            self._record_item(done.item.to_dict(mode="json", warnings=False), done.output_index)
            self._current = None
        terminal = False
        if response is not None:
            self._status = str(response.get("status") or "") or self._status
            if kind in TERMINAL_EVENTS:
                self._end_with(self._snapshot_of(event_model(response, Response)))
                terminal = True
        self._notify()
        return terminal

    def _next_item(self) -> int:
        """The output index of the next item to record."""
        flying = len(self._in_flight.items) if self._in_flight is not None else 0
        return self._sent_items + flying + len(self._items)

    def _record_item(self, item: dict[str, Any], index: int) -> None:
        """Keep a finished item for the next batch (text elided: it came as deltas)."""
        self._activity = describe_item(item)
        expected = self._next_item()
        if index < expected:
            return  # recorded before a reattach or a retry
        if index > expected:
            # Never seen: the terminal response (or a retrieve) fills the gap in order.
            activity.logger.warning(
                "response %s: item %d finished before item %d", self.response_id, index, expected
            )
            return
        self._items.append(RecordedItem.of(item, index, MAX_ITEM_BYTES))

    def _end_with(self, snapshot: ResponseSnapshot) -> None:
        """The final response: record the items no `output_item.done` brought, then keep the
        rest of it without what came as deltas and items (carrying it twice would double the
        payload, and break the 2 MB limit for long outputs)."""
        for index, item in enumerate(snapshot.output[self._next_item() :], self._next_item()):
            self._record_item(item, index)
        self._snapshot = snapshot.model_copy(
            update={
                "output_text": "",
                "reasoning_summary": "",
                "output": [],
                "output_text_lengths": None,
                "omitted_items": [],
            }
        )

    def _end_from_snapshot(self, snapshot: ResponseSnapshot) -> None:
        """A stream that ended without its terminal event: the rest comes from a retrieve."""
        have = self._sent_length + self._pending_length()
        self._text += snapshot.output_text[have:]
        have_reasoning = self._sent_reasoning + len(self._reasoning)
        if self._in_flight is not None:
            have_reasoning += len(self._in_flight.reasoning_summary)
        self._reasoning += snapshot.reasoning_summary[have_reasoning:]
        self._status = snapshot.status
        self._end_with(snapshot)
        self._notify()

    # ---- delivering --------------------------------------------------------------------------

    def _pending_length(self) -> int:
        flying = len(self._in_flight.text) if self._in_flight is not None else 0
        return flying + len(self._text)

    def _has_pending(self) -> bool:
        return bool(
            self.response_id
            and (
                not self._id_sent_event.is_set()
                or self._text
                or self._reasoning
                or self._items
                or self._snapshot
            )
        )

    def _urgent(self) -> bool:
        """Recorded at once: the id, the first text (while few run), the end, or a full batch."""
        return bool(
            self.response_id
            and (
                not self._id_sent_event.is_set()
                or self._snapshot is not None
                or (self._text and not self._first_text_sent and self.load() == 1.0)
                or len(self._text) >= self._input.max_batch_chars
                or sum(item.bytes for item in self._items) >= MAX_BATCH_ITEM_BYTES
            )
        )

    def _notify(self) -> None:
        self._changed.set()
        if self._urgent():
            self._due.set()

    def _take(self) -> StreamBatch:
        """The next batch: everything read since the last recorded one, including a batch
        whose delivery was interrupted (recording it twice is harmless)."""
        prior = self._in_flight
        batch = StreamBatch(
            response_id=self.response_id,
            model=self.model,
            after=prior.after if prior is not None else self._sent_cursor,
            cursor=self.cursor,
            offset=self._sent_length,
            text=(prior.text if prior is not None else "") + self._text,
            reasoning_offset=self._sent_reasoning,
            reasoning_summary=(prior.reasoning_summary if prior is not None else "")
            + self._reasoning,
            status=self._status,
            snapshot=self._snapshot or (prior.snapshot if prior is not None else None),
            attempt=self._attempt,
            reconnects=max(self.stream_opens - 1, 0) - self._reported_reattaches,
            items_from=prior.items_from if prior is not None else self._sent_items,
            items=(prior.items if prior is not None else []) + self._items,
            activity=self._activity,
            current_index=self._current[0] if self._current is not None else None,
            current_item=elide_message_text(self._current[1]) if self._current else None,
        )
        self._text, self._reasoning, self._snapshot, self._items = "", "", None, []
        self._in_flight = batch
        return batch

    def _commit(self, batch: StreamBatch) -> None:
        self._in_flight = None
        self._reported_reattaches += batch.reconnects
        self._sent_cursor = batch.cursor
        self._sent_length = batch.offset + len(batch.text)
        self._sent_reasoning = batch.reasoning_offset + len(batch.reasoning_summary)
        self._sent_items = batch.items_from + len(batch.items)
        self.batches += 1
        self._id_sent_event.set()
        if batch.text:
            if self._first_text_sent:
                self._interval = min(
                    self._interval * self._input.batch_growth, self._input.max_batch_seconds
                )
            self._first_text_sent = True

    async def _deliver_loop(self) -> StreamBatch | None:
        """Record batches in order, one in flight; returns once the terminal one is recorded,
        or, with `end_in_result`, returns it unsent (in flight: a cancel now flushes it by
        signal). Urgent ones go at once; the rest wait for the batch interval, which grows."""
        last = self._loop.time()
        while True:
            self._changed.clear()
            if not self._has_pending():
                await self._changed.wait()
                continue
            if not self._urgent():
                self._due.clear()
                interval = min(self._interval * self.load(), self._input.max_batch_seconds)
                wait = last + interval - self._loop.time()
                if wait > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._due.wait(), timeout=wait)
            elif self._attached and self._text and not self._first_text_sent:
                # Reattached: the provider replays what was missed in one burst. Take the
                # burst, not its first delta, so followers are back at the live edge at once.
                await asyncio.sleep(REPLAY_COALESCE_SECONDS)
            batch = self._take()
            if batch.snapshot is not None and self._input.end_in_result:
                return batch
            await self._send(batch)
            self._commit(batch)
            last = self._loop.time()
            if batch.snapshot is not None:
                return None

    async def _send(self, batch: StreamBatch) -> None:
        """Signal one batch until the server has it; reading goes on meanwhile."""
        delay = 0.1
        while True:
            try:
                await self._handle.signal(BATCH_SIGNAL, batch, rpc_timeout=timedelta(seconds=10))
                return
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    raise _RunClosed from None
                if "limit for signal" in err.message.lower():
                    raise ApplicationError(
                        f"the server refuses more signals to this run: {err.message}",
                        type=SIGNAL_LIMIT,
                        non_retryable=True,
                    ) from None
                if err.status == RPCStatusCode.INVALID_ARGUMENT:  # e.g. too large: never passes
                    raise ApplicationError(
                        f"the server refuses the batch: {err.message}",
                        type=ErrorType.INVALID_REQUEST,
                        non_retryable=True,
                    ) from None
                activity.logger.warning("could not record a batch yet (%s); retrying", err)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _flush(self, delivering: asyncio.Task[StreamBatch | None]) -> None:
        """Record what was read before stopping, within `FLUSH_SECONDS`, best effort. The
        delivering task stops first, so batches never go out of order."""
        delivering.cancel()
        await asyncio.gather(delivering, return_exceptions=True)
        if not (self._has_pending() or self._in_flight is not None):
            return
        with contextlib.suppress(Exception):
            async with asyncio.timeout(FLUSH_SECONDS):
                batch = self._take()
                await self._send(batch)
                self._commit(batch)

    # ---- followers and cleanup ---------------------------------------------------------------

    def _tail(self) -> StreamTail:
        text = (self._in_flight.text if self._in_flight is not None else "") + self._text
        return StreamTail(
            response_id=self.response_id or None,
            offset=self._sent_length,
            text=text[:MAX_TAIL_CHARS],
            cursor=self.cursor,
            activity=self._activity,
            current_index=self._current[0] if self._current is not None else None,
            current_id=self._current[1].get("id") if self._current is not None else None,
        )

    async def _heartbeat_loop(self) -> None:
        while True:
            activity.heartbeat(self._tail())
            await asyncio.sleep(
                min(HEARTBEAT_EVERY_SECONDS * self.load(), MAX_HEARTBEAT_EVERY_SECONDS)
            )


def _tail_of(details: Any) -> StreamTail | None:
    """The `StreamTail` of a previous attempt's heartbeat, if any."""
    if details:
        with contextlib.suppress(Exception):
            return StreamTail.model_validate(details[0])
    return None
