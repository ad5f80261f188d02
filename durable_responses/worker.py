"""The worker CLI, `durable-responses-worker [--dev]`: `DurableResponsesPlugin` on a task queue.

It connects the Temporal way (`connection.py`); `--dev` also starts a dev server from the
pip-installed CLI (SQLite under `.temporal/`, Web UI on 8233) and, without `OPENAI_API_KEY`,
the local fake API. `--processes N` runs N such workers under a supervisor (`_supervisor.py`).
Options: `settings.WorkerSettings`, each a flag and a variable.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import openai
from openai import AsyncOpenAI
from temporalio.worker import Worker

from durable_responses import cli, health, telemetry, webhooks
from durable_responses._dev import READY, fake_api, start_dev_server, uses_fake
from durable_responses._supervisor import supervise
from durable_responses.activities import ResponsesActivities
from durable_responses.activities.responses import http_client
from durable_responses.models.reaper import ReapRequest
from durable_responses.plugin import GRACEFUL_SHUTDOWN, DurableResponsesPlugin
from durable_responses.reaper import ensure_schedule
from durable_responses.settings import SUPERVISOR_VARIABLE, WorkerSettings

log = logging.getLogger("durable_responses.worker")


async def serve(*workers: Worker, ready: str = "") -> int:
    """Run until SIGINT/SIGTERM, then shut down gracefully (activities hand over their work);
    `ready` is printed once every worker polls. The exit code: 130 after Ctrl-C, else 0."""
    async with contextlib.AsyncExitStack() as running:
        for worker in workers:
            await running.enter_async_context(worker)
        for worker in workers:
            log.info("%s %r", READY, worker.task_queue)
        if ready:
            print(ready, flush=True)
        supervisor = os.environ.get(SUPERVISOR_VARIABLE)  # `--processes`: stop without it
        code = await cli.until_signalled(parent=int(supervisor) if supervisor else None)
        log.info("shutting down")
    log.info("worker stopped")
    return code


async def run(settings: WorkerSettings) -> int:
    """Connect (or start a dev server), then serve the task queue(s) until a signal."""
    try:  # before anything starts: without a key, refuse to start rather than fail each call
        activities = None if uses_fake(settings) else ResponsesActivities.from_env(settings.model)
    except openai.OpenAIError as err:
        raise cli.CommandError(
            str(err),
            "with the compose stack's fake profile: OPENAI_API_KEY=fake-key "
            "OPENAI_BASE_URL=http://fake-openai:8787/v1; locally: python worker.py --dev",
        ) from err
    if settings.process_count() > 1:  # not a worker: the supervisor of several
        return await supervise(settings)
    debug = settings.log_level == "DEBUG"
    options: dict[str, Any] = {
        "runtime": telemetry.metrics_runtime(
            settings.metrics_port, settings.metrics_host, cli.core_logging(debug)
        )
    }
    if settings.otlp_endpoint:
        options["interceptors"] = telemetry.tracing_interceptors(settings.otlp_endpoint)
    async with contextlib.AsyncExitStack() as stack:
        if settings.dev:
            client, ready = await start_dev_server(settings, stack, **options)
        else:
            ready = ""
            client = await cli.connect(settings, **options)
        if activities is None:
            fake = AsyncOpenAI(
                base_url=fake_api(stack),
                api_key="fake-key",
                max_retries=0,
                http_client=http_client(),
            )
            activities = ResponsesActivities(fake, default_model=settings.model)
        activities.webhooks = settings.webhooks or bool(settings.webhook_port)
        if settings.webhook_port:
            await webhooks.serve_beside(stack, client, settings.webhook_host, settings.webhook_port)
        plugin = DurableResponsesPlugin(activities=activities)
        await plugin.prepare(client)  # refuse to start before any worker polls
        if settings.reap_every:
            reaping = ReapRequest(older_than_seconds=settings.reap_older_than)
            await ensure_schedule(
                client, settings.task_queue, timedelta(seconds=settings.reap_every), reaping
            )
        limits = settings.worker_limits
        workers = [
            Worker(client, task_queue=settings.task_queue, plugins=[plugin], **limits(polls=False))
        ]
        if settings.poll_task_queue:
            # Polls routed to their own queue (`PollPolicy.task_queue`): retrieve only.
            workers.append(
                Worker(
                    client,
                    task_queue=settings.poll_task_queue,
                    activities=[activities.retrieve_response],
                    graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
                    **limits(polls=True),
                )
            )
        if settings.health_port:
            await health.serve_beside(
                stack,
                client,
                settings.metrics_host,
                settings.health_port,
                also=lambda: polling(workers),
            )
        return await serve(*workers, ready=ready)


def polling(workers: Sequence[Worker]) -> str | None:
    """Why the worker is not ready (a worker not started yet, or shutting down), or None."""
    if all(worker.is_running for worker in workers):
        return None
    return "worker not polling (starting, or shutting down)"


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of `durable-responses-worker`: one line, not a trace, for what is expected."""
    # RuntimeError: the otel extra missing, search attributes this worker may not register.
    cli.run(WorkerSettings, run, argv, expected=(RuntimeError,))


if __name__ == "__main__":
    main()
