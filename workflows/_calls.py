"""The API calls both workflows make, with their timeouts and retry policies in one place."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutType
from temporalio.exceptions import TimeoutError as TemporalTimeoutError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from durable_responses.activities import CreateResponseInput, ResponseRef, ResponseSnapshot
    from durable_responses.activities.responses import ResponsesActivities
    from durable_responses.models import ErrorType, PollPolicy
    from durable_responses.models._carried import ResumeState

    from . import metrics
    from ._deadline import passed as deadline_passed
    from ._deadline import reached, remaining, retry_budget
    from ._outcome import raise_activity_failure
    from ._patches import patched
    from ._upstream import ORPHAN_PATCH

CREATE_TIMEOUT = timedelta(seconds=60)
RETRIEVE_TIMEOUT = timedelta(seconds=30)
FIRST_POLLS_HEARTBEAT_TIMEOUT = timedelta(seconds=30)
"""A create that polls heartbeats only once the provider has answered (a heartbeat sent
earlier would hold back the one naming the response by the worker's throttle), so this
outlasts one create call (20 s): the price is a dead worker's young run waiting this long."""

API_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=0,  # until the deadline: an outage of the API must not lose a long run
)
"""Retries of API calls. Errors a retry cannot fix are raised non-retryable by the activity."""


async def create_response(
    state: ResumeState, input: CreateResponseInput, *, flex_fallback_seconds: float | None = None
) -> ResponseSnapshot:
    """Create the response; with `service_tier: flex` and `flex_fallback_seconds`, on the
    default tier once flex has been unavailable that long.

    A flex create refused with 429 "resource unavailable" created nothing (and costs nothing),
    so the retries of the flex create and the one default-tier create never overlap: one
    upstream response at a time.
    """
    if flex_fallback_seconds is None or input.params.service_tier != "flex":
        return await _create(state, input)
    try:
        return await _create(state, input, timedelta(seconds=flex_fallback_seconds))
    except ActivityError as err:
        if not caused_by(err, ErrorType.RESOURCE_UNAVAILABLE):
            raise_activity_failure(err, state)
    workflow.logger.info(
        "flex unavailable for %gs: creating on the default tier", flex_fallback_seconds
    )
    state.tier_fallback = True
    default = input.params.model_copy(update={"service_tier": "default"})
    return await _create(state, input.model_copy(update={"params": default}))


def caused_by(err: BaseException, error_type: str) -> bool:
    """Whether `err`, or an error it was caused by, is an `ApplicationError` of this type."""
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, ApplicationError) and cause.type == error_type:
            return True
        cause = cause.__cause__
    return False


async def _create(
    state: ResumeState, input: CreateResponseInput, budget: timedelta | None = None
) -> ResponseSnapshot:
    """Run `create_background_response`, its retries bounded by the deadline (and `budget`,
    raising the `ActivityError` when that runs out).

    A cancel that arrives while the create is in flight lets it finish (behind the patch) and
    records what it created, so the cancel that follows reaches that response: cancelling the
    call would leave a response the provider had already accepted running, unknown to us.
    """
    bound = retry_budget(state, CREATE_TIMEOUT)
    if budget is not None:
        bound = budget if bound is None else min(bound, budget)
    if input.first_polls is not None:
        return await _create_polling(state, input, bound)
    call = asyncio.ensure_future(
        workflow.execute_activity_method(
            ResponsesActivities.create_background_response,
            input,
            start_to_close_timeout=CREATE_TIMEOUT,
            schedule_to_close_timeout=bound,
            retry_policy=API_RETRY,
        )
    )
    try:
        if not patched(ORPHAN_PATCH):
            return await call
        try:
            return await asyncio.shield(call)
        except asyncio.CancelledError:
            with contextlib.suppress(ActivityError):  # a create that fails made nothing
                created = await call
                state.response_id, state.status = created.id, created.status
            raise
    except ActivityError as err:
        if budget is not None and not deadline_passed(state):
            raise  # the caller decides what running out of `budget` means
        raise_activity_failure(err, state)


