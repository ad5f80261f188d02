"""Runs as long as real ones, ours beside the direct SDK: does durability cost anything when
the provider, not Temporal, sets the pace?

    python -m bench.regime [--n 1000] [--min-minutes 2] [--max-minutes 5] [--streams 100]
                           [--stream-minutes 2] [--scale 1.0] [--seed 0] [--worker-args '...']

Two phases, each with ours and the direct SDK started at the same moment against one fake (its
own process), so both meet the same machine and the same load:

- polling: `--n` `BackgroundResponseWorkflow` runs with the DEFAULT `PollPolicy` (the first
  polls inside the create activity for `first_polls_seconds`, then durable sleeps growing 1.5x
  from 2 s to 60 s) beside `--n` direct SDK runs that create in background mode and poll on
  the very same intervals (`PollPolicy().next_interval`). Each response lasts a duration drawn
  uniformly (seeded) from `--min-minutes`..`--max-minutes` upstream: a few % queued, most of
  it reasoning (an `o3` run), the answer in its last tenth; ours and the direct run i get the
  same duration.
- streaming: `--streams` `StreamingResponseWorkflow` runs of `--stream-minutes` beside as
  many direct SDK streams (background, `stream=True`): queued, reasoning, then the answer at
  10 tokens/s over its second half.

One fresh in-memory dev server (the pip `temporal` binary) and one worker process serve both
phases; the direct SDK runs in a child process of its own, so every CPU figure is one
process's (`/proc/<pid>/stat`, over the phase only). Per variant:

- makespan (first start to last result) and the ratio ours/direct (target: <= 1.05 at 1,000
  runs of minutes);
- create lag: when the fake accepted the run's response after the run was started (ours: the
  create activity waits for one of the worker's activity slots, which the first polls hold);
- completion delay: the run's result (ours: the workflow's result reached the client; direct:
  the last poll or the stream's end) after the fake finished the response, p50/p90;
- CPU of the worker (direct: the client process) and of the server, per run and per
  run-minute (the fake's own accepted-to-finished time), and per 1,000 answer tokens;
- history events and workflow tasks per run (from up to 100 histories);
- peak RSS of the worker (direct: the client) and the server over the phase.

`--scale` multiplies every upstream duration (0.1: runs of 12-30 s, streams of 12 s) for a
quick look; the poll policy stays the default, so a scaled run is not the real regime. The
load average (`/proc/loadavg`) is printed at the start and the end: the machine may be shared.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from openai import AsyncOpenAI
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from bench._process import cpu_seconds, fake_process, pct, peak_rss
from bench.scale import Histories, sample_histories, server_pid
from durable_responses.connection import exit_after
from durable_responses.models import PollPolicy, ResponseRequest, ResponseResult
from durable_responses.testing import WorkerProcess, dev_server
from tests.workers import address_of, free_port

MODEL = "o3"
"""A reasoning model: a run of minutes is mostly thinking."""
QUEUED_SHARE = 0.05
POLL_ANSWER_SHARE, POLL_TOKENS_PER_SECOND = 0.1, 30.0
STREAM_REASONING_SHARE, STREAM_TOKENS_PER_SECOND = 0.45, 10.0
REASONING_TOKENS = 50
WARM_RUNS = 10
DIRECT_SLOTS = 100
BUSY = (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.UNAVAILABLE)
"""What the dev server answers a result's long poll when the machine is overloaded."""
WARM_SHAPE = {
    "fake_queued_seconds": "0.1",
    "fake_reasoning_seconds": "0.1",
    "fake_tokens": "20",
    "fake_tokens_per_second": "200",
}


def shape(seconds: float, answer_share: float, tokens_per_second: float) -> dict[str, str]:
    """The fake's per-request settings (`fake_*` metadata) for a response of `seconds`:
    queued, reasoning, then `answer_share` of it writing the answer at `tokens_per_second`."""
    answer = seconds * answer_share
    tokens = max(2, round(answer * tokens_per_second))
    return {
        "fake_queued_seconds": f"{seconds * QUEUED_SHARE:.3f}",
        "fake_reasoning_seconds": f"{seconds * (1 - QUEUED_SHARE - answer_share):.3f}",
        "fake_reasoning_tokens": str(REASONING_TOKENS),
        "fake_tokens": str(tokens),
        # The first token comes at once: `tokens - 1` intervals fill the answer's time.
        "fake_tokens_per_second": f"{(tokens - 1) / answer:.4f}",
    }


def polling_shapes(n: int, low: float, high: float, seed: int) -> list[dict[str, str]]:
    draw = random.Random(seed)
    return [
        shape(draw.uniform(low, high), POLL_ANSWER_SHARE, POLL_TOKENS_PER_SECOND) for _ in range(n)
    ]


