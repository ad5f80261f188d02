"""The gateway against calling the fake directly, in one run: time to first event, GET poll
latency, and how late a stream's last event comes after the provider finished.

    python -m bench.gateway [--clients 1,100] [--seconds 4] [--poll 1.0] [--processes 1]
        [--gateway-code DIR]
    python -m bench.gateway --followers 100 [--run-tokens 60000] [--run-seconds 40]
    python -m bench.gateway --resets 200
    python -m bench.gateway --clients 100 --processes 2 --profile DIR

One process tree: the fake (its own process), a Temporal dev server, one worker process (or
`--processes N` of them under one supervisor; their CPU is summed), one gateway process, and
this process as the clients (aiohttp, the same client code both ways).
Each level runs N clients at once:

- streams: `POST /v1/responses` with `background` and `stream`; time to the first event, and
  the end lag: the terminal event's arrival minus the provider's `finished_at` (both clocks are
  this machine's). Runs of `--seconds` and four times that, to show the lag does not grow.
- polls: `POST` in background, then `GET /v1/responses/{id}` every `--poll` seconds to the end
  (the seed sample polls every 2 s); the latency of every GET. The clients' polls are spread
  over the interval, as independent clients' are (in lockstep, 100 GETs land at once).

Targets (issue 23, 2 cores, 100 clients): first event at most 1.2x direct + 100 ms; GET
p50 <= 25 ms, p99 <= 100 ms; end lag under 1 s, not growing with run length.

`--followers N` measures something else: N streams following one long run, and the gateway's
CPU per follower and per tick as the run grows (`bench/gateway_followers.py`); `--resets N`:
how soon the gateway is idle again after N streams are reset by their clients
(`bench/gateway_resets.py`).

`--profile DIR` adds one more burst of the last level's streams through the gateway and says
what limits its first events: each process's CPU from the burst's start to its last first event
(worker fleet, gateway, server, fake, these clients) against the cores there are, and py-spy's
heaviest functions in the worker and the gateway over that window (raw stacks kept in DIR).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from bench._process import cpu_seconds, fake_process, pct, tree_cpu_seconds
from bench._profile import CpuWindow, Sampling, top
from bench.gateway_followers import code_from
from bench.scale import server_pid
from durable_responses.fake_openai import FakeControl
from durable_responses.gateway import hash_key
from durable_responses.models.names import OPENAI_RESPONSE_ID
from durable_responses.testing import GatewayProcess, WorkerProcess, dev_server
from tests.workers import address_of, free_port

KEY = "bench-gateway-key"
TOKENS_PER_SECOND = 50.0


@dataclass
class Sample:
    first: list[float] = field(default_factory=list)
    lag: list[float] = field(default_factory=list)
    closed: list[float] = field(default_factory=list)
    """The workflow's close after the provider finished (the worker's part of the lag)."""
    gets: list[float] = field(default_factory=list)
    creates: list[float] = field(default_factory=list)
    """A background (polled) create's answer, from its POST."""
    phases: dict[str, list[float]] = field(default_factory=dict)
    """Seconds from the workflow's start to each step of its history (`_phases`)."""


async def _stream(
    http: aiohttp.ClientSession, base: str, key: str, tokens: int, sample: Sample
) -> str:
    body = {
        "model": "gpt-4.1",
        "input": f"Bench {uuid.uuid4()}",
        "background": True,
        "stream": True,
        "metadata": {"fake_tokens": str(tokens)},
    }
    started = time.monotonic()
    response_id = ""
    first_at = 0.0
    async with http.post(
        f"{base}/responses", json=body, headers={"Authorization": f"Bearer {key}"}
    ) as answer:
        answer.raise_for_status()
        async for line in answer.content:
            if not line.startswith(b"data:"):
                continue
            if not response_id:
                sample.first.append(time.monotonic() - started)
                first_at = time.time()
            event = json.loads(line[5:])
            response_id = response_id or event["response"]["id"]
            if event["type"] in ("response.completed", "response.failed", "response.incomplete"):
                arrived = time.time()
                return f"{response_id}@{arrived}@{first_at}"
    raise RuntimeError("stream ended without a terminal event")


