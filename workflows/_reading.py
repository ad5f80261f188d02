"""How a streaming run reads its response: the reader activity (started, restarted from the
recorded cursor, stopped to continue as new), the fall-back to polling once the provider no
longer replays the stream, and the chunk loop of runs from before the reader. What is read is
recorded by `_recording.Recording`; the workflow's `run` picks the engine and owns the ending."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import NoReturn

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, RetryState

with workflow.unsafe.imports_passed_through():
    from durable_responses.activities import ResponseSnapshot, StreamReaderEnd, StreamReaderInput
    from durable_responses.activities.responses import ResponsesActivities
    from durable_responses.activities.stream_reader import SIGNAL_LIMIT
    from durable_responses.models import PollPolicy, StreamPolicy
    from durable_responses.models._carried import CarriedRequest, ResumeState

    from . import _chunked
    from . import _deadline as deadline
    from . import _outcome as outcome
    from ._deadline import poll_delay
    from ._patches import END_IN_RESULT_PATCH, patched
    from ._polling import poll_once, poll_until_terminal
    from ._recording import Recording
    from ._wake import Wake

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

ContinueAsNew = Callable[[float | None], Awaitable[NoReturn]]
"""The workflow's continue-as-new, carrying the chunk interval (None for the reader)."""


class Reading:
    """Reads one run's response into its `Recording` until the terminal batch or poll."""

    def __init__(
        self,
        state: ResumeState,
        policy: StreamPolicy,
        request: CarriedRequest,
        *,
        recording: Recording,
        wake: Wake,
        continue_as_new: ContinueAsNew,
    ) -> None:
        self.state = state
        self.policy = policy
        self.request = request
        self.recording = recording
        self.wake = wake
        self.continue_as_new = continue_as_new

    async def stream_until_terminal(self) -> ResponseSnapshot:
        """Run readers until the terminal batch is recorded (usually one reader, one attempt)."""
        state, recording = self.state, self.recording
        while recording.terminal is None:
            if state.polling_fallback:
                return await self.poll_until_terminal()
            reader = self._start_reader()
            if await self._must_continue_while(reader):
                await _stop(reader)
                self._record_end(reader)
                if recording.terminal is None:
                    await self.continue_as_new(None)
            try:
                await reader
                self._record_end(reader)
                if recording.terminal is None:  # never from our reader; no hot loop if it does
                    workflow.logger.warning("reader of %s ended early", state.response_id)
                    await workflow.sleep(poll_delay(state, 1.0))
            except ActivityError as err:
                if recording.terminal is not None:
                    break  # recorded before the reader failed: nothing more to read
                if outcome.fell_back_to_polling(err, state):
                    continue
                if outcome.is_error_type(err, SIGNAL_LIMIT):
                    await self.continue_as_new(None)
                if state.deadline_at is not None and err.retry_state == RetryState.TIMEOUT:
                    # The reader's only schedule-to-close bound is the deadline.
                    raise deadline.reached() from err
                outcome.raise_activity_failure(err, state)
        return recording.terminal

    async def chunks_until_terminal(self) -> ResponseSnapshot:
        """The chunk loop of runs from before the stream reader (`_chunked.py`)."""
        return await _chunked.read_until_terminal(
            self.state,
            self.policy,
            self.request,
            append=self.recording.append,
            append_missing=self.recording.append_missing,
            poll_until_terminal=self.poll_until_terminal,
            continue_as_new=self.continue_as_new,
        )

    async def poll_until_terminal(self) -> ResponseSnapshot:
        """Fallback once the stream cannot be replayed: poll and append only what is new."""
        state, request = self.state, self.request

        async def continue_as_new() -> NoReturn:
            await self.continue_as_new(state.chunk_seconds)

        def policy() -> PollPolicy:
            return request.poll.for_run(webhooks=state.webhooks, window=None)

        record = self.recording.record_snapshot
        first = await poll_once(state, policy(), record, partial_output=True)
        return await poll_until_terminal(
            state,
            policy,
            first,
            record=record,
            continue_as_new=continue_as_new,
            polls_this_run=1,
            partial_output=True,
            wake=self.wake,
        )

    def _start_reader(self) -> workflow.ActivityHandle[StreamReaderEnd]:
        state, policy = self.state, self.policy
        left = deadline.remaining(state.deadline_at)
        if left is not None and left <= timedelta(0):
            raise deadline.reached()
        self.recording.reader_attempt = 0  # a new activity counts its attempts from 1
        return workflow.start_activity_method(
            ResponsesActivities.stream_background_response,
            StreamReaderInput(
                params=self.request.api_params() if state.response_id is None else None,
                response_id=state.response_id,
                cursor=state.cursor,
                text_length=state.text_length,
                reasoning_length=state.reasoning_length,
                item_count=len(state.items),
                first_batch_seconds=policy.first_batch_seconds,
                batch_growth=policy.batch_growth,
                max_batch_seconds=policy.max_batch_seconds,
                max_batch_chars=policy.max_batch_chars,
                end_in_result=patched(END_IN_RESULT_PATCH),
            ),
            start_to_close_timeout=READER_ATTEMPT if left is None else min(READER_ATTEMPT, left),
            schedule_to_close_timeout=left,
            heartbeat_timeout=timedelta(seconds=policy.heartbeat_timeout_seconds),
            retry_policy=READER_RETRY,
            # On cancellation the reader records what it read (and the id) before it stops.
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )

    def _record_end(self, reader: workflow.ActivityHandle[StreamReaderEnd]) -> None:
        """Record the terminal batch a reader returned rather than signalled (`end_in_result`),
        also when it ended so while being stopped."""
        if reader.done() and not reader.cancelled() and reader.exception() is None:
            last = reader.result().last
            if last is not None:
                self.recording.record(last)

    async def _must_continue_while(self, reader: workflow.ActivityHandle[StreamReaderEnd]) -> bool:
        """Wait for the reader; True if the run must continue as new while it is live."""
        try:
            await workflow.wait_condition(lambda: reader.done() or self._history_full())
        except asyncio.CancelledError:  # the run is cancelled (or evicted)
            # Not any BaseException: a coroutine closed by garbage collection (GeneratorExit)
            # must not await, and warned "coroutine ignored GeneratorExit" when it did.
            await _stop(reader)  # its last batch (and the id) are recorded first
            raise
        return not reader.done()

    def _history_full(self) -> bool:
        """Continue-as-new is deferred while live, up to bounds far below the server's limits
        (and the server's suggestion is ignored until then: the stream matters more)."""
        info = workflow.info()
        return (
            self.recording.batches_this_run >= self.policy.max_batches_per_run
            or info.get_current_history_length() >= self.policy.max_history_events
            or info.get_current_history_size() >= MAX_HISTORY_BYTES
        )


async def _stop(reader: workflow.ActivityHandle[StreamReaderEnd]) -> None:
    if not reader.done():
        reader.cancel()
    await workflow.wait({reader})
