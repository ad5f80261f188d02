"""The agent loop, in workflow code: each model turn a durable background response (a child
workflow), the function calls it asks for run as activities (or workflow-side functions), their
outputs sent back with `previous_response_id`, until it answers without calls.

Crash-proof by construction: a turn is a child workflow with an id derived from the loop's, so a
replay after any crash finds it instead of starting another (one create per turn); a tool call
is an activity, which Temporal never runs again once it has completed. Approvals (MCP approval
requests, function tools that need one) wait on the run's `approve` update, durably: hours of
waiting are a timer and nothing else.

Used by `durable_responses.workflow.run_agent` (in a caller's workflow) and by
`AgentSessionWorkflow`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from durable_responses.models import ErrorType, ResponseRequest, ResponseResult, Usage
    from durable_responses.models.agent import (
        AgentResult,
        AgentTool,
        ApprovalDecision,
        PendingApproval,
        ToolRun,
    )
    from durable_responses.models.names import APPROVE_UPDATE, PENDING_QUERY

    from ._patches import patched

APPROVAL_DEADLINE_PATCH = "agent-approval-deadline-v1"
"""Runs from before this patch waited for an approval past the loop's deadline (for ever,
without an `approval_timeout`); new ones fail `DeadlineExceeded` when the deadline passes."""

RunTurn = Callable[[ResponseRequest, str], Awaitable[ResponseResult]]
"""Runs one model turn as a child workflow with the given id (polled or streamed)."""


@dataclass(frozen=True)
class LoopTool:
    """A function tool as the loop runs it: its API definition, and how to run a call."""

    name: str
    definition: dict[str, Any]
    run: Callable[[str, timedelta | None], Awaitable[str]]
    """Run one call from its JSON arguments, within the time left (None: no deadline)."""
    needs_approval: bool = False


class Approvals:
    """The approvals one workflow run waits on, behind its `approve` update and its
    `pending_approvals` query (one set per run, however many loops it runs)."""

    ATTRIBUTE = "_durable_responses_approvals"

    def __init__(self) -> None:
        self.pending: dict[str, PendingApproval] = {}
        self.decided: dict[str, ApprovalDecision] = {}

    @classmethod
    def of_this_run(cls) -> Approvals:
        """This run's approvals; the first call registers the update and the query (a
        workflow class that defines them itself keeps its own)."""
        instance = workflow.instance()
        existing = getattr(instance, cls.ATTRIBUTE, None)
        if isinstance(existing, Approvals):
            return existing
        approvals = cls()
        setattr(instance, cls.ATTRIBUTE, approvals)
        if workflow.get_update_handler(APPROVE_UPDATE) is None:
            workflow.set_update_handler(APPROVE_UPDATE, approvals.decide, validator=approvals.check)
        if workflow.get_query_handler(PENDING_QUERY) is None:
            workflow.set_query_handler(PENDING_QUERY, approvals.list_pending)
        return approvals

    def check(self, decision: ApprovalDecision) -> None:
        """Refuse (writing no history) a decision on nothing that waits."""
        if decision.id not in self.pending:
            waiting = ", ".join(sorted(self.pending)) or "none"
            raise ApplicationError(
                f"no approval {decision.id!r} is pending (pending: {waiting})",
                type=ErrorType.INVALID_REQUEST,
            )

    async def decide(self, decision: ApprovalDecision) -> ApprovalDecision:
        """Record a person's answer; the loop that waits on it goes on."""
        self.decided[decision.id] = decision
        return decision

    def list_pending(self) -> list[PendingApproval]:
        return list(self.pending.values())

    async def wait(
        self,
        requests: Sequence[PendingApproval],
        within: timedelta | None,
        ends_at: datetime | None = None,
    ) -> list[ApprovalDecision]:
        """Wait (durably, for as long as it takes, `within`, or until the loop's deadline
        `ends_at`) for a decision on each."""
        for request in requests:
            self.pending[request.id] = request
            workflow.logger.info("waiting for approval of %s (%s)", request.id, request.name)
        limit, by_deadline = within, False
        if ends_at is not None and patched(APPROVAL_DEADLINE_PATCH):
            left = _left(ends_at)
            if left is not None and (limit is None or left < limit):
                limit, by_deadline = left, True
        try:
            await workflow.wait_condition(
                lambda: all(r.id in self.decided for r in requests), timeout=limit
            )
        except TimeoutError:
            waiting = [r.id for r in requests if r.id not in self.decided]
            if by_deadline:
                raise ApplicationError(
                    f"the agent loop's deadline passed while {waiting} waited for approval",
                    {"pending": waiting},
                    type=ErrorType.DEADLINE_EXCEEDED,
                    non_retryable=True,
                ) from None
            raise ApplicationError(
                f"no decision on {waiting} within {within}",
                {"pending": waiting},
                type=ErrorType.APPROVAL_TIMED_OUT,
                non_retryable=True,
            ) from None
        finally:
            for request in requests:
                self.pending.pop(request.id, None)
        return [self.decided.pop(r.id) for r in requests]


