"""`durable-responses-worker --processes N|auto`: N full workers on one task queue, from one
command, started and stopped together by a supervisor process.

One worker process is one Python interpreter: at most one core of workflow tasks, activity
HTTP and JSON. On a host with more cores than worker processes, `--processes` uses the rest.
The decisions, and why:

- **Children are `python -m durable_responses.worker`** with the supervisor's settings as
  flags (`CommandSettings.args`), minus `--processes` and `--dev`: each is the ordinary,
  tested worker, and `ps` shows what each one runs. Not `multiprocessing`: a child needs
  nothing from the supervisor's memory, and spawn would import everything again anyway.
- **Signals reach each child once.** The children run in their own process group, so a
  terminal's Ctrl-C reaches the supervisor alone, which forwards SIGINT (or SIGTERM) to every
  child: a second SIGINT would cut a child's graceful shutdown short. It waits for them
  (their graceful shutdown, `GRACEFUL_SHUTDOWN`, plus `STOP_MARGIN`; then SIGKILL) and exits
  as one worker does: 0 after SIGTERM, 130 after Ctrl-C, 1 if a child did not stop cleanly.
  Where the stop reaches every process itself (systemd's default `KillMode=control-group`),
  a child ignores the forwarded second signal, and a child's clean exit that precedes the
  supervisor's own signal by under `STOP_RACE` is the same stop, not a death.
- **A child that exits on its own stops the fleet**, exit 1, naming the child: a crash, the
  OOM killer's SIGKILL, a failed start. The others get SIGTERM and hand their activities over.
  Not restarted in place: a restart loop inside the process hides a crash loop from what is
  there to see it (systemd, Kubernetes, compose restart policies, with their backoff and
  restart counts), and retries forever what keeps failing (a port in use, a bad key).
  Stopping loses nothing durable (Temporal keeps every task on the queue for the restarted
  fleet), and a half-sized fleet never runs silently.
- **No orphans:** a child whose supervisor is gone (SIGKILLed) stops by itself within a
  second: it watches its parent's pid (`SUPERVISOR_VARIABLE`, `cli.until_signalled`).
- **`--dev`:** the supervisor starts the dev server (and, without `OPENAI_API_KEY`, the fake
  API) once; the children connect to it with `--address` (and `OPENAI_BASE_URL`).
- **Ports:** `--metrics-port P` gives child i the port P+i: each process has its own metrics
  (the SDK's runtime is per process), so Prometheus scrapes N targets; `--health-port P`
  likewise, each child's readiness its own. `--webhook-port P` runs
  the one receiver in child 0, and `--webhooks` in the others: OpenAI calls one URL, and any
  worker's client can signal any run. Child 0 alone keeps the reaper's Schedule up to date.
- **Logs:** each child's lines reach the supervisor's stderr prefixed `[worker i]`; a JSON
  line gets a `"process": i` field instead, and stays one JSON object per line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from dataclasses import dataclass
from typing import Any

from durable_responses import cli
from durable_responses._dev import READY, fake_api, start_dev_server, uses_fake
from durable_responses.plugin import GRACEFUL_SHUTDOWN
from durable_responses.settings import SUPERVISOR_VARIABLE, WorkerSettings

log = logging.getLogger("durable_responses.supervisor")

STOP_RACE = 1.0
"""Seconds a child's clean exit may precede the supervisor's own signal and still count as
one stop (systemd signals every process of the unit at once)."""
STOP_MARGIN = 15.0
"""Seconds a child may take to exit beyond its graceful shutdown before it is SIGKILLed."""
LINE_LIMIT = 1 << 20
"""The longest line of a child's output the supervisor forwards whole (a long traceback)."""


@dataclass
class _Child:
    index: int
    proc: asyncio.subprocess.Process
    ready: asyncio.Event
    output: asyncio.Task[None]

    def alive(self) -> bool:
        return self.proc.returncode is None


def child_settings(settings: WorkerSettings, index: int, address: str | None) -> WorkerSettings:
    """The settings of child `index`: one process, no dev server of its own, its metrics
    and health ports; the webhook receiver and the reaper's Schedule in child 0 only."""
    return settings.model_copy(
        update={
            "processes": 1,
            "dev": False,
            "fake": False,
            "address": address,
            "metrics_port": settings.metrics_port + index if settings.metrics_port else 0,
            "health_port": settings.health_port + index if settings.health_port else 0,
            "webhooks": settings.webhooks or bool(settings.webhook_port),
            "webhook_port": settings.webhook_port if index == 0 else 0,
            "reap_every": settings.reap_every if index == 0 else 0,
        }
    )


