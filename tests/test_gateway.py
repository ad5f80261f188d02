"""The gateway through the unmodified OpenAI SDK: OpenAI's Responses API over the durable
workflows, its objects and events valid for the SDK, its stream resumable from any event long
after the provider's replay window, its tenants kept apart, its errors in OpenAI's shape."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import openai
import pytest
from openai.types.responses import Response

from durable_responses.gateway import Tenants, start
from tests.gateways import KEY, KEYS, OTHER_KEY, gateway_upstream, valid_events
from tests.test_items_integration import SCENARIOS
from tests.workers import build_worker


@dataclass
class Gateway:
    url: str
    client: openai.AsyncOpenAI
    other: openai.AsyncOpenAI


async def _ended(client: openai.AsyncOpenAI, response: Response, timeout: float = 60) -> Response:
    """Poll through the gateway until the response ends; fail (not hang) after `timeout`."""
    async with asyncio.timeout(timeout):
        while response.status in ("queued", "in_progress"):
            await asyncio.sleep(0.1)
            response = await client.responses.retrieve(response.id)
    return response


@pytest.fixture
async def gateway(dev_env, activities, task_queue, fake) -> AsyncIterator[Gateway]:
    """A gateway in this process, a worker on its task queue, two tenants' SDK clients."""
    tenants = Tenants.parse(KEYS)
    fake.configure(tokens=60, tokens_per_second=300)
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        runner, url = await start(dev_env.client, tenants, port=0, task_queue=task_queue)
        client = openai.AsyncOpenAI(base_url=url, api_key=KEY, max_retries=0)
        other = openai.AsyncOpenAI(base_url=url, api_key=OTHER_KEY, max_retries=0)
        yield Gateway(url, client, other)
        await client.close()
        await other.close()
        await runner.cleanup()


async def test_a_background_response_is_polled_to_its_end_as_from_openai(gateway, fake):
    created = await gateway.client.responses.create(model="o3", input="Hi.", background=True)
    assert created.status == "queued" and created.id.startswith("resp_")
    response = await _ended(gateway.client, created)
    (upstream,) = gateway_upstream(fake)
    assert response.status == "completed" and response.id == created.id
    assert response.output_text == upstream.text
    Response.model_validate(response.to_dict())


async def test_a_stream_resumed_from_any_event_gets_each_event_once_in_order(gateway, fake):
    stream = await gateway.client.responses.create(
        model="gpt-4.1", input="Tell it.", background=True, stream=True
    )
    first: list[Any] = []
    async for event in stream:
        first.append(event)
        if len(first) == 12:
            break  # the connection drops
    await stream.close()
    response_id = first[0].response.id
    resumed = await gateway.client.responses.retrieve(
        response_id, stream=True, starting_after=first[-1].sequence_number
    )
    rest = [event async for event in resumed]
    whole = [e async for e in await gateway.client.responses.retrieve(response_id, stream=True)]
    assert valid_events(first + rest) == valid_events(whole)
    text = "".join(e.delta for e in whole if e.type == "response.output_text.delta")
    (upstream,) = gateway_upstream(fake)
    assert text == upstream.text
    assert whole[-1].type == "response.completed"
    Response.model_validate(whole[-1].response.to_dict())


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_every_item_type_comes_through_valid_for_the_sdk(gateway, fake, name):
    fields = {k: v for k, v in SCENARIOS[name].fields.items()}
    events = [
        e
        async for e in await gateway.client.responses.create(
            input=f"Items ({uuid.uuid4()})", background=True, stream=True, **fields
        )
    ]
    raw = valid_events(events)
    (upstream,) = gateway_upstream(fake)
    final = raw[-1]["response"]
    assert final["output"] == upstream.output  # every item, as the provider made it
    done = [e["item"] for e in raw if e["type"] == "response.output_item.done"]
    assert done == upstream.output
    got = await gateway.client.responses.retrieve(final["id"])
    Response.model_validate(got.to_dict())
    assert got.to_dict()["output"] == upstream.output