@dataclass
class Loop:
    """One agent loop: its request, its tools and its bounds (see `run`)."""

    request: ResponseRequest
    tools: Sequence[LoopTool]
    run_turn: RunTurn
    turn_id: Callable[[int], str]
    max_turns: int = 10
    deadline: timedelta | None = None
    max_total_tokens: int | None = None
    approval_timeout: timedelta | None = None
    on_rejection: Literal["fail", "tell_model"] = "fail"

    async def run(self) -> AgentResult:
        """Turn after turn until the model answers without calls (module docstring)."""
        by_name = {tool.name: tool for tool in self.tools}
        declared = {str(t.get("name")) for t in self.request.tools or [] if _is_function(t)}
        if declared - by_name.keys():
            raise _invalid(
                f"function tools {sorted(declared - by_name.keys())} are declared but no tool "
                "of the loop runs them"
            )
        api_tools = [t for t in self.request.tools or [] if not _is_function(t)]
        api_tools += [tool.definition for tool in self.tools]
        approvals = Approvals.of_this_run()
        ends_at = workflow.now() + self.deadline if self.deadline is not None else None
        result = AgentResult()
        next_input: str | list[dict[str, Any]] = self.request.input
        previous = self.request.previous_response_id
        for turn in range(1, self.max_turns + 1):
            left = _left(ends_at)
            turn_request = self.request.model_copy(
                update={
                    "input": next_input,
                    "previous_response_id": previous,
                    "tools": api_tools or None,
                    "deadline_seconds": (
                        left.total_seconds() if left is not None else self.request.deadline_seconds
                    ),
                }
            )
            answer = await self.run_turn(turn_request, self.turn_id(turn))
            result.turns.append(answer)
            result.usage = _added(result.usage, answer.usage)
            result.response_id, result.output_text = answer.response_id, answer.output_text
            self._within_budget(result, turn)
            calls, requests = answer.function_calls(), answer.approval_requests()
            if not calls and not requests:
                return result
            unrunnable = sorted(
                {c.name for c in calls if c.type != "function_call" or c.name not in by_name}
            )
            if unrunnable:  # a hosted custom tool, or a name no tool of the loop has
                raise _invalid(
                    f"response {answer.response_id} calls {unrunnable}, which no function tool "
                    "of the loop runs"
                )
            previous = answer.response_id
            outputs: list[dict[str, Any]] = []
            if requests:
                pending = [
                    PendingApproval(
                        id=r.id,
                        kind="mcp",
                        name=r.name,
                        server_label=r.server_label,
                        arguments=r.arguments,
                        response_id=answer.response_id,
                    )
                    for r in requests
                ]
                for decision in await approvals.wait(pending, self.approval_timeout, ends_at):
                    self._rejected(decision)
                    result.approvals.append(decision)
                    outputs.append(
                        {
                            "type": "mcp_approval_response",
                            "approval_request_id": decision.id,
                            "approve": decision.approve,
                            **({"reason": decision.reason} if decision.reason else {}),
                        }
                    )
            # The calls of one response run at once (the API asked for them together).
            runs = await asyncio.gather(
                *(
                    self._call(
                        by_name[c.name], c.call_id, c.arguments, turn, answer, approvals, ends_at
                    )
                    for c in calls
                )
            )
            for run, approved in runs:
                result.tool_runs.append(run)
                if approved is not None:
                    result.approvals.append(approved)
                outputs.append(
                    {"type": "function_call_output", "call_id": run.call_id, "output": run.output}
                )
            next_input = outputs
        raise ApplicationError(
            f"the model still asked for tools after {self.max_turns} turns",
            {"response_id": result.response_id, "turns": self.max_turns},
            type=ErrorType.AGENT_TURN_LIMIT,
            non_retryable=True,
        )

    async def _call(
        self,
        tool: LoopTool,
        call_id: str,
        arguments: str,
        turn: int,
        answer: ResponseResult,
        approvals: Approvals,
        ends_at: datetime | None,
    ) -> tuple[ToolRun, ApprovalDecision | None]:
        """One function call: its approval first if it needs one, then the tool."""
        decision: ApprovalDecision | None = None
        if tool.needs_approval:
            request = PendingApproval(
                id=call_id,
                kind="function",
                name=tool.name,
                arguments=arguments,
                response_id=answer.response_id,
            )
            (decided,) = await approvals.wait([request], self.approval_timeout, ends_at)
            self._rejected(decided)
            decision = decided
        run = ToolRun(
            turn=turn,
            call_id=call_id,
            name=tool.name,
            arguments=arguments,
            approved=None if decision is None else decision.approve,
        )
        if decision is not None and not decision.approve:
            reason = f": {decision.reason}" if decision.reason else ""
            run.output = f"The call was not approved{reason}."
        else:
            run.output = await tool.run(arguments, _left(ends_at))
        return run, decision

    def _within_budget(self, result: AgentResult, turn: int) -> None:
        if self.max_total_tokens is not None and result.usage.total_tokens > self.max_total_tokens:
            raise ApplicationError(
                f"the loop used {result.usage.total_tokens} tokens in {turn} turns, over its "
                f"budget of {self.max_total_tokens}",
                {"response_id": result.response_id, "total_tokens": result.usage.total_tokens},
                type=ErrorType.AGENT_BUDGET_EXCEEDED,
                non_retryable=True,
            )

    def _rejected(self, decision: ApprovalDecision) -> None:
        """A rejection ends the loop (typed) unless the model is to be told."""
        if not decision.approve and self.on_rejection == "fail":
            raise ApplicationError(
                f"approval {decision.id} was rejected"
                + (f": {decision.reason}" if decision.reason else ""),
                decision.model_dump(),
                type=ErrorType.APPROVAL_REJECTED,
                non_retryable=True,
            )


