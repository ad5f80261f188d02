"""A gateway create answers as OpenAI's does: after the provider has accepted or refused the
response. A refusal reaches the client with the provider's status and code (the SDK raises its
usual exception) and leaves nothing running; a slow or retried provider gets `queued` after
a bound; parameters the gateway does not know go to the provider, which decides."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import openai
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from durable_responses.fake_openai import FakeControl
from durable_responses.gateway import Tenants, runs, start
from durable_responses.gateway.ids import idempotent_response_id, new_response_id, workflow_id
from durable_responses.gateway.requests import parse_create
from durable_responses.models.names import (
    CREATE_ACTIVITY,
    OPENAI_RESPONSE_ID,
    STREAM_READER_ACTIVITY,
)
from tests.gateways import KEY, KEYS, gateway_upstream
from tests.workers import build_worker

WAIT = 1.0
"""The gateway's create wait in these tests (5 s by default), so a slow provider is quick."""

MODES: dict[str, dict[str, Any]] = {
    "background": {"background": True},
    "stream": {"background": True, "stream": True},
    "foreground": {},
}


@pytest.fixture
async def client(dev_env, activities, task_queue, fake) -> AsyncIterator[openai.AsyncOpenAI]:
    fake.configure(tokens=40, tokens_per_second=400)
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        runner, url = await start(
            dev_env.client,
            Tenants.parse(KEYS),
            port=0,
            task_queue=task_queue,
            create_wait_seconds=WAIT,
        )
        sdk = openai.AsyncOpenAI(base_url=url, api_key=KEY, max_retries=0)
        yield sdk
        await sdk.close()
        await runner.cleanup()


async def _create(client: openai.AsyncOpenAI, mode: str, **body: Any) -> Any:
    """A create in `mode`; a stream read to its end."""
    answer = await client.responses.create(input=f"Hi ({uuid.uuid4()})", **MODES[mode], **body)
    if mode == "stream":
        return [event async for event in answer]
    return answer


async def _gateway_runs(
    temporal: Client, task_queue: str
) -> list[tuple[str, WorkflowExecutionStatus | None]]:
    """This test's gateway runs: the dev server is shared by every test of the process."""
    query = f"WorkflowId STARTS_WITH 'gateway/' AND TaskQueue = '{task_queue}'"
    return [(execution.id, execution.status) async for execution in temporal.list_workflows(query)]


async def _assert_nothing_running(
    temporal: Client, fake: FakeControl, task_queue: str, started: int
) -> None:
    """No response queued or in progress at the provider, and the runs the creates started
    ended failed (listed by visibility, which lags: waited for, with a deadline)."""
    assert [r.id for r in fake.responses() if r.status in ("queued", "in_progress")] == []
    assert gateway_upstream(fake) == []  # the provider made none
    async with asyncio.timeout(20):
        while len(runs := await _gateway_runs(temporal, task_queue)) < started or any(
            status != WorkflowExecutionStatus.FAILED for _, status in runs
        ):
            await asyncio.sleep(0.2)


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize(
    ("body", "error", "status", "code", "param"),
    [
        ({"model": "gpt-9-nonexistent"}, openai.NotFoundError, 404, "model_not_found", None),
        (
            {"model": "gpt-4.1", "tools": [{"type": "function"}]},
            openai.BadRequestError,
            400,
            "missing_required_parameter",
            "tools[0].name",
        ),
    ],
    ids=["unknown-model", "invalid-tool"],
)
async def test_a_create_the_provider_refuses_raises_its_error_and_leaves_nothing_running(
    client, fake, dev_env, task_queue, mode, body, error, status, code, param
):
    with pytest.raises(error) as refused:
        await _create(client, mode, **body)
    assert refused.value.status_code == status
    assert (refused.value.code, refused.value.param) == (code, param)
    assert refused.value.body["type"] == "invalid_request_error"  # type: ignore[index]
    assert "gpt-9-nonexistent" in refused.value.message or param
    await _assert_nothing_running(dev_env.client, fake, task_queue, started=1)


