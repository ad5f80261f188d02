"""Webhooks end to end: the fake delivers signed events over HTTP, the receiver verifies them
with the SDK and signals the owning workflow, which wakes at once instead of at its next poll.
Lost deliveries are caught by the safety-net poll; bad signatures, stale timestamps and
replayed deliveries are refused or ignored, and counted."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator

import aiohttp
import openai
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.worker import Worker

from durable_responses import webhooks
from durable_responses.activities import ResponsesActivities
from durable_responses.models import METADATA_WORKFLOW_KEY, PollPolicy, ResponseRequest
from durable_responses.workflows import BackgroundResponseWorkflow
from tests.agent_workflows import WebhookWaiter
from tests.workers import address_of, build_worker, free_port, worker_process

SECRET = "whsec_" + base64.b64encode(b"durable-responses-test-secret-32b").decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"the-secret-before-the-rotation!!").decode()
SAFETY_NET = PollPolicy()  # webhooks: the first poll after 10 minutes
"""Ten minutes before the first poll: a run that ends within a second did not end by polling."""


@pytest.fixture
async def receiver(dev_env, fake_server) -> AsyncIterator[tuple[webhooks.Receiver, str]]:
    """The receiver (both secrets accepted, as during a rotation) on a free port, asking the
    fake for the owner of a response visibility does not list; its URL."""
    api = openai.AsyncOpenAI(base_url=fake_server.base_url, api_key="sk-test", max_retries=0)
    runner, receiver, url = await webhooks.start(
        dev_env.client, [SECRET, OLD_SECRET], port=0, openai_client=api
    )
    yield receiver, url
    await runner.cleanup()
    await api.close()


@pytest.fixture
async def webhook_activities(fake_server) -> AsyncIterator[ResponsesActivities]:
    """Activities that tell the workflows a receiver will wake them."""
    client = openai.AsyncOpenAI(base_url=fake_server.base_url, api_key="sk-test", max_retries=0)
    yield ResponsesActivities(client, webhooks=True)
    await client.close()


def _signals(events) -> int:
    return sum(
        1 for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    )


async def test_a_webhook_ends_the_run_within_a_second_not_at_the_next_poll(
    dev_env, fake, receiver, webhook_activities, task_queue
):
    _, url = receiver
    fake.configure(tokens=200, tokens_per_second=100, webhook_url=url, webhook_secret=SECRET)
    async with build_worker(dev_env.client, webhook_activities, task_queue=task_queue):
        handle = await dev_env.client.start_workflow(
            BackgroundResponseWorkflow.run,
            ResponseRequest(input="A two-second answer.", poll=SAFETY_NET),
            id=f"hook-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        result = await asyncio.wait_for(handle.result(), timeout=60)
    done = (await handle.describe()).close_time
    (delivery,) = [d for d in fake.webhooks() if d.response_id == result.response_id]
    assert done is not None and done.timestamp() - delivery.sent_at < 1.0
    assert result.polls == 1  # the one retrieve the webhook asked for; no interval passed
    assert result.output_text == fake.response(result.response_id).text
    assert _signals((await handle.fetch_history()).events) == 1


async def test_a_lost_delivery_is_caught_by_the_safety_net_poll(
    dev_env, fake, receiver, webhook_activities, task_queue
):
    _, url = receiver
    fake.configure(tokens=20, tokens_per_second=200, webhook_url=url, webhook_secret=SECRET)
    fake.add_fault(route="webhook", kind="drop")
    async with build_worker(dev_env.client, webhook_activities, task_queue=task_queue):
        result = await dev_env.client.execute_workflow(
            BackgroundResponseWorkflow.run,
            ResponseRequest(input="x", poll=PollPolicy(webhook_interval_seconds=2)),
            id=f"hook-lost-{uuid.uuid4()}",
            task_queue=task_queue,
        )
    assert result.status == "completed" and result.polls == 1
    assert not [d for d in fake.webhooks() if d.response_id == result.response_id and d.status]


def _signed(body: bytes, secret: str, webhook_id: str, timestamp: int) -> dict[str, str]:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": "v1," + base64.b64encode(mac.digest()).decode(),
        "content-type": "application/json",
    }


def _event(response_id: str) -> bytes:
    event = {
        "id": f"evt_{secrets.token_hex(8)}",
        "object": "event",
        "type": "response.completed",
        "created_at": int(time.time()),
        "data": {"id": response_id},
    }
    return json.dumps(event).encode()


async def test_bad_signatures_stale_timestamps_and_replays_are_refused_and_counted(
    dev_env, fake, openai_async, task_queue, receiver
):
    """Nothing reaches the owner but the one good delivery, however often it comes. The owner
    is a workflow of a caller's, found by the response's metadata (visibility lists it under
    no `OpenAIResponseId`)."""
    counter, url = receiver
    async with Worker(dev_env.client, task_queue=task_queue, workflows=[WebhookWaiter]):
        waiter_id = f"waiter-{uuid.uuid4()}"
        created = await openai_async.responses.create(
            model="gpt-4.1",
            input="x",
            background=True,
            metadata={METADATA_WORKFLOW_KEY: waiter_id},
        )
        waiter = await dev_env.client.start_workflow(
            WebhookWaiter.run, created.id, id=waiter_id, task_queue=task_queue
        )
        now = int(time.time())
        body = _event(created.id)
        wrong = "whsec_" + base64.b64encode(b"x" * 32).decode()
        cases = [
            _signed(body, wrong, "wh_1", now),
            _signed(body, SECRET, "wh_2", now - 3600),  # an hour old
            _signed(body, SECRET, "wh_3", now + 3600),  # from the future
            {"content-type": "application/json"},  # no signature at all
            _signed(body + b" ", SECRET, "wh_4", now),  # a body changed on the way
        ]
        async with aiohttp.ClientSession() as http:
            for headers in cases:
                async with http.post(url, data=body, headers=headers) as answer:
                    assert answer.status == 400
            good = _signed(body, OLD_SECRET, "wh_good", now)  # the secret being rotated out
            for _ in range(3):  # OpenAI delivers at least once
                async with http.post(url, data=body, headers=good) as answer:
                    assert answer.status == 200
        assert await asyncio.wait_for(waiter.result(), 30) == created.id
    counts = counter.counts
    assert (counts["rejected_signature"], counts["rejected_stale"]) == (2, 2)
    assert counts["rejected_malformed"] == 1
    assert (counts["signalled"], counts["duplicates"]) == (1, 2)
    assert counter.lookup.by_metadata == 1
    assert _signals((await waiter.fetch_history()).events) == 1


async def test_an_unknown_response_is_acknowledged_and_logged(receiver):
    counter, url = receiver
    body = _event("resp_nobody_owns_this")
    async with aiohttp.ClientSession() as http:
        headers = _signed(body, SECRET, "wh_unknown", int(time.time()))
        async with http.post(url, data=body, headers=headers) as answer:
            assert answer.status == 200
    assert counter.counts["unknown"] == 1 and counter.counts["signalled"] == 0


async def test_the_worker_receives_webhooks_beside_its_task_queue(
    dev_env, fake, fake_server, task_queue
):
    """`durable-responses-worker --webhook-port`: one process, the fake delivering to it."""
    port = free_port()
    fake.configure(
        tokens=200,
        tokens_per_second=100,
        webhook_url=f"http://127.0.0.1:{port}/webhooks/openai",
        webhook_secret=SECRET,
    )
    worker = worker_process(
        address_of(dev_env),
        task_queue,
        fake_server.base_url,
        args=["--webhook-port", str(port)],
        OPENAI_WEBHOOK_SECRET=f"{OLD_SECRET},{SECRET}",
    )
    await asyncio.to_thread(worker.start)
    try:
        result = await dev_env.client.execute_workflow(
            BackgroundResponseWorkflow.run,
            ResponseRequest(input="Quick.", poll=SAFETY_NET),
            id=f"hook-worker-{uuid.uuid4()}",
            task_queue=task_queue,
        )
    finally:
        worker.kill()
    assert result.status == "completed" and result.polls == 1