def _is_function(tool: dict[str, Any]) -> bool:
    return tool.get("type") == "function"


def _left(ends_at: datetime | None) -> timedelta | None:
    """Time left before the loop's deadline; raises `DeadlineExceeded` once it has passed."""
    if ends_at is None:
        return None
    left = ends_at - workflow.now()
    if left <= timedelta(0):
        raise ApplicationError(
            "the agent loop's deadline passed", type=ErrorType.DEADLINE_EXCEEDED, non_retryable=True
        )
    return left


def _added(total: Usage, usage: Usage | None) -> Usage:
    if usage is None:
        return total
    return Usage(
        input_tokens=total.input_tokens + usage.input_tokens,
        output_tokens=total.output_tokens + usage.output_tokens,
        reasoning_tokens=total.reasoning_tokens + usage.reasoning_tokens,
        total_tokens=total.total_tokens + usage.total_tokens,
    )


def _invalid(message: str) -> ApplicationError:
    return ApplicationError(message, type=ErrorType.INVALID_REQUEST, non_retryable=True)


def tool_output(value: object) -> str:
    """What a tool returned, as the text a `function_call_output` carries."""
    if isinstance(value, str):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    return json.dumps(value, ensure_ascii=False, default=str)


def agent_tool(spec: AgentTool) -> LoopTool:
    """A tool from its serialisable description: its activity called by type name, with the
    model's arguments as JSON (your activity's converter turns them into its argument)."""
    retry = spec.retry
    policy = RetryPolicy(
        initial_interval=timedelta(seconds=retry.initial_interval_seconds),
        backoff_coefficient=retry.backoff,
        maximum_interval=timedelta(seconds=retry.max_interval_seconds),
        maximum_attempts=retry.max_attempts,
    )

    async def run(json_arguments: str, left: timedelta | None) -> str:
        try:
            arguments = json.loads(json_arguments or "{}")
        except ValueError as err:
            return f"The arguments are not JSON: {err}"
        value = await workflow.execute_activity(
            spec.activity or spec.name,
            arguments,
            start_to_close_timeout=timedelta(seconds=spec.start_to_close_seconds),
            schedule_to_close_timeout=left,
            heartbeat_timeout=None
            if spec.heartbeat_seconds is None
            else timedelta(seconds=spec.heartbeat_seconds),
            retry_policy=policy,
            task_queue=spec.task_queue,
        )
        return tool_output(value)

    return LoopTool(spec.name, spec.definition(), run, spec.needs_approval)
