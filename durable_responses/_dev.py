"""The `--dev` stack of the worker and its supervisor: a dev server from the pip-installed CLI
and, without `OPENAI_API_KEY`, the local fake API. Its own module so that the supervisor of
`--processes` and each worker build on it without importing each other."""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Any

from temporalio.client import Client

from durable_responses import cli
from durable_responses.settings import WorkerSettings

log = logging.getLogger("durable_responses.worker")
READY = "worker polling task queue"
"""Logged once a worker polls: what the supervisor and the tests wait for."""


def uses_fake(settings: WorkerSettings) -> bool:
    """`--dev` calls the local fake API unless `OPENAI_API_KEY` is set (and no `--fake`)."""
    return settings.dev and (settings.fake or not os.environ.get("OPENAI_API_KEY"))


def fake_api(stack: contextlib.ExitStack | contextlib.AsyncExitStack) -> str:
    """The local fake Responses API, until `stack` closes: its base URL."""
    from durable_responses.fake_openai import FakeOpenAIServer

    url = stack.enter_context(FakeOpenAIServer()).base_url
    log.info("no OPENAI_API_KEY: using the local fake Responses API at %s", url)
    return url


async def start_dev_server(
    settings: WorkerSettings, stack: contextlib.AsyncExitStack, **options: Any
) -> tuple[Client, str]:
    """`--dev`: a dev server where a client would look (flag, env, profile), and how to try it."""
    from durable_responses.testing import dev_server, find_binary  # only here: the harness

    host, port = cli.host_port(settings.target())  # `--address localhost`: port 7233
    address = f"{host}:{port}"
    env = await stack.enter_async_context(
        dev_server(port=port, ui_port=settings.ui_port, **options)
    )
    log.info("dev server on %s, Web UI http://localhost:%s", address, settings.ui_port)
    return env.client, (
        f"\nTry it in another terminal:\n  {find_binary('temporal')} workflow execute --address "
        f"{address} --type BackgroundResponseWorkflow --task-queue {settings.task_queue} "
        '--workflow-id hello-1 --input \'{"input": "Briefly explain relativity."}\'\n'
    )
