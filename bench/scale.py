"""N runs at once three ways, against the same fake: this project's workflows, a minimal
Temporal baseline (`bench/scale_baseline.py`; also outside the sandbox, the SDK's floor for
this shape of run), and the direct SDK. Where the worker's CPU goes.

    python -m bench.scale [--n 100,300,1000] [--streams 100] [--tokens 100] [--before CHECKOUT]
                          [--variants ours,baseline,baseline-unsandboxed,direct]

Each response: 100 tokens (`--tokens`) at 50 tokens/s after 0.3 s queued; polled every 1.0 s
(ours with a fixed 1 s poll policy, the baseline with its 1 s sleep, the direct SDK likewise). Each
variant and N gets a fresh in-memory dev server and one worker process (the direct SDK: one
client process), and the fake runs in its own process throughout, so each figure is one
process's own:

- makespan (first start to last result) and run time p50/p90 (start to result, per run);
- worker CPU-ms per run and server CPU-ms per run (`/proc/<pid>/stat`, over the batch only);
- workflow-task schedule-to-start p50/p90, history events and workflow tasks per run (from the
  histories of up to 100 runs; workflow tasks that timed out are counted beside);
- peak RSS of the worker and the server (`VmHWM`).

Streaming (N=`--streams`): ours is `StreamingResponseWorkflow`; the baseline one activity that
reads the stream to its end; the direct SDK reads it in the client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openai import AsyncOpenAI
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from bench._process import cpu_seconds, fake_process, pct, peak_rss
from durable_responses.connection import exit_after
from durable_responses.models import PollPolicy, ResponseRequest
from durable_responses.testing import WorkerProcess, dev_server
from tests.workers import address_of, free_port

TOKENS, TOKENS_PER_SECOND, QUEUED_SECONDS, POLL_SECONDS = 100, 50.0, 0.3, 1.0
SAMPLED_HISTORIES = 100
WARM_RUNS = 10


@dataclass
class Histories:
    """What the sampled histories say: how long workflow tasks waited, and how much a run is."""

    waits: list[float] = field(default_factory=list)
    events: float = 0.0
    tasks: float = 0.0
    timeouts: int = 0


@dataclass
class Row:
    kind: str
    variant: str
    n: int
    makespan: float
    times: list[float]
    worker_cpu: float
    server_cpu: float = 0.0
    histories: Histories = field(default_factory=Histories)
    worker_rss: int = 0
    server_rss: int = 0


def server_pid() -> int:
    """The dev server this process started (the `temporal server start-dev` child)."""
    me = str(os.getpid())
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = (proc / "stat").read_text().rsplit(")", 1)[1].split()[1]
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if ppid == me and b"start-dev" in cmdline:
            return int(proc.name)
    raise RuntimeError("no dev server child found")


# ---- the fake ----------------------------------------------------------------------------------


def start_fake(port: int) -> subprocess.Popen[bytes]:
    return fake_process(
        port,
        *("--tokens", str(TOKENS), "--tokens-per-second", str(TOKENS_PER_SECOND)),
        *("--queued-seconds", str(QUEUED_SECONDS), "--reasoning", "off"),
    )


# ---- the direct SDK (its own process) ----------------------------------------------------------


async def direct(kind: str, n: int, base_url: str) -> dict[str, Any]:
    """N runs with the SDK alone, in this process: what the workflows are measured against."""
    client = AsyncOpenAI(base_url=base_url, api_key="sk-bench", max_retries=0)

    async def polling(i: int) -> float:
        started = time.monotonic()
        response = await client.responses.create(model="gpt-4.1", input=f"q{i}", background=True)
        while response.status in ("queued", "in_progress"):
            await asyncio.sleep(POLL_SECONDS)
            response = await client.responses.retrieve(response.id)
        return time.monotonic() - started

    async def streaming(i: int) -> float:
        started = time.monotonic()
        text = []
        events = await client.responses.create(
            model="gpt-4.1", input=f"q{i}", background=True, stream=True
        )
        async for event in events:
            if event.type == "response.output_text.delta":
                text.append(event.delta)
        return time.monotonic() - started

    one = polling if kind == "polling" else streaming
    await asyncio.gather(*(one(i) for i in range(WARM_RUNS)))
    cpu = cpu_seconds(os.getpid())
    started = time.monotonic()
    times = await asyncio.gather(*(one(i) for i in range(n)))
    makespan = time.monotonic() - started
    used = cpu_seconds(os.getpid()) - cpu
    await client.close()
    return {"makespan": makespan, "times": times, "cpu": used, "rss": peak_rss(os.getpid())}


async def run_direct(kind: str, n: int, base_url: str) -> Row:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.scale", "--direct", kind, str(n), base_url,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await proc.communicate()
    got = json.loads(out.decode().strip().splitlines()[-1])
    return Row(kind, "direct", n, got["makespan"], got["times"], got["cpu"], worker_rss=got["rss"])


# ---- workflows ---------------------------------------------------------------------------------


def _workflow(kind: str, variant: str, i: int) -> tuple[str, Any]:
    if variant.startswith("baseline"):
        return ("BaselinePolling" if kind == "polling" else "BaselineStreaming"), f"q{i}"
    request = ResponseRequest(
        input=f"q{i}",
        model="gpt-4.1",
        poll=PollPolicy(
            initial_interval_seconds=POLL_SECONDS, backoff=1.0, max_interval_seconds=POLL_SECONDS
        ),
    )
    # As JSON with only the fields set: the `before` variant's models may not know the rest.
    return (
        "BackgroundResponseWorkflow" if kind == "polling" else "StreamingResponseWorkflow"
    ), request.model_dump(mode="json", exclude_unset=True)


async def _batch(
    client: Client, kind: str, variant: str, n: int, task_queue: str
) -> tuple[float, list[float], list[WorkflowHandle[Any, Any]]]:
    async def one(i: int) -> tuple[float, WorkflowHandle[Any, Any]]:
        name, arg = _workflow(kind, variant, i)
        started = time.monotonic()
        handle = await client.start_workflow(
            name, arg, id=f"bench-{variant}-{uuid.uuid4()}", task_queue=task_queue
        )
        await handle.result()
        return time.monotonic() - started, handle

    started = time.monotonic()
    done = await asyncio.gather(*(one(i) for i in range(n)))
    return time.monotonic() - started, [t for t, _ in done], [h for _, h in done]


async def sample_histories(handles: Sequence[WorkflowHandle[Any, Any]]) -> Histories:
    """Workflow-task schedule-to-start waits, events and workflow tasks per run, and workflow
    task timeouts (a sticky queue's timeout means a task went to any worker, full history)."""
    got = Histories()
    sampled = handles[:SAMPLED_HISTORIES]
    events = tasks = 0
    for handle in sampled:
        scheduled = None
        async for event in handle.fetch_history_events():
            events += 1
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
                scheduled = event.event_time.ToDatetime()
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED and scheduled:
                got.waits.append((event.event_time.ToDatetime() - scheduled).total_seconds())
                scheduled = None
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                tasks += 1
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
                got.timeouts += 1
    got.events, got.tasks = events / len(sampled), tasks / len(sampled)
    return got


WORKER_ARGS: list[str] = []
"""`--worker-args`: options of our worker (`durable-responses-worker --help`)."""
SERVER_ARGS: list[str] = []
"""`--server-args`: options of every variant's dev server (`temporal server start-dev --help`),
e.g. `--dynamic-config-value K=V` against `DYNAMIC_CONFIG` (`durable_responses/testing/`)."""
BEFORE = "before"
"""Variant: our worker from the checkout `--before` names (e.g. a worktree of the last
release), in the same run as today's code, so both meet the same machine and fake."""
BEFORE_PATH: list[str] = []


def worker_args(variant: str) -> list[str]:
    return WORKER_ARGS if variant in ("ours", BEFORE) else []


def worker_env(variant: str, base_url: str) -> dict[str, str]:
    env = {"OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "sk-bench"}
    if variant == BEFORE:
        # Ahead of the installed package, and the working directory off sys.path (3.11+).
        env.update(PYTHONPATH=os.pathsep.join(BEFORE_PATH), PYTHONSAFEPATH="1")
    return env


async def run_workers(kind: str, variant: str, n: int, base_url: str) -> Row:
    async with dev_server(port=None, ui_port=None, db=None, extra_args=SERVER_ARGS) as env:
        server = server_pid()
        task_queue = f"bench-{uuid.uuid4()}"
        ours = variant in ("ours", BEFORE)
        module = "durable_responses.worker" if ours else "bench.scale_baseline"
        worker = WorkerProcess(
            address_of(env),
            task_queue,
            args=["--unsandboxed"] if variant == "baseline-unsandboxed" else worker_args(variant),
            env=worker_env(variant, base_url),
            module=module,
        )
        with worker:
            assert worker.pid is not None
            await _batch(env.client, kind, variant, WARM_RUNS, task_queue)
            cpu = cpu_seconds(worker.pid), cpu_seconds(server)
            makespan, times, handles = await _batch(env.client, kind, variant, n, task_queue)
            used = cpu_seconds(worker.pid) - cpu[0], cpu_seconds(server) - cpu[1]
            return Row(
                kind,
                variant,
                n,
                makespan,
                times,
                used[0],
                used[1],
                await sample_histories(handles),
                peak_rss(worker.pid),
                peak_rss(server),
            )


# ---- the table ---------------------------------------------------------------------------------


def table(rows: Sequence[Row]) -> str:
    lines = [
        "| kind | N | variant | makespan | run p50 / p90 | worker CPU-ms/run | server CPU-ms/run "
        "| WFT schedule-to-start p50 / p90 | events / WFTs per run | worker / server peak RSS |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        waits = r.histories.waits
        wft = f"{pct(waits, 0.5) * 1000:.0f} / {pct(waits, 0.9) * 1000:.0f} ms" if waits else "-"
        if r.histories.timeouts:
            wft += f" ({r.histories.timeouts} timed out)"
        size = f"{r.histories.events:.0f} / {r.histories.tasks:.0f}" if waits else "-"
        server = f"{r.server_cpu * 1000 / r.n:.1f}" if r.variant != "direct" else "-"
        rss = f"{r.worker_rss / 2**20:.0f} MB" + (
            f" / {r.server_rss / 2**20:.0f} MB" if r.variant != "direct" else ""
        )
        lines.append(
            f"| {r.kind} | {r.n} | {r.variant} | {r.makespan:.1f} s | "
            f"{statistics.median(r.times):.2f} / {pct(r.times, 0.9):.2f} s | "
            f"{r.worker_cpu * 1000 / r.n:.1f} | {server} | {wft} | {size} | {rss} |"
        )
    return "\n".join(lines)


async def main(levels: Sequence[int], streams: int, variants: Sequence[str]) -> None:
    port = free_port()
    fake = start_fake(port)
    base_url = f"http://127.0.0.1:{port}/v1"
    rows: list[Row] = []
    began = time.monotonic()
    try:
        await asyncio.sleep(1.0)  # the fake binds
        plan = [("polling", n) for n in levels] + ([("streaming", streams)] if streams else [])
        for kind, n in plan:
            for variant in variants:
                row = await (
                    run_direct(kind, n, base_url)
                    if variant == "direct"
                    else run_workers(kind, variant, n, base_url)
                )
                rows.append(row)
                print(table([row]).splitlines()[-1], flush=True)
    finally:
        fake.kill()
    print(
        f"\n{TOKENS} tokens at {TOKENS_PER_SECOND:g} tok/s after {QUEUED_SECONDS:g} s queued, "
        f"polled every {POLL_SECONDS:g} s; {os.cpu_count()} cores; "
        f"{time.monotonic() - began:.0f} s in all\n"
    )
    print(table(rows))


def cli() -> None:
    global TOKENS
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--n", default="100,300,1000")
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument(
        "--tokens",
        type=int,
        default=TOKENS,
        help="tokens of each response: a longer answer spreads a run's fixed cost over more",
    )
    parser.add_argument("--variants", default="ours,baseline,baseline-unsandboxed,direct")
    parser.add_argument("--worker-args", default="", help="options of our worker, one string")
    parser.add_argument(
        "--server-args", default="", help="options of `temporal server start-dev`, one string"
    )
    parser.add_argument("--before", help="a checkout of earlier code: adds the variant 'before'")
    parser.add_argument("--direct", nargs=3, metavar=("KIND", "N", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.direct:
        kind, n, url = args.direct
        print(json.dumps(asyncio.run(direct(kind, int(n), url))))
        return
    TOKENS = args.tokens
    WORKER_ARGS.extend(args.worker_args.split())
    SERVER_ARGS.extend(args.server_args.split())
    variants = args.variants.split(",")
    if args.before:
        BEFORE_PATH.append(str(Path(args.before).resolve()))
        variants.insert(variants.index("ours") + 1 if "ours" in variants else 0, BEFORE)
    levels = [int(n) for n in args.n.split(",") if n]
    asyncio.run(main(levels, args.streams, variants))


if __name__ == "__main__":
    exit_after(cli)
