"""Pieces both workflows share: activity options, deadline, upstream cancel, outcome mapping."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import NoReturn

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    FailureError,
    TimeoutType,
    is_cancelled_exception,
)
from temporalio.exceptions import TimeoutError as TemporalTimeoutError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from activities.models import (
        CreateResponseInput,
        ErrorType,
        PollPolicy,
        Progress,
        ResponseRef,
        ResponseRequest,
        ResponseResult,
        ResponseSnapshot,
        ResumeState,
    )
    from activities.responses import ResponsesActivities

    from . import metrics
    from .search_attributes import (
        OPENAI_MODEL,
        OPENAI_RESPONSE_ID,
        OPENAI_RESPONSE_STATUS,
        PATCH_ID,
    )

CREATE_TIMEOUT = timedelta(seconds=60)
RETRIEVE_TIMEOUT = timedelta(seconds=30)
CANCEL_TIMEOUT = timedelta(seconds=30)

API_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=0,  # until the deadline: an outage of the API must not lose a long run
)
"""Retries of API calls. Errors a retry cannot fix are raised non-retryable by the activity."""

CANCEL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=5,
)


class DeadlineReached(Exception):
    """Internal signal: the request's deadline passed; the workflow cancels upstream and fails."""


def remaining(deadline_at: datetime | None) -> timedelta | None:
    """Time left before the request's deadline (None: no deadline)."""
    if deadline_at is None:
        return None
    return deadline_at - workflow.now()


def retry_budget(state: ResumeState, one_call: timedelta) -> timedelta | None:
    """Schedule-to-close bound of an API call: retries stop at the deadline, but the last
    call always gets its own timeout (a zero or negative bound is invalid)."""
    left = remaining(state.deadline_at)
    return None if left is None else max(left, one_call)


def poll_delay(state: ResumeState, seconds: float) -> float:
    """The next sleep, cut short by the deadline; raises `DeadlineReached` once it has passed."""
    left = remaining(state.deadline_at)
    if left is None:
        return seconds
    if left <= timedelta(0):
        raise DeadlineReached
    return min(seconds, left.total_seconds())


async def create_response(state: ResumeState, input: CreateResponseInput) -> ResponseSnapshot:
    """Run `create_background_response`, its retries bounded by the deadline."""
    try:
        return await workflow.execute_activity_method(
            ResponsesActivities.create_background_response,
            input,
            start_to_close_timeout=CREATE_TIMEOUT,
            schedule_to_close_timeout=retry_budget(state, CREATE_TIMEOUT),
            retry_policy=API_RETRY,
        )
    except ActivityError as err:
        raise_activity_failure(err, state)


async def retrieve(state: ResumeState, policy: PollPolicy) -> ResponseSnapshot:
    """One snapshot, counted as a poll.

    By default a local activity: a short call that costs one history event. With
    `policy.task_queue` a regular activity on that queue, so the server's task-queue-wide
    dispatch rate bounds polls across every worker (five more events a poll).
    """
    assert state.response_id is not None
    ref = ResponseRef(response_id=state.response_id)
    try:
        if policy.task_queue is None:
            snapshot = await workflow.execute_local_activity_method(
                ResponsesActivities.retrieve_response,
                ref,
                start_to_close_timeout=RETRIEVE_TIMEOUT,
                schedule_to_close_timeout=retry_budget(state, RETRIEVE_TIMEOUT),
                retry_policy=API_RETRY,
            )
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


async def cancel_upstream(response_id: str | None, why: str) -> None:
    """Cancel the response at the provider; shielded so it runs while the workflow is cancelled."""
    if not response_id:
        return
    workflow.logger.info("cancelling response %s upstream (%s)", response_id, why)
    task = asyncio.ensure_future(
        workflow.execute_activity_method(
            ResponsesActivities.cancel_response,
            ResponseRef(response_id=response_id),
            start_to_close_timeout=CANCEL_TIMEOUT,
            retry_policy=CANCEL_RETRY,
        )
    )
    try:
        await asyncio.shield(task)
    except ActivityError as err:
        workflow.logger.warning("could not cancel response %s upstream: %s", response_id, err)


@contextlib.asynccontextmanager
async def cancelling_upstream_on_exit(state: ResumeState) -> AsyncIterator[None]:
    """Cancel the response upstream when the workflow is cancelled or its deadline passes.

    Cancellation arrives as `asyncio.CancelledError` while sleeping, or as an `ActivityError`
    caused by `CancelledError` while an activity runs; both count.
    """
    try:
        yield
    except DeadlineReached:
        metrics.finished("deadline_exceeded", state)
        await cancel_upstream(state.response_id, "deadline passed")
        raise deadline_exceeded(state) from None
    except workflow.ContinueAsNewError:
        raise
    except BaseException as err:
        if is_cancelled_exception(err):
            metrics.finished("cancelled", state)
            await cancel_upstream(state.response_id, "workflow cancelled")
        elif isinstance(err, FailureError):
            # Fails the workflow. Other exceptions (a bug) fail only the workflow task, which
            # is retried: nothing has ended yet.
            metrics.finished("error", state)
        raise


def raise_activity_failure(err: ActivityError, state: ResumeState) -> NoReturn:
    """Surface an activity's typed error as the workflow's own, so callers match on its type."""
    cause = err.cause
    if (
        isinstance(cause, TemporalTimeoutError)
        and state.deadline_at is not None
        and workflow.now() >= state.deadline_at
    ):
        raise DeadlineReached from err
    if isinstance(cause, ApplicationError):
        raise ApplicationError(
            cause.message,
            *cause.details,
            type=cause.type,
            non_retryable=True,
        ) from err
    raise err