async def supervise(settings: WorkerSettings) -> int:
    """Run `settings.process_count()` workers until a signal or one of them exits."""
    stop = _on_signal()
    count = settings.process_count()
    children: list[_Child] = []
    try:
        async with contextlib.AsyncExitStack() as stack:
            env, address, hint = {**os.environ}, settings.address, ""
            if settings.dev:
                _, hint = await start_dev_server(settings, stack)
                host, port = cli.host_port(settings.target())
                address = f"{host}:{port}"
                if uses_fake(settings):
                    env |= {"OPENAI_BASE_URL": fake_api(stack), "OPENAI_API_KEY": "fake-key"}
            env[SUPERVISOR_VARIABLE] = str(os.getpid())
            json_logs = settings.log_format == "json"
            if stop.done():  # signalled while the dev server started: start no worker
                return _stopped_code(stop.result())
            for index in range(count):
                argv = child_settings(settings, index, address).args()
                children.append(await _start(index, argv, env, json_logs))
            log.info("started %d worker processes: %s", count, [c.proc.pid for c in children])
            return await _watch(children, stop, settings.task_queue, hint)
    finally:
        for child in children:  # only after a bug: `_watch` stops them all
            if child.alive():
                child.proc.kill()


def _on_signal() -> asyncio.Future[signal.Signals]:
    """A future set by the first SIGINT or SIGTERM (the handlers stay: later ones are no-ops)."""
    loop = asyncio.get_running_loop()
    stop: asyncio.Future[signal.Signals] = loop.create_future()

    def stop_with(sig: signal.Signals) -> None:
        if not stop.done():
            stop.set_result(sig)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop_with, sig)
    return stop


async def _start(index: int, argv: list[str], env: dict[str, str], json_logs: bool) -> _Child:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "durable_responses.worker",
        *argv,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        process_group=0,  # a terminal's Ctrl-C reaches the supervisor, which forwards it once
        limit=LINE_LIMIT,
    )
    assert proc.stdout is not None
    ready = asyncio.Event()
    output = asyncio.create_task(_forward(index, proc.stdout, ready, json_logs))
    return _Child(index, proc, ready, output)


async def _forward(
    index: int, stream: asyncio.StreamReader, ready: asyncio.Event, json_logs: bool
) -> None:
    """Copy a child's lines to stderr, marked with its index; `ready` once it polls."""
    async for raw in stream:
        line = raw.decode(errors="replace").rstrip("\n")
        if READY in line:
            ready.set()
        print(_mark(index, line, json_logs), file=sys.stderr, flush=True)


def _mark(index: int, line: str, json_logs: bool) -> str:
    if json_logs and line.startswith("{"):
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict):
                return json.dumps({**record, "process": index}, ensure_ascii=False)
    return f"[worker {index}] {line}"


async def _watch(
    children: list[_Child], stop: asyncio.Future[signal.Signals], task_queue: str, hint: str
) -> int:
    """Until a signal or a child's exit; then stop them all. The exit code."""
    exits = {asyncio.ensure_future(c.proc.wait()): c for c in children}
    all_ready = asyncio.ensure_future(asyncio.gather(*(c.ready.wait() for c in children)))
    waiting: set[asyncio.Future[Any]] = {stop, all_ready, *exits}
    try:
        while True:
            done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if all_ready in done:
                log.info("%d worker processes polling task queue %r", len(children), task_queue)
                if hint:
                    print(hint, flush=True)
            exited = [exits[f] for f in done if f in exits]
            if exited and not stop.done() and exited[0].proc.returncode in (0, 130):
                # A clean exit is a signal that reached the child itself: is ours coming too?
                await asyncio.wait([stop], timeout=STOP_RACE)
            if stop.done():
                sig = stop.result()
                log.info("%s: stopping %d worker processes", sig.name, len(children))
                expected = _stopped_code(sig)
                codes = await _stop_all(children, sig)
                # A child signalled before it set its handlers stopped as cleanly.
                clean = all(code in (expected, -sig) for code in codes)
                return expected if clean else cli.EXIT_FAILED
            if exited:
                child = exited[0]
                log.error(
                    "worker process %d (pid %d) exited (%s): stopping the others",
                    child.index,
                    child.proc.pid,
                    _how(child.proc.returncode),
                )
                await _stop_all(children, signal.SIGTERM)
                return cli.EXIT_FAILED
    finally:
        for future in waiting:
            future.cancel()


async def _stop_all(children: list[_Child], sig: signal.Signals) -> list[int | None]:
    """Send `sig` to each live child, wait for their graceful shutdown, SIGKILL what is left;
    their exit codes once their output is drained."""
    for child in children:
        if child.alive():
            child.proc.send_signal(sig)
    waits = asyncio.gather(*(c.proc.wait() for c in children))
    try:
        await asyncio.wait_for(
            asyncio.shield(waits), GRACEFUL_SHUTDOWN.total_seconds() + STOP_MARGIN
        )
    except TimeoutError:
        for child in children:
            if child.alive():
                log.error(
                    "worker process %d (pid %d) did not stop: SIGKILL", child.index, child.proc.pid
                )
                child.proc.kill()
        await waits
    await asyncio.gather(*(c.output for c in children))
    return [c.proc.returncode for c in children]


def _stopped_code(sig: signal.Signals) -> int:
    return cli.EXIT_INTERRUPTED if sig == signal.SIGINT else 0


def _how(code: int | None) -> str:
    if code is not None and code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"
