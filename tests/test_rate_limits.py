"""A fleet of workers stays under one requests-per-second budget, counted by the fake API."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from durable_responses.models import PollPolicy, ResponseRequest
from durable_responses.workflows import BackgroundResponseWorkflow
from tests.workers import address_of, worker_process

CREATES_PER_SECOND = 2.0
POLLS_PER_SECOND = 4.0
WORKERS = 3
RUNS = 24
PARTITIONS = 4
"""Task-queue partitions of the dev server (Temporal's default). Each partition's bucket starts
full, so the server lets up to PARTITIONS x rate through at once before the rate holds: 8
creates in the first 0.65 s at 2/s, measured here."""


def _most_in_any_window(times: list[float], seconds: float) -> int:
    """The largest number of requests that arrived within `seconds` of each other."""
    times = sorted(times)
    most, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= seconds:
            start += 1
        most = max(most, end - start + 1)
    return most


async def test_three_workers_together_keep_the_task_queue_rates(dev_env, fake, fake_server):
    task_queue = f"rate-{uuid.uuid4()}"
    polls_queue = f"{task_queue}-polls"
    fake.configure(tokens=60, tokens_per_second=40)  # each response runs about 1.5 s
    flags = [
        "--max-activities-per-second",
        str(CREATES_PER_SECOND),
        "--poll-task-queue",
        polls_queue,
        "--max-polls-per-second",
        str(POLLS_PER_SECOND),
    ]
    with contextlib.ExitStack() as stack:
        for _ in range(WORKERS):
            stack.enter_context(
                worker_process(address_of(dev_env), task_queue, fake_server.base_url, flags)
            )
        # Polls that would come every 0.1 s without a limit: 12 runs would ask ~100 times a second.
        poll = PollPolicy(initial_interval_seconds=0.1, backoff=1.0, task_queue=polls_queue)
        results = await asyncio.gather(
            *(
                dev_env.client.execute_workflow(
                    BackgroundResponseWorkflow.run,
                    ResponseRequest(input=f"question {n}", poll=poll),
                    id=f"rate-{n}-{uuid.uuid4()}",
                    task_queue=task_queue,
                )
                for n in range(RUNS)
            )
        )
    assert all(r.status == "completed" for r in results)
    requests = fake.requests()
    creates = [r.at for r in requests if r.method == "POST" and r.path == "/v1/responses"]
    polls = [r.at for r in requests if r.method == "GET"]
    assert len(creates) == RUNS and len(polls) >= RUNS
    # Whatever the number of workers: in any window of W seconds at most rate x W requests plus
    # the initial burst. Unlimited, all 24 creates would arrive within half a second and the
    # polls at ~200 a second.
    for rate, times in ((CREATES_PER_SECOND, creates), (POLLS_PER_SECOND, polls)):
        burst = PARTITIONS * rate
        for window in (2.0, 4.0, 8.0):  # long enough not to measure scheduling jitter
            assert _most_in_any_window(times, window) <= rate * window + burst, (rate, window)
    # Past the burst the creates were spread at no more than the rate.
    assert (
        max(creates) - min(creates)
        >= (RUNS - PARTITIONS * CREATES_PER_SECOND) / (CREATES_PER_SECOND) - 1
    )