def deadline_exceeded(state: ResumeState) -> ApplicationError:
    return ApplicationError(
        f"deadline passed while response {state.response_id or '(not created)'} was "
        f"{state.status or 'starting'}; it was cancelled upstream",
        type=ErrorType.DEADLINE_EXCEEDED,
        non_retryable=True,
    )


def index(state: ResumeState) -> None:
    """Keep the search attributes current, upserting only what changed (one event each time).

    Behind a patch: runs recorded before the workflows had search attributes replay as they
    ran. See README, "Changing workflow code".
    """
    if not (state.response_id and workflow.patched(PATCH_ID)):
        return
    current = workflow.info().typed_search_attributes
    changed = [
        key.value_set(value)
        for key, value in (
            (OPENAI_RESPONSE_ID, state.response_id),
            (OPENAI_RESPONSE_STATUS, state.status),
            (OPENAI_MODEL, state.model),
        )
        if value and current.get(key) != value
    ]
    if changed:
        workflow.upsert_search_attributes(changed)


def conclude(snapshot: ResponseSnapshot, state: ResumeState) -> ResponseResult:
    """Count the terminal response, then fail the workflow for it or return its result."""
    metrics.finished(snapshot.status, state, snapshot)
    raise_for_outcome(snapshot)
    return result_of(snapshot, state)


def raise_for_outcome(snapshot: ResponseSnapshot) -> None:
    """`failed` and an outside `cancelled` fail the workflow, non-retryable and typed."""
    if snapshot.status == "failed":
        error = snapshot.error
        code = error.code if error is not None else None
        message = error.message if error is not None else "no error detail"
        raise ApplicationError(
            f"response {snapshot.id} failed: [{code}] {message}",
            {"response_id": snapshot.id, "code": code, "message": message},
            type=ErrorType.RESPONSE_FAILED,
            non_retryable=True,
        )
    if snapshot.status == "cancelled":
        raise ApplicationError(
            f"response {snapshot.id} was cancelled outside this workflow",
            {"response_id": snapshot.id},
            type=ErrorType.RESPONSE_CANCELLED,
            non_retryable=True,
        )


def progress_of(state: ResumeState, next_poll_at: datetime | None) -> Progress:
    started = state.started_at or workflow.now()
    return Progress(
        response_id=state.response_id,
        status=state.status or "starting",
        model=state.model,
        polls=state.polls,
        runs=state.runs,
        elapsed_seconds=(workflow.now() - started).total_seconds(),
        started_at=state.started_at,
        next_poll_at=next_poll_at,
        cursor=state.cursor,
        text_length=state.text_offset + len(state.text),
        chunks=state.chunks,
        resumes=state.resumes,
    )


def validated_request(request: object, unexpected: tuple[object, ...]) -> ResponseRequest:
    """The workflow input, checked here rather than by the payload converter.

    A run method with one typed parameter leaves a workflow RUNNING with a workflow task that
    fails forever when it is started with no argument, two arguments or `null` (the CLI makes
    all three easy). Taking the raw value and validating it in workflow code turns each into an
    immediate, typed workflow failure.
    """
    if unexpected:
        raise ApplicationError(
            f"expected one request argument, got {1 + len(unexpected)}",
            type=ErrorType.INVALID_REQUEST,
            non_retryable=True,
        )
    if request is None:
        raise ApplicationError(
            'expected a request argument, e.g. --input \'{"input": "Hello"}\'',
            type=ErrorType.INVALID_REQUEST,
            non_retryable=True,
        )
    if isinstance(request, ResponseRequest):
        return request
    try:
        return ResponseRequest.model_validate(request)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in e['loc']) or 'request'}: {e['msg']}"
            for e in err.errors(include_url=False)
        )
        raise ApplicationError(
            f"invalid request: {problems}", type=ErrorType.INVALID_REQUEST, non_retryable=True
        ) from None


def initial_state(request: ResponseRequest) -> ResumeState:
    """The carried state after continue-as-new, else a fresh one with the deadline fixed now."""
    if request.resume is not None:
        return request.resume.model_copy(deep=True)
    now = workflow.now()
    deadline = (
        None
        if request.deadline_seconds is None
        else now + timedelta(seconds=request.deadline_seconds)
    )
    return ResumeState(started_at=now, deadline_at=deadline)


def result_of(snapshot: ResponseSnapshot, state: ResumeState) -> ResponseResult:
    """The workflow result for a `completed` or `incomplete` response."""

    def at(ts: float | None) -> datetime | None:
        return None if ts is None else datetime.fromtimestamp(ts, tz=workflow.now().tzinfo)

    return ResponseResult(
        response_id=snapshot.id,
        status=snapshot.status,
        model=snapshot.model or state.model,
        output_text=snapshot.output_text,
        reasoning_summary=snapshot.reasoning_summary,
        usage=snapshot.usage,
        error=snapshot.error,
        incomplete_reason=snapshot.incomplete_reason,
        polls=state.polls,
        runs=state.runs,
        started_at=state.started_at,
        finished_at=workflow.now(),
        response_created_at=at(snapshot.created_at),
        response_completed_at=at(snapshot.completed_at),
    )
