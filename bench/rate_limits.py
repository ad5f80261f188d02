"""Measure how a fleet of workers spreads OpenAI requests under the task-queue rate limits.

Three `python worker.py` processes serve one task queue and its poll queue; N background runs
start at once; the fake API records when each request arrives. Printed: the first second
(the server's initial burst), the busiest window after it, and the overall rate, with and
without the limits.

    python -m bench.rate_limits [--runs 24] [--rate 2] [--poll-rate 4] [--workers 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import uuid

from durable_responses.fake_openai import FakeOpenAIServer, GenerationSettings, ServerSettings
from durable_responses.models import PollPolicy, ResponseRequest
from durable_responses.testing import WorkerProcess, dev_server
from durable_responses.workflows import BackgroundResponseWorkflow


def _busiest(times: list[float], seconds: float, after: float) -> int:
    """Most requests within any `seconds`-long window that starts `after` the first one."""
    times = sorted(t for t in times if t >= after)
    return max(
        (sum(1 for u in times[i:] if u - t < seconds) for i, t in enumerate(times)), default=0
    )


async def trial(args: argparse.Namespace, limited: bool) -> None:
    generation = GenerationSettings(tokens=60, tokens_per_second=40, queued_seconds=0.05)
    with FakeOpenAIServer(ServerSettings(generation=generation)) as fake:
        async with dev_server(port=None, ui_port=None, db=None) as env:
            task_queue = f"bench-rate-{uuid.uuid4()}"
            polls_queue = f"{task_queue}-polls"
            flags = ["--poll-task-queue", polls_queue]
            if limited:
                flags += ["--max-activities-per-second", str(args.rate)]
                flags += ["--max-polls-per-second", str(args.poll_rate)]
            address = env.client.service_client.config.target_host
            with contextlib.ExitStack() as stack:
                for _ in range(args.workers):
                    stack.enter_context(
                        WorkerProcess(
                            address,
                            task_queue,
                            env={"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": "sk-x"},
                            args=flags,
                        )
                    )
                poll = PollPolicy(initial_interval_seconds=0.1, backoff=1.0, task_queue=polls_queue)
                await asyncio.gather(
                    *(
                        env.client.execute_workflow(
                            BackgroundResponseWorkflow.run,
                            ResponseRequest(input=f"question {n}", poll=poll),
                            id=f"bench-rate-{n}-{uuid.uuid4()}",
                            task_queue=task_queue,
                        )
                        for n in range(args.runs)
                    )
                )
            requests = fake.control.requests()
    label = f"limited ({args.rate}/s creates, {args.poll_rate}/s polls)" if limited else "unlimited"
    print(f"{label}, {args.workers} workers, {args.runs} runs:")
    for name, times in (
        ("creates", [r.at for r in requests if r.method == "POST"]),
        ("polls", [r.at for r in requests if r.method == "GET"]),
    ):
        start, end = min(times), max(times)
        first_second = sum(1 for t in times if t - start < 1.0)
        later = _busiest(times, 2.0, start + 1.0) / 2.0
        overall = len(times) / max(end - start, 1e-9)
        print(
            f"  {name:7}: {len(times):4} over {end - start:5.2f} s; first second {first_second:3}; "
            f"busiest 2 s after it {later:5.1f}/s; overall {overall:6.1f}/s"
        )


async def main(args: argparse.Namespace) -> None:
    await trial(args, limited=True)
    await trial(args, limited=False)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=24)
    parser.add_argument("--rate", type=float, default=2.0)
    parser.add_argument("--poll-rate", type=float, default=4.0)
    parser.add_argument("--workers", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
