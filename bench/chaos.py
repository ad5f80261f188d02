"""Chaos: both workflows at once under every fault we can inject, then a table of what came out.

A fleet of worker processes serves one task queue while background and streaming runs go
through it. Workers are SIGKILLed and SIGTERMed at random and restarted; the Temporal dev
server is SIGKILLed once and restarted on its SQLite file; the fake API cuts streams, answers
5xx and 429 (with `retry-after`), drops creates it has accepted, answers some creates 3 s
late, expires stream windows and (unless `--no-slow-creates`) accepts a few creates only after
the client's timeout; some runs are cancelled and some get a short `deadline_seconds`.
Duplicate creates are told apart by what the fake knows of each create (dropped, unanswered,
accepted late) and by when workers and the server died. At the end: outcomes, text checked
against the provider's canonical text, duplicate creates with the window each fell in,
orphans before and after one reaper pass, stuck runs, fault counts and run times.

    python -m bench.chaos --runs 60 [--seed S] [--ignore-idempotency-key] [--workers K]

Only the public API is used (the workflows' `run` and `progress`, `ResponseRequest`,
`ResponseResult`), so the numbers follow whatever the workflows do today.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import math
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import openai
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import (
    ApplicationError,
    CancelledError,
    TerminatedError,
    WorkflowAlreadyStartedError,
)
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.service import RPCError, RPCStatusCode

from durable_responses import connection
from durable_responses.activities.reaper import reap
from durable_responses.activities.timeouts import CALL_TIMEOUT_SECONDS
from durable_responses.fake_openai import (
    FakeControl,
    FakeOpenAIServer,
    FaultRule,
    GenerationSettings,
    ResponseRecord,
    ServerSettings,
)
from durable_responses.models import (
    METADATA_WORKFLOW_KEY,
    ErrorType,
    PollPolicy,
    ResponseRequest,
    ResponseResult,
)
from durable_responses.models.reaper import ReapReport, ReapRequest
from durable_responses.run import RunHandle
from durable_responses.testing import WorkerProcess, find_binary
from durable_responses.testing._servers import dev_server_flags, free_port
from durable_responses.workflows.search_attributes import ALL as SEARCH_ATTRIBUTES
from durable_responses.workflows.search_attributes import OPENAI_RESPONSE_ID

T = TypeVar("T")

POLL = PollPolicy(initial_interval_seconds=0.5, backoff=1.5, max_interval_seconds=2.0)
"""Short polls: moderate responses end within seconds, and polls are where 5xx/429 land."""

SLOW_CREATE_SECONDS = CALL_TIMEOUT_SECONDS + 2
"""A `delay` fault before accepting a create, longer than a background create's HTTP timeout:
the client gives up and retries, and the late create is accepted too."""

ANSWER_DELAY_SECONDS = 3.0
"""A `delay` fault after accepting holds a create's answer this long: the response runs while
the worker waits, so a kill in between falls in the duplicate-create window."""

KILL_WINDOW_SECONDS = 1.0
"""A duplicate counts as "worker killed" if a worker died up to this long after the fake
answered its create (the id is recorded within ms normally)."""

SERVER_WINDOW_SECONDS = 2.0
"""Likewise around the Temporal server's outage."""

ORPHAN_GRACE_SECONDS = 2.0
"""After the last run closed: time for in-flight cancels to land before orphans are counted."""

# Probabilistic faults of the fake, checked in this order (the first that fires wins).
FAULTS: list[dict[str, Any]] = [
    # Creates (both workflows; a streaming create is also on route `stream`).
    {"route": "create", "kind": "reset", "when": "after", "probability": 0.06},
    {"route": "create", "kind": "error", "status": 429, "retry_after": 1, "probability": 0.05},
    {"route": "create", "kind": "error", "status": 503, "probability": 0.04},
    # Streams: the streaming create and every resume from the cursor.
    {"route": "stream", "kind": "cut", "after_events": 3, "probability": 0.05},
    {"route": "stream", "kind": "cut", "after_events": 40, "probability": 0.05},
    {"route": "stream", "kind": "error", "status": 500, "probability": 0.03},
    {"route": "stream", "kind": "expire", "probability": 0.05},
    # Polls.
    {"route": "retrieve", "kind": "error", "status": 503, "probability": 0.04},
    {"route": "retrieve", "kind": "error", "status": 429, "retry_after": 1, "probability": 0.04},
    {"route": "retrieve", "kind": "reset", "probability": 0.02},
    # Cancels (workflow cancels and deadlines).
    {"route": "cancel", "kind": "error", "status": 500, "probability": 0.10},
]
SLOW_ANSWER: dict[str, Any] = {
    "route": "create",
    "kind": "delay",
    "when": "after",
    "seconds": ANSWER_DELAY_SECONDS,
    "probability": 0.06,
}
SLOW_CREATE: dict[str, Any] = {
    "route": "create",
    "kind": "delay",
    "seconds": SLOW_CREATE_SECONDS,
    "probability": 0.04,
}

SHORT_CALLS = frozenset({"create_background_response", "cancel_response"})
"""Activities without a heartbeat: one lost with its worker waits out its start-to-close."""

