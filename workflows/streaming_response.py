"""`StreamingResponseWorkflow`: one reader activity reads a background stream over one connection
and records it here in batches, resuming from the cursor in workflow state after any crash, so
the text has no gap and no duplicate."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import NoReturn

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, RetryState

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from durable_responses.activities import (
        ResponseSnapshot,
        StreamBatch,
        StreamReaderEnd,
        StreamReaderInput,
    )
    from durable_responses.activities.responses import ResponsesActivities
    from durable_responses.activities.stream_reader import SIGNAL_LIMIT
    from durable_responses.models import (
        ErrorType,
        PollPolicy,
        Progress,
        ResponseResult,
        StreamPolicy,
        StreamState,
        TextRequest,
        TextSlice,
        fitting,
        is_terminal,
    )
    from durable_responses.models import items as _items
    from durable_responses.models._carried import CarriedRequest, ResumeState
    from durable_responses.models.limits import MAX_ITEM_BYTES
    from durable_responses.models.names import (
        BATCH_SIGNAL,
        PROGRESS_QUERY,
        STATE_QUERY,
        STREAMING_RESPONSE_WORKFLOW,
        TEXT_AFTER_UPDATE,
        TEXT_QUERY,
        VIEW_QUERY,
    )
    from durable_responses.models.view import RunView, ViewRequest
    from durable_responses.models.webhooks import (
        WEBHOOK_SIGNAL,
        WEBHOOKS_UPDATE,
        WebhookEvent,
        WebhookSetting,
    )

    from . import _chunked, _state, metrics
    from . import _deadline as deadline
    from . import _following as following
    from . import _outcome as outcome
    from ._deadline import poll_delay
    from ._patches import patched
    from ._polling import poll_once, poll_until_terminal
    from ._sandbox import SANDBOXED
    from ._size import ensure_input_fits, fit_result
    from ._state import RunInput
    from ._upstream import cancelling_upstream_on_exit
    from ._wake import Wake
    from .search_attributes import index

STREAM_READER_PATCH = "stream-reader-v1"
"""Runs from before this patch replay with the chunked engine (`read_stream_chunk`)."""
FLEX_REFUSED_PATCH = "streaming-flex-refused-v1"
"""Runs from before this patch accepted `flex_fallback_seconds` and ignored it; new ones refuse
it at start (asked only when it is set, so other runs record no marker)."""
READER_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=100),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=0,  # until the deadline; a retry attaches after the recorded cursor
    non_retryable_error_types=[SIGNAL_LIMIT],
)
"""Retries of the reader. The first comes at once: after a worker dies or shuts down it is
the hand-over, and text should flow again within a heartbeat timeout."""
READER_ATTEMPT = timedelta(hours=24)
"""Start-to-close bound of one reader attempt; liveness comes from the heartbeat timeout."""
MAX_HISTORY_BYTES = 20 * 1024 * 1024
"""Continue-as-new past this history size even while live: far below the server's 50 MB."""


