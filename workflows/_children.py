"""Our workflows as children of the caller's: `run_response` and `stream_response` (the public
API, re-exported by `durable_responses.workflow`), the turn runner of agent loops and sessions,
and structured output on top of them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar, overload

from pydantic import BaseModel, ValidationError
from temporalio import workflow
from temporalio.exceptions import ApplicationError
from temporalio.workflow import ParentClosePolicy

from durable_responses.models import (
    ErrorType,
    ParsedResult,
    ResponseRequest,
    ResponseResult,
    text_format_param,
)
from durable_responses.models.names import (
    BACKGROUND_RESPONSE_WORKFLOW,
    STREAMING_RESPONSE_WORKFLOW,
    response_workflow,
)

from ._agent import RunTurn

ModelT = TypeVar("ModelT", bound=BaseModel)


async def run_child(
    workflow_type: str,
    request: ResponseRequest | str,
    *,
    text_format: type[ModelT] | None,
    id: str | None,
    task_queue: str | None,
    parent_close_policy: ParentClosePolicy,
    execution_timeout: timedelta | None,
) -> ResponseResult | ParsedResult[ModelT]:
    if isinstance(request, str):
        request = ResponseRequest(input=request)
    if text_format is not None:
        request = with_text_format(request, text_format)
    kind = "stream" if workflow_type == STREAMING_RESPONSE_WORKFLOW else "response"
    result: ResponseResult = await workflow.execute_child_workflow(
        workflow_type,
        request,
        id=id or f"{workflow.info().workflow_id}/{kind}-{workflow.uuid4().hex[:12]}",
        task_queue=task_queue or workflow.info().task_queue,
        parent_close_policy=parent_close_policy,
        execution_timeout=execution_timeout,
        result_type=ResponseResult,
    )
    if text_format is None:
        return result
    return parsed(result, text_format)


@overload
async def run_response(
    request: ResponseRequest | str,
    *,
    text_format: None = None,
    id: str | None = None,
    task_queue: str | None = None,
    parent_close_policy: ParentClosePolicy = ParentClosePolicy.REQUEST_CANCEL,
    execution_timeout: timedelta | None = None,
) -> ResponseResult: ...


@overload
async def run_response(
    request: ResponseRequest | str,
    *,
    text_format: type[ModelT],
    id: str | None = None,
    task_queue: str | None = None,
    parent_close_policy: ParentClosePolicy = ParentClosePolicy.REQUEST_CANCEL,
    execution_timeout: timedelta | None = None,
) -> ParsedResult[ModelT]: ...


async def run_response(
    request: ResponseRequest | str,
    *,
    text_format: type[ModelT] | None = None,
    id: str | None = None,
    task_queue: str | None = None,
    parent_close_policy: ParentClosePolicy = ParentClosePolicy.REQUEST_CANCEL,
    execution_timeout: timedelta | None = None,
) -> ResponseResult | ParsedResult[ModelT]:
    """Run one background response (polled with durable sleeps) as a child workflow.

    Args:
        request: The request, or just the prompt.
        text_format: A pydantic model: ask for JSON of its schema and validate the answer
            into it (`ParsedResult.output_parsed`); invalid JSON fails with
            `ErrorType.OUTPUT_INVALID`.
        id: The child's workflow id (default: `<parent id>/response-<deterministic uuid>`).
        task_queue: Default: the parent's task queue.
        parent_close_policy: Default `REQUEST_CANCEL`: a parent that ends any way cancels
            the child, which cancels the response upstream.
        execution_timeout: Bound on the child (prefer `ResponseRequest.deadline_seconds`,
            which also cancels upstream).

    Raises:
        temporalio.exceptions.ChildWorkflowError: The child failed; its `cause` is the typed
            `ApplicationError` (`ErrorType`).
    """
    return await run_child(
        BACKGROUND_RESPONSE_WORKFLOW,
        request,
        text_format=text_format,
        id=id,
        task_queue=task_queue,
        parent_close_policy=parent_close_policy,
        execution_timeout=execution_timeout,
    )


@overload
async def stream_response(
    request: ResponseRequest | str,
    *,
    text_format: None = None,
    id: str | None = None,
    task_queue: str | None = None,
    parent_close_policy: ParentClosePolicy = ParentClosePolicy.REQUEST_CANCEL,
    execution_timeout: timedelta | None = None,
) -> ResponseResult: ...


@overload
async def stream_response(
    request: ResponseRequest | str,
    *,
    text_format: type[ModelT],
    id: str | None = None,
    task_queue: str | None = None,
    parent_close_policy: ParentClosePolicy = ParentClosePolicy.REQUEST_CANCEL,
    execution_timeout: timedelta | None = None,
) -> ParsedResult[ModelT]: ...


async def stream_response(
    request: ResponseRequest | str,
    *,
    text_format: type[ModelT] | None = None,
    id: str | None = None,
    task_queue: str | None = None,
    parent_close_policy: ParentClosePolicy = ParentClosePolicy.REQUEST_CANCEL,
    execution_timeout: timedelta | None = None,
) -> ResponseResult | ParsedResult[ModelT]:
    """Like `run_response`, but streamed: while it runs, clients can follow the child's text
    by offset (`durable-responses-follow <child id>`). Arguments as for `run_response`."""
    return await run_child(
        STREAMING_RESPONSE_WORKFLOW,
        request,
        text_format=text_format,
        id=id,
        task_queue=task_queue,
        parent_close_policy=parent_close_policy,
        execution_timeout=execution_timeout,
    )


def turn_runner(
    *,
    stream: bool,
    task_queue: str | None = None,
    started: Callable[[str], None] = lambda _: None,
) -> RunTurn:
    """The one way an agent loop (`run_agent`, a session's message) runs a turn: a child
    response workflow, streamed or polled, cancelled with its parent. `started` hears each
    turn's workflow id as it starts (a session shows it to followers)."""
    workflow_type = response_workflow(stream=stream)

    async def run_turn(turn: ResponseRequest, turn_id: str) -> ResponseResult:
        started(turn_id)
        result: ResponseResult = await run_child(
            workflow_type,
            turn,
            text_format=None,
            id=turn_id,
            task_queue=task_queue,
            parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
            execution_timeout=None,
        )
        return result

    return run_turn


def with_text_format(request: ResponseRequest, model: type[BaseModel]) -> ResponseRequest:
    if "text" in request.params or "text" in (request.model_extra or {}):
        raise ApplicationError(
            "pass either text_format or a `text` parameter, not both",
            type=ErrorType.INVALID_REQUEST,
            non_retryable=True,
        )
    params: dict[str, Any] = {**request.params, "text": text_format_param(model)}
    return request.model_copy(update={"params": params})


def parsed(result: ResponseResult, model: type[ModelT]) -> ParsedResult[ModelT]:
    try:
        parsed = model.model_validate_json(result.output_text)
    except ValidationError as err:
        raise ApplicationError(
            f"response {result.response_id} ({result.status}) is not a valid "
            f"{model.__name__}: {err.error_count()} problem(s), first: "
            f"{err.errors(include_url=False)[0]['msg']}",
            {"response_id": result.response_id, "output_text": result.output_text[:2000]},
            type=ErrorType.OUTPUT_INVALID,
            non_retryable=True,
        ) from None
    return ParsedResult[model](**result.model_dump(), output_parsed=parsed)  # type: ignore[valid-type]
