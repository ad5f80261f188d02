"""Agent loops from your workflow code: `run_agent` and the tools it runs
(`activity_tool`, `function_tool`, `agent_tool`). Re-exported by `durable_responses.workflow`.

Each model turn is a durable response (a child workflow), each function call an activity of
yours (or a workflow-side function), approvals wait on your workflow's `approve` update; the
loop itself is `workflows/_agent.py`.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any, Literal, TypeVar, overload

from pydantic import BaseModel, ValidationError
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.workflow import ParentClosePolicy

from durable_responses.models import ErrorType, ResponseRequest, ResponseResult, strict_schema
from durable_responses.models.agent import AgentResult, AgentTool, ParsedAgentResult
from durable_responses.workflows._agent import Loop, LoopTool, agent_tool, tool_output
from durable_responses.workflows._children import parsed, run_child, with_text_format

ModelT = TypeVar("ModelT", bound=BaseModel)

__all__ = ["activity_tool", "agent_tool", "function_tool", "run_agent"]


def activity_tool(
    activity: Callable[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
    needs_approval: bool = False,
    start_to_close_timeout: timedelta = timedelta(minutes=5),
    heartbeat_timeout: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
    task_queue: str | None = None,
) -> LoopTool:
    """A function tool run as one of your activities (`@activity.defn`), once per call.

    The model sees the function's name and docstring, and the JSON schema of its one
    argument, a pydantic model (strict, as `text_format`); what it returns (a string, a
    model, JSON) is the call's output. Each call is an activity with its own timeout and
    retry policy (and, for a slow one that heartbeats, a `heartbeat_timeout`: a crashed
    worker's call is retried within it): one that completed never runs again.
    """
    arguments = _argument_model(activity)

    async def run(json_arguments: str, left: timedelta | None) -> str:
        args = [] if arguments is None else [_parsed_arguments(arguments, json_arguments)]
        value = await workflow.execute_activity(
            activity,
            args=args,
            start_to_close_timeout=start_to_close_timeout,
            schedule_to_close_timeout=left,
            heartbeat_timeout=heartbeat_timeout,
            retry_policy=retry_policy,
            task_queue=task_queue,
        )
        return tool_output(value)

    return _tool(activity, arguments, run, name, description, needs_approval)


def function_tool(
    function: Callable[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
    needs_approval: bool = False,
) -> LoopTool:
    """A function tool run in workflow code (deterministic: no I/O, no clock, no randomness),
    sync or async; its one argument a pydantic model, as for `activity_tool`."""
    arguments = _argument_model(function)

    async def run(json_arguments: str, left: timedelta | None) -> str:
        del left
        value = function(
            *([] if arguments is None else [_parsed_arguments(arguments, json_arguments)])
        )
        if inspect.isawaitable(value):
            value = await value
        return tool_output(value)

    return _tool(function, arguments, run, name, description, needs_approval)


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
    kind = "StreamingResponseWorkflow" if stream else "BackgroundResponseWorkflow"

    async def run_turn(turn: ResponseRequest, turn_id: str) -> ResponseResult:
        return await run_child(
            kind,
            turn,
            text_format=None,
            id=turn_id,
            task_queue=task_queue,
            parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
            execution_timeout=None,
        )

    loop = Loop(
        request,
        [agent_tool(t) if isinstance(t, AgentTool) else t for t in tools],
        run_turn,
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


def _argument_model(function: Callable[..., Any]) -> type[BaseModel] | None:
    """The pydantic model of a tool's one argument (None: it takes none)."""
    parameters = [p for p in inspect.signature(function).parameters.values() if p.name != "self"]
    if not parameters:
        return None
    hints = typing.get_type_hints(function)
    model = hints.get(parameters[0].name)
    if len(parameters) > 1 or not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(
            f"a tool takes one argument, a pydantic model; {function.__qualname__} takes "
            f"{[p.name for p in parameters]}"
        )
    return model


def _parsed_arguments(model: type[BaseModel], arguments: str) -> BaseModel:
    try:
        return model.model_validate_json(arguments or "{}")
    except ValidationError as err:
        raise ApplicationError(
            f"the model called a tool with arguments its {model.__name__} refuses: {err}",
            type=ErrorType.INVALID_REQUEST,
            non_retryable=True,
        ) from None


def _tool(
    function: Callable[..., Any],
    arguments: type[BaseModel] | None,
    run: Callable[[str, timedelta | None], Awaitable[str]],
    name: str | None,
    description: str | None,
    needs_approval: bool,
) -> LoopTool:
    name = name or function.__name__
    schema = (
        strict_schema(arguments)
        if arguments is not None
        else {"type": "object", "properties": {}, "additionalProperties": False, "required": []}
    )
    definition = {
        "type": "function",
        "name": name,
        "description": description if description is not None else inspect.getdoc(function) or "",
        "parameters": schema,
        "strict": True,
    }
    return LoopTool(name, definition, run, needs_approval)
