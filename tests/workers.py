"""Helpers for tests that run real processes: `worker.WorkerProcess` with the fake API's
settings, free ports, and waiting on a condition of the running system."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from worker import WorkerProcess

ROOT = Path(__file__).resolve().parent.parent


def address_of(env: WorkflowEnvironment) -> str:
    """The `host:port` of a test environment's Temporal server, for CLIs and worker processes."""
    return env.client.service_client.config.target_host


def worker_process(
    address: str | None,
    task_queue: str,
    openai_base_url: str,
    args: Sequence[str] = (),
    **env: str,
) -> WorkerProcess:
    """A `python worker.py [args]` that talks to the fake at `openai_base_url`."""
    return WorkerProcess(
        address,
        task_queue,
        env={"OPENAI_BASE_URL": openai_base_url, "OPENAI_API_KEY": "sk-test", **env},
        args=args,
    )


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_until(
    predicate: Callable[[], Awaitable[bool]], timeout: float = 30.0, every: float = 0.05
) -> None:
    """Poll `predicate` until it holds; `TimeoutError` after `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(every)
