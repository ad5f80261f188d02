"""`BackgroundResponseWorkflow`: start a background response, then poll it with durable sleeps."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from activities.models import (
        CreateResponseInput,
        Progress,
        ResponseRequest,
        ResponseResult,
        ResponseSnapshot,
        ResumeState,
        is_terminal,
    )

    from . import _common as common
    from . import metrics


@workflow.defn(name="BackgroundResponseWorkflow", failure_exception_types=[ValidationError])
class BackgroundResponseWorkflow:
    """Create one background response and poll it until it ends, however long that takes.

    Sleeps are server-side timers, so a two-hour run costs no worker time while it waits and
    survives any worker restart. A poll cycle is a timer plus a local activity (6 history
    events) and the run continues as new before history grows large. Undecodable input fails
    the workflow at once (`ValidationError`) instead of leaving a workflow task retrying forever.
    """

    def __init__(self) -> None:
        self._state = ResumeState()
        self._last = ResponseSnapshot()
        self._next_poll_at: datetime | None = None

    @workflow.run
    async def run(
        self, request: ResponseRequest | None = None, *unexpected: object
    ) -> ResponseResult:
        """Create (unless continued), poll with growing intervals, return the final text."""
        request = common.validated_request(request, unexpected)
        state = self._state = common.initial_state(request)
        self._last = ResponseSnapshot(id=state.response_id or "", status=state.status or "")
        async with common.cancelling_upstream_on_exit(state):
            if state.response_id is None:
                created = await common.create_response(
                    state, CreateResponseInput(params=request.api_params())
                )
                self._record(created)
                metrics.created(state.model)
                workflow.logger.info("response %s created (%s)", created.id, created.status)
            snapshot = await self._poll_until_terminal(request)
        workflow.logger.info(
            "response %s %s after %d polls", snapshot.id, snapshot.status, state.polls
        )
        return common.conclude(snapshot, state)

    async def _poll_until_terminal(self, request: ResponseRequest) -> ResponseSnapshot:
        state = self._state
        policy = request.poll
        interval = state.interval_seconds or policy.initial_interval_seconds
        polls_this_run = 0
        # A create can already answer a finished response (a fast model, or an idempotent
        # replay of a create whose first answer was lost), so start from what we have.
        snapshot = self._last
        while not is_terminal(snapshot.status):
            if (
                polls_this_run >= policy.max_polls_per_run
                or workflow.info().is_continue_as_new_suggested()
            ):
                workflow.logger.info(
                    "response %s: continuing as new after %d polls", state.response_id, state.polls
                )
                carried = state.model_copy(
                    update={"interval_seconds": interval, "runs": state.runs + 1}
                )
                workflow.continue_as_new(request.model_copy(update={"resume": carried}))
            delay = common.poll_delay(state, interval)
            self._next_poll_at = workflow.now() + timedelta(seconds=delay)
            await workflow.sleep(delay)
            snapshot = await common.retrieve(state, policy)
            state.polls += 1
            polls_this_run += 1
            self._record(snapshot)
            interval = policy.next_interval(interval)
        self._next_poll_at = None
        return snapshot

    def _record(self, snapshot: ResponseSnapshot) -> None:
        self._last = snapshot
        self._state.response_id = snapshot.id
        self._state.status = snapshot.status
        self._state.model = snapshot.model or self._state.model
        common.index(self._state)

    @workflow.query(name="progress")
    def progress(self) -> Progress:
        """Live progress: status, response id, polls so far, elapsed time, next poll."""
        return common.progress_of(self._state, self._next_poll_at)
