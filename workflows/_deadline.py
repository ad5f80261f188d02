"""The request's deadline in workflow time: how long calls may retry, how long sleeps may last."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from durable_responses.models import ErrorType
    from durable_responses.models._carried import ResumeState


REACHED = "DeadlineReached"
"""Type of the internal signal that the deadline passed: the workflow cancels upstream and
fails with `DeadlineExceeded`. An `ApplicationError` matched by type, not a class of its own:
modules of this package may be loaded again inside the workflow sandbox, and an exception
class raised by one copy is not the class another copy catches."""


def reached() -> ApplicationError:
    """The signal to raise once the deadline has passed."""
    return ApplicationError("the request's deadline passed", type=REACHED)


def is_reached(err: BaseException) -> bool:
    return isinstance(err, ApplicationError) and err.type == REACHED


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
    """The next sleep, cut short by the deadline; raises `reached()` once it has passed."""
    left = remaining(state.deadline_at)
    if left is None:
        return seconds
    if left <= timedelta(0):
        raise reached()
    return min(seconds, left.total_seconds())


def passed(state: ResumeState) -> bool:
    return state.deadline_at is not None and workflow.now() >= state.deadline_at


def deadline_exceeded(state: ResumeState) -> ApplicationError:
    """The workflow's failure once the deadline has passed and upstream was cancelled."""
    return ApplicationError(
        f"deadline passed while response {state.response_id or '(not created)'} was "
        f"{state.status or 'starting'}; it was cancelled upstream",
        type=ErrorType.DEADLINE_EXCEEDED,
        non_retryable=True,
    )