async def _poll(
    http: aiohttp.ClientSession,
    base: str,
    key: str,
    tokens: int,
    every: float,
    sample: Sample,
    offset: float,
) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    body = {
        "model": "gpt-4.1",
        "input": f"Bench {uuid.uuid4()}",
        "background": True,
        "metadata": {"fake_tokens": str(tokens)},
    }
    started = time.monotonic()
    async with http.post(f"{base}/responses", json=body, headers=headers) as answer:
        answer.raise_for_status()
        response_id = (await answer.json())["id"]
    sample.creates.append(time.monotonic() - started)
    await asyncio.sleep(offset)
    while True:
        await asyncio.sleep(every)
        started = time.monotonic()
        async with http.get(f"{base}/responses/{response_id}", headers=headers) as answer:
            answer.raise_for_status()
            status = (await answer.json())["status"]
        sample.gets.append(time.monotonic() - started)
        if status not in ("queued", "in_progress"):
            return


async def streams(
    http: aiohttp.ClientSession,
    base: str,
    key: str,
    clients: int,
    tokens: int,
    fake: FakeControl,
    resolve: Callable[[str], str],
    client: Client | None = None,
    sample: Sample | None = None,
) -> Sample:
    sample = sample or Sample()
    ends = await asyncio.gather(*(_stream(http, base, key, tokens, sample) for _ in range(clients)))
    for end in ends:
        response_id, arrived, first_at = end.split("@")
        record = fake.response(resolve(response_id), events=False)
        assert record.finished_at is not None
        sample.lag.append(float(arrived) - record.finished_at)
        if client is not None:
            described = await client.get_workflow_handle(f"gateway/bench/{response_id}").describe()
            assert described.close_time is not None
            sample.closed.append(described.close_time.timestamp() - record.finished_at)
            handle = client.get_workflow_handle(f"gateway/bench/{response_id}")
            for phase, seconds in (await _phases(handle, float(first_at))).items():
                sample.phases.setdefault(phase, []).append(seconds)
    return sample


async def _phases(handle: WorkflowHandle[Any, Any], first_at: float) -> dict[str, float]:
    """When a streamed run reached each step before its first event could go out, in seconds
    from its start (the server's clock, this machine's): its first workflow task picked up by a
    worker (the wait before is the task queue's) and done, its
    reader scheduled, the reader's first batch (the provider's acceptance, which the create
    waits for), the response id recorded, and its first event at the client."""
    steps = {
        EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED: "first workflow task picked up",
        EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED: "first workflow task done",
        EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: "reader scheduled",
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: "first batch signal (accepted)",
        EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: "id recorded (upsert)",
    }
    phases: dict[str, float] = {}  # in the order of `steps`, as they come
    began: float | None = None
    async for event in handle.fetch_history_events():
        at = event.event_time.ToDatetime().timestamp()
        began = at if began is None else began
        step = steps.get(event.event_type)
        upserted = event.upsert_workflow_search_attributes_event_attributes.search_attributes
        if (
            step == "id recorded (upsert)"
            and OPENAI_RESPONSE_ID.name not in upserted.indexed_fields
        ):
            continue  # the run's status, upserted before
        if step is not None and step not in phases:
            phases[step] = at - began
        if len(phases) == len(steps):
            break
    if began is not None:
        phases["first event at the client"] = first_at - began
    return phases


