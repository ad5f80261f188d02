"""`AgentSessionWorkflow`: a conversation that lives across calls, each message answered by a
durable agent loop, the chain kept by `previous_response_id`.

Why `previous_response_id` and not the Conversations API: the chain is what background
responses already carry (each turn names the one before), it needs no second object to
create, store or clean up, and the fake serves it. Its limit is the provider's retention of
stored responses (30 days on OpenAI): a session idle longer than that has lost its context.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from durable_responses.models import ErrorType
    from durable_responses.models.agent import (
        AgentResult,
        ApprovalDecision,
        PendingApproval,
        SessionMessage,
        SessionReply,
        SessionRequest,
        SessionState,
    )
    from durable_responses.models.names import (
        AGENT_SESSION_WORKFLOW,
        APPROVE_UPDATE,
        CLOSE_UPDATE,
        PENDING_QUERY,
        SEND_UPDATE,
        STATE_QUERY,
    )

    from ._agent import Approvals, Loop, agent_tool
    from ._children import turn_runner
    from ._sandbox import SANDBOXED

MAX_HISTORY_EVENTS = 10_000
"""Continue-as-new (between messages) past this history length, whatever the message count."""


@workflow.defn(name=AGENT_SESSION_WORKFLOW, sandboxed=SANDBOXED)
class AgentSessionWorkflow:
    """A conversation: `send` (an update) answers one message with an agent loop whose turns
    are durable background responses; `approve` answers its approvals; `close` ends it.

    Idle, it costs nothing: no timer, no worker. It continues as new between messages, after
    `max_messages_per_run` of them or a long history, carrying the chain. The turn being
    answered is a child workflow (`state().current_turn`) that followers can follow.
    """

    @workflow.init
    def __init__(self, request: SessionRequest) -> None:
        self._request = request
        self._previous = request.previous_response_id
        self._messages = request.messages
        self._this_run = 0
        self._lock = asyncio.Lock()
        self._busy = False
        self._closed = False
        self._current: str | None = None
        self._approvals = Approvals()
        # The loop finds this run's approvals here rather than registering its own handlers.
        setattr(self, Approvals.ATTRIBUTE, self._approvals)

    @workflow.run
    async def run(self, request: SessionRequest) -> SessionState:
        """Wait for messages until closed; continue as new between them when due."""
        await workflow.wait_condition(
            lambda: self._closed or (not self._busy and self._due_to_continue())
        )
        await workflow.wait_condition(workflow.all_handlers_finished)
        if not self._closed:
            workflow.continue_as_new(
                request.model_copy(
                    update={"previous_response_id": self._previous, "messages": self._messages}
                )
            )
        return self.state()

    def _due_to_continue(self) -> bool:
        info = workflow.info()
        return self._this_run >= self._request.max_messages_per_run or (
            self._this_run > 0
            and (
                info.is_continue_as_new_suggested()
                or info.get_current_history_length() >= MAX_HISTORY_EVENTS
            )
        )

    @workflow.update(name=SEND_UPDATE)
    async def send(self, message: SessionMessage) -> SessionReply:
        """Answer one message (after the ones before it): the model's turns, tools, approvals."""
        async with self._lock:
            self._busy = True
            number = self._messages + 1
            try:
                result = await self._answer(message, number)
            finally:
                self._busy = False
                self._current = None
            self._messages, self._this_run = number, self._this_run + 1
            self._previous = result.response_id
            return SessionReply(
                output_text=result.output_text,
                response_id=result.response_id,
                message=number,
                turns=len(result.turns),
                tool_runs=result.tool_runs,
            )

    @send.validator
    def _check_send(self, message: SessionMessage) -> None:
        if self._closed:
            raise ApplicationError("the session is closed", type=ErrorType.INVALID_REQUEST)
        if not self._busy and self._due_to_continue():
            raise ApplicationError(
                "the session is continuing as new: send again (its next run takes it)",
                type=ErrorType.SESSION_CONTINUING,
            )

    async def _answer(self, message: SessionMessage, number: int) -> AgentResult:
        request = self._request
        prefix = f"{workflow.info().workflow_id}/message-{number}"

        def started(turn_id: str) -> None:
            self._current = turn_id

        timeout = request.approval_timeout_seconds
        loop = Loop(
            request.request.model_copy(
                update={"input": message.input, "previous_response_id": self._previous}
            ),
            [agent_tool(tool) for tool in request.tools],
            turn_runner(stream=request.streaming, started=started),
            turn_id=lambda n: f"{prefix}/turn-{n}",
            max_turns=request.max_turns,
            approval_timeout=None if timeout is None else timedelta(seconds=timeout),
        )
        return await loop.run()

    @workflow.update(name=APPROVE_UPDATE)
    async def approve(self, decision: ApprovalDecision) -> ApprovalDecision:
        """Approve or reject a pending tool call (`pending_approvals` lists them)."""
        return await self._approvals.decide(decision)

    @approve.validator
    def _check_approve(self, decision: ApprovalDecision) -> None:
        self._approvals.check(decision)

    @workflow.query(name=PENDING_QUERY)
    def pending_approvals(self) -> list[PendingApproval]:
        """The tool calls waiting for `approve`."""
        return self._approvals.list_pending()

    @workflow.update(name=CLOSE_UPDATE)
    async def close(self) -> SessionState:
        """End the session once the message being answered is answered."""
        self._closed = True
        await workflow.wait_condition(lambda: not self._busy)
        return self.state()

    @workflow.query(name=STATE_QUERY)
    def state(self) -> SessionState:
        """Messages answered, the chain, and the turn being answered (to follow it)."""
        return SessionState(
            messages=self._messages,
            previous_response_id=self._previous,
            busy=self._busy,
            current_turn=self._current,
            pending_approvals=self._approvals.list_pending(),
            closed=self._closed,
        )
