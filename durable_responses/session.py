"""A conversation with a durable agent, from any client: `AgentSession` over an
`AgentSessionWorkflow`. Client-side code: workflows never import it.

    session = await AgentSession.start(client, SessionRequest(request=ResponseRequest(
        input="-", model="o3", instructions="You are a helpful research assistant.")))
    reply = await session.send("Briefly explain the theory of relativity.")
    reply = await session.send("And in one sentence?")   # the same conversation
    await session.close()

Each message is answered by a durable agent loop whose turns are background responses; the
conversation survives any worker, client or server restart, and another process can pick it
up with `AgentSession.attach(client, id)`.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from durable_responses.models import TASK_QUEUE, ErrorType
from durable_responses.models.agent import (
    ApprovalDecision,
    PendingApproval,
    SessionMessage,
    SessionReply,
    SessionRequest,
    SessionState,
)
from durable_responses.models.names import CLOSE_UPDATE, SEND_UPDATE
from durable_responses.workflows import AgentSessionWorkflow

CONTINUING_RETRY_SECONDS = 0.2
"""How soon a message refused while the session continues as new is sent again."""


class AgentSession:
    """One `AgentSessionWorkflow`: send messages, answer approvals, close."""

    def __init__(self, handle: WorkflowHandle[AgentSessionWorkflow, SessionState]) -> None:
        self.handle = handle

    @property
    def id(self) -> str:
        return self.handle.id

    @classmethod
    async def start(
        cls,
        client: Client,
        request: SessionRequest | None = None,
        *,
        id: str | None = None,
        task_queue: str = TASK_QUEUE,
    ) -> AgentSession:
        """Start a session (a workflow that waits for messages, at no cost while idle)."""
        handle = await client.start_workflow(
            AgentSessionWorkflow.run,
            request or SessionRequest(),
            id=id or f"session-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        return cls(handle)

    @classmethod
    def attach(cls, client: Client, id: str) -> AgentSession:
        """A session started elsewhere, by its workflow id."""
        return cls(client.get_workflow_handle_for(AgentSessionWorkflow.run, id))

    async def send(self, message: str | list[dict[str, Any]]) -> SessionReply:
        """The reply to one message, once the agent has answered it (tools, approvals and
        all). Messages are answered one at a time, in the order they arrive."""
        while True:
            try:
                reply: SessionReply = await self.handle.execute_update(
                    SEND_UPDATE, SessionMessage(input=message), result_type=SessionReply
                )
                return reply
            except WorkflowUpdateFailedError as err:
                cause = err.cause
                if not (
                    isinstance(cause, ApplicationError)
                    and cause.type == ErrorType.SESSION_CONTINUING
                ):
                    raise
            await asyncio.sleep(CONTINUING_RETRY_SECONDS)

    async def approve(
        self, id: str, approve: bool = True, reason: str | None = None
    ) -> ApprovalDecision:
        """Approve (or reject) a pending tool call of the message being answered."""
        decision: ApprovalDecision = await self.handle.execute_update(
            "approve",
            ApprovalDecision(id=id, approve=approve, reason=reason),
            result_type=ApprovalDecision,
        )
        return decision

    async def pending_approvals(self) -> list[PendingApproval]:
        return await self.handle.query(AgentSessionWorkflow.pending_approvals)

    async def state(self) -> SessionState:
        return await self.handle.query(AgentSessionWorkflow.state)

    async def close(self) -> SessionState:
        """End the session after the message being answered; returns its last state."""
        await self.handle.execute_update(CLOSE_UPDATE, result_type=SessionState)
        return await self.handle.result()