async def main(
    levels: Sequence[int],
    seconds: float,
    every: float,
    processes: int = 1,
    gateway_code: str | None = None,
    profile: Path | None = None,
) -> None:
    tokens = int(seconds * TOKENS_PER_SECOND)
    shim = tempfile.TemporaryDirectory(prefix="bench-gateway-code-")
    fake_port = free_port()
    fake_proc = fake_process(
        fake_port,
        "--tokens-per-second",
        str(TOKENS_PER_SECOND),
        "--queued-seconds",
        "0.3",
        "--reasoning",
        "off",
    )
    fake = FakeControl(f"http://127.0.0.1:{fake_port}")
    direct = f"http://127.0.0.1:{fake_port}/v1"
    rows: list[tuple[str, str, str, str]] = []
    load = " ".join(f"{n:.2f}" for n in os.getloadavg())
    try:
        async with dev_server(port=None, ui_port=None, db=None) as env:
            address = address_of(env)
            task_queue = f"bench-gateway-{uuid.uuid4()}"
            env_vars = {"OPENAI_BASE_URL": direct, "OPENAI_API_KEY": "sk-bench"}
            with (
                WorkerProcess(
                    address, task_queue, env=env_vars, args=["--processes", str(processes)]
                ) as worker,
                GatewayProcess(
                    address,
                    task_queue,
                    port=free_port(),
                    keys=f"bench:{hash_key(KEY)}",
                    env=code_from(gateway_code, shim.name),
                ) as gateway,
            ):
                base = gateway.url
                fake_ids: dict[str, str] = {}

                def resolve(response_id: str) -> str:
                    return _upstream(fake, response_id, fake_ids)

                connector = aiohttp.TCPConnector(limit=0)
                async with aiohttp.ClientSession(connector=connector) as http:
                    while processes > 1 and "worker processes polling" not in worker.output():
                        await asyncio.sleep(0.1)  # ready: every child polls, not the first
                    await _warm(http, base, direct)
                    cpu = {"worker": tree_cpu_seconds(worker.pid or 0)}
                    cpu["gateway"] = cpu_seconds(gateway.pid or 0)
                    for clients in levels:
                        both: dict[str, dict[str, Sample]] = {}
                        for name, url, key in (
                            ("direct", direct, "sk-bench"),
                            ("gateway", base, KEY),
                        ):
                            temporal = env.client if name == "gateway" else None
                            short = await streams(
                                http, url, key, clients, tokens, fake, resolve, temporal
                            )
                            long = await streams(
                                http, url, key, clients, 4 * tokens, fake, resolve, temporal
                            )
                            polls = Sample()
                            await asyncio.gather(
                                *(
                                    _poll(http, url, key, tokens, every, polls, every * n / clients)
                                    for n in range(clients)
                                )
                            )
                            both[name] = {"short": short, "long": long, "polls": polls}
                        floor = await _start_floor(env.client, clients)
                        rows.extend(_rows(clients, both, seconds, floor))
                    used = {
                        "worker": tree_cpu_seconds(worker.pid or 0) - cpu["worker"],
                        "gateway": cpu_seconds(gateway.pid or 0) - cpu["gateway"],
                    }
                    if profile is not None:
                        pids = {
                            "worker processes": worker.pid or 0,
                            "gateway": gateway.pid or 0,
                            "Temporal server": server_pid(),
                            "fake": fake_proc.pid,
                            "bench clients": os.getpid(),
                        }
                        await _profiled_burst(
                            http, base, levels[-1], tokens, fake, resolve, pids, profile
                        )
    finally:
        fake_proc.kill()
        shim.cleanup()
    print(f"\nGateway from {gateway_code or 'this checkout'}; load average before: {load}")
    _print(rows, seconds, every, used)


async def _warm(http: aiohttp.ClientSession, base: str, direct: str) -> None:
    """One run each way first: imports, connections and caches warm before any figure."""
    sample = Sample()
    await _stream(http, direct, "sk-bench", 10, sample)
    await _stream(http, base, KEY, 10, sample)


def _upstream(fake: FakeControl, response_id: str, mapping: dict[str, str]) -> str:
    """The provider's id of a gateway's response id (a direct id is its own)."""
    if response_id in mapping:
        return mapping[response_id]
    for record in fake.responses():
        workflow = record.metadata.get("temporal_workflow_id", "")
        if workflow.startswith("gateway/"):
            mapping[workflow.rsplit("/", 1)[1]] = record.id
    return mapping.get(response_id, response_id)