# Windows a duplicate create can fall in (README, What we promise, 1).
RESET_AFTER_ACCEPT = "reset-after-accept"
CREATE_TIMEOUT = "create-call timeout"
WORKER_KILLED = "worker killed before the id was recorded"
SERVER_KILLED = "Temporal server killed"
UNEXPLAINED = "unexplained"
WINDOWS = (RESET_AFTER_ACCEPT, CREATE_TIMEOUT, WORKER_KILLED, SERVER_KILLED, UNEXPLAINED)


@dataclass
class Options:
    """One chaos run; the CLI's flags."""

    runs: int = 60
    seed: int = 1
    workers: int = 3
    concurrency: int = 10
    honour_idempotency_key: bool = True
    kill_every_seconds: float = 2.5
    max_worker_kills: int | None = None
    quiet_start_seconds: float = 0.0  # no kill this long after the first start
    min_chaos_seconds: float = 0.0  # chaos lasts this long after the first start, at least
    sigterm_share: float = 0.35
    cancel_share: float = 0.12
    deadline_share: float = 0.12
    tokens: tuple[int, int] = (150, 600)
    tokens_per_second: tuple[int, ...] = (60, 90, 120, 150)
    slow_answers: bool = True
    slow_creates: bool = True
    server_kill_at: float = 0.4
    server_kill_when_idle: bool = False  # wait (up to 10 s) for no create/cancel in flight
    settle_timeout_seconds: float = 120.0
    workdir: Path | None = None
    keep: bool = False
    quiet: bool = False


@dataclass
class Plan:
    """What one run is: its workflow, request, and whether and when we cancel it."""

    index: int
    streaming: bool
    workflow_id: str
    request: ResponseRequest
    cancel_after: float | None

    @property
    def kind(self) -> str:
        return "streaming" if self.streaming else "background"


@dataclass
class Run:
    """What happened to one plan."""

    plan: Plan
    started: float | None = None
    closed: float | None = None
    outcome: str = "not started"
    error_type: str | None = None
    message: str = ""
    result: ResponseResult | None = None
    recorded_id: str | None = None
    cancel_sent: bool = False
    notes: str = ""

    @property
    def seconds(self) -> float | None:
        if self.started is None or self.closed is None:
            return None
        return self.closed - self.started


@dataclass(frozen=True)
class Kill:
    """A worker signalled: when (Unix time), which process, which signal."""

    at: float
    pid: int
    signal: str


@dataclass(frozen=True)
class Duplicate:
    """A response beyond the one its workflow recorded, and why it exists."""

    workflow_id: str
    response_id: str
    window: str
    detail: str


@dataclass(frozen=True)
class Orphan:
    """A response still running upstream after its workflow closed."""

    workflow_id: str
    response_id: str
    status: str
    recorded: bool


