"""`time_skipping_env`: Temporal's time-skipping test server with our plugin, for unit tests
of pipelines built on us (hours of polling in milliseconds)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from temporalio.client import Plugin
from temporalio.testing import WorkflowEnvironment

from durable_responses.plugin import DurableResponsesPlugin

from ._scripted import ScriptedProvider
from ._servers import STARTUP_TIMEOUT, find_binary


@contextlib.asynccontextmanager
async def time_skipping_env(
    provider: ScriptedProvider | None = None,
    *,
    plugins: Sequence[Plugin] = (),
    **options: Any,
) -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server from the pip-installed binary (nothing is downloaded),
    its client carrying `DurableResponsesPlugin` with `provider`'s activities.

    Every worker built on `env.client` then runs our workflows with the scripted provider
    (default: one that echoes each request's input), next to your own workflows, exactly as
    a production worker runs them with the real activities. The plugin's search attributes
    are registered before this yields. `options` go to
    `WorkflowEnvironment.start_time_skipping`.

        async with time_skipping_env(provider) as env:
            async with Worker(env.client, task_queue="t", workflows=[MyPipeline]):
                await env.client.execute_workflow(MyPipeline.run, ..., task_queue="t")

    As a pytest fixture:

        @pytest.fixture
        async def env(provider):
            async with time_skipping_env(provider) as env:
                yield env
    """
    plugin = DurableResponsesPlugin(activities=provider or ScriptedProvider())
    options.setdefault("test_server_startup_timeout", STARTUP_TIMEOUT)
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=find_binary("temporal-test-server"),
        plugins=[plugin, *plugins],
        **options,
    )
    try:
        await plugin.prepare(env.client)
        yield env
    finally:
        await env.shutdown()


async def skip_until(
    env: WorkflowEnvironment,
    condition: Callable[[], Awaitable[bool]],
    *,
    step: timedelta = timedelta(seconds=10),
    limit: timedelta = timedelta(days=7),
) -> timedelta:
    """Let workflow time pass in `step`s until `condition` holds; returns how much passed.

    Time skips on its own only while a client waits for a workflow's result, and then it
    jumps straight to the next timer, a deadline included: a test that must act *while* a run
    waits (answer an approval as soon as it is asked, send a signal mid-run) moves the clock
    itself. On a dev server each step is real time.

        await skip_until(env, lambda: asked_for_approval(handle))
    """
    passed = timedelta(0)
    while not await condition():
        if passed >= limit:
            raise TimeoutError(f"condition not met after {limit} of workflow time")
        await env.sleep(step)
        passed += step
    return passed