@workflow.defn(
    name=STREAMING_RESPONSE_WORKFLOW, failure_exception_types=[ValidationError], sandboxed=SANDBOXED
)
class StreamingResponseWorkflow:
    """Stream one background response into workflow state, exactly once, across crashes.

    A `stream_background_response` activity creates the response (or attaches after the
    recorded cursor) and reads its stream over one connection to the end, signalling batches
    here (`record_stream_batch`): the response id first, then text at growing intervals. A
    batch is appended only from the recorded cursor on, so redeliveries and readers that lost
    their worker change nothing. If the provider no longer replays the stream, the workflow
    polls `retrieve` and appends only the text it does not have yet. Clients follow the text by
    offset with the `text` query plus the reader's unrecorded tail (no history cost), or the
    older `text_after` update.
    """

    @workflow.init
    def __init__(self, request: RunInput = None, *unexpected: object) -> None:
        # State is set up before the first `text_after` validator runs, so a follower of a run
        # that continued as new is checked against the carried text, not an empty one. A bad
        # request leaves it empty and `run` reports the problem.
        checked = _state.try_request(request)
        self._state = _state.initial_state(checked) if checked else ResumeState()
        self._policy = checked.streaming if checked else StreamPolicy()
        self._done = False
        self._draining = False
        self._terminal: ResponseSnapshot | None = None
        self._batches_this_run = 0
        self._reader_attempt = 0
        self._wake = Wake(self._state)

    @workflow.run
    async def run(self, request: RunInput = None, *unexpected: object) -> ResponseResult:
        """Create and stream (unless continued), record every chunk, return the whole text."""
        checked = _state.validated_request(request, unexpected)
        if checked.discounted_window():
            raise ApplicationError(
                f"background_options.completion_window {checked.discounted_window()!r} is for "
                "polled background responses only (OpenAI refuses it with stream=true): start "
                "a BackgroundResponseWorkflow",
                type=ErrorType.INVALID_REQUEST,
                non_retryable=True,
            )
        if (
            checked.flex_fallback_seconds is not None
            and checked.resume is None
            and patched(FLEX_REFUSED_PATCH)
        ):
            raise ApplicationError(
                "flex_fallback_seconds is for polled background responses only: the stream "
                "reader creates the response on its one connection and cannot move it to "
                "another tier; start a BackgroundResponseWorkflow, or leave it unset",
                type=ErrorType.INVALID_REQUEST,
                non_retryable=True,
            )
        await ensure_input_fits(checked)
        state = self._state
        try:
            async with cancelling_upstream_on_exit(state):
                if patched(STREAM_READER_PATCH):
                    snapshot = await self._stream_until_terminal(checked)
                else:
                    snapshot = await self._read_until_terminal(checked)
        except workflow.ContinueAsNewError:
            # Not done: a follower that asks this run before it closes must keep going, and
            # its next query reaches the new run.
            raise
        except BaseException:
            self._done = True
            raise
        self._done = True
        # Followers waiting in `text_after` get the last slice before the workflow closes.
        await workflow.wait_condition(workflow.all_handlers_finished)
        result = outcome.conclude(snapshot, state)
        fitted = fitting.from_recorded(state.items, state.text if not state.text_offset else None)
        return fit_result(
            result.model_copy(
                update={
                    "output_text": state.text,
                    "output_text_offset": state.text_offset,
                    "reasoning_summary": state.reasoning_summary,
                    "cursor": state.cursor,
                    "resumes": state.resumes,
                    "chunks": state.chunks,
                    **fitted.model_dump(),
                    "output_kind": _items.output_kind(fitted.output),
                }
            )
        )

    # ---- the reader ----------------------------------------------------------------------------

    async def _stream_until_terminal(self, request: CarriedRequest) -> ResponseSnapshot:
        """Run readers until the terminal batch is recorded (usually one reader, one attempt)."""
        state = self._state
        while self._terminal is None:
            if state.polling_fallback:
                return await self._poll_until_terminal(request)
            reader = self._start_reader(request)
            if await self._must_continue_while(reader):
                await self._stop(reader)
                if self._terminal is None:
                    await self._continue_as_new(request, None)
            try:
                await reader
                if self._terminal is None:  # never from our reader; no hot loop if it does
                    workflow.logger.warning("reader of %s ended early", state.response_id)
                    await workflow.sleep(poll_delay(state, 1.0))
            except ActivityError as err:
                if self._terminal is not None:
                    break  # recorded before the reader failed: nothing more to read
                if outcome.fell_back_to_polling(err, state):
                    continue
                if outcome.is_error_type(err, SIGNAL_LIMIT):
                    await self._continue_as_new(request, None)
                if state.deadline_at is not None and err.retry_state == RetryState.TIMEOUT:
                    # The reader's only schedule-to-close bound is the deadline.
                    raise deadline.reached() from err
                outcome.raise_activity_failure(err, state)
        return self._terminal

    def _start_reader(self, request: CarriedRequest) -> workflow.ActivityHandle[StreamReaderEnd]:
        state, policy = self._state, self._policy
        left = deadline.remaining(state.deadline_at)
        if left is not None and left <= timedelta(0):
            raise deadline.reached()
        self._reader_attempt = 0  # a new activity counts its attempts from 1
        return workflow.start_activity_method(
            ResponsesActivities.stream_background_response,
            StreamReaderInput(
                params=request.api_params() if state.response_id is None else None,
                response_id=state.response_id,
                cursor=state.cursor,
                text_length=state.text_length,
                reasoning_length=state.reasoning_length,
                item_count=len(state.items),
                first_batch_seconds=policy.first_batch_seconds,
                batch_growth=policy.batch_growth,
                max_batch_seconds=policy.max_batch_seconds,
                max_batch_chars=policy.max_batch_chars,
            ),
            start_to_close_timeout=READER_ATTEMPT if left is None else min(READER_ATTEMPT, left),
            schedule_to_close_timeout=left,
            heartbeat_timeout=timedelta(seconds=policy.heartbeat_timeout_seconds),
            retry_policy=READER_RETRY,
            # On cancellation the reader records what it read (and the id) before it stops.
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )

    async def _must_continue_while(self, reader: workflow.ActivityHandle[StreamReaderEnd]) -> bool:
        """Wait for the reader; True if the run must continue as new while it is live."""
        try:
            await workflow.wait_condition(lambda: reader.done() or self._history_full())
        except BaseException:
            await self._stop(reader)  # its last batch (and the id) are recorded first
            raise
        return not reader.done()

    def _history_full(self) -> bool:
        """Continue-as-new is deferred while live, up to bounds far below the server's limits
        (and the server's suggestion is ignored until then: the stream matters more)."""
        info = workflow.info()
        return (
            self._batches_this_run >= self._policy.max_batches_per_run
            or info.get_current_history_length() >= self._policy.max_history_events
            or info.get_current_history_size() >= MAX_HISTORY_BYTES
        )

    @staticmethod
    async def _stop(reader: workflow.ActivityHandle[StreamReaderEnd]) -> None:
        if not reader.done():
            reader.cancel()
        await workflow.wait({reader})

    @workflow.signal(name=WEBHOOK_SIGNAL)
    def openai_webhook(self, event: WebhookEvent) -> None:
        """OpenAI says the response has ended: a polling fallback polls it now. (The reader,
        on its one connection, needs no wake-up.)"""
        self._wake.webhook(event)

    @workflow.update(name=WEBHOOKS_UPDATE)
    async def set_webhooks(self, setting: WebhookSetting) -> WebhookSetting:
        """Switch a polling fallback between webhooks (polls a slow safety net) and polling on
        the request's intervals, now and for continuations; the answer is the setting now."""
        return self._wake.set(setting)

    @workflow.signal(name=BATCH_SIGNAL)
    def record_stream_batch(self, batch: StreamBatch) -> None:
        """Append a reader's batch from the recorded cursor on; ignore what is already here."""
        self._batches_this_run += 1
        state = self._state
        if self._terminal is not None:
            return
        if state.response_id is not None and batch.response_id != state.response_id:
            workflow.logger.warning(
                "ignoring a batch of %s: this run records %s", batch.response_id, state.response_id
            )
            return
        recorded = -1 if state.cursor is None else state.cursor
        after = -1 if batch.after is None else batch.after
        last = -1 if batch.cursor is None else batch.cursor
        length = state.text_length
        reasoning = state.reasoning_length
        count = len(state.items)
        if (
            after > recorded
            or batch.offset > length
            or batch.reasoning_offset > reasoning
            or batch.items_from > count
        ):
            workflow.logger.warning(
                "ignoring a batch after cursor %s: %s is recorded", batch.after, state.cursor
            )
            return  # it would leave a gap; the reader's retry starts from the recorded cursor
        if last <= recorded and state.response_id is not None and batch.snapshot is None:
            return  # already recorded
        if state.response_id is None:
            metrics.created(batch.model)
        state.response_id = batch.response_id
        state.model = batch.model or state.model
        state.cursor = max(last, recorded) if last >= 0 else state.cursor
        state.status = batch.status or state.status
        state.chunks += 1
        resumed = batch.reconnects + (batch.attempt > self._reader_attempt > 0)
        self._reader_attempt = max(self._reader_attempt, batch.attempt)
        state.resumes += resumed
        metrics.stream_resumed(resumed)
        self._append(
            batch.text[length - batch.offset :],
            batch.reasoning_summary[reasoning - batch.reasoning_offset :],
        )
        self._append_items(batch.items[count - batch.items_from :])
        state.activity = batch.activity or state.activity
        state.current_index, state.current_item = batch.current_index, batch.current_item
        if batch.snapshot is not None:
            self._terminal = batch.snapshot
            state.status = batch.snapshot.status or state.status
        index(state)

    async def _read_until_terminal(self, request: CarriedRequest) -> ResponseSnapshot:
        """The chunk loop of runs from before the stream reader (`_chunked.py`)."""
        return await _chunked.read_until_terminal(
            self._state,
            self._policy,
            request,
            append=self._append,
            append_missing=self._append_missing,
            poll_until_terminal=lambda: self._poll_until_terminal(request),
            continue_as_new=lambda seconds: self._continue_as_new(request, seconds),
        )

    async def _poll_until_terminal(self, request: CarriedRequest) -> ResponseSnapshot:
        """Fallback once the stream cannot be replayed: poll and append only what is new."""
        state = self._state

        async def continue_as_new() -> NoReturn:
            await self._continue_as_new(request, state.chunk_seconds)

        def policy() -> PollPolicy:
            return request.poll.for_run(webhooks=state.webhooks, window=None)

        first = await poll_once(state, policy(), self._record_snapshot, partial_output=True)
        return await poll_until_terminal(
            state,
            policy,
            first,
            record=self._record_snapshot,
            continue_as_new=continue_as_new,
            polls_this_run=1,
            partial_output=True,
            wake=self._wake,
        )

    async def _continue_as_new(
        self, request: CarriedRequest, chunk_seconds: float | None
    ) -> NoReturn:
        state = self._state
        workflow.logger.info(
            "response %s: continuing as new at cursor %s (%d chars)",
            state.response_id,
            state.cursor,
            state.text_length,
        )
        # Waiting followers return now and ask again: their next update reaches the new run.
        self._draining = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        state.chunk_seconds = chunk_seconds
        workflow.continue_as_new(_state.continued(request, state))

    # ---- state -------------------------------------------------------------------------------

    def _record_snapshot(self, snapshot: ResponseSnapshot) -> None:
        self._state.status = snapshot.status
        index(self._state)
        self._append_missing(snapshot)

    def _append(self, text: str, reasoning: str) -> None:
        state = self._state
        state.text += text
        state.reasoning_summary += reasoning
        # Beyond the payload-safe size only the tail is kept; offsets stay absolute.
        overflow = len(state.text) - self._policy.max_carried_chars
        if overflow > 0:
            state.text = state.text[overflow:]
            state.text_offset += overflow
        overflow = len(state.reasoning_summary) - self._policy.max_carried_chars
        if overflow > 0:
            state.reasoning_summary = state.reasoning_summary[overflow:]
            state.reasoning_offset += overflow

    def _append_items(self, recorded: list[fitting.RecordedItem]) -> None:
        """Append finished items; past the budget, keep the largest as stubs only."""
        state = self._state
        state.items.extend(recorded)
        fitting.omit_largest(state.items, self._policy.max_carried_item_bytes)
        if recorded:
            state.activity = _items.describe_item(recorded[-1].item)

    def _append_missing(self, snapshot: ResponseSnapshot) -> None:
        """Append the part of a snapshot's text and items this workflow does not have yet."""
        state = self._state
        have = state.text_length
        full = snapshot.output_text
        prefix = full[state.text_offset : have] if snapshot.output_text_offset == 0 else None
        if prefix is not None and len(full) > have and prefix != state.text:
            workflow.logger.warning(
                "response %s: recorded text is not a prefix of the provider's text",
                snapshot.id,
            )
        start = have - snapshot.output_text_offset
        if start < 0:
            workflow.logger.warning(
                "response %s: the snapshot starts at character %d, past the %d recorded; "
                "the text between stays at the provider",
                snapshot.id,
                snapshot.output_text_offset,
                have,
            )
            start = len(full)
        have_reasoning = state.reasoning_length
        self._append(full[start:], snapshot.reasoning_summary[have_reasoning:])
        # A running response's last item may still change: it is recorded once finished.
        finished = snapshot.output if is_terminal(snapshot.status) else snapshot.output[:-1]
        self._append_items(
            fitting.recorded_from_output(
                finished,
                snapshot.output_text_lengths,
                snapshot.omitted_items,
                len(state.items),
                MAX_ITEM_BYTES,
            )
        )
        state.activity = snapshot.activity or state.activity

    # ---- clients -----------------------------------------------------------------------------

    @workflow.query(name=PROGRESS_QUERY)
    def progress(self) -> Progress:
        """Live progress: status, response id, cursor, text length, chunks, resumes."""
        state = self._state
        return _state.progress_of(state, None, items=len(state.items), activity=state.activity)

    @workflow.query(name=STATE_QUERY)
    def current_state(self) -> StreamState:
        """Everything recorded so far, text included."""
        state = self._state
        return StreamState(
            response_id=state.response_id,
            status=state.status or "starting",
            cursor=state.cursor,
            text=state.text,
            text_offset=state.text_offset,
            text_length=state.text_length,
            reasoning_summary=state.reasoning_summary,
            chunks=state.chunks,
            resumes=state.resumes,
            done=self._finished(),
            items=following.notes_of(state.items),
        )

    @workflow.query(name=VIEW_QUERY)
    def view(self, request: ViewRequest | None = None) -> RunView:
        """The finished items, the text and the item being written, from what the asker has
        (`durable_responses.gateway` builds OpenAI's Response and stream from it)."""
        state, asked = self._state, request or ViewRequest()
        start = max(asked.text_from, state.text_offset)
        return RunView(
            upstream_id=state.response_id,
            status=state.status or "starting",
            model=state.model,
            started_at=state.started_at,
            items_from=asked.items_from,
            items=state.items[asked.items_from :],
            item_count=len(state.items),
            text_offset=start,
            text=state.text[start - state.text_offset :],
            text_length=state.text_length,
            dropped=state.text_offset,
            current_index=state.current_index,
            current_item=state.current_item,
            finished=self._finished(),
            response=self._terminal.response if self._terminal is not None else None,
        )

    @workflow.query(name=TEXT_QUERY)
    def text(self, request: TextRequest | None = None) -> TextSlice:
        """The recorded text after `offset` (up to `max_chars`), at once and at no history cost.

        An offset past the recorded text is allowed: a follower may have shown the reader's
        unrecorded tail (`StreamTail`, in the reader's heartbeat) and asks from there.
        """
        checked = TextRequest() if request is None else following.text_request(request, ())
        return self._slice(checked)

    @workflow.update(name=TEXT_AFTER_UPDATE)
    async def text_after(
        self, request: TextRequest | None = None, *unexpected: object
    ) -> TextSlice:
        """Long-poll: the text after `offset`, as soon as there is some (or `wait_seconds`).

        Offsets are absolute character positions in the answer, so a client that reconnects
        with its last `next_offset` sees no gap and no repeat. Each call is an update: its
        answer is written to history, and a run takes at most 10 at once and 2,000 in all.
        Prefer the `text` query (what `follow` uses).
        """

        request = following.text_request(request, unexpected)  # the validator refused the rest
        offset = request.offset

        def ready() -> bool:
            return self._state.text_length > offset or self._finished() or self._draining

        if not ready() and request.wait_seconds > 0:
            with contextlib.suppress(TimeoutError):  # nothing new in time: an empty slice
                await workflow.wait_condition(ready, timeout=request.wait_seconds)
        return self._slice(request)

    @text_after.validator
    def _check_text_request(self, request: TextRequest | None = None, *unexpected: object) -> None:
        checked = following.text_request(request, unexpected)
        recorded = self._state.text_length
        if checked.offset > recorded:
            raise ApplicationError(
                f"offset {checked.offset} is past the text recorded so far ({recorded})",
                type=ErrorType.INVALID_REQUEST,
            )

    def _finished(self) -> bool:
        """No more text will be recorded: the run is over, or the terminal batch is in (the
        reader may still be returning)."""
        return self._done or self._terminal is not None

    def _slice(self, request: TextRequest) -> TextSlice:
        return following.slice_of(self._state, request, finished=self._finished())
