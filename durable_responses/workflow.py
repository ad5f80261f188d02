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

This module only re-exports: the code is deterministic workflow code, so it lives in
`workflows/` (`_children.py`, `_run_agent.py`, `_tools.py`), where the determinism checks see it.
"""

from __future__ import annotations

from durable_responses.models import ParsedResult
from durable_responses.models.agent import AgentResult, AgentTool, ParsedAgentResult
from durable_responses.models.names import APPROVE_UPDATE, PENDING_QUERY
from durable_responses.workflows._agent import LoopTool, agent_tool
from durable_responses.workflows._children import run_response, stream_response
from durable_responses.workflows._run_agent import run_agent
from durable_responses.workflows._tools import activity_tool, function_tool

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
