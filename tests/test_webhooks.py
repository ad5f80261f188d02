"""Webhooks end to end: the fake delivers signed events over HTTP, the receiver verifies them
with the SDK and signals the owning workflow, which wakes at once instead of at its next poll.
Lost deliveries are caught by the safety-net poll; bad signatures, stale timestamps and
replayed deliveries are refused or ignored, and counted."""

from __future__ import annotations

import asyncio
import base64
import contextlib
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
from aiohttp import web
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus
from temporalio.worker import Worker

from durable_responses import webhooks
from durable_responses.activities import ResponsesActivities
from durable_responses.models import METADATA_WORKFLOW_KEY, PollPolicy, ResponseRequest
from durable_responses.workflows import BackgroundResponseWorkflow
from tests.agent_workflows import WebhookWaiter
from tests.workers import address_of, build_worker, free_port, wait_until, worker_process

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


# ---- duplicates and late deliveries against live runs ------------------------------------------

FORWARDED = ("webhook-id", "webhook-timestamp", "webhook-signature", "content-type")


@contextlib.asynccontextmanager
async def _forwarder(
    targets: list[str],
) -> AsyncIterator[tuple[list[tuple[bytes, dict[str, str]]], str]]:
    """A load balancer that hands each delivery to every target in turn (as two replicas each
    get a copy when OpenAI retries through another one), answering with the first's status.
    Yields the deliveries it saw (to send again, as a redelivery would) and its URL."""
    captured: list[tuple[bytes, dict[str, str]]] = []
    http = aiohttp.ClientSession()

    async def forward(request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k: request.headers[k] for k in FORWARDED if k in request.headers}
        captured.append((body, headers))
        statuses = []
        for url in list(targets):
            async with http.post(url, data=body, headers=headers) as answer:
                statuses.append(answer.status)
        return web.Response(status=statuses[0])

    app = web.Application()
    app.router.add_post("/", forward)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    own = f"http://127.0.0.1:{runner.addresses[0][1]}/"
    try:
        yield captured, own
    finally:
        await runner.cleanup()
        await http.close()


async def _replica(dev_env, api: openai.AsyncOpenAI, port: int = 0):
    return await webhooks.start(dev_env.client, [SECRET], port=port, openai_client=api)


async def _post(url: str, delivery: tuple[bytes, dict[str, str]]) -> tuple[int, dict]:
    body, headers = delivery
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as got:
        return got.status, await got.json()


async def test_two_receiver_replicas_each_signal_a_live_run_which_ends_once(
    dev_env, fake, fake_server, webhook_activities, task_queue
):
    """Both replicas get the delivery and neither knows the other signalled: the run takes
    two signals, still retrieves a few times only, and ends once with the provider's text. The
    provider's reads lag its webhook by a second, so both signals find the run live."""
    api = openai.AsyncOpenAI(base_url=fake_server.base_url, api_key="sk-test", max_retries=0)
    (runner_a, a, url_a), (runner_b, b, url_b) = (
        await _replica(dev_env, api),
        await _replica(dev_env, api),
    )
    try:
        async with _forwarder([url_a, url_b]) as (captured, url):
            fake.configure(
                tokens=100,
                tokens_per_second=100,
                webhook_url=url,
                webhook_secret=SECRET,
                retrieve_lag_seconds=1.0,
            )
            async with build_worker(dev_env.client, webhook_activities, task_queue=task_queue):
                handle = await dev_env.client.start_workflow(
                    BackgroundResponseWorkflow.run,
                    ResponseRequest(input="Two replicas.", poll=SAFETY_NET),
                    id=f"hook-replicas-{uuid.uuid4()}",
                    task_queue=task_queue,
                )
                result = await asyncio.wait_for(handle.result(), timeout=60)
    finally:
        await runner_a.cleanup()
        await runner_b.cleanup()
        await api.close()
    assert len(captured) == 1  # one delivery, handed to both
    assert a.counts["signalled"] == b.counts["signalled"] == 1
    assert _signals((await handle.fetch_history()).events) == 2
    record = fake.response(result.response_id)
    assert result.status == "completed" and result.output_text == record.text
    assert [r.id for r in fake.responses()] == [result.response_id]  # one create
    assert result.polls <= 4  # one per signal and a re-poll or two, no interval passed
    done = (await handle.describe()).close_time
    assert done is not None and record.finished_at is not None
    assert done.timestamp() - record.finished_at < 1.0 + 4.0  # the lag, then a re-poll


