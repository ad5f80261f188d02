"""Running one of our workflows as a child of the caller's: the call both `run_response` and
the agent loop's turns make, and structured output on top of it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeVar

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
    return parsed(result, text_format)


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