async def _profiled_burst(
    http: aiohttp.ClientSession,
    base: str,
    clients: int,
    tokens: int,
    fake: FakeControl,
    resolve: Callable[[str], str],
    pids: dict[str, int],
    out: Path,
) -> None:
    """`clients` streams through the gateway at once, sampled from their start to the last
    first event (then left to finish), and what each process spent meanwhile."""
    out.mkdir(parents=True, exist_ok=True)
    window = CpuWindow(pids, trees=frozenset({"worker processes"}))
    sample = Sample()
    with (
        Sampling(pids["worker processes"], out / "worker.raw"),
        Sampling(pids["gateway"], out / "gateway.raw"),
    ):
        await asyncio.sleep(1.0)  # py-spy attached before the burst
        began = time.monotonic()
        window.start()
        burst = asyncio.ensure_future(
            streams(http, base, KEY, clients, tokens, fake, resolve, sample=sample)
        )
        while len(sample.first) < clients and not burst.done():
            await asyncio.sleep(0.01)
        window.stop()
        wall = time.monotonic() - began
    await burst
    cores = len(os.sched_getaffinity(0))
    print(
        f"\nProfiled burst: {clients} streams through the gateway; {wall:.2f} s from their "
        f"start to the last first event (p50 {_ms(statistics.median(sample.first))}); "
        f"CPU used meanwhile, of {cores} cores x {wall:.2f} s = {cores * wall:.2f} s:\n"
    )
    print("| process | CPU s | share of the cores |\n|---|---|---|")
    for name, used in sorted(window.used.items(), key=lambda item: -item[1]):
        print(f"| {name} | {used:.2f} | {used / (cores * wall):.0%} |")
    print(
        f"| all | {sum(window.used.values()):.2f} | "
        f"{sum(window.used.values()) / (cores * wall):.0%} |"
    )
    for name in ("worker", "gateway"):
        busy, idle, heaviest = top(out / f"{name}.raw")
        print(
            f"\npy-spy, {name}: {busy} busy samples ({idle:.0%} of all were its event loop "
            f"waiting); share of the busy ones; raw stacks in {out / (name + '.raw')}:\n\n"
            "| function | inclusive | self |\n|---|---|---|"
        )
        for function, inclusive, own in heaviest:
            print(f"| `{function}` | {inclusive:.0%} | {own:.0%} |")


def _ms(value: float) -> str:
    return f"{value * 1000:.0f} ms"


