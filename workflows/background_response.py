"""`BackgroundResponseWorkflow`: start a background response, then poll it with durable sleeps."""

from __future__ import annotations

from datetime import datetime
from typing import NoReturn

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from durable_responses.activities import CreateResponseInput, ResponseSnapshot
    from durable_responses.models import Progress, ResponseResult
    from durable_responses.models._carried import ResumeState

    from . import _outcome as outcome
    from . import _state, metrics
    from ._calls import create_response
    from ._polling import poll_until_terminal
    from ._size import ensure_input_fits
    from ._state import RunInput
    from ._upstream import cancelling_upstream_on_exit
    from .search_attributes import index


@workflow.defn(name="BackgroundResponseWorkflow", failure_exception_types=[ValidationError])
class BackgroundResponseWorkflow:
    """Create one background response and poll it until it ends, however long that takes.

    Sleeps are server-side timers, so a two-hour run costs no worker time while it waits and
    survives any worker restart. A poll cycle is a timer plus a local activity (6 history
    events) and the run continues as new before history grows large. Undecodable input fails
    the workflow at once (`ValidationError`) instead of leaving a workflow task retrying forever.
    """

    @workflow.init
    def __init__(self, request: RunInput = None, *unexpected: object) -> None:
        # State is set up before any query or update handler can run (also after
        # continue-as-new); a bad request leaves it empty and `run` reports the problem.
        checked = _state.try_request(request)
        self._state = _state.initial_state(checked) if checked else ResumeState()
        self._last = ResponseSnapshot(
            id=self._state.response_id or "", status=self._state.status or ""
        )
        self._next_poll_at: datetime | None = None

    @workflow.run
    async def run(self, request: RunInput = None, *unexpected: object) -> ResponseResult:
        """Create (unless continued), poll with growing intervals, return the final text."""
        checked = _state.validated_request(request, unexpected)
        await ensure_input_fits(checked)
        state = self._state
        async with cancelling_upstream_on_exit(state):
            if state.response_id is None:
                created = await create_response(
                    state, CreateResponseInput(params=checked.api_params())
                )
                self._record(created)
                metrics.created(state.model)
                workflow.logger.info("response %s created (%s)", created.id, created.status)

            async def continue_as_new() -> NoReturn:
                workflow.continue_as_new(_state.continued(checked, state))

            # A create can already answer a finished response (a fast model, or an idempotent
            # replay of a create whose first answer was lost), so start from what we have.
            snapshot = await poll_until_terminal(
                state,
                checked.poll,
                self._last,
                record=self._record,
                continue_as_new=continue_as_new,
                next_poll=self._set_next_poll,
            )
        workflow.logger.info(
            "response %s %s after %d polls", snapshot.id, snapshot.status, state.polls
        )
        return outcome.conclude(snapshot, state)

    def _record(self, snapshot: ResponseSnapshot) -> None:
        self._last = snapshot
        self._state.response_id = snapshot.id
        self._state.status = snapshot.status
        self._state.model = snapshot.model or self._state.model
        index(self._state)

    def _set_next_poll(self, at: datetime | None) -> None:
        self._next_poll_at = at

    @workflow.query(name="progress")
    def progress(self) -> Progress:
        """Live progress: status, response id, polls so far, elapsed time, next poll."""
        last = self._last
        return _state.progress_of(
            self._state, self._next_poll_at, items=last.item_count, activity=last.activity
        )
