"""Call a durable response from your own workflow code, as one awaitable.

    from temporalio import workflow

    with workflow.unsafe.imports_passed_through():
        import durable_responses.workflow as durable
        from durable_responses import ResponseRequest

    @workflow.defn
    class MyPipeline:
        @workflow.run
        async def run(self, question: str) -> str:
            answer = await durable.run_response(ResponseRequest(input=question))
            return answer.output_text

Each call starts `BackgroundResponseWorkflow` (`run_response`) or `StreamingResponseWorkflow`
(`stream_response`) as a child workflow: its id derives from the parent's, it runs on the
parent's task queue (where `DurableResponsesPlugin` registered it), and closing the parent
in any way (cancel, terminate, timeout) cancels the child and so the response upstream.
With `text_format=SomeModel` the response is asked for JSON matching the model's schema and
the answer comes back validated as `ParsedResult[SomeModel]`, as `responses.parse` does.
"""

from __future__ import annotations

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

ModelT = TypeVar("ModelT", bound=BaseModel)

__all__ = ["ParsedResult", "run_response", "stream_response"]


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
    return await _run_child(
        "BackgroundResponseWorkflow",
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
    return await _run_child(
        "StreamingResponseWorkflow",
        request,
        text_format=text_format,
        id=id,
        task_queue=task_queue,
        parent_close_policy=parent_close_policy,
        execution_timeout=execution_timeout,
    )


async def _run_child(
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
        request = _with_text_format(request, text_format)
    kind = "stream" if workflow_type == "StreamingResponseWorkflow" else "response"
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
    return _parsed(result, text_format)


def _with_text_format(request: ResponseRequest, model: type[BaseModel]) -> ResponseRequest:
    if "text" in request.params or "text" in (request.model_extra or {}):
        raise ApplicationError(
            "pass either text_format or a `text` parameter, not both",
            type=ErrorType.INVALID_REQUEST,
            non_retryable=True,
        )
    params: dict[str, Any] = {**request.params, "text": text_format_param(model)}
    return request.model_copy(update={"params": params})


def _parsed(result: ResponseResult, model: type[ModelT]) -> ParsedResult[ModelT]:
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
