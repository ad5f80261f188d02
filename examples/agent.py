"""A trip-planning agent: two tools of your own (one slow, one that needs a person's approval),
each model turn a durable background response, each tool call an activity.

    python -m examples.agent "Plan a day in Zürich."

The pipeline (`TripPlannerWorkflow`) calls `run_agent` from its own workflow code. The model
first asks for the weather (`get_weather`), then for a report (`compile_report`, slow, and
needing approval), then answers with both. The run waits for the approval as long as it takes
(`temporal workflow update execute --workflow-id <id> --name approve --input '{"id": "<call
id>", "approve": true}'`); this script approves it itself after printing the line. A worker
crash anywhere (mid-turn, mid-tool, while waiting) repeats no turn and no finished tool call:
`tests/test_agent.py` kills one at each of those points.

    python -m examples.agent worker --task-queue Q [--address A]

runs just a worker for the pipeline (its workflow and activities, and ours through the plugin).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field
from temporalio import activity, workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    import durable_responses.workflow as durable
    from durable_responses import PollPolicy, ResponseRequest
    from durable_responses.models.agent import AgentResult

if TYPE_CHECKING:
    from durable_responses.fake_openai import ServerSettings

TASK_QUEUE = "agent-example"
LOG_VARIABLE = "AGENT_EXAMPLE_TOOL_LOG"
"""A file each finished tool call appends a line to (tests count them)."""
REPORT_SECONDS = 2.0
"""How long `compile_report` works (heartbeating)."""


class City(BaseModel):
    """Arguments of `get_weather`."""

    city: str = Field(description="The city, e.g. Zürich.")


class ReportRequest(BaseModel):
    """Arguments of `compile_report`."""

    city: str
    focus: str = Field(description="What the report is about.")


def _finished(line: str) -> None:
    path = os.environ.get(LOG_VARIABLE)
    if path:
        with Path(path).open("a") as log:
            log.write(line + "\n")


@activity.defn
async def get_weather(args: City) -> str:
    """Today's weather in a city."""
    answer = f"{args.city}: 21 °C, light wind, dry"
    _finished(f"get_weather {args.city}")
    return answer


@activity.defn
async def compile_report(args: ReportRequest) -> str:
    """A short report on a city (slow: a few seconds of work, heartbeating)."""
    for _ in range(int(REPORT_SECONDS / 0.25)):
        activity.heartbeat()
        await asyncio.sleep(0.25)
    _finished(f"compile_report {args.city}")
    return f"Report on {args.city}: the old town, the lake, the museums ({args.focus})."


class TripRequest(BaseModel):
    """Input of the pipeline."""

    question: str = "Plan a day in Zürich."
    model: str = "o3"
    stream: bool = False
    approval_timeout_seconds: float | None = None
    poll_seconds: float = Field(default=2.0, gt=0, description="First poll of each turn.")
    deadline_seconds: float | None = Field(
        default=None, gt=0, description="The whole loop's time, approvals included."
    )


@workflow.defn(name="TripPlannerWorkflow")
class TripPlannerWorkflow:
    """A pipeline step that is an agent: tools of its own, an approval, durable turns."""

    @workflow.run
    async def run(self, request: TripRequest) -> AgentResult:
        timeout, deadline = request.approval_timeout_seconds, request.deadline_seconds
        return await durable.run_agent(
            ResponseRequest(
                input=request.question,
                model=request.model,
                instructions="Use the tools: the weather first, then a report.",
                parallel_tool_calls=False,  # one call a turn: weather, report, answer
                poll=PollPolicy(initial_interval_seconds=request.poll_seconds),
            ),
            tools=[
                durable.activity_tool(get_weather, start_to_close_timeout=timedelta(seconds=30)),
                durable.activity_tool(
                    compile_report,
                    needs_approval=True,
                    start_to_close_timeout=timedelta(minutes=5),
                    heartbeat_timeout=timedelta(seconds=2),
                    retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200)),
                ),
            ],
            stream=request.stream,
            max_turns=6,
            approval_timeout=None if timeout is None else timedelta(seconds=timeout),
            deadline=None if deadline is None else timedelta(seconds=deadline),
        )


def local_fake() -> ServerSettings:
    """The fake this example talks to without an `OPENAI_API_KEY`: short answers, and, as in
    the test suite, `Idempotency-Key` ignored (OpenAI does not document honouring it), so a
    create the run made twice would show as two responses instead of being hidden."""
    from durable_responses.fake_openai import GenerationSettings, ServerSettings

    return ServerSettings(
        generation=GenerationSettings(tokens=80, tokens_per_second=100),
        honour_idempotency_key=False,
    )


async def main(question: str) -> AgentResult:
    """Run the pipeline on a worker of our own, approve the report when it is asked for."""
    from temporalio.worker import Worker

    from examples._local import example_client

    async with (
        example_client(local_fake()) as (client, _),
        Worker(
            client,
            task_queue=TASK_QUEUE,
            workflows=[TripPlannerWorkflow],
            activities=[get_weather, compile_report],
        ),
    ):
        handle = await client.start_workflow(
            TripPlannerWorkflow.run,
            TripRequest(question=question),
            id=f"trip-{uuid.uuid4()}",
            task_queue=TASK_QUEUE,
        )
        result = asyncio.ensure_future(handle.result())
        while not result.done():
            pending = await handle.query(durable.PENDING_QUERY, result_type=list)
            for approval in pending:
                print(
                    f"approval needed: {approval['name']}({approval['arguments']}); as from the "
                    f"CLI: temporal workflow update execute --workflow-id {handle.id} "
                    f'--name approve --input \'{{"id": "{approval["id"]}", "approve": true}}\'',
                    file=sys.stderr,
                )
                await handle.execute_update(durable.APPROVE_UPDATE, {"id": approval["id"]})
            await asyncio.wait([result], timeout=0.5)
        return await result


async def worker(task_queue: str, address: str | None) -> None:
    """Serve the pipeline's task queue until SIGINT/SIGTERM."""
    from temporalio.client import Client
    from temporalio.worker import Worker

    from durable_responses import DurableResponsesPlugin, connection
    from durable_responses.worker import serve

    client = await Client.connect(
        **connection.connect_config(address=address), plugins=[DurableResponsesPlugin()]
    )
    await serve(
        Worker(
            client,
            task_queue=task_queue,
            workflows=[TripPlannerWorkflow],
            activities=[get_weather, compile_report],
        )
    )


def show(result: AgentResult) -> None:
    print(result.output_text)
    print(f"\n{len(result.turns)} turns, {result.usage.total_tokens} tokens:")
    for run in result.tool_runs:
        approved = "" if run.approved is None else f" (approved: {run.approved})"
        print(f"  turn {run.turn}: {run.name}({run.arguments}) -> {run.output}{approved}")


if __name__ == "__main__":
    from durable_responses import connection

    if sys.argv[1:2] == ["worker"]:
        parser = argparse.ArgumentParser(prog="python -m examples.agent worker")
        parser.add_argument("--task-queue", default=TASK_QUEUE)
        parser.add_argument("--address", default=None)
        args = parser.parse_args(sys.argv[2:])
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        connection.exit_after(lambda: asyncio.run(worker(args.task_queue, args.address)))
    else:
        question = " ".join(sys.argv[1:]) or "Plan a day in Zürich."
        connection.exit_after(lambda: show(asyncio.run(main(question))))
