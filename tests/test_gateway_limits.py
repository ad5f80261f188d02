"""The gateway across continue-as-new: a dev server whose per-run limits are lowered (signals per
run, the history length at which it suggests continuing as new), so a short run through the
gateway continues as new several times; the SDK sees one response, every event once and every
item the provider made. No API parameter of the gateway's is involved: the limits are the
server's, as an operator would configure them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from temporalio.testing import WorkflowEnvironment

from durable_responses.gateway import Tenants, start
from durable_responses.models import METADATA_WORKFLOW_KEY
from durable_responses.testing import dev_server
from tests.gateways import KEY, KEYS, assert_same_as_provider, gateway_upstream, valid_events
from tests.workers import build_worker

LIMITS = {
    "history.maximumSignalsPerExecution": 4,
    "limit.historyCount.suggestContinueAsNew": 20,
}
"""A streamed run records about ten batches (a signal each); a polled one takes six events a
poll: both continue as new within seconds."""


@pytest.fixture(scope="module")
async def limited_env() -> AsyncIterator[WorkflowEnvironment]:
    args = [
        a for key, value in LIMITS.items() for a in ("--dynamic-config-value", f"{key}={value}")
    ]
    async with dev_server(port=None, ui_port=None, db=None, extra_args=args) as env:
        yield env


@pytest.fixture
async def gateway(limited_env, activities, task_queue, fake) -> AsyncIterator[openai.AsyncOpenAI]:
    fake.configure(tokens=400, tokens_per_second=80)  # five seconds of text
    async with build_worker(limited_env.client, activities, task_queue=task_queue):
        runner, url = await start(
            limited_env.client, Tenants.parse(KEYS), port=0, task_queue=task_queue
        )
        client = openai.AsyncOpenAI(base_url=url, api_key=KEY, max_retries=0)
        yield client
        await client.close()
        await runner.cleanup()


async def _continued(env: WorkflowEnvironment, fake) -> bool:
    """Whether the one workflow behind the gateway's response continued as new (its latest run
    is not its first)."""
    (upstream,) = gateway_upstream(fake)
    handle = env.client.get_workflow_handle(upstream.metadata[METADATA_WORKFLOW_KEY])
    described = await handle.describe()
    first = described.raw_description.workflow_execution_info.first_run_id
    return bool(first) and described.run_id != first


async def test_a_stream_through_the_gateway_crosses_continue_as_new_whole(
    limited_env, gateway, fake
):
    events: list[Any] = []
    stream = await gateway.responses.create(
        model="o3", input="A long answer.", background=True, stream=True
    )
    async with asyncio.timeout(120):
        async for event in stream:
            events.append(event)
    whole = valid_events(events)  # each event once, in order
    assert whole[-1]["type"] == "response.completed"
    (upstream,) = gateway_upstream(fake)  # one create across the runs
    assert_same_as_provider(whole, fake.response(upstream.id, events=False))
    assert await _continued(limited_env, fake)


async def test_a_polled_response_through_the_gateway_crosses_continue_as_new_whole(
    limited_env, gateway, fake
):
    created = await gateway.responses.create(model="o3", input="A long answer.", background=True)
    response = created
    async with asyncio.timeout(120):
        while response.status in ("queued", "in_progress"):
            await asyncio.sleep(0.2)
            response = await gateway.responses.retrieve(created.id)
    assert response.status == "completed" and response.id == created.id
    (upstream,) = gateway_upstream(fake)
    stored = fake.response(upstream.id, events=False)
    assert response.output_text == stored.text
    assert [item.model_dump(mode="json", exclude_unset=True) for item in response.output] == (
        stored.output
    )
    assert await _continued(limited_env, fake)
