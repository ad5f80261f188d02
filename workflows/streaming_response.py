"""`StreamingResponseWorkflow`: read a background stream in recorded chunks, resuming from the
cursor in workflow state after any crash, so the text has no gap and no duplicate."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import NoReturn

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from durable_responses.activities import ReadStreamChunkInput, ResponseSnapshot, StreamChunk
    from durable_responses.activities.responses import (
        STREAM_CONNECT_GRACE_SECONDS,
        ResponsesActivities,
    )
    from durable_responses.models import (
        ErrorType,
        Progress,
        ResponseResult,
        StreamPolicy,
        StreamState,
        TextRequest,
        TextSlice,
        is_terminal,
    )
    from durable_responses.models._carried import CarriedRequest, ResumeState

    from . import _outcome as outcome
    from . import _state, metrics
    from ._deadline import poll_delay, retry_budget
    from ._polling import poll_once, poll_until_terminal
    from ._state import RunInput
    from ._upstream import cancelling_upstream_on_exit
    from .search_attributes import index

CHUNK_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=0,  # until the deadline; a retry re-reads from the recorded cursor
)
"""Retries of a chunk. The first retry comes fast: after a worker dies it is the hand-over."""


@workflow.defn(name="StreamingResponseWorkflow", failure_exception_types=[ValidationError])
class StreamingResponseWorkflow:
    """Stream one background response into workflow state, exactly once, across crashes.

    Each `read_stream_chunk` activity reads after the recorded cursor until its time or size
    budget or the terminal event, and returns the text and the new cursor; the workflow
    appends them before asking for the next chunk. Budgets start short (first text fast) and
    grow (fewer history events). If the provider no longer replays the stream, the workflow
    polls `retrieve` and appends only the text it does not have yet. Clients follow the text
    by offset with the `text_after` update and the `state` query.
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

    @workflow.run
    async def run(self, request: RunInput = None, *unexpected: object) -> ResponseResult:
        """Create and stream (unless continued), record every chunk, return the whole text."""
        checked = _state.validated_request(request, unexpected)
        state = self._state
        try:
            async with cancelling_upstream_on_exit(state):
                snapshot = await self._read_until_terminal(checked)
        finally:
            self._done = True
        # Followers waiting in `text_after` get the last slice before the workflow closes.
        await workflow.wait_condition(workflow.all_handlers_finished)
        result = outcome.conclude(snapshot, state)
        return result.model_copy(
            update={
                "output_text": state.text,
                "output_text_offset": state.text_offset,
                "reasoning_summary": state.reasoning_summary,
                "cursor": state.cursor,
                "resumes": state.resumes,
                "chunks": state.chunks,
            }
        )

    # ---- the chunk loop ----------------------------------------------------------------------

    async def _read_until_terminal(self, request: CarriedRequest) -> ResponseSnapshot:
        state, policy = self._state, self._policy
        chunk_seconds = state.chunk_seconds or policy.first_chunk_seconds
        chunks_this_run = 0
        while True:
            if state.polling_fallback:
                return await self._poll_until_terminal(request)
            if (
                chunks_this_run >= policy.max_chunks_per_run
                or workflow.info().is_continue_as_new_suggested()
            ):
                await self._continue_as_new(request, chunk_seconds)
            budget = poll_delay(state, chunk_seconds)  # never past the deadline
            try:
                chunk = await workflow.execute_activity_method(
                    ResponsesActivities.read_stream_chunk,
                    ReadStreamChunkInput(
                        params=request.api_params() if state.response_id is None else None,
                        response_id=state.response_id,
                        cursor=state.cursor,
                        budget_seconds=budget,
                        retry_budget_seconds=min(budget, policy.first_chunk_seconds),
                        max_chars=policy.max_chunk_chars,
                    ),
                    start_to_close_timeout=timedelta(
                        seconds=budget + STREAM_CONNECT_GRACE_SECONDS + 10
                    ),
                    heartbeat_timeout=timedelta(seconds=policy.heartbeat_timeout_seconds),
                    schedule_to_close_timeout=retry_budget(
                        state, timedelta(seconds=budget + STREAM_CONNECT_GRACE_SECONDS)
                    ),
                    retry_policy=CHUNK_RETRY,
                    # On cancellation, stop the reader before cancelling upstream and closing.
                    cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                )
            except ActivityError as err:
                if _is_stream_expired(err):
                    workflow.logger.info(
                        "stream of %s can no longer be resumed; polling for the rest",
                        state.response_id,
                    )
                    state.polling_fallback = True
                    continue
                outcome.raise_activity_failure(err, state)
            self._record(chunk)
            chunks_this_run += 1
            if chunk.snapshot is not None and is_terminal(chunk.snapshot.status):
                self._append_missing(chunk.snapshot)
                return chunk.snapshot
            if chunk.attempt > 1 or chunk.stopped_by in ("shutdown", "interrupted", "end"):
                # After a hand-over, start short again: followers see text soon.
                chunk_seconds = policy.first_chunk_seconds
            else:
                chunk_seconds = min(chunk_seconds * policy.chunk_growth, policy.max_chunk_seconds)

    async def _poll_until_terminal(self, request: CarriedRequest) -> ResponseSnapshot:
        """Fallback once the stream cannot be replayed: poll and append only what is new."""
        state = self._state

        async def continue_as_new() -> NoReturn:
            await self._continue_as_new(request, state.chunk_seconds)

        first = await poll_once(state, request.poll, self._record_snapshot)
        return await poll_until_terminal(
            state,
            request.poll,
            first,
            record=self._record_snapshot,
            continue_as_new=continue_as_new,
            polls_this_run=1,
        )

    async def _continue_as_new(
        self, request: CarriedRequest, chunk_seconds: float | None
    ) -> NoReturn:
        state = self._state
        workflow.logger.info(
            "response %s: continuing as new at cursor %s (%d chars)",
            state.response_id,
            state.cursor,
            state.text_offset + len(state.text),
        )
        # Waiting followers return now and ask again: their next update reaches the new run.
        self._draining = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        state.chunk_seconds = chunk_seconds
        workflow.continue_as_new(_state.continued(request, state))

    # ---- state -------------------------------------------------------------------------------

    def _record(self, chunk: StreamChunk) -> None:
        state = self._state
        if chunk.response_id and state.response_id is None:
            metrics.created(chunk.model)
        state.response_id = chunk.response_id or state.response_id
        state.model = chunk.model or state.model
        if chunk.events:
            state.cursor = chunk.cursor
        if chunk.status:
            state.status = chunk.status
        state.chunks += 1
        # Every retried attempt and every cut stream is a resume from the recorded cursor.
        resumed = (chunk.attempt - 1) + int(chunk.interrupted)
        state.resumes += resumed
        metrics.stream_resumed(resumed)
        index(state)
        self._append(chunk.text, chunk.reasoning_summary)

    def _record_snapshot(self, snapshot: ResponseSnapshot) -> None:
        self._state.status = snapshot.status
        index(self._state)
        self._append_missing(snapshot)

    def _append(self, text: str, reasoning: str) -> None:
        state = self._state
        state.text += text
        state.reasoning_summary += reasoning
        overflow = len(state.text) - self._policy.max_carried_chars
        if overflow > 0:
            # Beyond the payload-safe size only the tail is kept; offsets stay absolute.
            state.text = state.text[overflow:]
            state.text_offset += overflow

    def _append_missing(self, snapshot: ResponseSnapshot) -> None:
        """Append the part of a snapshot's text this workflow does not have yet."""
        state = self._state
        have = state.text_offset + len(state.text)
        full = snapshot.output_text
        if len(full) > have:
            if full[state.text_offset : have] != state.text:
                workflow.logger.warning(
                    "response %s: recorded text is not a prefix of the provider's text",
                    snapshot.id,
                )
            self._append(full[have:], "")
        summary = snapshot.reasoning_summary
        if len(summary) > len(state.reasoning_summary):
            state.reasoning_summary += summary[len(state.reasoning_summary) :]

    # ---- clients -----------------------------------------------------------------------------

    @workflow.query(name="progress")
    def progress(self) -> Progress:
        """Live progress: status, response id, cursor, text length, chunks, resumes."""
        return _state.progress_of(self._state, None)

    @workflow.query(name="state")
    def current_state(self) -> StreamState:
        """Everything recorded so far, text included."""
        state = self._state
        return StreamState(
            response_id=state.response_id,
            status=state.status or "starting",
            cursor=state.cursor,
            text=state.text,
            text_offset=state.text_offset,
            text_length=state.text_offset + len(state.text),
            reasoning_summary=state.reasoning_summary,
            chunks=state.chunks,
            resumes=state.resumes,
            done=self._done,
        )

    @workflow.update(name="text_after")
    async def text_after(self, request: TextRequest) -> TextSlice:
        """Long-poll: the text after `offset`, as soon as there is some (or `wait_seconds`).

        Offsets are absolute character positions in the answer, so a client that reconnects
        with its last `next_offset` sees no gap and no repeat.
        """

        def ready() -> bool:
            return self._length() > request.offset or self._done or self._draining

        if not ready() and request.wait_seconds > 0:
            with contextlib.suppress(TimeoutError):  # nothing new in time: an empty slice
                await workflow.wait_condition(ready, timeout=request.wait_seconds)
        return self._slice(request)

    @text_after.validator
    def _check_text_request(self, request: TextRequest) -> None:
        if request.offset > self._length():
            raise ApplicationError(
                f"offset {request.offset} is past the text recorded so far ({self._length()})",
                type=ErrorType.INVALID_REQUEST,
            )

    def _length(self) -> int:
        return self._state.text_offset + len(self._state.text)

    def _slice(self, request: TextRequest) -> TextSlice:
        state = self._state
        start = max(request.offset, state.text_offset)
        relative = start - state.text_offset
        text = state.text[relative : relative + request.max_chars]
        end = start + len(text)
        return TextSlice(
            offset=start,
            text=text,
            next_offset=end,
            status=state.status or "starting",
            done=self._done and end == self._length(),
            response_id=state.response_id,
            truncated=request.offset < state.text_offset,
        )


def _is_stream_expired(err: ActivityError) -> bool:
    cause = err.cause
    return isinstance(cause, ApplicationError) and cause.type == ErrorType.STREAM_EXPIRED
