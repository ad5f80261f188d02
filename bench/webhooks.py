"""Polling alone against webhooks: how late a long run's workflow sees its response end, how many
polls and history events it costs, the same runs both ways in one process tree.

    python -m bench.webhooks [--runs 12] [--scale 30] [--lag 5] [--no-polling]

Deep-research-like runs of 10 to 40 minutes, time scaled by `--scale` (20 to 80 seconds at
30), the poll policy scaled with them (2 s growing to 60 s; with webhooks a safety net from
10 minutes growing to 30). The fake signs and delivers a webhook when a response ends (only in
the webhook variant); the receiver verifies it and signals the workflow. Delay is from the
provider finishing (the fake's clock) to the workflow closing. Polling's delay comes from its
interval, so it is shown scaled back up ("as real time"); a webhook's delay is the delivery's
own latency, which does not shrink with the scale, so it is shown as measured.

`--lag S` adds a variant where the provider's reads lag its webhook by S seconds (the fake's
`retrieve_lag_seconds`): the poll a webhook brings still sees the response running, and the
run re-polls seconds apart (`webhook_recheck_seconds`, not scaled: the lag is real time) until
the read catches up. Its delay should stay within a few seconds of the lag, its polls per run
close to the no-lag webhook row.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import statistics
import uuid

import openai

from durable_responses import webhooks
from durable_responses.activities import ResponsesActivities
from durable_responses.fake_openai import FakeOpenAIServer, GenerationSettings, ServerSettings
from durable_responses.models import PollPolicy, ResponseRequest
from durable_responses.testing import dev_server
from durable_responses.workflows import BackgroundResponseWorkflow
from tests.workers import build_worker

SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()
TOKENS_PER_SECOND = 10.0


async def variant(env, fake: FakeOpenAIServer, runs: int, scale: float, hooks: bool) -> dict:
    api = openai.AsyncOpenAI(base_url=fake.base_url, api_key="sk-bench", max_retries=0)
    activities = ResponsesActivities(api, webhooks=hooks)
    policy = PollPolicy(
        initial_interval_seconds=2 / scale,
        max_interval_seconds=60 / scale,
        webhook_interval_seconds=600 / scale,
        webhook_max_interval_seconds=1800 / scale,
    )
    task_queue = f"bench-hooks-{uuid.uuid4()}"
    async with build_worker(env.client, activities, task_queue=task_queue):
        handles = []
        for i in range(runs):
            minutes = 10 + 30 * i / max(runs - 1, 1)  # 10 to 40 minutes, spread
            tokens = int(minutes * 60 / scale * TOKENS_PER_SECOND)
            handles.append(
                await env.client.start_workflow(
                    BackgroundResponseWorkflow.run,
                    ResponseRequest(
                        input=f"Run {i}.",
                        model="gpt-4.1",
                        poll=policy,
                        metadata={"fake_tokens": str(tokens)},
                    ),
                    id=f"bench-hooks-{uuid.uuid4()}",
                    task_queue=task_queue,
                )
            )
        results = await asyncio.gather(*(h.result() for h in handles))
    delays, polls, events = [], [], []
    for handle, result in zip(handles, results, strict=True):
        closed = (await handle.describe()).close_time
        finished = fake.control.response(result.response_id, events=False).finished_at
        assert closed is not None and finished is not None
        delays.append((closed.timestamp() - finished) * (1 if hooks else scale))
        polls.append(result.polls)
        events.append(len((await handle.fetch_history()).events))
    await api.close()
    delays.sort()
    return {
        "median": statistics.median(delays),
        "p99": delays[min(len(delays) - 1, round(0.99 * (len(delays) - 1)))],
        "polls": statistics.mean(polls),
        "events": statistics.mean(events),
    }


async def main(runs: int, scale: float, lag: float, polling_too: bool) -> None:
    generation = GenerationSettings(
        tokens_per_second=TOKENS_PER_SECOND, queued_seconds=0.2, reasoning=False
    )
    with FakeOpenAIServer(ServerSettings(generation=generation)) as fake:
        async with dev_server(port=None, ui_port=None, db=None) as env:
            polling = await variant(env, fake, runs, scale, hooks=False) if polling_too else None
            runner, receiver, url = await webhooks.start(env.client, [SECRET], port=0)
            fake.control.configure(webhook_url=url, webhook_secret=SECRET)
            lagged = None
            try:
                hooked = await variant(env, fake, runs, scale, hooks=True)
                if lag > 0:
                    fake.control.configure(retrieve_lag_seconds=lag)
                    lagged = await variant(env, fake, runs, scale, hooks=True)
            finally:
                await runner.cleanup()
    print(
        f"\n{runs} runs of 10 to 40 minutes each way (time scaled by {scale:g}; delays as real "
        "time)\n"
    )
    print(f"{'':36} {'delay median':>13} {'delay p99':>10} {'polls/run':>10} {'events/run':>11}")
    rows = [("polling alone (2 s x1.5 to 60 s)", polling),
            ("webhooks (safety net 10 to 30 min)", hooked),
            (f"webhooks, reads lagging {lag:g} s", lagged)]  # fmt: skip
    for name, row in rows:
        if row is None:
            continue
        print(
            f"{name:36} {row['median']:>12.2f}s {row['p99']:>9.2f}s {row['polls']:>10.1f} "
            f"{row['events']:>11.1f}"
        )
    if polling is not None:
        print(
            f"\nwebhooks: delay {polling['median'] / max(hooked['median'], 1e-9):.0f}x lower "
            f"(median), polls {polling['polls'] / max(hooked['polls'], 1e-9):.0f}x fewer"
        )
    if lagged is not None:
        print(
            f"reads lagging {lag:g} s: median delay {lagged['median']:.2f}s, polls/run "
            f"{lagged['polls'] / max(hooked['polls'], 1e-9):.2f}x the no-lag webhook row"
        )
    print(f"receiver: {dict(receiver.counts)}")


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--scale", type=float, default=30.0)
    parser.add_argument(
        "--lag", type=float, default=0.0, help="also: reads lagging the webhook by this (s)"
    )
    parser.add_argument("--no-polling", action="store_true", help="skip the polling-alone variant")
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.scale, args.lag, not args.no_polling))


if __name__ == "__main__":
    cli()
