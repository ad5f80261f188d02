"""Function tools of agent loops: one of your activities (`activity_tool`) or a deterministic
workflow-side function (`function_tool`), with the strict JSON schema of its one argument.
Re-exported by `durable_responses.workflow`."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ValidationError
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from durable_responses.models import ErrorType, strict_schema

from ._agent import LoopTool, tool_output


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