@dataclass
class Report:
    """Everything the table and the details are made of."""

    options: Options
    wall_seconds: float = 0.0
    runs: list[Run] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    orphans_before: list[Orphan] = field(default_factory=list)
    orphans_after: list[Orphan] = field(default_factory=list)
    reaped: ReapReport = field(default_factory=ReapReport)
    idempotent_replays: int = 0
    creates: int = 0
    faults: list[tuple[str, int, int]] = field(default_factory=list)  # rule, fired, matched
    kills: list[Kill] = field(default_factory=list)
    outages: list[tuple[float, float]] = field(default_factory=list)
    workdir: Path | None = None
    code_changed: bool = False

    def slowest(self, count: int = 3) -> list[Run]:
        closed = [run for run in self.runs if run.seconds is not None]
        return sorted(closed, key=lambda r: r.seconds or 0.0, reverse=True)[:count]

    def count(self, outcome: str) -> int:
        return sum(1 for run in self.runs if run.outcome == outcome)

    def windows(self) -> Counter[str]:
        return Counter(d.window for d in self.duplicates)

    def table(self) -> str:
        o = self.options
        kinds = Counter(run.plan.kind for run in self.runs)
        failed = Counter(run.error_type for run in self.runs if run.outcome == "failed")
        windows = self.windows()
        kills = Counter(k.signal for k in self.kills)
        downtime = sum(up - down for down, up in self.outages)

        def times(runs: list[Run]) -> str:
            seconds = sorted(s for run in runs if (s := run.seconds) is not None)
            if not seconds:
                return "-"
            p99 = seconds[max(0, math.ceil(0.99 * len(seconds)) - 1)]
            return f"{statistics.median(seconds):.1f} s / {p99:.1f} s"

        def recorded(orphans: list[Orphan]) -> str:
            unrecorded = sum(1 for x in orphans if not x.recorded)
            return f"{len(orphans)} ({len(orphans) - unrecorded} recorded, {unrecorded} unrecorded)"

        rows: list[tuple[str, str]] = [
            (
                "runs",
                f"{len(self.runs)} ({kinds['background']} background, "
                f"{kinds['streaming']} streaming)",
            ),
            ("completed", str(self.count("completed"))),
            ("cancelled", str(self.count("cancelled"))),
            ("deadline exceeded", str(self.count("deadline"))),
            (
                "failed",
                f"{sum(failed.values())}"
                + (
                    f" ({', '.join(f'{t} {n}' for t, n in failed.most_common())})" if failed else ""
                ),
            ),
            ("stuck (running at the timeout)", str(len(self.stuck))),
            ("text mismatches", str(len(self.mismatches))),
            ("creates at the provider", str(self.creates)),
            (
                "duplicate creates",
                f"{len(self.duplicates)}"
                + (
                    f" ({', '.join(f'{w} {windows[w]}' for w in WINDOWS if windows[w])})"
                    if self.duplicates
                    else ""
                ),
            ),
            ("idempotent replays", str(self.idempotent_replays)),
            ("orphans before the reaper", recorded(self.orphans_before)),
            ("orphans after one reaper pass", recorded(self.orphans_after)),
            (
                "reaper: cancelled / already ended / failed",
                f"{len(self.reaped.cancelled)} / {len(self.reaped.already_ended)} / "
                f"{len(self.reaped.failed)}",
            ),
            ("injected: worker SIGKILL", str(kills["SIGKILL"])),
            ("injected: worker SIGTERM", str(kills["SIGTERM"])),
            (
                "injected: Temporal server SIGKILL + restart",
                f"{len(self.outages)} (down {downtime:.1f} s)",
            ),
            ("injected: workflow cancels", str(sum(1 for r in self.runs if r.cancel_sent))),
            (
                "injected: deadlines set",
                str(sum(1 for r in self.runs if r.plan.request.deadline_seconds)),
            ),
            *((f"injected: fake {label}", f"{n} of {m}") for label, n, m in self.faults),
            (
                "run time, completed (median / p99)",
                times([r for r in self.runs if r.outcome == "completed"]),
            ),
            (
                "run time, all closed (median / p99)",
                times([r for r in self.runs if r.closed is not None]),
            ),
        ]
        key = "honoured" if o.honour_idempotency_key else "ignored"
        width = max(len(name) for name, _ in rows)
        lines = [
            f"chaos: {o.runs} runs, seed {o.seed}, {o.workers} workers, concurrency "
            f"{o.concurrency}, Idempotency-Key {key}; wall {self.wall_seconds:.1f} s",
            "",
            f"| {'metric'.ljust(width)} | value",
            f"|-{'-' * width}-|------",
        ]
        lines += [f"| {name.ljust(width)} | {value}" for name, value in rows]
        return "\n".join(lines)

    def details(self) -> str:
        lines: list[str] = []
        for d in self.duplicates:
            lines.append(f"duplicate: {d.workflow_id} {d.response_id}: {d.window} ({d.detail})")
        lines += [f"mismatch: {m}" for m in self.mismatches]
        lines += [f"stuck: {s}" for s in self.stuck]
        for label, orphans in (("before", self.orphans_before), ("after", self.orphans_after)):
            for x in orphans:
                lines.append(
                    f"orphan {label} the reaper: {x.workflow_id} {x.response_id} {x.status} "
                    f"({'recorded' if x.recorded else 'never recorded'})"
                )
        for run in self.slowest():
            lines.append(
                f"slow: {run.plan.workflow_id} {run.outcome} after {run.seconds or 0.0:.1f}s"
                + (f"; history: {run.notes}" if run.notes else "")
            )
        if self.code_changed:
            lines.append(
                "warning: workflow/activity code changed on disk during the run; workers "
                "started after the change ran the new code"
            )
        for run in self.runs:
            if run.outcome == "failed":
                lines.append(
                    f"failed: {run.plan.workflow_id} {run.error_type}: {run.message[:160]}"
                )
        if self.workdir is not None:
            lines.append(f"logs and the server's SQLite file kept in {self.workdir}")
        return "\n".join(lines)


_QUIET = Runtime(
    telemetry=TelemetryConfig(
        logging=LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))
    )
)
"""The client's runtime: no warning per retried call while the server is down on purpose."""


# ---- the Temporal server, killed for real ------------------------------------------------------


class DevServer:
    """`temporal server start-dev` on a fixed port and SQLite file, so it can be SIGKILLed and
    started again where it was (`dev_server()` owns its process and cannot)."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.db = workdir / "temporal.db"
        self.log = workdir / "temporal-server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # The settings of `dev_server()` (the search-attribute cache, eager activities, its
        # own ports), so chaos meets the server the tests and other benches meet.
        _, flags = dev_server_flags(self.port, None, ())
        args = [
            find_binary("temporal"),
            "server",
            "start-dev",
            "--headless",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--db-filename",
            str(self.db),
            "--log-level",
            "warn",
            *flags,
        ]
        for key in SEARCH_ATTRIBUTES:
            args += ["--search-attribute", f"{key.name}=Keyword"]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)

    async def ready(self, client: Client | None = None, timeout: float = 60.0) -> Client:
        """Wait until it answers; a client of ours (pydantic converter, project codec)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if client is None:
                    client = await Client.connect(
                        self.address, data_converter=connection.data_converter(), runtime=_QUIET
                    )
                await client.count_workflows()
                return client
            except (RPCError, RuntimeError):
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(f"temporal server exited; see {self.log}") from None
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


# ---- the worker fleet --------------------------------------------------------------------------