def streaming_shapes(n: int, seconds: float) -> list[dict[str, str]]:
    answer_share = 1 - QUEUED_SHARE - STREAM_REASONING_SHARE
    return [shape(seconds, answer_share, STREAM_TOKENS_PER_SECOND)] * n


# ---- the direct SDK (a child process: its CPU is its own) --------------------------------------


async def direct(kind: str, base_url: str, shapes: Sequence[dict[str, str]]) -> dict[str, Any]:
    """The runs with the SDK alone, polling on the default `PollPolicy`'s intervals or reading
    the stream; warmed up, then started when the parent writes a line to stdin."""
    client = AsyncOpenAI(base_url=base_url, api_key="sk-bench")
    policy = PollPolicy()
    # As many calls in flight as our worker's activity slots (the SDK's default, 100): 1,000
    # connections opened at once overflow the fake's listen backlog into connect timeouts.
    slots = asyncio.Semaphore(DIRECT_SLOTS)

    async def create(**kwargs: Any) -> Any:
        async with slots:
            return await client.responses.create(**kwargs)

    async def polling(i: int, metadata: dict[str, str]) -> tuple[str, float, float]:
        began = time.time()
        response = await create(model=MODEL, input=f"q{i}", background=True, metadata=metadata)
        interval = policy.initial_interval_seconds
        while response.status in ("queued", "in_progress"):
            await asyncio.sleep(interval)
            async with slots:
                response = await client.responses.retrieve(response.id)
            interval = policy.next_interval(interval)
        return response.id, began, time.time()

    async def streaming(i: int, metadata: dict[str, str]) -> tuple[str, float, float]:
        text, response_id, began = [], "", time.time()
        events = await create(
            model=MODEL, input=f"q{i}", background=True, stream=True, metadata=metadata
        )
        async for event in events:
            if event.type == "response.created":
                response_id = event.response.id
            elif event.type == "response.output_text.delta":
                text.append(event.delta)
        return response_id, began, time.time()

    one = polling if kind == "polling" else streaming
    await asyncio.gather(*(one(i, WARM_SHAPE) for i in range(WARM_RUNS)))
    print("ready", flush=True)
    if not await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline):
        raise SystemExit("the bench is gone")  # its end of the pipe closed before the go
    cpu = cpu_seconds(os.getpid())
    started = time.monotonic()
    done = await asyncio.gather(*(one(i, s) for i, s in enumerate(shapes)))
    makespan = time.monotonic() - started
    used = cpu_seconds(os.getpid()) - cpu
    await client.close()
    return {"makespan": makespan, "runs": done, "cpu": used, "rss": peak_rss(os.getpid())}


async def start_direct(
    kind: str, base_url: str, shapes: Sequence[dict[str, str]]
) -> asyncio.subprocess.Process:
    """The child, warmed up and waiting for the go."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.regime", "--direct", kind, base_url,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(json.dumps(list(shapes)).encode() + b"\n")
        await proc.stdin.drain()
        line = await proc.stdout.readline()
        if line.strip() != b"ready":
            raise RuntimeError(f"the direct client did not start: {line!r}")
    except BaseException:  # stopped while it warms up: no child outlives the bench
        proc.kill()
        await proc.wait()
        raise
    return proc


# ---- one phase ---------------------------------------------------------------------------------


@dataclass
class Row:
    kind: str
    variant: str
    n: int
    makespan: float
    delays: list[float]
    create_lags: list[float]
    run_minutes: float
    tokens: int
    worker_cpu: float
    worker_rss: int
    server_cpu: float = 0.0
    server_rss: int = 0
    histories: Histories = field(default_factory=Histories)


@dataclass
class Processes:
    client: Client
    task_queue: str
    worker: int
    server: int
    fake: int
    base_url: str


async def ours(
    p: Processes, kind: str, shapes: Sequence[dict[str, str]]
) -> tuple[float, list[tuple[str, float, float]], list[WorkflowHandle[Any, Any]]]:
    """Our runs with the default policies; each run's response id, when it was started and
    when its result arrived."""
    workflow = "BackgroundResponseWorkflow" if kind == "polling" else "StreamingResponseWorkflow"

    async def one(
        i: int, metadata: dict[str, str]
    ) -> tuple[str, float, float, WorkflowHandle[Any, Any]]:
        began = time.time()
        request = ResponseRequest(input=f"q{i}", model=MODEL, metadata=metadata)
        handle = await p.client.start_workflow(
            workflow,
            request,
            id=f"regime-{kind}-{uuid.uuid4()}",
            task_queue=p.task_queue,
            result_type=ResponseResult,
        )
        while True:
            try:
                result: ResponseResult = await handle.result()
                return result.response_id, began, time.time(), handle
            except RPCError as err:  # an overloaded server times its long poll out: ask again
                if err.status not in BUSY:
                    raise
                await asyncio.sleep(0.5)

    started = time.monotonic()
    done = await asyncio.gather(*(one(i, s) for i, s in enumerate(shapes)))
    return time.monotonic() - started, [(r, b, t) for r, b, t, _ in done], [d[3] for d in done]


def reset_peak_rss(pid: int) -> None:
    """Start the process's `VmHWM` afresh (Linux `clear_refs` 5), so a phase's peak is its own."""
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")


async def provider_times(base_url: str) -> dict[str, dict[str, Any]]:
    """The fake's record of every response: when it was accepted and finished, its text."""
    control = base_url.removesuffix("/v1") + "/_fake/responses"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:
        async with http.get(control) as got:
            records = await got.json()
        async with http.post(control.replace("/responses", "/reset")) as reset:
            reset.raise_for_status()  # the next phase starts empty
    return {r["id"]: r for r in records}