async def test_a_redelivery_after_a_receiver_restart_signals_a_live_run_again_and_a_late_one_is_counted(  # noqa: E501
    dev_env, fake, fake_server, webhook_activities, task_queue
):
    """The receiver's memory of deliveries is its process's: restarted on its port, it
    signals a redelivery again. The live run takes it (one retrieve more); once the run has
    ended, the same redelivery is a duplicate to that receiver and late to a fresh one (200,
    counted, no signal)."""
    api = openai.AsyncOpenAI(base_url=fake_server.base_url, api_key="sk-test", max_retries=0)
    port = free_port()
    runner, first, url = await _replica(dev_env, api, port)
    try:
        async with _forwarder([url]) as (captured, forwarder_url):
            fake.configure(
                tokens=100,
                tokens_per_second=100,
                webhook_url=forwarder_url,
                webhook_secret=SECRET,
                retrieve_lag_seconds=3.0,  # the run stays live for seconds after the webhook
            )
            async with build_worker(dev_env.client, webhook_activities, task_queue=task_queue):
                handle = await dev_env.client.start_workflow(
                    BackgroundResponseWorkflow.run,
                    ResponseRequest(input="Restarted receiver.", poll=SAFETY_NET),
                    id=f"hook-restart-{uuid.uuid4()}",
                    task_queue=task_queue,
                )

                async def signalled() -> bool:
                    return first.counts["signalled"] == 1

                await wait_until(signalled, timeout=60)
                await runner.cleanup()
                runner, restarted, _ = await _replica(dev_env, api, port)
                assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
                status, answer = await _post(url, captured[0])  # OpenAI's retry of it
                assert (status, answer) == (200, {"signalled": handle.id})
                result = await asyncio.wait_for(handle.result(), timeout=60)
        assert await _post(url, captured[0]) == (200, {"duplicate": True})
        await runner.cleanup()
        runner, fresh, _ = await _replica(dev_env, api, port)
        status, answer = await _post(url, captured[0])
        assert (status, answer) == (200, {"late": result.response_id})
    finally:
        await runner.cleanup()
        await api.close()
    assert restarted.counts["signalled"] == 1 and restarted.counts["duplicates"] == 1
    assert fresh.counts["late"] == 1 and fresh.counts["signalled"] == 0
    assert _signals((await handle.fetch_history()).events) == 2  # the late one changed nothing
    assert result.status == "completed"
    assert result.output_text == fake.response(result.response_id).text
    assert [r.id for r in fake.responses()] == [result.response_id]


async def test_a_late_webhook_for_an_ended_run_is_acknowledged_counted_and_ignored(
    dev_env, fake, receiver, activities, task_queue
):
    """The run ended by polling before its webhook came: 200 (or OpenAI retries it for
    days), counted as late, and nothing reaches the closed run."""
    counter, url = receiver
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        handle = await dev_env.client.start_workflow(
            BackgroundResponseWorkflow.run,
            ResponseRequest(input="x", poll=PollPolicy(initial_interval_seconds=0.2)),
            id=f"hook-late-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        result = await asyncio.wait_for(handle.result(), timeout=60)
    body = _event(result.response_id)
    status, answer = await _post(url, (body, _signed(body, SECRET, "wh_late", int(time.time()))))
    assert (status, answer) == (200, {"late": result.response_id})
    assert counter.counts["late"] == 1 and counter.counts["signalled"] == 0
    assert counter.lookup.by_visibility == 1  # found, closed: not an unknown response
    assert _signals((await handle.fetch_history()).events) == 0
