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
    from durable_responses.models import is_terminal
    from durable_responses.models._carried import ResumeState

    from . import _deadline as deadline
    from . import metrics
    from ._patches import patched
    from .search_attributes import index

ORPHAN_PATCH = "orphan-rule-v1"
"""Runs from before this patch replay as they ran: no upstream cancel on a typed failure, a
create cancelled in flight, the deadline recognised only as an activity timeout."""

FINAL_STATUS_PATCH = "final-status-v1"
"""Runs from before this patch did not upsert the status the cancel left upstream, so
visibility kept `in_progress` for runs that cancelled their response."""

CANCEL_TIMEOUT = timedelta(seconds=30)
CANCEL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=5,
)


async def cancel_upstream(state: ResumeState, why: str) -> None:
    """Cancel the response at the provider; shielded so it runs while the workflow is cancelled.
    The status it leaves (`cancelled`, or the end it had already reached) is recorded and
    upserted, so visibility and the reaper see the run as finished upstream."""
    response_id = state.response_id
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
        snapshot = await asyncio.shield(task)
    except ActivityError as err:
        workflow.logger.warning("could not cancel response %s upstream: %s", response_id, err)
        return
    if snapshot.status and patched(FINAL_STATUS_PATCH):
        state.status = snapshot.status
        index(state)


@contextlib.asynccontextmanager
async def cancelling_upstream_on_exit(state: ResumeState) -> AsyncIterator[None]:
    """Once a response exists, every way out but its end cancels it upstream first.

    A cancel, the deadline, and (behind `ORPHAN_PATCH`) a typed failure after the create, such
    as a 401 on a poll: the workflow gives up on the response, so nobody would read or stop
    it. Cancellation arrives as `asyncio.CancelledError` while sleeping, or as an
    `ActivityError` caused by `CancelledError` while an activity runs; both count. Provider-side
    endings (`ResponseFailed`, `ResponseCancelled`) are raised after this block.
    """
    try:
        yield
    except workflow.ContinueAsNewError:
        raise
    except BaseException as err:
        if deadline.is_reached(err):
            metrics.finished("deadline_exceeded", state)
            await cancel_upstream(state, "deadline passed")
            raise deadline.deadline_exceeded(state) from None
        if is_cancelled_exception(err):
            metrics.finished("cancelled", state)
            await cancel_upstream(state, "workflow cancelled")
        elif isinstance(err, FailureError):
            # Fails the workflow. Other exceptions (a bug) fail only the workflow task, which
            # is retried: nothing has ended yet.
            metrics.finished("error", state)
            ours = state.response_id and not is_terminal(state.status)
            if ours and patched(ORPHAN_PATCH):
                await cancel_upstream(state, f"workflow failed: {err}")
        raise