async def test_a_retried_create_of_a_refused_request_is_refused_again(
    client, fake, dev_env, task_queue
):
    key = {"Idempotency-Key": f"refused-{uuid.uuid4()}"}
    for _ in range(2):
        with pytest.raises(openai.NotFoundError):
            await client.responses.create(
                model="gpt-9-nonexistent", input="x", background=True, extra_headers=key
            )
    await _assert_nothing_running(dev_env.client, fake, task_queue, started=1)


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "delay", "seconds": 4.0, "times": 1},  # slow
        {"kind": "error", "status": 503, "times": 2},  # retried: 1 s, then 2 s later
    ],
    ids=["slow", "retrying"],
)
@pytest.mark.parametrize("mode", ["background", "stream"])
async def test_a_slow_or_retrying_provider_gets_queued_after_the_bound(client, fake, fault, mode):
    fake.add_fault(route="create", **fault)
    began = time.monotonic()
    if mode == "stream":
        stream = await client.responses.create(
            model="o3", input="Slow.", background=True, stream=True
        )
        first = await anext(aiter(stream))
        waited = time.monotonic() - began
        assert first.type == "response.created" and first.response.status == "queued"
        rest = [event async for event in stream]
        assert rest[-1].type == "response.completed"
    else:
        created = await client.responses.create(model="o3", input="Slow.", background=True)
        waited = time.monotonic() - began
        assert created.status == "queued"
        async with asyncio.timeout(30):
            while (await client.responses.retrieve(created.id)).status != "completed":
                await asyncio.sleep(0.1)
    assert WAIT <= waited < WAIT + 1.5  # the bound, not the provider's 3 or 4 s
    assert len(gateway_upstream(fake)) == 1


async def test_a_create_answers_once_the_provider_has_accepted(client, fake):
    created = await client.responses.create(model="o3", input="Now.", background=True)
    assert len(gateway_upstream(fake)) == 1  # already there when the create answered
    assert created.status in ("queued", "in_progress", "completed")


@pytest.mark.parametrize(
    ("configure", "check"),
    [
        (
            {"reject_unknown_parameters": True},
            lambda err, _: (
                (err.status_code, err.code, err.param)
                == (400, "unknown_parameter", "brand_new_param")
            ),
        ),
        (
            {"reject_unknown_parameters": False},
            lambda _, fake: gateway_upstream(fake)[0].request["brand_new_param"] == {"on": True},
        ),
    ],
    ids=["provider-refuses", "provider-knows-it"],
)
async def test_a_parameter_the_sdk_does_not_know_goes_to_the_provider(
    client, fake, configure: dict[str, Any], check: Callable[[Any, FakeControl], bool]
):
    fake.configure(**configure)
    new = {"brand_new_param": {"on": True}}
    try:
        await client.responses.create(model="o3", input="New.", background=True, extra_body=new)
    except openai.BadRequestError as err:
        assert configure["reject_unknown_parameters"]
        assert check(err, fake)
    else:
        assert not configure["reject_unknown_parameters"]
        assert check(None, fake)


async def _history(handle: WorkflowHandle[Any, Any]) -> list[Any]:
    """The run's events so far; none before it has started."""
    try:
        return [event async for event in handle.fetch_history_events()]
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        return []


def _scheduled(history: list[Any], activity: str) -> bool:
    return any(
        e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == activity
        for e in history
    )


def _id_recorded(history: list[Any]) -> bool:
    return any(
        e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
        and OPENAI_RESPONSE_ID.name
        in e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
        for e in history
    )


async def _post(url: str, key: str, mode: str) -> dict[str, Any]:
    """The create's answer: its Response, or a stream's first event."""
    body = {"model": "o3", "input": f"Accepted ({uuid.uuid4()})", **MODES[mode]}
    headers = {"Authorization": f"Bearer {KEY}", "Idempotency-Key": key}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/responses", json=body, headers=headers) as answer,
    ):
        answer.raise_for_status()
        if mode != "stream":
            return dict(await answer.json())
        async for line in answer.content:
            if line.startswith(b"data:"):
                return dict(json.loads(line[5:]))
    raise AssertionError("the stream ended without an event")


