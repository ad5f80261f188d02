"""The chunk loop of runs from before the stream reader (patch `stream-reader-v1`): one bounded
`read_stream_chunk` activity after another, each from the recorded cursor. Kept so those runs
replay and finish as they started; new runs use the reader (`streaming_response.py`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import NoReturn

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from durable_responses.activities import ReadStreamChunkInput, ResponseSnapshot, StreamChunk
    from durable_responses.activities.chunk_reader import STREAM_CONNECT_GRACE_SECONDS
    from durable_responses.activities.responses import ResponsesActivities
    from durable_responses.models import StreamPolicy, is_terminal
    from durable_responses.models._carried import CarriedRequest, ResumeState

    from . import _outcome as outcome
    from . import metrics
    from ._deadline import poll_delay, retry_budget
    from .search_attributes import index

CHUNK_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=0,  # until the deadline; a retry re-reads from the recorded cursor
)
"""Retries of a chunk."""


async def read_until_terminal(
    state: ResumeState,
    policy: StreamPolicy,
    request: CarriedRequest,
    *,
    append: Callable[[str, str], None],
    append_missing: Callable[[ResponseSnapshot], None],
    poll_until_terminal: Callable[[], Awaitable[ResponseSnapshot]],
    continue_as_new: Callable[[float | None], Awaitable[NoReturn]],
) -> ResponseSnapshot:
    """Read chunks until the terminal one, falling back to polling past the replay window."""
    chunk_seconds = state.chunk_seconds or policy.first_chunk_seconds
    chunks_this_run = 0
    while True:
        if state.polling_fallback:
            return await poll_until_terminal()
        if (
            chunks_this_run >= policy.max_chunks_per_run
            or workflow.info().is_continue_as_new_suggested()
        ):
            await continue_as_new(chunk_seconds)
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
            if outcome.fell_back_to_polling(err, state):
                continue
            outcome.raise_activity_failure(err, state)
        _record(state, chunk)
        append(chunk.text, chunk.reasoning_summary)
        chunks_this_run += 1
        if chunk.snapshot is not None and is_terminal(chunk.snapshot.status):
            append_missing(chunk.snapshot)
            return chunk.snapshot
        if chunk.attempt > 1 or chunk.stopped_by in ("shutdown", "interrupted", "end"):
            # After a hand-over, start short again: followers see text soon.
            chunk_seconds = policy.first_chunk_seconds
        else:
            chunk_seconds = min(chunk_seconds * policy.chunk_growth, policy.max_chunk_seconds)


def _record(state: ResumeState, chunk: StreamChunk) -> None:
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