class Fleet:
    """K worker processes on one task queue; a killed one is replaced at once."""

    def __init__(
        self, address: str, task_queue: str, env: dict[str, str], size: int, log_dir: Path
    ) -> None:
        self.address, self.task_queue, self.env, self.log_dir = address, task_queue, env, log_dir
        self.slots: list[WorkerProcess | None] = [None] * size
        self.kills: list[Kill] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.starts = 0

    async def start_all(self) -> None:
        await asyncio.gather(*(self._fill(i) for i in range(len(self.slots))))

    async def _fill(self, slot: int) -> None:
        while True:
            worker = WorkerProcess(
                self.address, self.task_queue, env=self.env, log_dir=self.log_dir
            )
            try:
                await asyncio.to_thread(worker.start, 90.0)
            except (RuntimeError, TimeoutError):
                await asyncio.sleep(1.0)  # the server is down, or the machine is busy
                continue
            self.slots[slot] = worker
            self.starts += 1
            return

    def hit(self, rng: random.Random, sig: signal.Signals) -> None:
        """Signal a random live worker, then start its replacement."""
        live = [i for i, w in enumerate(self.slots) if w is not None]
        if not live:
            return
        slot = rng.choice(live)
        worker = self.slots[slot]
        assert worker is not None and worker.pid is not None
        self.slots[slot] = None
        self.kills.append(Kill(time.time(), worker.pid, sig.name))
        task = asyncio.create_task(self._replace(slot, worker, sig))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _replace(self, slot: int, worker: WorkerProcess, sig: signal.Signals) -> None:
        if sig == signal.SIGKILL:
            worker.kill()
        else:
            try:  # graceful: running activities hand over within the shutdown grace
                await asyncio.to_thread(worker.terminate, 30.0)
            except subprocess.TimeoutExpired:
                worker.kill()
        await self._fill(slot)

    async def settle(self) -> None:
        """Wait for replacements in flight: the fleet is whole again."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for worker in self.slots:
            if worker is not None:
                worker.kill()


# ---- runs --------------------------------------------------------------------------------------


def plan_runs(options: Options) -> list[Plan]:
    """The runs, from the seed alone: the same seed gives the same requests."""
    rng = random.Random(options.seed)
    plans = []
    for i in range(options.runs):
        streaming = rng.random() < 0.5
        low, high = options.tokens
        metadata = {
            "fake_tokens": str(rng.randint(low, high)),
            "fake_tokens_per_second": str(rng.choice(options.tokens_per_second)),
            "fake_queued_seconds": "0.2",
            "fake_reasoning_seconds": "0.2",
        }
        deadline = (
            round(rng.uniform(1.5, 8.0), 2) if rng.random() < options.deadline_share else None
        )
        cancel_after = (
            round(rng.uniform(0.2, 6.0), 2) if rng.random() < options.cancel_share else None
        )
        kind = "st" if streaming else "bg"
        plans.append(
            Plan(
                index=i,
                streaming=streaming,
                workflow_id=f"chaos-{options.seed}-{i:03d}-{kind}",
                request=ResponseRequest(
                    input=f"chaos {options.seed}/{i}: {uuid.UUID(int=rng.getrandbits(128))}",
                    model=rng.choice(["o3", "gpt-4.1"]),
                    metadata=metadata,
                    poll=POLL,
                    deadline_seconds=deadline,
                ),
                cancel_after=cancel_after,
            )
        )
    return plans


async def _retrying(call: Callable[[], Awaitable[T]], seconds: float = 120.0) -> T:
    """Retry through the server's outage (and the moments after its restart)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return await call()
        except RPCError as err:
            if err.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
                raise
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


