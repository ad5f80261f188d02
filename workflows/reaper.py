"""`ReapOrphanedResponsesWorkflow`: one reaper pass, the action of the reaper's Schedule."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from durable_responses.activities.responses import ResponsesActivities
    from durable_responses.models.names import REAP_WORKFLOW
    from durable_responses.models.reaper import ReapReport, ReapRequest

    from ._sandbox import SANDBOXED

REAP_TIMEOUT = timedelta(minutes=10)


@workflow.defn(name=REAP_WORKFLOW, sandboxed=SANDBOXED)
class ReapOrphanedResponsesWorkflow:
    """Cancel the responses that closed runs (terminated, timed out) left running upstream.

    A Temporal Schedule starts it (`durable-responses-worker --reap-every`), so no cron of its
    own is needed; the pass itself is an activity, idempotent, retried a few times.
    """

    @workflow.run
    async def run(self, request: ReapRequest) -> ReapReport:
        """One pass over the closed runs; returns what it found and did."""
        return await workflow.execute_activity_method(
            ResponsesActivities.reap_orphaned_responses,
            request,
            start_to_close_timeout=REAP_TIMEOUT,
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
