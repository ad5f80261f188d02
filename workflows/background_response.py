"""`BackgroundResponseWorkflow`: start a background response, then poll it with durable sleeps."""

from __future__ import annotations

from datetime import datetime
from typing import NoReturn

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from durable_responses.activities import CreateResponseInput, ResponseSnapshot
    from durable_responses.models import Progress, ResponseParams, ResponseResult
    from durable_responses.models._carried import ResumeState
    from durable_responses.models.names import BACKGROUND_RESPONSE_WORKFLOW, PROGRESS_QUERY
    from durable_responses.models.webhooks import (
        WEBHOOK_SIGNAL,
        WEBHOOKS_UPDATE,
        WebhookEvent,
        WebhookSetting,
    )

    from . import _outcome as outcome
    from . import _state, metrics
    from ._calls import create_response
    from ._first_polls import counted_first_polls, first_polls
    from ._polling import poll_until_terminal
    from ._sandbox import SANDBOXED
    from ._size import ensure_input_fits
    from ._state import RunInput
    from ._upstream import cancelling_upstream_on_exit
    from ._wake import Wake
    from .search_attributes import index


@workflow.defn(
    name=BACKGROUND_RESPONSE_WORKFLOW,
    failure_exception_types=[ValidationError],
    sandboxed=SANDBOXED,
)
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
        self._wake = Wake(self._state)

    @workflow.run
    async def run(self, request: RunInput = None, *unexpected: object) -> ResponseResult:
        """Create (unless continued), poll with growing intervals, return the final text."""
        checked = _state.validated_request(request, unexpected)
        await ensure_input_fits(checked)
        state = self._state
        async with cancelling_upstream_on_exit(state):
            if state.response_id is None:
                created = await create_response(
                    state,
                    first_polls(
                        checked,
                        state,
                        CreateResponseInput(params=_with_continuation(checked.api_params())),
                    ),
                    flex_fallback_seconds=checked.flex_fallback_seconds,
                )
                counted_first_polls(checked, state, created)
                self._record(created)
                self._wake.created(created.webhooks)
                metrics.created(state.model)
                workflow.logger.info("response %s created (%s)", created.id, created.status)

            async def continue_as_new() -> NoReturn:
                workflow.continue_as_new(_state.continued(checked, state))

            # A create can already answer a finished response (a fast model, or an idempotent
            # replay of a create whose first answer was lost), so start from what we have.
            snapshot = await poll_until_terminal(
                state,
                lambda: checked.poll.for_run(
                    webhooks=state.webhooks, window=checked.discounted_window()
                ),
                self._last,
                record=self._record,
                continue_as_new=continue_as_new,
                next_poll=self._set_next_poll,
                wake=self._wake,
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

    @workflow.signal(name=WEBHOOK_SIGNAL)
    def openai_webhook(self, event: WebhookEvent) -> None:
        """OpenAI says the response has ended (`durable_responses.webhooks`): poll it now,
        not at the next interval. A duplicate or a stranger's event changes nothing."""
        self._wake.webhook(event)

    @workflow.update(name=WEBHOOKS_UPDATE)
    async def set_webhooks(self, setting: WebhookSetting) -> WebhookSetting:
        """Switch between webhooks (polls a slow safety net) and polling on the request's
        intervals, for this run and its continuations; the answer is the setting now."""
        return self._wake.set(setting)

    @workflow.query(name=PROGRESS_QUERY)
    def progress(self) -> Progress:
        """Live progress: status, response id, polls so far, elapsed time, next poll."""
        last = self._last
        return _state.progress_of(
            self._state, self._next_poll_at, items=last.item_count, activity=last.activity
        )


def _with_continuation(params: ResponseParams) -> ResponseParams:
    """Background options without a `continuation_id` get this run's pipeline's: the parent
    workflow's id, else this one's (OpenAI groups related background requests by it)."""
    options = params.background_options
    if options is None or options.continuation_id is not None:
        return params
    info = workflow.info()
    owner = info.parent.workflow_id if info.parent is not None else info.workflow_id
    return params.model_copy(
        update={"background_options": options.model_copy(update={"continuation_id": owner})}
    )
