"""Workflows of a caller's (agent loops, a webhook's owner), for the tests: a module of their
own, as the workflow sandbox imports it and the test modules import harnesses it must not."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    import durable_responses.workflow as durable
    from durable_responses.models import PollPolicy, ResponseRequest
    from durable_responses.models.agent import AgentResult
    from durable_responses.models.webhooks import WEBHOOK_SIGNAL, WebhookEvent

QUICK_POLL = PollPolicy(initial_interval_seconds=0.2)
MCP = {"type": "mcp", "server_label": "docs", "server_url": "https://mcp.example.com/mcp"}


@activity.defn(name="lookup")
async def lookup() -> str:
    """A tool without arguments."""
    return "found it"


@workflow.defn(name="LoopUnderTest")
class LoopUnderTest:
    """A loop with an MCP server (approval needed) and one tool, its limits from the input."""

    @workflow.run
    async def run(self, limits: dict[str, Any]) -> AgentResult:
        hours = limits.get("approval_hours")
        return await durable.run_agent(
            ResponseRequest(input="Go.", model="o3", tools=[MCP]),
            tools=[durable.activity_tool(lookup)],
            approval_timeout=timedelta(hours=hours) if hours else None,
            max_turns=limits.get("max_turns", 10),
            max_total_tokens=limits.get("max_total_tokens"),
        )


@workflow.defn(name="McpAgentWorkflow")
class McpAgentWorkflow:
    """A loop with an MCP server whose calls need approval, the model told of a rejection."""

    @workflow.run
    async def run(self, question: str) -> AgentResult:
        return await durable.run_agent(
            ResponseRequest(
                input=question,
                model="gpt-4.1",
                tools=[MCP],
                poll=PollPolicy(initial_interval_seconds=0.2),
            ),
            on_rejection="tell_model",
        )


@workflow.defn(name="WebhookWaiter")
class WebhookWaiter:
    """A workflow of a caller's that owns a response and waits for its webhook."""

    def __init__(self) -> None:
        self._events: list[WebhookEvent] = []

    @workflow.run
    async def run(self, response_id: str) -> str:
        await workflow.wait_condition(
            lambda: any(e.response_id == response_id for e in self._events)
        )
        return response_id

    @workflow.signal(name=WEBHOOK_SIGNAL)
    def openai_webhook(self, event: WebhookEvent) -> None:
        self._events.append(event)
