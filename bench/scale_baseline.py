"""The minimal Temporal baseline of `bench.scale`: the fewest lines that run a background
response durably, with the SDK's defaults everywhere (default converter, default worker
options, the default sandbox). Not the project's code: a floor to measure it against.

    python -m bench.scale_baseline --address HOST:PORT --task-queue Q [--unsandboxed]

`--unsandboxed` runs the same workflows outside the sandbox (`UnsandboxedWorkflowRunner`):
the SDK's floor for this shape of run, as our own workflows run (`workflows/_sandbox.py`).

Polling: create in an activity, then `workflow.sleep` and a local activity that retrieves,
until the response is terminal; the text is the result. Streaming: one activity that creates
with `stream=True` and reads to the end, heartbeating (no cursor kept: a crash starts over).
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import timedelta

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from openai import AsyncOpenAI
    from temporalio.client import Client
    from temporalio.worker import UnsandboxedWorkflowRunner, Worker
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

READY = "worker polling task queue"
_openai: AsyncOpenAI | None = None


def _client() -> AsyncOpenAI:
    global _openai
    if _openai is None:
        _openai = AsyncOpenAI(max_retries=0)
    return _openai


@activity.defn
async def create(prompt: str) -> str:
    response = await _client().responses.create(model="gpt-4.1", input=prompt, background=True)
    return response.id


@activity.defn
async def retrieve(response_id: str) -> list[str]:
    response = await _client().responses.retrieve(response_id)
    return [str(response.status), response.output_text]


@activity.defn
async def stream(prompt: str) -> str:
    text: list[str] = []
    events = await _client().responses.create(
        model="gpt-4.1", input=prompt, background=True, stream=True
    )
    async for event in events:
        if event.type == "response.output_text.delta":
            text.append(event.delta)
        if event.sequence_number % 50 == 0:
            activity.heartbeat(event.sequence_number)
    return "".join(text)


@workflow.defn
class BaselinePolling:
    @workflow.run
    async def run(self, prompt: str) -> str:
        response_id = await workflow.execute_activity(
            create, prompt, start_to_close_timeout=timedelta(seconds=60)
        )
        while True:
            await workflow.sleep(1.0)
            status, text = await workflow.execute_local_activity(
                retrieve, response_id, start_to_close_timeout=timedelta(seconds=30)
            )
            if status not in ("queued", "in_progress"):
                return text


@workflow.defn
class BaselineStreaming:
    @workflow.run
    async def run(self, prompt: str) -> str:
        return await workflow.execute_activity(
            stream,
            prompt,
            start_to_close_timeout=timedelta(minutes=10),
            heartbeat_timeout=timedelta(seconds=30),
        )


async def main(address: str, task_queue: str, unsandboxed: bool) -> None:
    client = await Client.connect(address)
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[BaselinePolling, BaselineStreaming],
        activities=[create, retrieve, stream],
        workflow_runner=UnsandboxedWorkflowRunner() if unsandboxed else SandboxedWorkflowRunner(),
    ):
        print(READY, task_queue, flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--unsandboxed", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.address, args.task_queue, args.unsandboxed))