def outcome(
    runs: Sequence[Sequence[Any]], records: dict[str, dict[str, Any]]
) -> tuple[list[float], list[float], float, int]:
    """Completion delays after the provider finished, how long after its start each run's
    response was created, run-minutes upstream, answer tokens."""
    delays, lags, minutes, tokens = [], [], 0.0, 0
    for response_id, began, ended in runs:
        record = records[response_id]
        delays.append(ended - record["finished_at"])
        lags.append(record["accepted_at"] - began)
        minutes += (record["finished_at"] - record["accepted_at"]) / 60
        tokens += len(record["text"].split())
    return delays, lags, minutes, tokens


async def phase(
    p: Processes, kind: str, shapes: Sequence[dict[str, str]]
) -> tuple[Row, Row, float]:
    """Ours and the direct SDK at once; their rows and the fake's CPU seconds."""
    child = await start_direct(kind, p.base_url, shapes)
    try:
        for pid in (p.worker, p.server):
            reset_peak_rss(pid)
        before = cpu_seconds(p.worker), cpu_seconds(p.server), cpu_seconds(p.fake)
        assert child.stdin is not None
        child.stdin.write(b"go\n")
        await child.stdin.drain()
        (makespan, runs, handles), (out, _) = await asyncio.gather(
            ours(p, kind, shapes), child.communicate()
        )
        worker_cpu, server_cpu, fake_cpu = (
            cpu_seconds(pid) - was
            for pid, was in zip((p.worker, p.server, p.fake), before, strict=True)
        )
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    got = json.loads(out.decode().strip().splitlines()[-1])
    records = await provider_times(p.base_url)
    n = len(shapes)
    mine = Row(
        kind, "ours", n, makespan, *outcome(runs, records), worker_cpu, peak_rss(p.worker),
        server_cpu, peak_rss(p.server), await sample_histories(handles),
    )  # fmt: skip
    theirs = Row(
        kind, "direct", n, got["makespan"],
        *outcome(got["runs"], records), got["cpu"], got["rss"],
    )  # fmt: skip
    return mine, theirs, fake_cpu


# ---- the table ---------------------------------------------------------------------------------


def _cpu(r: Row, seconds: float, *, tokens: bool) -> str:
    """CPU seconds, then per run, per run-minute upstream (and per 1,000 answer tokens)."""
    per = f"{seconds * 1000 / r.n:.1f}, {seconds * 1000 / r.run_minutes:.1f}"
    if tokens:
        per += f", {seconds * 1e6 / max(r.tokens, 1):.1f}"
    return f"{seconds:.1f} ({per})"