class Chaos:
    """One chaos run: the processes, the runs, the faults and the bookkeeping."""

    def __init__(self, options: Options, workdir: Path) -> None:
        self.options = options
        self.workdir = workdir
        self.rng = random.Random(options.seed * 7919 + 1)  # chaos timing, apart from the plans
        self.plans = plan_runs(options)
        self.runs = [Run(plan) for plan in self.plans]
        self.server = DevServer(workdir)
        self.task_queue = f"chaos-{uuid.uuid4()}"
        self.client: Client | None = None
        self.fleet: Fleet | None = None
        self.outages: list[tuple[float, float]] = []
        self.started = 0
        self.all_started = asyncio.Event()
        self.kill_server = asyncio.Event()
        self.first_started = asyncio.Event()
        self._first_start = 0.0
        self.all_closed = asyncio.Event()

    def say(self, message: str) -> None:
        if not self.options.quiet:
            print(message, file=sys.stderr, flush=True)

    # -- runs -------------------------------------------------------------------------------

    async def _start(self, plan: Plan) -> WorkflowHandle[Any, ResponseResult]:
        client = self.client
        assert client is not None
        options: dict[str, Any] = {
            "id": plan.workflow_id,
            "task_queue": self.task_queue,
            # A start retried after its answer was lost must not start a second run.
            "id_reuse_policy": WorkflowIDReusePolicy.REJECT_DUPLICATE,
        }

        async def start() -> WorkflowHandle[Any, ResponseResult]:
            try:
                run = await RunHandle.start(client, plan.request, stream=plan.streaming, **options)
            except WorkflowAlreadyStartedError:  # the first attempt went through: it is ours
                run = RunHandle.attach(client, plan.workflow_id)
            return run.workflow

        return await _retrying(start)

    async def _cancel_later(self, run: Run, handle: WorkflowHandle[Any, Any]) -> None:
        assert run.plan.cancel_after is not None
        await asyncio.sleep(run.plan.cancel_after)
        if run.closed is not None:
            return
        run.cancel_sent = True
        with contextlib.suppress(RPCError):  # NOT_FOUND: it closed meanwhile
            await _retrying(handle.cancel)

    async def _result(self, handle: WorkflowHandle[Any, ResponseResult]) -> ResponseResult:
        while True:
            try:
                return await handle.result()
            except RPCError:
                await asyncio.sleep(0.5)

    async def run_one(self, run: Run, slots: asyncio.Semaphore) -> None:
        async with slots:
            handle = await self._start(run.plan)
            run.started = time.monotonic()
            if not self.first_started.is_set():
                self._first_start = run.started
            run.outcome = "running"
            self.started += 1
            self.first_started.set()
            if self.started >= max(1, round(self.options.server_kill_at * len(self.runs))):
                self.kill_server.set()
            if self.started == len(self.runs):
                self.all_started.set()
            canceller = None
            if run.plan.cancel_after is not None:
                canceller = asyncio.create_task(self._cancel_later(run, handle))
            try:
                run.result = await self._result(handle)
                run.outcome = "completed"
            except WorkflowFailureError as err:
                cause = err.cause
                if isinstance(cause, CancelledError):
                    run.outcome = "cancelled"
                elif isinstance(cause, TerminatedError):
                    run.outcome, run.error_type = "failed", "Terminated"
                elif isinstance(cause, ApplicationError):
                    if cause.type == ErrorType.DEADLINE_EXCEEDED:
                        run.outcome = "deadline"
                    else:
                        run.outcome, run.error_type = "failed", cause.type or "ApplicationError"
                else:
                    run.outcome, run.error_type = "failed", type(cause).__name__
                run.message = str(cause)
            finally:  # also when we give up waiting (stuck): then it has not closed
                if canceller is not None:
                    canceller.cancel()
            run.closed = time.monotonic()
            if all(r.closed is not None for r in self.runs):
                self.all_closed.set()

    # -- chaos ------------------------------------------------------------------------------

    async def _quiet_start(self) -> None:
        await self.first_started.wait()
        await asyncio.sleep(self.options.quiet_start_seconds)

    async def _kill_workers(self, stop: asyncio.Event) -> None:
        assert self.fleet is not None
        o = self.options
        await self._quiet_start()
        while not stop.is_set():
            if o.max_worker_kills is not None and len(self.fleet.kills) >= o.max_worker_kills:
                return
            with contextlib.suppress(TimeoutError):
                wait = self.rng.uniform(0.5, 1.5) * o.kill_every_seconds
                await asyncio.wait_for(stop.wait(), wait)
                return
            sig = signal.SIGTERM if self.rng.random() < o.sigterm_share else signal.SIGKILL
            self.fleet.hit(self.rng, sig)

    async def _kill_server_once(self) -> None:
        await self.kill_server.wait()
        await self._quiet_start()
        await asyncio.sleep(self.rng.uniform(0.0, 2.0))
        if self.options.server_kill_when_idle:
            deadline = time.monotonic() + 10
            while await self._short_calls_in_flight() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        down = time.time()
        self.server.kill()
        self.say(f"[{self._clock()}] Temporal server SIGKILLed")
        await asyncio.sleep(self.rng.uniform(0.5, 2.0))
        self.server.start()
        assert self.client is not None
        await self.server.ready(self.client)
        self.outages.append((down, time.time()))
        self.say(f"[{self._clock()}] Temporal server back after {time.time() - down:.1f}s")

    async def _short_calls_in_flight(self) -> bool:
        """Whether a running run has a create or a cancel activity pending: a server outage
        that swallows its completion costs the run the activity's start-to-close timeout."""
        assert self.client is not None
        for run in self.runs:
            if run.started is None or run.closed is not None:
                continue
            try:
                description = await self.client.get_workflow_handle(run.plan.workflow_id).describe()
            except RPCError:
                return True
            pending = description.raw_description.pending_activities
            if any(a.activity_type.name in SHORT_CALLS for a in pending):
                return True
        return False

    def _clock(self) -> str:
        return f"{time.monotonic() - self._t0:6.1f}s"

    async def _progress(self) -> None:
        while True:
            await asyncio.sleep(10)
            closed = sum(1 for r in self.runs if r.closed is not None)
            kills = len(self.fleet.kills) if self.fleet else 0
            self.say(
                f"[{self._clock()}] started {self.started}/{len(self.runs)}, closed {closed}, "
                f"worker kills {kills}"
            )

    # -- the whole thing --------------------------------------------------------------------

    async def execute(self) -> Report:
        o = self.options
        self._t0 = time.monotonic()
        report = Report(options=o)
        code = _code_fingerprint()
        rules = [
            FaultRule.model_validate(rule)
            for rule in [SLOW_ANSWER] * o.slow_answers + FAULTS + [SLOW_CREATE] * o.slow_creates
        ]
        settings = ServerSettings(
            fault_seed=o.seed,
            honour_idempotency_key=o.honour_idempotency_key,
            generation=GenerationSettings(queued_seconds=0.2, reasoning_seconds=0.2),
            faults=rules,
        )
        with FakeOpenAIServer(settings) as fake:
            self.server.start()
            try:
                self.client = await self.server.ready()
                self.fleet = Fleet(
                    self.server.address,
                    self.task_queue,
                    {"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": "sk-chaos"},
                    o.workers,
                    self.workdir / "workers",
                )
                (self.workdir / "workers").mkdir(exist_ok=True)
                try:
                    await self.fleet.start_all()
                    self.say(f"[{self._clock()}] {o.workers} workers polling {self.task_queue}")
                    await self._drive(report)
                    await self._inspect(report, fake)
                finally:
                    self.fleet.close()
            finally:
                self.server.stop()
        report.runs = self.runs
        report.code_changed = _code_fingerprint() != code
        report.kills = self.fleet.kills if self.fleet else []
        report.outages = self.outages
        report.wall_seconds = time.monotonic() - self._t0
        return report

    async def _drive(self, report: Report) -> None:
        """Start every run, with chaos, until all have started; then let them settle."""
        assert self.fleet is not None
        o = self.options
        slots = asyncio.Semaphore(o.concurrency)
        tasks = [asyncio.create_task(self.run_one(run, slots)) for run in self.runs]
        stop = asyncio.Event()
        chaos = [
            asyncio.create_task(self._kill_workers(stop)),
            asyncio.create_task(self._kill_server_once()),
            asyncio.create_task(self._progress()),
        ]
        started_in_time = True
        try:
            # Runs hold a slot until they close; stuck ones could hold them all.
            await asyncio.wait_for(
                self.all_started.wait(), o.settle_timeout_seconds + 30 * len(self.runs)
            )
        except TimeoutError:
            started_in_time = False
        if started_in_time and o.min_chaos_seconds:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self.all_closed.wait(),
                    self._first_start + o.min_chaos_seconds - time.monotonic(),
                )
        stop.set()
        await chaos[0]
        if self.kill_server.is_set():
            await chaos[1]  # the server is up again before the runs settle
        else:  # fewer runs than the kill threshold ever started
            chaos[1].cancel()
        await self.fleet.settle()
        self.say(f"[{self._clock()}] all runs started; chaos over, fleet whole again")
        pending: set[asyncio.Task[None]] = set()
        if started_in_time:
            _, pending = await asyncio.wait(tasks, timeout=o.settle_timeout_seconds)
        else:
            pending = {t for t in tasks if not t.done()}
        chaos[2].cancel()
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, *chaos, return_exceptions=True)
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        for run in self.runs:
            if run.closed is None and run.started is not None:
                run.outcome = "stuck"
                report.stuck.append(await self._describe_stuck(run))

    async def _describe_stuck(self, run: Run) -> str:
        """What a run still running at the timeout waits for; then terminate it (no cleanup
        runs: its response is left to the reaper)."""
        assert self.client is not None
        handle = self.client.get_workflow_handle(run.plan.workflow_id)
        try:
            description = await handle.describe()
            raw = description.raw_description
            pending = [
                f"{a.activity_type.name} attempt {a.attempt} state {a.state} "
                f"last failure {a.last_failure.message[:120]!r}"
                for a in raw.pending_activities
            ]
            task = raw.pending_workflow_task
            what = (
                f"{run.plan.workflow_id} ({run.plan.kind}, {description.history_length} events, "
                f"running {time.monotonic() - (run.started or 0):.0f}s): pending activities "
                f"{pending or 'none'}; workflow task "
                f"{f'attempt {task.attempt}' if task.ByteSize() else 'none'}"
            )
        except RPCError as err:
            what = f"{run.plan.workflow_id}: describe failed: {err}"
        with contextlib.suppress(RPCError):
            await handle.terminate("chaos: still running at the timeout")
        return what

    # -- after: what the provider saw ------------------------------------------------------

    async def _history_notes(self, workflow_id: str) -> str:
        """The timeouts a run went through, from its history: where its time went."""
        assert self.client is not None
        notes: list[str] = []
        try:
            history = await self.client.get_workflow_handle(workflow_id).fetch_history()
        except RPCError as err:
            return f"history unavailable: {err}"
        scheduled: dict[int, str] = {}
        for event in history.events:
            if event.HasField("activity_task_scheduled_event_attributes"):
                attributes = event.activity_task_scheduled_event_attributes
                scheduled[event.event_id] = attributes.activity_type.name
            elif event.HasField("activity_task_started_event_attributes"):
                started = event.activity_task_started_event_attributes
                if started.attempt > 1:
                    name = scheduled.get(started.scheduled_event_id, "activity")
                    notes.append(
                        f"{name} attempt {started.attempt} after "
                        f"{started.last_failure.message[:60]!r}"
                    )
            elif event.HasField("activity_task_timed_out_event_attributes"):
                timed_out = event.activity_task_timed_out_event_attributes
                name = scheduled.get(timed_out.scheduled_event_id, "activity")
                notes.append(f"{name} timed out ({timed_out.failure.message[:60]!r})")
            elif event.HasField("workflow_task_timed_out_event_attributes"):
                notes.append("workflow task timed out")
        return "; ".join(notes)

    async def _recorded_id(self, run: Run) -> str | None:
        """The response id the workflow recorded: its result, else its `progress` query,
        else its search attribute."""
        if run.result is not None:
            return run.result.response_id
        if run.started is None:
            return None
        assert self.client is not None
        handle = RunHandle.attach(self.client, run.plan.workflow_id)
        # No worker answered: the search attribute.
        progress = await handle.progress(rpc_timeout=timedelta(seconds=15))
        if progress is not None and progress.response_id:
            return progress.response_id
        with contextlib.suppress(RPCError, LookupError):
            description = await handle.describe()
            return description.typed_search_attributes.get(OPENAI_RESPONSE_ID)
        return None

    async def _inspect(self, report: Report, fake: FakeOpenAIServer) -> None:
        assert self.client is not None
        control = fake.control
        report.faults = [
            (_label(rule), int(rule["fired"]), int(rule["matched"]))
            for rule in await asyncio.to_thread(control.faults)
        ]
        await asyncio.to_thread(control.clear_faults)  # the reaper's cancels go through
        counts = (await asyncio.to_thread(control.stats))["counts"]
        report.idempotent_replays = int(counts.get("idempotent_replays", 0))
        report.creates = int(counts.get("creates", 0))

        lookups = asyncio.Semaphore(8)

        async def recorded(run: Run) -> None:
            async with lookups:
                run.recorded_id = await self._recorded_id(run)

        await asyncio.gather(*(recorded(run) for run in self.runs))
        for run in Report(options=self.options, runs=self.runs).slowest():
            run.notes = await self._history_notes(run.plan.workflow_id)
        records = await asyncio.to_thread(control.responses)
        by_workflow: dict[str, list[ResponseRecord]] = {}
        for record in records:
            by_workflow.setdefault(record.metadata.get(METADATA_WORKFLOW_KEY, "?"), []).append(
                record
            )
        by_id = {record.id: record for record in records}

        for run in self.runs:
            if run.result is None:
                continue
            canonical = by_id.get(run.result.response_id)
            if canonical is None:
                report.mismatches.append(
                    f"{run.plan.workflow_id}: result names {run.result.response_id!r}, "
                    "unknown to the provider"
                )
                continue
            text = canonical.text[run.result.output_text_offset :]
            if run.result.output_text != text:
                report.mismatches.append(
                    f"{run.plan.workflow_id} ({run.plan.kind}) {canonical.id}: "
                    f"{_first_difference(run.result.output_text, text)}"
                )

        recorded_ids = {run.recorded_id for run in self.runs if run.recorded_id}
        runs = {run.plan.workflow_id: run for run in self.runs}
        for workflow_id, responses in sorted(by_workflow.items()):
            run = runs[workflow_id]
            if len(responses) < 2:
                continue
            # The one the workflow recorded is its response; without one, the first accepted.
            kept = run.recorded_id or min(responses, key=lambda r: r.accepted_at).id
            kept_key = next((r.idempotency_key for r in responses if r.id == kept), None)
            for record in sorted(responses, key=lambda r: r.accepted_at):
                if record.id != kept:
                    window, detail = self._attribute(record, run.plan.streaming)
                    if kept_key and record.idempotency_key == kept_key:
                        detail += "; same Idempotency-Key as the recorded response"
                    report.duplicates.append(Duplicate(workflow_id, record.id, window, detail))

        await asyncio.sleep(ORPHAN_GRACE_SECONDS)
        report.orphans_before = await self._orphans(control, recorded_ids)
        api = openai.AsyncOpenAI(base_url=fake.base_url, api_key="sk-chaos", max_retries=0)
        report.reaped = await reap(self.client, api, ReapRequest(older_than_seconds=0))
        report.orphans_after = await self._orphans(control, recorded_ids)

    def _attribute(self, record: ResponseRecord, streaming: bool) -> tuple[str, str]:
        """The window a duplicate fell in: from what the fake knows of its create (dropped,
        unanswered, how late it was accepted) and from when workers and the server died."""
        assert self.fleet is not None
        accepted = record.accepted_at
        arrived = accepted - record.create_seconds
        if record.counts.get("reset_after_accept"):
            return RESET_AFTER_ACCEPT, "the fake dropped the connection after accepting"
        if record.counts.get("client_left_before_answer"):
            # The client went away while the create was in flight: its HTTP timeout, its
            # worker's death, or its activity cancelled (a heartbeat timeout in the outage).
            end = accepted + ANSWER_DELAY_SECONDS + 0.05
            kills = [k for k in self.fleet.kills if arrived - 0.05 <= k.at <= end]
            # Only a background create times out this soon: a streaming create's HTTP timeout
            # is longer than the slowest create we inject.
            if record.create_seconds >= CALL_TIMEOUT_SECONDS and not streaming:
                return CREATE_TIMEOUT, (
                    f"accepted {record.create_seconds:.1f}s after the request; the call "
                    f"times out after {CALL_TIMEOUT_SECONDS:g}s and was retried"
                )
            if kills:
                k = kills[0]
                when = (
                    f"the fake accepted it {accepted - k.at:.1f}s later"
                    if k.at < accepted
                    else f"{(k.at - accepted) * 1000:.0f} ms after it was accepted"
                )
                return WORKER_KILLED, (
                    f"{k.signal} of pid {k.pid} while the create was in flight, "
                    f"{(k.at - arrived) * 1000:.0f} ms after it arrived; {when}"
                )
            outage = self._outage_near(arrived, end)
            if outage:
                return SERVER_KILLED, f"client left while the create was in flight; {outage}"
            return UNEXPLAINED, "the client left while the create was in flight, no kill near"
        answered = record.answered_at or accepted
        kills = [
            k for k in self.fleet.kills if answered - 0.05 <= k.at <= answered + KILL_WINDOW_SECONDS
        ]
        if kills:
            k = kills[0]
            return WORKER_KILLED, (
                f"{k.signal} of pid {k.pid} {(k.at - answered) * 1000:+.0f} ms after the fake "
                "answered the create"
            )
        outage = self._outage_near(answered, answered)
        if outage:
            return SERVER_KILLED, outage
        nearest = sorted(self.fleet.kills, key=lambda k: abs(k.at - answered))[:3]
        kill_times = ", ".join(f"{k.signal} {k.at - answered:+.2f}s" for k in nearest)
        return UNEXPLAINED, f"no kill near the answer; nearest worker kills {kill_times or 'none'}"

    def _outage_near(self, start: float, end: float) -> str | None:
        for down, up in self.outages:
            if down - SERVER_WINDOW_SECONDS <= end and start <= up + SERVER_WINDOW_SECONDS:
                return f"{start - down:+.1f}s from the server's SIGKILL (down {up - down:.1f}s)"
        return None

    async def _orphans(self, control: FakeControl, recorded_ids: set[str]) -> list[Orphan]:
        """Responses still running upstream whose workflow has closed."""
        assert self.client is not None
        orphans = []
        for record in await asyncio.to_thread(control.responses):
            if record.terminal:
                continue
            workflow_id = record.metadata.get(METADATA_WORKFLOW_KEY, "?")
            try:
                description = await self.client.get_workflow_handle(workflow_id).describe()
            except RPCError:
                continue
            if description.status != WorkflowExecutionStatus.RUNNING:
                orphans.append(
                    Orphan(workflow_id, record.id, record.status, record.id in recorded_ids)
                )
        return orphans


