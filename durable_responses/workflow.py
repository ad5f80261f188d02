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

`run_agent` runs a tool loop the same way: each model turn a durable response, each function
call one of your activities (`activity_tool`) or a workflow-side function (`function_tool`),
approvals waited for durably (`approve` update), until the model answers.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TypeVar, overload

from pydantic import BaseModel
from temporalio.workflow import ParentClosePolicy

from durable_responses.agents import activity_tool, function_tool, run_agent
from durable_responses.models import ParsedResult, ResponseRequest, ResponseResult
from durable_responses.models.agent import AgentResult, AgentTool, ParsedAgentResult
from durable_responses.workflows._agent import APPROVE_UPDATE, PENDING_QUERY, LoopTool, agent_tool
from durable_responses.workflows._children import run_child

ModelT = TypeVar("ModelT", bound=BaseModel)

__all__ = [
    "APPROVE_UPDATE",
    "PENDING_QUERY",
    "AgentResult",
    "AgentTool",
    "LoopTool",
    "ParsedAgentResult",
    "ParsedResult",
    "activity_tool",
    "agent_tool",
    "function_tool",
    "run_agent",
    "run_response",
    "stream_response",
]


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
    return await run_child(
        "StreamingResponseWorkflow",
        request,
        text_format=text_format,
        id=id,
        task_queue=task_queue,
        parent_close_policy=parent_close_policy,
        execution_timeout=execution_timeout,
    )
