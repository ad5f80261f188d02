"""`run_agent`: an agent loop from your workflow code, each model turn a durable response (a
child workflow), each function call a tool. Re-exported by `durable_responses.workflow`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Literal, TypeVar, overload

from pydantic import BaseModel
from temporalio import workflow

from durable_responses.models import ResponseRequest
from durable_responses.models.agent import AgentResult, AgentTool, ParsedAgentResult

from ._agent import Loop, LoopTool, agent_tool
from ._children import parsed, turn_runner, with_text_format

ModelT = TypeVar("ModelT", bound=BaseModel)


@overload
async def run_agent(
    request: ResponseRequest | str,
    *,
    tools: Sequence[LoopTool | AgentTool] = (),
    text_format: None = None,
    stream: bool = False,
    max_turns: int = 10,
    deadline: timedelta | None = None,
    max_total_tokens: int | None = None,
    approval_timeout: timedelta | None = None,
    on_rejection: Literal["fail", "tell_model"] = "fail",
    id: str | None = None,
    task_queue: str | None = None,
) -> AgentResult: ...


@overload
async def run_agent(
    request: ResponseRequest | str,
    *,
    tools: Sequence[LoopTool | AgentTool] = (),
    text_format: type[ModelT],
    stream: bool = False,
    max_turns: int = 10,
    deadline: timedelta | None = None,
    max_total_tokens: int | None = None,
    approval_timeout: timedelta | None = None,
    on_rejection: Literal["fail", "tell_model"] = "fail",
    id: str | None = None,
    task_queue: str | None = None,
) -> ParsedAgentResult[ModelT]: ...


async def run_agent(
    request: ResponseRequest | str,
    *,
    tools: Sequence[LoopTool | AgentTool] = (),
    text_format: type[ModelT] | None = None,
    stream: bool = False,
    max_turns: int = 10,
    deadline: timedelta | None = None,
    max_total_tokens: int | None = None,
    approval_timeout: timedelta | None = None,
    on_rejection: Literal["fail", "tell_model"] = "fail",
    id: str | None = None,
    task_queue: str | None = None,
) -> AgentResult | ParsedAgentResult[ModelT]:
    """Run a tool loop: a durable response, the function calls it asks for, their outputs back
    with `previous_response_id`, again, until the model answers without calls.

    Each model turn is `run_response` (or, with `stream`, `stream_response`: followers can
    watch it) as a child workflow `<id>/turn-<n>`: a crash re-runs no turn and no completed
    tool call. Calls of one response run at once. MCP approval requests, and calls of tools
    with `needs_approval`, wait for the `approve` update on your workflow
    (`temporal workflow update execute --workflow-id <yours> --name approve --input
    '{"id": "mcpr_...", "approve": true}'`); `pending_approvals` (a query) lists them.

    Args:
        request: The first turn's request (model, instructions, built-in tools such as web
            search or MCP...); every turn sends it again with the new input.
        tools: The function tools: `activity_tool(...)`, `function_tool(...)` or `AgentTool`.
        text_format: A pydantic model for the final answer (`ParsedAgentResult`).
        stream: Stream each turn instead of polling it.
        max_turns: Model turns before `AgentTurnLimit`.
        deadline: The whole loop's time (`DeadlineExceeded`); each turn and tool gets what is
            left.
        max_total_tokens: Token budget of all turns together (`AgentBudgetExceeded`).
        approval_timeout: How long an approval may wait (`ApprovalTimedOut`; default: for
            ever, at no cost).
        on_rejection: `"fail"` ends the loop with `ApprovalRejected`; `"tell_model"` sends the
            rejection to the model and goes on.
        id: The loop's id, the prefix of its turns' workflow ids.
        task_queue: Where the turns run (default: your workflow's).

    Raises:
        temporalio.exceptions.ApplicationError: Typed (`ErrorType`) for the limits above.
        temporalio.exceptions.ChildWorkflowError: A turn failed (`ResponseFailed`...).
        temporalio.exceptions.ActivityError: A tool's activity failed.
    """
    if isinstance(request, str):
        request = ResponseRequest(input=request)
    if text_format is not None:
        request = with_text_format(request, text_format)
    prefix = id or f"{workflow.info().workflow_id}/agent-{workflow.uuid4().hex[:12]}"
    loop = Loop(
        request,
        [agent_tool(t) if isinstance(t, AgentTool) else t for t in tools],
        turn_runner(stream=stream, task_queue=task_queue),
        turn_id=lambda n: f"{prefix}/turn-{n}",
        max_turns=max_turns,
        deadline=deadline,
        max_total_tokens=max_total_tokens,
        approval_timeout=approval_timeout,
        on_rejection=on_rejection,
    )
    result = await loop.run()
    if text_format is None:
        return result
    answer = parsed(result.final, text_format)
    return ParsedAgentResult[text_format](  # type: ignore[valid-type]
        **result.model_dump(), output_parsed=answer.output_parsed
    )
