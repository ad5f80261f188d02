"""How a run ends: an activity's typed error raised as the workflow's own, or the result."""

from __future__ import annotations

from datetime import datetime
from typing import NoReturn

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, RetryState
from temporalio.exceptions import TimeoutError as TemporalTimeoutError

with workflow.unsafe.imports_passed_through():
    from durable_responses.activities import ResponseSnapshot
    from durable_responses.models import ErrorType, ResponseResult
    from durable_responses.models import items as _items
    from durable_responses.models._carried import ResumeState

    from . import _deadline as deadline
    from . import metrics
    from ._patches import patched
    from ._upstream import ORPHAN_PATCH


def raise_activity_failure(err: ActivityError, state: ResumeState) -> NoReturn:
    """Surface an activity's typed error as the workflow's own, so callers match on its type.

    Past the deadline, a call whose retries ran into their schedule-to-close bound (the
    deadline) ends with its last error and `retry_state` TIMEOUT: that is the deadline too.
    """
    cause = err.cause
    if deadline.passed(state) and (
        isinstance(cause, TemporalTimeoutError)
        or (err.retry_state == RetryState.TIMEOUT and patched(ORPHAN_PATCH))
    ):
        raise deadline.reached() from err
    if isinstance(cause, ApplicationError):
        raise ApplicationError(
            cause.message,
            *cause.details,
            type=cause.type,
            non_retryable=True,
        ) from err
    raise err


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


def result_of(snapshot: ResponseSnapshot, state: ResumeState) -> ResponseResult:
    """The workflow result for a `completed` or `incomplete` response."""

    def at(ts: float | None) -> datetime | None:
        return None if ts is None else datetime.fromtimestamp(ts, tz=workflow.now().tzinfo)

    return ResponseResult(
        response_id=snapshot.id,
        status=snapshot.status,
        model=snapshot.model or state.model,
        output_text=snapshot.output_text,
        output_text_offset=snapshot.output_text_offset,
        output=snapshot.output,
        output_kind=_items.output_kind(snapshot.output),
        output_text_lengths=snapshot.output_text_lengths,
        omitted_items=snapshot.omitted_items,
        response=snapshot.response,
        service_tier=snapshot.service_tier,
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


def fell_back_to_polling(err: ActivityError, state: ResumeState) -> bool:
    """If `err` is the provider refusing to replay the stream (past its window), switch the
    run to polling for the rest and say so."""
    if not is_error_type(err, ErrorType.STREAM_EXPIRED):
        return False
    workflow.logger.info(
        "stream of %s can no longer be resumed; polling for the rest", state.response_id
    )
    state.polling_fallback = True
    return True


def is_error_type(err: ActivityError, error_type: str) -> bool:
    cause = err.cause
    return isinstance(cause, ApplicationError) and cause.type == error_type