async def test_another_tenants_id_is_not_found_and_a_bad_key_starts_nothing(gateway, fake):
    created = await gateway.client.responses.create(model="o3", input="Mine.", background=True)
    with pytest.raises(openai.NotFoundError):
        await gateway.other.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        await gateway.other.responses.cancel(created.id)
    stranger = openai.AsyncOpenAI(base_url=gateway.url, api_key="nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        await stranger.responses.create(model="o3", input="x", background=True)
    with pytest.raises(openai.BadRequestError) as bad:
        await gateway.client.responses.create(
            model="o3", input="x", background=True, extra_body={"modle": "o3"}
        )
    assert bad.value.param == "modle"
    async with aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
        async with http.post(
            f"{gateway.url}/responses", data=b"{not json", headers=headers
        ) as answer:
            assert answer.status == 400
            assert (await answer.json())["error"]["type"] == "invalid_request_error"
    await stranger.close()
    response = await _ended(gateway.client, created)
    assert response.status == "completed"  # the other tenant's cancel changed nothing
    assert len(gateway_upstream(fake)) == 1  # only the tenant's own create reached the provider


async def test_a_retried_create_with_the_same_key_finds_the_same_response(gateway, fake):
    first = await gateway.client.responses.create(
        model="o3", input="Once.", background=True, extra_headers={"Idempotency-Key": "k-1"}
    )
    again = await gateway.client.responses.create(
        model="o3", input="Once.", background=True, extra_headers={"Idempotency-Key": "k-1"}
    )
    assert first.id == again.id
    other = await gateway.other.responses.create(
        model="o3", input="Once.", background=True, extra_headers={"Idempotency-Key": "k-1"}
    )
    assert other.id != first.id  # keys are the tenant's own
    await _ended(gateway.client, first)
    await _ended(gateway.other, other)
    assert len(gateway_upstream(fake)) == 2


async def test_a_foreground_create_waits_for_the_answer(gateway, fake):
    response = await gateway.client.responses.create(model="gpt-4.1", input="Now.")
    (upstream,) = gateway_upstream(fake)
    assert response.status == "completed" and response.output_text == upstream.text


async def test_cancel_stops_the_run_and_the_response_upstream(gateway, fake):
    fake.configure(tokens=2000, tokens_per_second=50)
    created = await gateway.client.responses.create(model="o3", input="Long.", background=True)
    async with asyncio.timeout(30):
        while not gateway_upstream(fake):
            await asyncio.sleep(0.05)
    cancelled = await gateway.client.responses.cancel(created.id)
    assert cancelled.status == "cancelled" and cancelled.id == created.id
    (upstream,) = gateway_upstream(fake)
    assert fake.response(upstream.id, events=False).status == "cancelled"
    assert (await gateway.client.responses.retrieve(created.id)).status == "cancelled"


async def test_a_turn_chains_from_the_gateways_id(gateway, fake):
    first = await gateway.client.responses.create(model="gpt-4.1", input="One.")
    second = await gateway.client.responses.create(
        model="gpt-4.1", input="Two.", previous_response_id=first.id
    )
    assert second.previous_response_id == first.id
    upstream = {r.id: r for r in gateway_upstream(fake)}
    (turn_two,) = [r for r in upstream.values() if r.request.get("previous_response_id")]
    assert turn_two.request["previous_response_id"] in upstream  # the provider's id of turn one
    with pytest.raises(openai.NotFoundError):
        await gateway.other.responses.create(
            model="gpt-4.1", input="x", previous_response_id=first.id
        )


async def test_a_reconnecting_browsers_last_event_id_wins_over_the_urls_cursor(gateway, fake):
    """EventSource reconnects to the URL it first opened, sending the last event it got."""
    stream = await gateway.client.responses.create(
        model="gpt-4.1", input="Reconnect.", background=True, stream=True
    )
    whole = [e async for e in stream]
    url = f"{gateway.url}/responses/{whole[0].response.id}?stream=true&starting_after=3"
    headers = {"Authorization": f"Bearer {KEY}", "Last-Event-ID": "10"}
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as answer:
        ids = [int(line[3:]) async for line in answer.content if line.startswith(b"id:")]
    assert ids == [e.sequence_number for e in whole][11:]


async def test_a_key_reused_with_another_body_is_a_conflict_that_starts_nothing(gateway, fake):
    first = await gateway.client.responses.create(
        model="o3", input="Once.", background=True, extra_headers={"Idempotency-Key": "k-2"}
    )
    with pytest.raises(openai.ConflictError) as conflict:
        await gateway.client.responses.create(
            model="o3", input="Twice?", background=True, extra_headers={"Idempotency-Key": "k-2"}
        )
    assert conflict.value.code == "idempotency_key_reused"
    await _ended(gateway.client, first)
    (upstream,) = gateway_upstream(fake)
    assert upstream.request["input"] == "Once."


async def test_a_foreground_client_that_leaves_finds_its_answer_with_the_same_key(gateway, fake):
    """The run goes on without the client; a retry with the key gets the finished response."""
    fake.configure(tokens=300, tokens_per_second=150)
    key = {"Idempotency-Key": f"fg-{uuid.uuid4()}"}
    with pytest.raises(openai.APITimeoutError):
        await gateway.client.responses.create(
            model="gpt-4.1", input="Wait for me.", extra_headers=key, timeout=0.5
        )
    response = await gateway.client.responses.create(
        model="gpt-4.1", input="Wait for me.", extra_headers=key
    )
    (upstream,) = gateway_upstream(fake)
    assert response.status == "completed" and response.output_text == upstream.text


async def test_input_items_then_delete(gateway, fake):
    created = await gateway.client.responses.create(model="gpt-4.1", input="Keep this question.")
    items = await gateway.client.responses.input_items.list(created.id)
    assert [item.to_dict()["content"][0]["text"] for item in items.data] == ["Keep this question."]
    with pytest.raises(openai.NotFoundError):
        await gateway.other.responses.delete(created.id)
    # Temporal removes the history in the background (about 35 s on the dev server).
    assert await gateway.client.responses.delete(created.id) is None  # the SDK's answer to a 200