def _code_fingerprint() -> str:
    """Of the code the worker processes load: a change mid-run means a mixed fleet."""
    import durable_responses

    root = Path(durable_responses.__file__).resolve().parent
    digest = hashlib.sha256()
    for folder in ("workflows", "activities", "models"):
        for path in sorted((root / folder).resolve().rglob("*.py")):
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _label(rule: dict[str, Any]) -> str:
    label = f"{rule['route']} {rule['kind']}"
    if rule["kind"] == "error":
        label += f" {rule['status']}"
        if rule.get("retry_after") is not None:
            label += f" retry-after {rule['retry_after']:g}s"
    elif rule["kind"] == "reset" and rule["route"] == "create":
        label += f" {rule['when']} accept"
    elif rule["kind"] == "delay":
        label += f" {rule['seconds']:g}s {rule['when']} accept"
    elif rule["kind"] == "cut":
        label += f" after {rule['after_events']} events"
    return f"{label} (p={rule['probability']:g})"


def _first_difference(got: str, want: str) -> str:
    at = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), None)
    if at is None:
        at = min(len(got), len(want))
    return (
        f"{len(got)} chars vs the provider's {len(want)}, first difference at {at}: "
        f"{got[at : at + 30]!r} vs {want[at : at + 30]!r}"
    )


