"""Measure the duplicate-create window of `StreamingResponseWorkflow`.

The one gap in "one response per workflow": if a worker dies after the provider accepted the
streaming create but before Temporal recorded the heartbeat carrying the new response id, the
retry cannot know the id and creates again. This measures that window: from the fake's
acceptance of the POST to the server-side time of the first heartbeat with the response id.

    python -m bench.create_window [--runs 30]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import uuid

import openai

from durable_responses.activities import ResponsesActivities, StreamHeartbeat
from durable_responses.fake_openai import FakeOpenAIServer, GenerationSettings, ServerSettings
from durable_responses.models import ResponseRequest, StreamPolicy
from durable_responses.testing import dev_server
from durable_responses.workflows import StreamingResponseWorkflow
from tests.workers import build_worker


async def one(env, task_queue: str, fake: FakeOpenAIServer) -> float:
    handle = await env.client.start_workflow(
        StreamingResponseWorkflow.run,
        ResponseRequest(
            input=f"window {uuid.uuid4()}",
            streaming=StreamPolicy(first_chunk_seconds=3, max_chunk_seconds=3),
        ),
        id=f"window-{uuid.uuid4()}",
        task_queue=task_queue,
    )
    converter = env.client.data_converter
    async with asyncio.timeout(10):
        while True:
            description = await handle.describe()
            pending = description.raw_description.pending_activities
            if pending and pending[0].heartbeat_details.payloads:
                [details] = await converter.decode(
                    pending[0].heartbeat_details.payloads, [StreamHeartbeat]
                )
                if details.response_id:
                    beat = pending[0].last_heartbeat_time.ToDatetime().timestamp()
                    break
            await asyncio.sleep(0.002)
    accepted = fake.control.response(details.response_id, events=False).accepted_at
    await handle.terminate()
    return beat - accepted


async def main(runs: int) -> None:
    settings = ServerSettings(generation=GenerationSettings(tokens=2000, tokens_per_second=200))
    with FakeOpenAIServer(settings) as fake:
        async with dev_server(port=None, ui_port=None, db=None) as env:
            activities = ResponsesActivities(
                openai.AsyncOpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
            )
            task_queue = f"window-{uuid.uuid4()}"
            async with build_worker(env.client, activities, task_queue=task_queue):
                windows = [await one(env, task_queue, fake) for _ in range(runs)]
    ms = sorted(w * 1000 for w in windows)
    print(
        f"duplicate-create window over {runs} runs (POST accepted -> heartbeat with id "
        f"recorded by the Temporal server):"
    )
    print(
        f"  median {statistics.median(ms):.1f} ms, p90 {ms[int(0.9 * (runs - 1))]:.1f} ms, "
        f"max {ms[-1]:.1f} ms, min {ms[0]:.1f} ms"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=30)
    asyncio.run(main(parser.parse_args().runs))