async def _create_polling(
    state: ResumeState, input: CreateResponseInput, bound: timedelta | None
) -> ResponseSnapshot:
    """The create that makes the first polls itself (`activities/first_polls.py`).

    It heartbeats once it has an id, so a dead worker's attempt is retried after
    `FIRST_POLLS_HEARTBEAT_TIMEOUT` and resumes polling the response its heartbeat names. A
    cancel reaches it through that heartbeat: it answers with what it created, which is
    recorded before the cancel goes on, so the cleanup cancels the response upstream.
    """
    call = asyncio.ensure_future(
        workflow.execute_activity_method(
            ResponsesActivities.create_background_response,
            input,
            start_to_close_timeout=CREATE_TIMEOUT + timedelta(seconds=input.first_polls_seconds),
            schedule_to_close_timeout=bound,
            heartbeat_timeout=FIRST_POLLS_HEARTBEAT_TIMEOUT,
            retry_policy=API_RETRY,
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
    )
    try:
        try:
            return await asyncio.shield(call)
        except asyncio.CancelledError:
            call.cancel()
            with contextlib.suppress(ActivityError, asyncio.CancelledError):
                created = await call
                state.response_id, state.status = created.id, created.status
                state.polls += created.polls
            raise
    except ActivityError as err:
        raise_activity_failure(err, state)


async def retrieve(
    state: ResumeState, policy: PollPolicy, *, partial_output: bool = False
) -> ResponseSnapshot:
    """One snapshot, counted as a poll.

    By default a local activity: a short call that costs one history event. With
    `policy.task_queue` a regular activity on that queue, so the server's task-queue-wide
    dispatch rate bounds polls across every worker (five more events a poll).
    """
    if state.response_id is None:
        # Only a stream that expired before it named its response gets here; failing beats
        # a workflow task that fails forever.
        raise ApplicationError(
            "cannot poll: the stream ended before the response id was recorded",
            type=ErrorType.STREAM_EXPIRED,
            non_retryable=True,
        )
    ref = ResponseRef(response_id=state.response_id, partial_output=partial_output)
    try:
        if policy.task_queue is None:
            poll = workflow.execute_local_activity_method(
                ResponsesActivities.retrieve_response,
                ref,
                start_to_close_timeout=RETRIEVE_TIMEOUT,
                schedule_to_close_timeout=retry_budget(state, RETRIEVE_TIMEOUT),
                retry_policy=API_RETRY,
            )
            left = remaining(state.deadline_at)
            if left is None or not patched(ORPHAN_PATCH):
                snapshot = await poll
            else:
                # A local activity's retries (a 429 asking for 30 s, again and again) do not
                # stop at its schedule-to-close bound: a workflow timer holds the deadline.
                try:
                    snapshot = await asyncio.wait_for(poll, max(left.total_seconds(), 0.001))
                except TimeoutError:
                    raise reached() from None
                except ActivityError as err:  # cancelled by the timeout, or its own failure
                    if deadline_passed(state):
                        raise reached() from err
                    raise
        else:
            snapshot = await workflow.execute_activity_method(
                ResponsesActivities.retrieve_response,
                ref,
                task_queue=policy.task_queue,
                schedule_to_start_timeout=timedelta(seconds=policy.task_queue_timeout_seconds),
                start_to_close_timeout=RETRIEVE_TIMEOUT,
                schedule_to_close_timeout=retry_budget(state, RETRIEVE_TIMEOUT),
                retry_policy=API_RETRY,
            )
    except ActivityError as err:
        cause = err.cause
        if isinstance(cause, TemporalTimeoutError) and cause.type == TimeoutType.SCHEDULE_TO_START:
            raise ApplicationError(
                f"no worker picked up a poll of response {state.response_id} on task queue "
                f"{policy.task_queue!r} for {policy.task_queue_timeout_seconds:g}s: run workers "
                f"with --poll-task-queue {policy.task_queue}",
                {"response_id": state.response_id, "task_queue": policy.task_queue},
                type=ErrorType.POLL_QUEUE_UNSERVED,
                non_retryable=True,
            ) from err
        raise_activity_failure(err, state)
    metrics.polled()
    return snapshot