async def run_chaos(options: Options) -> Report:
    """Run the chaos and report; the work folder (server database, logs) is removed unless
    `options.keep` or something went wrong."""
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="durable-responses-chaos-"))
    workdir.mkdir(parents=True, exist_ok=True)
    report = Report(options=options)
    try:
        report = await Chaos(options, workdir).execute()
    finally:
        troubled = (
            report.mismatches
            or report.stuck
            or report.orphans_after
            or UNEXPLAINED in report.windows()
        )
        if options.keep or troubled or not report.runs:
            report.workdir = workdir
        elif options.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=3, help="worker processes (default 3)")
    parser.add_argument(
        "--concurrency", type=int, default=10, help="runs in flight at once (default 10)"
    )
    parser.add_argument(
        "--ignore-idempotency-key",
        action="store_true",
        help="the fake creates a response for every create, as OpenAI may",
    )
    parser.add_argument(
        "--kill-every", type=float, default=2.5, help="mean seconds between worker kills"
    )
    parser.add_argument(
        "--no-slow-creates",
        action="store_true",
        help=f"no creates accepted only after {SLOW_CREATE_SECONDS:g}s (past the call timeout)",
    )
    parser.add_argument(
        "--settle-timeout",
        type=float,
        default=120.0,
        help="after the last start, how long runs may take to close before they count as stuck",
    )
    parser.add_argument("--keep", action="store_true", help="keep the server database and logs")
    args = parser.parse_args(argv)
    options = Options(
        runs=args.runs,
        seed=args.seed,
        workers=args.workers,
        concurrency=args.concurrency,
        honour_idempotency_key=not args.ignore_idempotency_key,
        kill_every_seconds=args.kill_every,
        slow_creates=not args.no_slow_creates,
        settle_timeout_seconds=args.settle_timeout,
        keep=args.keep,
    )
    report = asyncio.run(run_chaos(options))
    print(report.table())
    details = report.details()
    if details:
        print()
        print(details)


if __name__ == "__main__":
    main()
