"""Wall time of hours of polling under the time-skipping test server.

A 3-hour background response with the 2 s -> 60 s backoff (about 190 polls), activities
mocked by name, run to completion; prints wall-clock seconds and workflow-clock hours.

    python -m bench.time_skipping [--hours 3] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from durable_responses.models import PollPolicy, ResponseRequest
from durable_responses.namespace import ensure_registered
from durable_responses.testing import STARTUP_TIMEOUT, find_binary
from durable_responses.workflows import WORKFLOWS, BackgroundResponseWorkflow
from tests.mocks import ScriptedAPI


def polls_for(hours: float) -> int:
    total, interval, polls = 0.0, 2.0, 0
    while total < hours * 3600:
        total += interval
        interval = min(interval * 1.5, 60.0)
        polls += 1
    return polls


async def main(hours: float, runs: int) -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=find_binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
        test_server_startup_timeout=STARTUP_TIMEOUT,
    )
    await ensure_registered(env.client)  # the workflow upserts them
    walls, spans = [], []
    try:
        for _ in range(runs):
            api = ScriptedAPI(polls_until_done=polls_for(hours))
            task_queue = f"bench-{uuid.uuid4()}"
            async with Worker(
                env.client, task_queue=task_queue, workflows=WORKFLOWS, activities=api.activities()
            ):
                started = time.perf_counter()
                handle = await env.client.start_workflow(
                    BackgroundResponseWorkflow.run,
                    ResponseRequest(
                        input="x",
                        poll=PollPolicy(
                            initial_interval_seconds=2, backoff=1.5, max_interval_seconds=60
                        ),
                    ),
                    id=f"bench-{uuid.uuid4()}",
                    task_queue=task_queue,
                )
                result = await handle.result()
                walls.append(time.perf_counter() - started)
            events = (await handle.fetch_history()).events
            spans.append(
                (
                    events[-1].event_time.ToDatetime() - events[0].event_time.ToDatetime()
                ).total_seconds()
                / 3600
            )
    finally:
        await env.shutdown()
    print(
        f"{hours:g} h of polling ({result.polls} polls, {len(events)} history events): "
        f"wall time median {statistics.median(walls):.2f}s (min {min(walls):.2f}s, "
        f"max {max(walls):.2f}s over {runs} runs); workflow clock {statistics.median(spans):.2f} h"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--hours", type=float, default=3.0)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.hours, args.runs))
