"""Real worker processes for tests: `worker.WorkerProcess` with the fake API's settings."""

from __future__ import annotations

from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from worker import WorkerProcess

ROOT = Path(__file__).resolve().parent.parent


def address_of(env: WorkflowEnvironment) -> str:
    """The `host:port` of a test environment's Temporal server, for CLIs and worker processes."""
    return env.client.service_client.config.target_host


def worker_process(
    address: str | None, task_queue: str, openai_base_url: str, **env: str
) -> WorkerProcess:
    """A `python worker.py` that talks to the fake at `openai_base_url`."""
    return WorkerProcess(
        address,
        task_queue,
        env={"OPENAI_BASE_URL": openai_base_url, "OPENAI_API_KEY": "sk-test", **env},
    )
