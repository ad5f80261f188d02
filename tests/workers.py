"""Helpers for tests: in-process workers with the plugin, worker processes with the fake API's
settings (their logs in the test's `tmp_path`), free ports, and waiting on a condition."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from durable_responses.activities import ResponsesActivities
from durable_responses.plugin import DurableResponsesPlugin
from durable_responses.testing import WorkerProcess
from durable_responses.testing._servers import free_port as free_port  # the tests import it here
from durable_responses.workflows import WORKFLOWS

ROOT = Path(__file__).resolve().parent.parent

LOG_DIR: Path | None = None
"""Where worker processes write their logs: the running test's `tmp_path` (conftest sets it),
which pytest keeps only for failed tests."""


IN_SANDBOX: dict[str, Any] = {"unsandboxed_workflow_runner": SandboxedWorkflowRunner()}
"""Worker options that run our workflows (`sandboxed=False` in production, see
`workflows/_sandbox.py`) inside the SDK's sandbox, so its checks guard them in every test."""


def mocked_worker(
    client: Client,
    task_queue: str,
    activities: Sequence[Callable[..., Any]],
    workflows: Sequence[type] = (),
) -> Worker:
    """Our workflows, inside the sandbox, with activities mocked by name (time-skipping tests),
    and a caller's own `workflows` beside them."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[*WORKFLOWS, *workflows],
        activities=list(activities),
        **IN_SANDBOX,
    )


def build_worker(
    client: Client,
    activities: ResponsesActivities,
    *,
    task_queue: str,
    workflows: Sequence[type] = (),
    own_activities: Sequence[Callable[..., Any]] = (),
    **options: Any,
) -> Worker:
    """An in-process worker with our workflows and `activities`, set up by the plugin, and a
    caller's own `workflows` and `own_activities` beside them."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=list(workflows),
        activities=list(own_activities),
        plugins=[DurableResponsesPlugin(activities=activities)],
        **IN_SANDBOX,
        **options,
    )


def address_of(env: WorkflowEnvironment) -> str:
    """The `host:port` of a test environment's Temporal server, for CLIs and worker processes."""
    return env.client.service_client.config.target_host


def worker_process(
    address: str | None,
    task_queue: str,
    openai_base_url: str,
    args: Sequence[str] = (),
    module: str = "durable_responses.worker",
    **env: str,
) -> WorkerProcess:
    """A worker process (`durable-responses-worker [args]`, or `python -m <module>`) that
    talks to the fake at `openai_base_url`."""
    return WorkerProcess(
        address,
        task_queue,
        env={"OPENAI_BASE_URL": openai_base_url, "OPENAI_API_KEY": "sk-test", **env},
        args=args,
        log_dir=LOG_DIR,
        module=module,
    )


async def wait_until(
    predicate: Callable[[], Awaitable[bool]], timeout: float = 30.0, every: float = 0.05
) -> None:
    """Poll `predicate` until it holds; `TimeoutError` after `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(every)