async def _start_floor(client: Client, clients: int) -> list[float]:
    """Temporal's part of a first event: `clients` workflow starts at once, nothing else (on a
    task queue no worker polls; terminated after)."""
    latencies: list[float] = []
    task_queue = f"bench-floor-{uuid.uuid4()}"

    async def one() -> None:
        started = time.monotonic()
        handle = await client.start_workflow(
            "StreamingResponseWorkflow",
            {"model": "gpt-4.1", "input": "floor"},
            id=f"bench-floor-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        latencies.append(time.monotonic() - started)
        await handle.terminate()

    await asyncio.gather(*(one() for _ in range(clients)))
    return latencies


def _rows(
    clients: int, both: dict[str, dict[str, Sample]], seconds: float, floor: list[float]
) -> list[tuple[str, str, str, str]]:
    d, g = both["direct"], both["gateway"]
    first_d = statistics.median(d["short"].first)
    first_g = statistics.median(g["short"].first)
    target = f"<= {_ms(1.2 * first_d + 0.1)}"
    phases = [
        (f"{clients}", f"  run's {step}, p50 (from its start)", "", _ms(statistics.median(times)))
        for step, times in sorted(g["short"].phases.items(), key=lambda p: statistics.median(p[1]))
    ]
    return [
        (f"{clients}", "first event p50", f"{_ms(first_d)}", f"{_ms(first_g)}  ({target})"),
        *phases,
        (
            f"{clients}",
            "Temporal's workflow start alone, p50",
            "",
            _ms(statistics.median(floor)),
        ),
        (
            f"{clients}",
            "first event p90",
            _ms(pct(d["short"].first, 0.9)),
            _ms(pct(g["short"].first, 0.9)),
        ),
        (
            f"{clients}",
            "background create answered p50 / p90",
            f"{_ms(pct(d['polls'].creates, 0.5))} / {_ms(pct(d['polls'].creates, 0.9))}",
            f"{_ms(pct(g['polls'].creates, 0.5))} / {_ms(pct(g['polls'].creates, 0.9))}",
        ),
        (
            f"{clients}",
            "GET p50 / p99",
            f"{_ms(pct(d['polls'].gets, 0.5))} / {_ms(pct(d['polls'].gets, 0.99))}",
            f"{_ms(pct(g['polls'].gets, 0.5))} / {_ms(pct(g['polls'].gets, 0.99))}"
            + ("  (<= 25 / 100 ms)" if clients >= 100 else ""),
        ),
        (
            f"{clients}",
            f"end lag p50 / max, {seconds:g} s runs",
            f"{_ms(pct(d['short'].lag, 0.5))} / {_ms(max(d['short'].lag))}",
            f"{_ms(pct(g['short'].lag, 0.5))} / {_ms(max(g['short'].lag))}  (< 1 s)",
        ),
        (
            f"{clients}",
            f"of which the run closing, {seconds:g} s runs",
            "",
            f"{_ms(pct(g['short'].closed, 0.5))} / {_ms(max(g['short'].closed))}",
        ),
        (
            f"{clients}",
            f"end lag p50 / max, {4 * seconds:g} s runs",
            f"{_ms(pct(d['long'].lag, 0.5))} / {_ms(max(d['long'].lag))}",
            f"{_ms(pct(g['long'].lag, 0.5))} / {_ms(max(g['long'].lag))}",
        ),
    ]


def _print(
    rows: list[tuple[str, str, str, str]], seconds: float, every: float, used: dict[str, float]
) -> None:
    print(
        f"\nGateway vs the fake directly; streams of {seconds:g} s and {4 * seconds:g} s "
        f"({TOKENS_PER_SECOND:g} tok/s); GETs every {every:g} s\n"
    )
    print("| clients | measure | direct | gateway (target) |\n|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(
        f"\nCPU over the measured runs: worker {used['worker']:.1f} s, "
        f"gateway {used['gateway']:.1f} s"
    )


def cli() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--clients", default="1,100")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--poll", type=float, default=1.0)
    parser.add_argument("--processes", type=int, default=1, help="worker processes")
    parser.add_argument(
        "--followers", type=int, default=0, help="instead: N followers of one long run"
    )
    parser.add_argument("--run-tokens", type=int, default=60_000, help="the followed run's")
    parser.add_argument("--run-seconds", type=float, default=40.0, help="its wall time")
    parser.add_argument("--gateway-code", help="run the gateway from this checkout instead")
    parser.add_argument("--resets", type=int, default=0, help="instead: N streams reset")
    parser.add_argument(
        "--profile", type=Path, help="then profile one more burst of the last level into DIR"
    )
    args = parser.parse_args()
    if args.resets:
        from bench import gateway_resets

        asyncio.run(gateway_resets.main(args.resets, args.processes))
        return
    if args.followers:
        from bench import gateway_followers

        asyncio.run(
            gateway_followers.main(
                args.followers, args.run_tokens, args.run_seconds, args.processes, args.gateway_code
            )
        )
        return
    levels = [int(n) for n in args.clients.split(",")]
    asyncio.run(
        main(levels, args.seconds, args.poll, args.processes, args.gateway_code, args.profile)
    )


if __name__ == "__main__":
    cli()
