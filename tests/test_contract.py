"""Every body and every event the gateway and the fake send, validated against OpenAI's
published OpenAPI description of the Responses routes (tests/openapi.py; the exceptions where
the live API differs from it are listed there, in `LIVE_API`): every item type, and a
Response at every status (queued, in_progress, completed, failed, cancelled, incomplete)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from durable_responses.gateway import Tenants, start
from tests import openapi
from tests.gateways import KEY, KEYS
from tests.test_items_integration import MCP, SCENARIOS
from tests.workers import build_worker

ITEMS: dict[str, dict[str, Any]] = {
    **{name: dict(scenario.fields) for name, scenario in SCENARIOS.items()},
    "mcp-call": {"model": "o3", "tools": [{**MCP, "require_approval": "never"}]},
}
"""The fake's item scenarios (tests/test_items_integration.py), and an MCP call without an
approval (mcp_call and its argument events)."""

STATUSES = ("queued", "in_progress", "completed", "failed", "cancelled", "incomplete")


@dataclass
class Api:
    """Raw HTTP to a Responses API (the gateway or the fake): bodies as sent, every event."""

    http: aiohttp.ClientSession
    base_url: str
    key: str

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    async def call(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[int, Any]:
        async with self.http.request(
            method, self.base_url + path, json=body, headers=self._headers()
        ) as answer:
            return answer.status, await answer.json()

    async def events(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, until: int = 0
    ) -> list[dict[str, Any]]:
        """The stream's events, whole; or its first `until` events, then the connection
        closed."""
        got: list[dict[str, Any]] = []
        async with self.http.request(
            method, self.base_url + path, json=body, headers=self._headers()
        ) as answer:
            assert answer.status == 200, await answer.text()
            async for raw in answer.content:
                line = raw.decode().rstrip("\r\n")
                if line.startswith("data:"):
                    got.append(json.loads(line[5:]))
                    if until and len(got) >= until:
                        break
        return got

    async def create(self, **body: Any) -> dict[str, Any]:
        status, answer = await self.call("POST", "/responses", body)
        assert status == 200, answer
        openapi.check(answer, "Response")
        return dict(answer)

    async def retrieve(self, response_id: str) -> dict[str, Any]:
        status, answer = await self.call("GET", f"/responses/{response_id}")
        assert status == 200, answer
        openapi.check(answer, "Response")
        return dict(answer)

    async def until(self, response_id: str, *statuses: str, timeout: float = 30) -> dict[str, Any]:
        """The Response once its status is one of `statuses` (checked at every read)."""
        async with asyncio.timeout(timeout):
            while (body := await self.retrieve(response_id))["status"] not in statuses:
                await asyncio.sleep(0.05)
        return body


def check_stream(events: list[dict[str, Any]]) -> None:
    for event in events:
        openapi.check_event(event)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def fake_api(http, fake_server, fake) -> Api:
    return Api(http, fake_server.base_url, "sk-test")


@pytest.fixture
async def gateway_api(http, dev_env, activities, task_queue, fake) -> AsyncIterator[Api]:
    """A gateway in this process over a worker on its task queue."""
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        runner, url = await start(
            dev_env.client, Tenants.parse(KEYS), port=0, task_queue=task_queue
        )
        yield Api(http, url, KEY)
        await runner.cleanup()


@pytest.fixture(params=["fake", "gateway"])
def api(request, fake) -> Api:
    fake.configure(tokens=60, tokens_per_second=600, item_seconds=0.02, queued_seconds=0.02)
    return request.getfixturevalue(f"{request.param}_api")


def test_the_description_is_the_vendored_one_with_its_exceptions():
    assert openapi.COMMIT == "f85dbe223d40e1a31cba812ab2d755c7e98a92a3"
    assert set(openapi.SPEC["paths"]) == {
        "/responses",
        "/responses/{response_id}",
        "/responses/{response_id}/cancel",
        "/responses/{response_id}/input_items",
    }
    # The checks are not vacuous: a Response without its required properties is refused.
    assert openapi.problems({"id": "resp_1", "object": "response"}, "Response")


@pytest.mark.parametrize("name", list(ITEMS))
async def test_every_item_types_events_and_bodies_keep_the_contract(api, name):
    create = {"input": f"Items ({uuid.uuid4()})", "background": True, **ITEMS[name]}
    events = await api.events("POST", "/responses", {**create, "stream": True})
    check_stream(events)
    assert events[-1]["type"] == "response.completed"
    response_id = events[0]["response"]["id"]
    body = await api.retrieve(response_id)
    assert body["output"] == events[-1]["response"]["output"]
    again = await api.events("GET", f"/responses/{response_id}?stream=true&starting_after=2")
    assert again == events[3:]
    status, items = await api.call("GET", f"/responses/{response_id}/input_items")
    assert status == 200
    openapi.check(items, "ResponseItemList")
    polled = await api.create(**create)
    assert (await api.until(polled["id"], "completed"))["output"]


async def test_queued_then_cancelled_keeps_the_contract(api, fake):
    fake.configure(queued_seconds=30)
    created = await api.create(model="o3", input="Wait.", background=True)
    assert created["status"] == "queued"
    assert (await api.retrieve(created["id"]))["status"] == "queued"
    streamed = await api.events(
        "POST",
        "/responses",
        {"model": "o3", "input": "Wait.", "background": True, "stream": True},
        until=2,
    )
    check_stream(streamed)
    assert [e["type"] for e in streamed] == ["response.created", "response.queued"]
    for response_id in (created["id"], streamed[0]["response"]["id"]):
        status, cancelled = await api.call("POST", f"/responses/{response_id}/cancel")
        assert status == 200, cancelled
        openapi.check(cancelled, "Response")
        assert (await api.until(response_id, "cancelled"))["status"] == "cancelled"
    events = await api.events("GET", f"/responses/{streamed[0]['response']['id']}?stream=true")
    check_stream(events)


async def test_in_progress_keeps_the_contract(api, fake):
    fake.configure(tokens=400, tokens_per_second=40, queued_seconds=0.0)
    created = await api.create(model="gpt-4.1", input="Write.", background=True)
    await api.until(created["id"], "in_progress")
    streamed = await api.events(
        "POST",
        "/responses",
        {"model": "gpt-4.1", "input": "Write.", "background": True, "stream": True},
        until=8,
    )
    check_stream(streamed)
    assert streamed[-1]["type"] == "response.output_text.delta"
    live = streamed[0]["response"]["id"]
    assert (await api.until(live, "in_progress"))["status"] == "in_progress"
    again = await api.events("GET", f"/responses/{live}?stream=true", until=8)
    assert again == streamed
    for response_id in (created["id"], live):
        status, cancelled = await api.call("POST", f"/responses/{response_id}/cancel")
        assert status == 200, cancelled
        openapi.check(cancelled, "Response")
        assert (await api.until(response_id, "cancelled"))["status"] == "cancelled"
    check_stream(await api.events("GET", f"/responses/{live}?stream=true"))


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        ({"kind": "fail", "after_tokens": 10}, "failed"),
        ({"kind": "fail", "after_tokens": 150}, "failed"),  # mid-message, as a stream shows
        ({"kind": "incomplete", "after_tokens": 10}, "incomplete"),
    ],
)
async def test_failed_and_incomplete_keep_the_contract(api, fake, fault, status):
    fake.configure(tokens=300, tokens_per_second=100)
    fake.add_fault(route="create", **fault)
    events = await api.events(
        "POST",
        "/responses",
        {"model": "gpt-4.1", "input": "End.", "background": True, "stream": True},
    )
    check_stream(events)
    assert events[-1].get("response", {}).get("status") == status, [e["type"] for e in events]
    await api.until(events[0]["response"]["id"], status)
    polled = await api.create(model="gpt-4.1", input="End.", background=True)
    assert (await api.until(polled["id"], status))["status"] == status
    again = await api.events("GET", f"/responses/{events[0]['response']['id']}?stream=true")
    check_stream(again)
    assert again[-1].get("response", {}).get("status") == status, [e["type"] for e in again]


async def test_error_bodies_keep_the_contract(api):
    status, body = await api.call("GET", "/responses/resp_0123456789abcdef0123456789abcdef")
    assert status == 404
    openapi.check(body, "ErrorResponse")
    status, body = await api.call("POST", "/responses", {"model": "o3", "input": 5})
    assert status == 400
    openapi.check(body, "ErrorResponse")


async def test_a_tool_round_and_a_foreground_create_keep_the_contract(api):
    """A second turn's input items (function call outputs, an assistant message as a string)
    and a create answered at the end."""
    first = await api.create(**ITEMS["function-call"], input="Weather?", background=True)
    first = await api.until(first["id"], "completed")
    (call,) = [item for item in first["output"] if item["type"] == "function_call"]
    turn = [
        {"type": "function_call_output", "call_id": call["call_id"], "output": '{"c": 21}'},
        {"role": "assistant", "content": "Asking again."},
        {"role": "user", "content": [{"type": "input_text", "text": "And tomorrow?"}]},
    ]
    second = await api.create(
        **ITEMS["function-call"], input=turn, previous_response_id=first["id"]
    )
    assert second["status"] == "completed"
    for query in ("", "?order=asc&limit=1", "?order=desc&limit=2"):
        status, items = await api.call("GET", f"/responses/{second['id']}/input_items{query}")
        assert status == 200, items
        openapi.check(items, "ResponseItemList")
    status, items = await api.call("GET", f"/responses/{second['id']}/input_items?order=asc")
    assert [item["type"] for item in items["data"]] == [
        "function_call_output",
        "message",
        "message",
    ]
