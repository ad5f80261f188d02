"""How live is a followed stream, and what does it cost in history? Against the direct SDK.

One response (1,000 tokens at 50 tok/s by default) is streamed three ways in the same run:
- **direct**: the `openai` SDK's own background stream, the baseline;
- **workflow + tail**: `StreamingResponseWorkflow` followed with its run handle (`RunHandle.follow`)
  (recorded text from the `text` query, the unrecorded tail from the reader's heartbeat);
- **workflow, recorded only**: the same, following recorded batches only (`live_tail=False`).

An observer attached to each workflow's response records when every character reached a
direct client; a follower's lag is the time it got a character minus that time.

    python -m bench.streaming [--tokens 1000] [--tps 50] [--runs 3] [--max-batch-seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from dataclasses import dataclass, field

import openai
from temporalio.worker import Worker

from durable_responses.activities import ResponsesActivities
from durable_responses.fake_openai import FakeOpenAIServer, GenerationSettings, ServerSettings
from durable_responses.models import ResponseRequest, StreamPolicy
from durable_responses.plugin import DurableResponsesPlugin
from durable_responses.run import RunHandle
from durable_responses.testing import dev_server


@dataclass
class Figures:
    first_text: list[float] = field(default_factory=list)
    lag_max: list[float] = field(default_factory=list)
    lag_median: list[float] = field(default_factory=list)
    total: list[float] = field(default_factory=list)
    events: list[int] = field(default_factory=list)
    opens: list[int] = field(default_factory=list)
    batches: list[int] = field(default_factory=list)


async def direct(api: openai.AsyncOpenAI, figures: Figures) -> None:
    started = time.monotonic()
    stream = await api.responses.create(
        model="o3", input=f"direct {uuid.uuid4()}", background=True, stream=True
    )
    first = None
    async for event in stream:
        if event.type == "response.output_text.delta" and first is None:
            first = time.monotonic() - started
    figures.total.append(time.monotonic() - started)
    figures.first_text.append(first or 0.0)


async def observe(api: openai.AsyncOpenAI, response_id: str, arrivals: list[float]) -> None:
    """When each character reached a direct client (index = absolute offset)."""
    stream = await api.responses.retrieve(response_id, stream=True)
    async for event in stream:
        if event.type == "response.output_text.delta":
            now = time.monotonic()
            arrivals.extend([now] * len(event.delta))


async def through_workflow(
    client,
    api: openai.AsyncOpenAI,
    fake: FakeOpenAIServer,
    task_queue: str,
    figures: Figures,
    live_tail: bool,
    policy: StreamPolicy,
) -> None:
    started = time.monotonic()
    run = await RunHandle.start(
        client,
        ResponseRequest(input=f"bench {uuid.uuid4()}", model="o3", streaming=policy),
        id=f"bench-stream-{uuid.uuid4()}",
        stream=True,
        task_queue=task_queue,
    )
    arrivals: list[float] = []
    observer: asyncio.Task[None] | None = None
    first = None
    lags: list[float] = []
    async for piece in run.follow(live_tail=live_tail):
        now = time.monotonic()
        if observer is None and piece.response_id:
            observer = asyncio.create_task(observe(api, piece.response_id, arrivals))
        if piece.text and first is None:
            first = now - started
        if piece.text and piece.offset < len(arrivals):
            lags.append(now - arrivals[piece.offset])
    result = await run.result()
    figures.total.append(time.monotonic() - started)
    if observer is not None:
        await observer
    figures.first_text.append(first or 0.0)
    steady = lags[1:] or [0.0]
    figures.lag_max.append(max(steady))
    figures.lag_median.append(statistics.median(steady))
    figures.events.append(len((await run.workflow.fetch_history()).events))
    record = fake.control.response(result.response_id, events=False)
    figures.opens.append(record.counts.get("stream_opens", 0) - 1)  # minus the observer
    figures.batches.append(result.chunks)


def _row(name: str, f: Figures) -> str:
    def med(values: list[float] | list[int]) -> str:
        return f"{statistics.median(values):.2f}" if values else "-"

    return (
        f"| {name} | {med(f.first_text)} | {med(f.lag_median)} | {med(f.lag_max)} | "
        f"{med(f.total)} | {med(f.events)} | {med(f.batches)} | {med(f.opens)} |"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--tps", type=float, default=50.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--max-batch-seconds", type=float, default=None, help="the policy's batch cap to try"
    )
    args = parser.parse_args()
    policy = (
        StreamPolicy()
        if args.max_batch_seconds is None
        else StreamPolicy(
            max_batch_seconds=args.max_batch_seconds,
            first_batch_seconds=min(0.5, args.max_batch_seconds),
        )
    )
    settings = ServerSettings(
        generation=GenerationSettings(tokens=args.tokens, tokens_per_second=args.tps)
    )
    with FakeOpenAIServer(settings) as fake:
        api = openai.AsyncOpenAI(base_url=fake.base_url, api_key="sk-bench", max_retries=0)
        async with dev_server(port=None, ui_port=None, db=None) as env:
            task_queue = f"bench-{uuid.uuid4()}"
            activities = ResponsesActivities(api)
            async with Worker(
                env.client,
                task_queue=task_queue,
                plugins=[DurableResponsesPlugin(activities=activities)],
            ):
                base, tail, recorded = Figures(), Figures(), Figures()
                for _ in range(args.runs):
                    await direct(api, base)
                    for figures, live in ((tail, True), (recorded, False)):
                        await through_workflow(
                            env.client, api, fake, task_queue, figures, live, policy
                        )
    print(
        f"{args.tokens} tokens at {args.tps:g} tok/s, max_batch_seconds "
        f"{policy.max_batch_seconds:g}, median of {args.runs} runs "
        "(seconds; lag: follower time minus a direct client's time, per piece after the first)"
    )
    print(
        "| | first text | lag median | lag max | total | history events | batches | stream opens |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print(_row("direct SDK stream", base))
    print(_row("workflow, follower with tail", tail))
    print(_row("workflow, follower recorded only", recorded))
    target = 1.2 * statistics.median(base.first_text) + 0.1
    print(f"target first text: <= {target:.2f} s (1.2 x direct + 0.1 s)")


if __name__ == "__main__":
    asyncio.run(main())
