"""The gateway as its own process, with the Python `openai` SDK in front: a stream resumed
from an event sent after the provider's replay window closed, a gateway SIGKILLed and
restarted mid-stream, a worker SIGKILLed mid-stream. Each time the events after N arrive once,
in order, equal to a replay from 0, with the provider's exact text and one upstream create."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from durable_responses.fake_openai import FakeControl
from tests.gateways import (
    KEY,
    Stack,
    assert_same_as_provider,
    gateway_stack,
    gateway_upstream,
    valid_events,
)
from tests.workers import wait_until

RETENTION = 2.0
"""The fake's stream replay window, scaled down from OpenAI's five minutes."""


@pytest.fixture
async def stack(dev_env, fake_server, task_queue) -> AsyncIterator[Stack]:
    async with gateway_stack(dev_env, fake_server.base_url, task_queue) as running:
        yield running


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[openai.AsyncOpenAI]:
    sdk = openai.AsyncOpenAI(base_url=stack.url, api_key=KEY, max_retries=0)
    yield sdk
    await sdk.close()


async def _replay(client: openai.AsyncOpenAI, response_id: str) -> list[dict[str, Any]]:
    """Every event from 0, once the run is over (what any client would get)."""
    return valid_events(
        [e async for e in await client.responses.retrieve(response_id, stream=True)]
    )


def _only_upstream(fake: FakeControl) -> Any:
    (upstream,) = gateway_upstream(fake)  # one create, whatever crashed
    return upstream


async def test_a_stream_resumes_after_the_providers_replay_window_has_closed(
    client, fake, openai_async
):
    fake.configure(
        tokens=900, tokens_per_second=100, stream_retention_seconds=RETENTION
    )  # a run three windows long and more
    started = time.monotonic()
    first: list[Any] = []
    async for event in await client.responses.create(
        model="o3", input="Three windows long.", background=True, stream=True
    ):
        first.append(event)
        if time.monotonic() - started > RETENTION * 1.25 and event.type.endswith(".delta"):
            break  # the connection drops: this event was sent after the window closed
    after = first[-1].sequence_number
    response_id = first[0].response.id
    upstream = _only_upstream(fake)
    assert upstream.status == "in_progress"
    with pytest.raises(openai.APIError):  # the provider itself would not resume it now
        async for _ in await openai_async.responses.retrieve(
            upstream.id, stream=True, starting_after=after
        ):
            pass
    resumed = [
        e
        async for e in await client.responses.retrieve(
            response_id, stream=True, starting_after=after
        )
    ]
    assert time.monotonic() - started > 3 * RETENTION
    whole = await _replay(client, response_id)
    assert valid_events(first + resumed) == whole  # each event once, in order
    assert_same_as_provider(whole, fake.response(upstream.id, events=False))
    assert whole[-1]["type"] == "response.completed"


async def test_a_gateway_killed_mid_stream_is_resumed_from_the_last_event(stack, client, fake):
    fake.configure(tokens=600, tokens_per_second=150)
    got: list[Any] = []
    response_id = ""
    with pytest.raises(openai.APIConnectionError):
        async for event in await client.responses.create(
            model="o3", input="Through a restart.", background=True, stream=True
        ):
            got.append(event)
            response_id = response_id or event.response.id
            if len(got) == 30:
                stack.gateway.kill()  # mid-stream; the SDK sees the connection break
    await stack.restart_gateway()
    after = got[-1].sequence_number
    rest = [
        e
        async for e in await client.responses.retrieve(
            response_id, stream=True, starting_after=after
        )
    ]
    whole = await _replay(client, response_id)
    assert valid_events(got + rest) == whole
    assert_same_as_provider(whole, fake.response(_only_upstream(fake).id, events=False))


async def test_a_worker_killed_mid_stream_goes_unnoticed_by_the_client(stack, client, fake):
    fake.configure(tokens=600, tokens_per_second=150)
    got: list[Any] = []
    killed = False
    async for event in await client.responses.create(
        model="o3", input="Through a worker crash.", background=True, stream=True
    ):
        got.append(event)
        if event.type == "response.output_text.delta" and not killed:
            killed = True
            await stack.restart_worker()  # SIGKILL, then a new worker takes the run over
    response_id = got[0].response.id
    upstream = _only_upstream(fake)
    whole = await _replay(client, response_id)
    assert valid_events(got) == whole
    assert_same_as_provider(whole, fake.response(upstream.id, events=False))
    await wait_until(lambda: _terminal(fake, upstream.id))


async def _terminal(fake: FakeControl, response_id: str) -> bool:
    return fake.response(response_id, events=False).status not in ("queued", "in_progress")
