"""Cancel the response at the provider when the workflow gives up on it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, FailureError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from durable_responses.activities import ResponseRef
    from durable_responses.activities.responses import ResponsesActivities
    from durable_responses.models._carried import ResumeState

    from . import _deadline as deadline
    from . import metrics

CANCEL_TIMEOUT = timedelta(seconds=30)
CANCEL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=5,
)


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
    except deadline.DeadlineReached:
        metrics.finished("deadline_exceeded", state)
        await cancel_upstream(state.response_id, "deadline passed")
        raise deadline.deadline_exceeded(state) from None
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