@pytest.mark.parametrize("mode", ["stream", "background"])
async def test_a_create_answers_on_the_providers_acceptance_before_the_run_records_it(
    dev_env, activities, task_queue, fake, mode
):
    """The run's workflow worker goes once the create (a stream's reader) is scheduled, so no
    workflow task records what the provider answers: the create still answers as soon as the
    provider has accepted (the reader's first batch signal; the create's first heartbeat), not
    after its bound (it waited for the workflow to record the response id)."""
    fake.configure(tokens=300, tokens_per_second=150)
    fake.add_fault(route="create", kind="delay", seconds=1.5, times=1)  # the worker goes first
    temporal = dev_env.client
    key = f"accepted-{uuid.uuid4()}"
    handle = temporal.get_workflow_handle(workflow_id("acme", idempotent_response_id("acme", key)))
    scheduled = STREAM_READER_ACTIVITY if mode == "stream" else CREATE_ACTIVITY
    runner, url = await start(
        temporal, Tenants.parse(KEYS), port=0, task_queue=task_queue, create_wait_seconds=30
    )
    try:
        async with Worker(temporal, task_queue=task_queue, activities=activities.all()):
            began = time.monotonic()
            async with build_worker(
                temporal, activities, task_queue=task_queue, no_remote_activities=True
            ):
                posted = asyncio.create_task(_post(url, key, mode))
                async with asyncio.timeout(20):
                    while not _scheduled(await _history(handle), scheduled):
                        await asyncio.sleep(0.05)
            assert not posted.done()  # the provider has not answered yet
            async with asyncio.timeout(20):
                answer = await posted
            waited = time.monotonic() - began
            assert not _id_recorded(await _history(handle))  # no workflow task since
            assert len(gateway_upstream(fake)) == 1
            assert waited < 10, waited  # the provider's 1.5 s, not the 30 s bound
            response = answer["response"] if mode == "stream" else answer
            assert response["status"] in ("queued", "in_progress")
            async with (
                build_worker(
                    temporal, activities, task_queue=task_queue, no_remote_activities=True
                ),
                asyncio.timeout(30),
            ):
                await handle.result()  # the run ends, recorded as ever
    finally:
        await runner.cleanup()


async def test_a_create_that_polls_first_is_answered_on_its_first_heartbeat(
    dev_env, activities, task_queue, fake
):
    """A foreground create keeps the first polls: its activity goes on polling for seconds
    after the provider accepted, its first heartbeat naming the response. The create's wait
    ends on that heartbeat, while the activity still runs (it waited for the activity's end
    and the workflow task after it)."""
    fake.configure(tokens=900, tokens_per_second=150)  # 6 s: the activity polls all along
    temporal = dev_env.client
    response_id = new_response_id()
    handle = temporal.get_workflow_handle(workflow_id("acme", response_id))
    call = parse_create({"model": "o3", "input": f"Polled ({uuid.uuid4()})"})
    async with (
        Worker(temporal, task_queue=task_queue, activities=activities.all()),
        build_worker(temporal, activities, task_queue=task_queue, no_remote_activities=True),
    ):
        await runs.start(temporal, task_queue, "acme", response_id, call)
        began = time.monotonic()
        reader = await runs.created(temporal, "acme", response_id, wait_seconds=30)
        waited = time.monotonic() - began
        history = await _history(handle)
        assert _scheduled(history, CREATE_ACTIVITY)
        assert not any(
            e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED for e in history
        )  # the create still polls
        assert len(gateway_upstream(fake)) == 1
        assert waited < 3, waited
        assert reader.refusal is None and not reader.run.terminal
        async with asyncio.timeout(30):
            await handle.result()  # the run ends, recorded as ever
