"""The worker's settings: one pydantic-settings model gives its flags, environment variables,
their parsing and their documentation.

Each field is a flag (`--task-queue`) and an environment variable (`DURABLE_RESPONSES_TASK_QUEUE`,
or the name the wider ecosystem already uses, e.g. `TEMPORAL_ADDRESS`); a flag wins over the
environment. `ENVIRONMENT` lists every variable the worker reads, derived from the model.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import CliImplicitFlag, SettingsConfigDict

from durable_responses import connection
from durable_responses.cli import PREFIX, SHARED_VARIABLES, TemporalSettings
from durable_responses.models import TASK_QUEUE

__all__ = ["ENVIRONMENT", "PREFIX", "SHARED_VARIABLES", "SUPERVISOR_VARIABLE", "WorkerSettings"]

SUPERVISOR_VARIABLE = "DURABLE_RESPONSES_SUPERVISOR_PID"
"""Set by `--processes` in each worker process it starts: the supervisor's pid, which the
worker watches so that it stops when its supervisor is gone (never a user's setting)."""


class WorkerSettings(TemporalSettings):
    """Run a durable-responses worker (add --dev for a local Temporal server and fake API)."""

    model_config = SettingsConfigDict(cli_prog_name="durable-responses-worker")
    ENVIRONMENT: ClassVar[dict[str, str]] = {
        **TemporalSettings.ENVIRONMENT,
        "OPENAI_API_KEY": "OpenAI API key (read by the openai SDK)",
        "OPENAI_BASE_URL": "OpenAI-compatible base URL; empty: the real API",
        "OPENAI_WEBHOOK_SECRET": "webhook signing secret(s), comma-separated while rotating",
        "OTEL_SERVICE_NAME": "service name of the traces (read by the OpenTelemetry SDK)",
    }

    dev: CliImplicitFlag[bool] = Field(
        default=False,
        description="also run a Temporal dev server (and the fake API without OPENAI_API_KEY)",
    )
    fake: CliImplicitFlag[bool] = Field(
        default=False, description="with --dev: use the fake API even if OPENAI_API_KEY is set"
    )
    task_queue: str = Field(
        default=TASK_QUEUE, description="task queue of the workflows and their activities"
    )
    model: str | None = Field(
        default=None, description="model of requests that name none; unset: o3"
    )
    ui_port: int = Field(default=8233, description="with --dev: the Web UI's port")
    metrics_port: int = Field(
        default=0, ge=0, description="serve Prometheus metrics on this port (0: off)"
    )
    metrics_host: str = Field(
        default="127.0.0.1",
        description="address the metrics and health endpoints bind (0.0.0.0: all interfaces, "
        "in a container)",
    )
    health_port: int = Field(
        default=0,
        ge=0,
        description="serve /livez and /readyz (Temporal reachable, the worker polling) on this "
        "port (0: off)",
    )
    otlp_endpoint: str | None = Field(
        default=None,
        description="export traces over OTLP/HTTP here, e.g. http://localhost:4318 (otel extra)",
    )
    max_concurrent_activities: int = Field(
        default=0,
        ge=0,
        description="OpenAI calls this worker runs at once, per kind (0: the SDK's default)",
    )
    max_cached_workflows: int = Field(
        default=0,
        ge=0,
        description="runs this worker keeps in memory between their tasks; above its number of "
        "running runs, tasks replay whole histories (0: the SDK's default, 1000)",
    )
    max_activities_per_second: float = Field(
        default=0,
        ge=0,
        description="task-queue-wide dispatch rate of creates, stream chunks, cancels (0: none)",
    )
    poll_task_queue: str | None = Field(
        default=None, description="also serve polls routed to this queue (PollPolicy.task_queue)"
    )
    max_polls_per_second: float = Field(
        default=0, ge=0, description="task-queue-wide dispatch rate of the poll queue (0: none)"
    )
    reap_every: float = Field(
        default=0,
        ge=0,
        description="run the reaper (README: What we promise) every this many seconds, as a "
        "Temporal Schedule on the task queue (0: off)",
    )
    reap_older_than: float = Field(
        default=600, ge=0, description="the reaper leaves runs closed less than this long ago"
    )
    webhooks: CliImplicitFlag[bool] = Field(
        default=False,
        description="a webhook receiver wakes the workflows when their responses end: polls "
        "become a slow safety net (PollPolicy.webhook_interval_seconds)",
    )
    webhook_port: int = Field(
        default=0,
        ge=0,
        description="also receive OpenAI webhooks on this port, secret from "
        "OPENAI_WEBHOOK_SECRET (implies --webhooks; 0: off)",
    )
    webhook_host: str = Field(
        default="127.0.0.1", description="address the webhook receiver binds (0.0.0.0: all)"
    )
    processes: int | Literal["auto"] = Field(
        default=1,
        description="run this many worker processes on the task queue, each a full worker "
        "(auto: one per core, within a container's CPU quota); metrics on --metrics-port + i, "
        "health on --health-port + i, webhooks in the first",
    )

    @field_validator("processes", mode="before")
    @classmethod
    def _a_number_of_processes(cls, value: Any) -> Any:
        if value == "auto":
            return value
        try:
            count = int(value)
        except (TypeError, ValueError):
            count = 0
        if count < 1 or str(count) != str(value).strip():
            raise ValueError(f"{value!r} is not a number of processes (1, 2, ... or auto)")
        return count

    @model_validator(mode="after")
    def _poll_rate_needs_poll_queue(self) -> WorkerSettings:
        if self.max_polls_per_second and not self.poll_task_queue:
            raise ValueError("--max-polls-per-second needs --poll-task-queue")
        return self

    def process_count(self) -> int:
        """How many worker processes `--processes` asks for: `auto` is the cores this process
        may run on, and no more than a container's CPU quota allows (`cpu_quota`)."""
        if self.processes != "auto":
            return self.processes
        usable = getattr(os, "process_cpu_count", None)  # Python 3.13+
        if usable is not None:
            cores = int(usable() or 1)
        else:
            try:
                cores = len(os.sched_getaffinity(0)) or 1
            except AttributeError:  # macOS, Windows: no affinity
                cores = os.cpu_count() or 1
        quota = cpu_quota()
        return cores if quota is None else max(1, min(cores, math.ceil(quota)))

    def worker_limits(self, polls: bool) -> dict[str, Any]:
        """Worker options that keep a fleet under the OpenAI account's rate limits, and the
        workflow cache (README, Throughput).

        The per-second rates are task-queue-wide (the server dispatches no faster, however
        many workers poll); the concurrency cap is per worker. Local-activity polls of the main
        queue are not dispatched by the server, so only a poll queue's polls are rate limited.
        """
        options: dict[str, Any] = {}
        if self.max_cached_workflows and not polls:
            options["max_cached_workflows"] = self.max_cached_workflows
        if self.max_concurrent_activities:
            options["max_concurrent_activities"] = self.max_concurrent_activities
            if not polls:
                options["max_concurrent_local_activities"] = self.max_concurrent_activities
        rate = self.max_polls_per_second if polls else self.max_activities_per_second
        if rate:
            options["max_task_queue_activities_per_second"] = rate
        return options


ENVIRONMENT: dict[str, str] = {
    **connection.ENVIRONMENT,
    **connection.PAYLOAD_ENVIRONMENT,
    **WorkerSettings.environment(),
    **WorkerSettings.ENVIRONMENT,
}
"""Every environment variable the worker reads, itself or through the SDKs it configures."""


CGROUP = Path("/sys/fs/cgroup")


def cpu_quota(root: Path = CGROUP) -> float | None:
    """The cores' worth of CPU time this container may use (`docker run --cpus`, a Kubernetes
    CPU limit), from cgroup v2's `cpu.max` or v1's CFS quota; None where there is no quota.
    The cores a container sees are the host's: one process per core there would oversubscribe."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]  # v2: "max 100000"
    except (OSError, ValueError):
        try:  # v1
            quota = (root / "cpu" / "cpu.cfs_quota_us").read_text().strip()  # -1: none
            period = (root / "cpu" / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            return None
    try:
        cores = int(quota) / int(period)
    except (ValueError, ZeroDivisionError):  # "max"
        return None
    return cores if cores > 0 else None