def table(rows: Sequence[Row]) -> str:
    lines = [
        "| kind | N | variant | makespan | ours/direct | created after start p50 / p90 "
        "| done after provider p50 / p90 "
        "| run-min | worker CPU s (ms/run, ms/run-min, ms/1k tok) "
        "| server CPU s (ms/run, ms/run-min) | events / WFTs per run | worker / server peak RSS |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    direct = {r.kind: r for r in rows if r.variant == "direct"}
    for r in rows:
        peer = direct.get(r.kind)
        ratio = f"{r.makespan / peer.makespan:.3f}x" if peer and r is not peer else "-"
        ours = r.variant == "ours"
        h = r.histories
        lines.append(
            f"| {r.kind} | {r.n} | {r.variant} | {r.makespan:.1f} s | {ratio} "
            f"| {statistics.median(r.create_lags):.2f} / {pct(r.create_lags, 0.9):.2f} s "
            f"| {statistics.median(r.delays):.2f} / {pct(r.delays, 0.9):.2f} s "
            f"| {r.run_minutes:.0f} | {_cpu(r, r.worker_cpu, tokens=True)} "
            f"| {_cpu(r, r.server_cpu, tokens=False) if ours else '-'} "
            f"| {f'{h.events:.1f} / {h.tasks:.1f}' if ours else '-'} "
            f"| {r.worker_rss / 2**20:.0f} MB"
            f"{f' / {r.server_rss / 2**20:.0f} MB' if ours else ''} |"
        )
    return "\n".join(lines)


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclass
class Options:
    n: int = 1000
    min_minutes: float = 2.0
    max_minutes: float = 5.0
    streams: int = 100
    stream_minutes: float = 2.0
    scale: float = 1.0
    seed: int = 0
    worker_args: list[str] = field(default_factory=list)


def plan(options: Options) -> list[tuple[str, list[dict[str, str]]]]:
    """Each phase's responses, durations scaled by `--scale`."""
    seconds = 60 * options.scale
    low, high = options.min_minutes * seconds, options.max_minutes * seconds
    return [
        ("polling", polling_shapes(options.n, low, high, options.seed)),
        ("streaming", streaming_shapes(options.streams, options.stream_minutes * seconds)),
    ]


async def warm_up(p: Processes) -> None:
    """First runs of each workflow: imports, the sandbox, connections; not measured."""
    warm = [WARM_SHAPE] * WARM_RUNS
    await asyncio.gather(ours(p, "polling", warm), ours(p, "streaming", warm[:3]))


async def run(options: Options) -> list[Row]:
    """Both phases (a phase with no runs is left out); prints the table."""
    began, load = time.monotonic(), loadavg()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    fake = fake_process(port, "--seed", str(options.seed))
    rows: list[Row] = []
    fake_cpu: list[str] = []
    try:
        async with dev_server(port=None, ui_port=None, db=None) as env:
            task_queue = f"regime-{uuid.uuid4()}"
            worker = WorkerProcess(
                address_of(env),
                task_queue,
                args=options.worker_args,
                env={"OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "sk-bench"},
            )
            with worker:
                assert worker.pid is not None
                p = Processes(env.client, task_queue, worker.pid, server_pid(), fake.pid, base_url)
                await warm_up(p)
                await provider_times(base_url)  # forgets the warm-up's responses
                for kind, shapes in plan(options):
                    if not shapes:
                        continue
                    mine, theirs, fake_used = await phase(p, kind, shapes)
                    rows += [mine, theirs]
                    fake_cpu.append(f"{kind} {fake_used:.1f} s")
                    print(*table([mine, theirs]).splitlines()[2:], sep="\n", flush=True)
    finally:
        fake.kill()
        fake.wait()
    print(
        f"\n{options.min_minutes:g}-{options.max_minutes:g} min polling runs and "
        f"{options.stream_minutes:g} min streams, x{options.scale:g} time scale, seed "
        f"{options.seed}; {os.cpu_count()} cores; load average {load} at start, {loadavg()} at "
        f"end; the fake's CPU: {', '.join(fake_cpu)}; {time.monotonic() - began:.0f} s in all\n"
    )
    print(table(rows), flush=True)
    return rows


async def main(options: Options) -> bool:
    """The bench; False when a signal stopped it."""
    # Ctrl-C and SIGTERM unwind the run: the dev server, the worker, the fake and the direct
    # client are all stopped on the way out. Set here, SIGINT is caught even where the shell
    # started the bench ignoring it (a background job).
    task = asyncio.current_task()
    assert task is not None
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, task.cancel)
    try:
        await run(options)
    except asyncio.CancelledError:
        return False
    return True


def cli() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="polling runs at once (0: none)")
    parser.add_argument("--min-minutes", type=float, default=2.0)
    parser.add_argument("--max-minutes", type=float, default=5.0)
    parser.add_argument("--streams", type=int, default=100, help="streams at once (0: none)")
    parser.add_argument("--stream-minutes", type=float, default=2.0)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies upstream durations")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker-args", default="", help="options of our worker, one string")
    parser.add_argument("--direct", nargs=2, metavar=("KIND", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.direct:
        kind, url = args.direct
        shapes = json.loads(sys.stdin.readline())
        print(json.dumps(asyncio.run(direct(kind, url, shapes))), flush=True)
        return
    if not 0 < args.min_minutes <= args.max_minutes or args.scale <= 0:
        parser.error("need 0 < --min-minutes <= --max-minutes and --scale > 0")
    options = Options(
        args.n, args.min_minutes, args.max_minutes, args.streams, args.stream_minutes,
        args.scale, args.seed, args.worker_args.split(),
    )  # fmt: skip
    if not asyncio.run(main(options)):
        sys.exit("stopped: every process it started is gone")


if __name__ == "__main__":
    exit_after(cli)
