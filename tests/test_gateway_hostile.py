"""The gateway under hostile input: every malformed header, query and body gets an OpenAI-shaped
4xx, starts or changes no workflow, and leaves one log line, never a traceback; bodies are
refused by size before they are parsed; cancel and delete answer promptly with no worker."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from unittest import mock

import aiohttp
import httpx2 as httpx
import openai
import pytest
from aiohttp.test_utils import make_mocked_request
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from durable_responses.gateway import Tenants, hash_key, runs, start
from durable_responses.gateway.bodies import MAX_BODY_BYTES
from durable_responses.gateway.ids import idempotent_response_id, workflow_id
from durable_responses.gateway.limits import RUNS_RETRY_AFTER_SECONDS, TenantLimits
from durable_responses.webhooks import OwnerLookup, Receiver, Verifier
from durable_responses.webhooks import build_app as build_receiver_app
from durable_responses.webhooks import start as start_receiver
from durable_responses.webhooks.app import STATS_TOKEN_VARIABLE
from tests.gateways import KEY, KEYS, OTHER_KEY, RawAnswer, gateway_upstream, raw_request
from tests.tcp_proxy import TcpProxy
from tests.workers import build_worker

TENANT = "acme"
SMALL_CAP = 256 * 1024
"""The body cap of the gateway these tests start: large bodies stay cheap to send."""


@dataclass
class Hostile:
    client: Client
    host: str
    port: int
    task_queue: str

    async def send(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, bytes] | None = None,
        body: bytes = b"",
        chunked: bool = False,
    ) -> RawAnswer:
        given = {"Authorization": f"Bearer {KEY}".encode(), **(headers or {})}
        if body or method == "POST":
            given.setdefault("Content-Type", b"application/json")
        return await raw_request(
            self.host, self.port, method, path, headers=given, body=body, chunked=chunked
        )


NO_PROVIDER_WAIT = 0.2
"""How long the hostile gateway's creates wait for a provider that never answers."""


@pytest.fixture
async def hostile(dev_env, task_queue) -> AsyncIterator[Hostile]:
    """A gateway in this process with no worker on its task queue: what it starts, stays.

    No provider ever answers its creates, so it waits for one only briefly: a create is
    answered `queued` after `NO_PROVIDER_WAIT` instead of the 5 s default."""
    runner, _ = await start(
        dev_env.client,
        Tenants.parse(KEYS),
        port=0,
        task_queue=task_queue,
        max_body_bytes=SMALL_CAP,
        create_wait_seconds=NO_PROVIDER_WAIT,
    )
    host, port = runner.addresses[0][:2]
    yield Hostile(dev_env.client, host, port, task_queue)
    await runner.cleanup()


def _body(**fields: object) -> bytes:
    return json.dumps({"model": "o3", "input": "Hi.", "background": True, **fields}).encode()


def _nested(depth: int) -> bytes:
    return b'{"model": "o3", "input": "Hi.", "metadata": ' + b"[" * depth + b"]" * depth + b"}"


BAD_CREATES = {
    # name: (extra headers, body, status, code, param)
    "non_utf8_authorization": (
        {"Authorization": b"Bearer \xff\xfe-not-utf8"},
        _body(),
        401,
        "invalid_api_key",
        None,
    ),
    "non_utf8_idempotency_key": (
        {"Idempotency-Key": b"key-\xff\xfe"},
        _body(),
        400,
        "invalid_value",
        "Idempotency-Key",
    ),
    "nested_past_the_interpreter": ({}, _nested(100_000), 400, "invalid_json", None),
    "nested_past_the_cap": ({}, _nested(100), 400, "invalid_json", None),
    "nan": ({}, b'{"model": "o3", "input": "Hi.", "temperature": NaN}', 400, "invalid_json", None),
    "infinity": ({}, b'{"model": "o3", "input": "Hi.", "top_p": 1e999}', 400, "invalid_json", None),
    "huge_integer": (
        {},
        b'{"model": "o3", "input": "Hi.", "max_output_tokens": ' + b"9" * 5000 + b"}",
        400,
        "invalid_json",
        None,
    ),
    "not_utf8_body": ({}, b'{"model": "o3", "input": "\xff"}', 400, "invalid_json", None),
    "previous_response_id_not_a_string": (
        {},
        _body(previous_response_id=5),
        400,
        "invalid_type",
        "previous_response_id",
    ),
    "max_output_tokens_a_string": (
        {},
        _body(max_output_tokens="5"),
        400,
        "invalid_type",
        "max_output_tokens",
    ),
    "temperature_hot": ({}, _body(temperature="hot"), 400, "invalid_type", "temperature"),
    "temperature_out_of_range": ({}, _body(temperature=3), 400, "invalid_value", "temperature"),
    "background_a_string": ({}, _body(background="yes"), 400, "invalid_type", "background"),
    "metadata_an_array": ({}, _body(metadata=["a"]), 400, "invalid_type", "metadata"),
    "input_a_number": ({}, _body(input=5), 400, "invalid_type", "input"),
    "input_item_a_string": ({}, _body(input=["hi"]), 400, "invalid_type", "input[0]"),
    "too_many_input_items": (
        {},
        _body(input=[{"role": "user", "content": "x"}] * 2049),
        400,
        "array_above_max_length",
        "input",
    ),
    "body_over_the_cap": (
        {},
        _body(input="x" * (SMALL_CAP + 1)),
        413,
        "request_too_large",
        None,
    ),
}


def _assert_openai_error(
    answer: RawAnswer,
    status: int,
    code: str | None,
    param: str | None,
    type_: str = "invalid_request_error",
) -> None:
    assert answer.status == status, answer
    body = json.loads(answer.body)
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["type"] == type_
    assert body["error"]["message"]
    assert (body["error"]["code"], body["error"]["param"]) == (code, param)


def _assert_one_line_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    lines = [r for r in caplog.records if r.name.startswith("durable_responses.gateway")]
    assert len(lines) == 1, [r.getMessage() for r in lines]


async def _assert_not_started(client: Client, key: str) -> None:
    handle = client.get_workflow_handle(workflow_id(TENANT, idempotent_response_id(TENANT, key)))
    with pytest.raises(RPCError) as missing:
        await handle.describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND


@pytest.mark.parametrize("name", list(BAD_CREATES))
async def test_a_bad_create_is_an_openai_4xx_that_starts_nothing_and_logs_one_line(
    hostile, caplog, name
):
    headers, body, status, code, param = BAD_CREATES[name]
    key = f"hostile-{uuid.uuid4()}"
    caplog.set_level(logging.INFO)
    caplog.clear()
    answer = await hostile.send(
        "POST", "/v1/responses", headers={"Idempotency-Key": key.encode(), **headers}, body=body
    )
    _assert_openai_error(answer, status, code, param)
    _assert_one_line_no_traceback(caplog)
    await _assert_not_started(hostile.client, key)


async def test_a_chunked_body_over_the_cap_is_413_while_it_is_read(hostile, caplog):
    key = f"hostile-{uuid.uuid4()}"
    caplog.set_level(logging.INFO)
    body = _body(input="x" * (4 * SMALL_CAP))
    answer = await hostile.send(
        "POST", "/v1/responses", headers={"Idempotency-Key": key.encode()}, body=body, chunked=True
    )
    _assert_openai_error(answer, 413, "request_too_large", None)
    _assert_one_line_no_traceback(caplog)
    await _assert_not_started(hostile.client, key)


async def test_a_body_temporal_refuses_as_too_large_is_413_never_429_or_503(dev_env, task_queue):
    """Under the gateway's cap, over Temporal's 2 MB payload limit (no codec compresses it):
    an SDK would retry a 429 or a 503 forever."""
    runner, _ = await start(dev_env.client, Tenants.parse(KEYS), port=0, task_queue=task_queue)
    host, port = runner.addresses[0][:2]
    try:
        key = f"hostile-{uuid.uuid4()}"
        body = _body(input=secrets.token_urlsafe(MAX_BODY_BYTES * 3 // 4 - 4096))
        assert 2 * 1024 * 1024 < len(body) <= MAX_BODY_BYTES
        headers = {
            "Authorization": f"Bearer {KEY}".encode(),
            "Content-Type": b"application/json",
            "Idempotency-Key": key.encode(),
        }
        answer = await raw_request(host, port, "POST", "/v1/responses", headers=headers, body=body)
        _assert_openai_error(answer, 413, "request_too_large", None)
        await _assert_not_started(dev_env.client, key)
    finally:
        await runner.cleanup()


async def _queued_run(hostile: Hostile) -> str:
    """A background run no worker takes: it stays queued."""
    answer = await hostile.send("POST", "/v1/responses", body=_body())
    assert answer.status == 200, answer
    return str(json.loads(answer.body)["id"])


BAD_QUERIES = {
    "limit_not_an_integer": ("limit=abc", "invalid_type", "limit"),
    "limit_zero": ("limit=0", "invalid_value", "limit"),
    "order_sideways": ("order=sideways", "invalid_value", "order"),
}


@pytest.mark.parametrize("name", list(BAD_QUERIES))
async def test_a_bad_input_items_query_is_an_openai_400_with_one_line(hostile, caplog, name):
    query, code, param = BAD_QUERIES[name]
    response_id = await _queued_run(hostile)
    caplog.set_level(logging.INFO)
    caplog.clear()
    answer = await hostile.send("GET", f"/v1/responses/{response_id}/input_items?{query}")
    _assert_openai_error(answer, 400, code, param)
    _assert_one_line_no_traceback(caplog)


async def test_a_workflow_the_gateway_did_not_start_is_not_a_response(hostile, caplog):
    """A workflow under a gateway id, started by something else: 404 on every route, as an
    id the tenant never had."""
    response_id = "resp_" + secrets.token_hex(24)
    await hostile.client.start_workflow(
        "SomethingElseWorkflow",
        "not a response request",
        id=workflow_id(TENANT, response_id),
        task_queue=hostile.task_queue,
    )
    caplog.set_level(logging.INFO)
    for method, path in (
        ("GET", f"/v1/responses/{response_id}/input_items"),
        ("GET", f"/v1/responses/{response_id}"),
    ):
        caplog.clear()
        answer = await hostile.send(method, path)
        _assert_openai_error(answer, 404, None, "response_id")
        _assert_one_line_no_traceback(caplog)


async def test_cancel_and_delete_answer_promptly_with_no_worker(hostile, caplog):
    """The cancel is recorded (the run ends cancelled once a worker takes it); the answer
    does not wait for a worker that is not there."""
    response_id = await _queued_run(hostile)
    handle = hostile.client.get_workflow_handle(workflow_id(TENANT, response_id))
    caplog.set_level(logging.INFO)
    began = time.monotonic()
    answer = await hostile.send("POST", f"/v1/responses/{response_id}/cancel")
    assert time.monotonic() - began < 5
    assert answer.status == 200, answer
    cancelled = json.loads(answer.body)
    assert cancelled["id"] == response_id and cancelled["status"] == "queued"
    kinds = [event.event_type async for event in handle.fetch_history_events()]
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED in kinds

    began = time.monotonic()
    answer = await hostile.send("DELETE", f"/v1/responses/{response_id}")
    assert time.monotonic() - began < 5
    assert answer.status == 200, answer
    assert json.loads(answer.body) == {
        "id": response_id,
        "object": "response.deleted",
        "deleted": True,  # nothing upstream to cancel first: the run had not reached a worker
    }
    try:
        status = (await handle.describe()).status
    except RPCError as err:  # deleted already
        assert err.status == RPCStatusCode.NOT_FOUND
    else:
        assert status == WorkflowExecutionStatus.TERMINATED
    assert not [r for r in caplog.records if r.exc_info]


async def test_a_body_over_the_cap_is_refused_before_it_is_sent_whole(hostile):
    """Content-Length over the cap: 413 at once, without waiting for (or reading) the body."""
    reader, writer = await asyncio.open_connection(hostile.host, hostile.port)
    try:
        writer.write(
            b"POST /v1/responses HTTP/1.1\r\nHost: gateway\r\n"
            + f"Authorization: Bearer {KEY}\r\n".encode()
            + b"Content-Type: application/json\r\n"
            + f"Content-Length: {15 * 1024 * 1024}\r\n\r\n".encode()
            + b'{"model": "o3", "input": "'
        )
        await writer.drain()
        async with asyncio.timeout(5):
            status_line = await reader.readline()
        assert status_line.split()[1] == b"413"
    finally:
        writer.close()


# ---- Operable: readiness, access log, models, stats, keys file, hash-key ------------------------


async def _get(host: str, port: int, path: str, key: str | None = KEY) -> RawAnswer:
    headers = {"Authorization": f"Bearer {key}".encode()} if key else {}
    return await raw_request(host, port, "GET", path, headers=headers)


async def _until_status(host: str, port: int, path: str, status: int, seconds: float) -> float:
    """Seconds until `path` answers `status`; each answer must come within a second."""
    began = time.monotonic()
    while True:
        asked = time.monotonic()
        answer = await _get(host, port, path, key=None)
        assert time.monotonic() - asked < 1.0, "a readiness answer took a second or more"
        if answer.status == status:
            return time.monotonic() - began
        assert time.monotonic() - began < seconds, f"{path} still {answer.status}"
        await asyncio.sleep(0.05)


async def test_readyz_is_503_within_a_second_while_temporal_is_down_and_200_once_back(dev_env):
    """The gateway and the webhook receiver, each reaching Temporal through a proxy that
    drops everything for a while; /livez stays 200 throughout."""
    address = dev_env.client.service_client.config.target_host
    async with TcpProxy(address) as proxy:
        client = await Client.connect(proxy.address, data_converter=dev_env.client.data_converter)
        gateway, _ = await start(client, Tenants.parse(KEYS), port=0)
        receiver, _, _ = await start_receiver(client, ["whsec_" + "A" * 32], port=0)
        servers = [runner.addresses[0][:2] for runner in (gateway, receiver)]
        try:
            for host, port in servers:
                await _until_status(host, port, "/readyz", 200, 10)
            outage = asyncio.create_task(proxy.outage(4))
            for host, port in servers:
                assert await _until_status(host, port, "/readyz", 503, 3) < 1.5
                assert (await _get(host, port, "/livez", key=None)).status == 200
            await outage
            for host, port in servers:
                await _until_status(host, port, "/readyz", 200, 20)
        finally:
            await gateway.cleanup()
            await receiver.cleanup()


async def test_each_request_has_one_access_line_with_tenant_route_status_and_no_key(
    hostile, caplog
):
    caplog.set_level(logging.INFO)
    response_id = await _queued_run(hostile)
    minted = await hostile.send("POST", f"/v1/responses/{response_id}/watch_link")
    token = json.loads(minted.body)["url"].split("?token=")[1]
    caplog.clear()
    await hostile.send("GET", f"/v1/responses/{response_id}")
    await hostile.send("POST", "/v1/responses", body=_body(temperature="hot"))
    await _get(hostile.host, hostile.port, f"/runs/{response_id}?token={token}", key=None)
    await _get(hostile.host, hostile.port, "/v1/models", key="not-a-key")
    lines = [r.getMessage() for r in caplog.records if r.name == "durable_responses.gateway.access"]
    assert len(lines) == 4, lines
    assert lines[0].startswith("tenant=acme GET /v1/responses/{response_id} 200 ")
    assert lines[1].startswith("tenant=acme POST /v1/responses 400 ")
    assert lines[1].endswith(" error=invalid_type param=temperature")
    assert lines[2].startswith("tenant=acme GET /runs/{response_id} 200 ")
    assert lines[3].startswith("tenant=- GET /v1/models 401 ")
    assert not [line for line in lines if KEY in line or "not-a-key" in line or "key=" in line]
    assert not [line for line in lines if token in line or "token=" in line]
    assert all(float(line.split()[4].removesuffix("ms")) >= 0 for line in lines)


async def test_models_are_the_configured_ones_for_the_sdk(dev_env, task_queue):
    runner, url = await start(dev_env.client, Tenants.parse(KEYS), port=0, models=["o3", "gpt-4.1"])
    try:
        async with openai.AsyncOpenAI(base_url=url, api_key=KEY, max_retries=0) as client:
            assert [model.id async for model in client.models.list()] == ["o3", "gpt-4.1"]
            assert (await client.models.retrieve("o3")).owned_by == "durable-responses"
            with pytest.raises(openai.NotFoundError) as missing:
                await client.models.retrieve("o4")
            assert missing.value.code == "model_not_found"
        async with openai.AsyncOpenAI(base_url=url, api_key="nope", max_retries=0) as stranger:
            with pytest.raises(openai.AuthenticationError):
                await stranger.models.list()
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    ("peer", "token", "sent", "status"),
    [
        ("127.0.0.1", None, None, 200),
        ("::1", None, None, 200),
        ("203.0.113.7", None, None, 403),
        ("203.0.113.7", "stats-token", "stats-token", 200),
        ("203.0.113.7", "stats-token", "wrong", 403),
    ],
)
async def test_webhook_stats_answer_loopback_or_the_token_only(
    dev_env, monkeypatch, peer, token, sent, status
):
    """The counts say how busy an account is: not for anyone who reaches the port."""
    if token:
        monkeypatch.setenv(STATS_TOKEN_VARIABLE, token)
    else:
        monkeypatch.delenv(STATS_TOKEN_VARIABLE, raising=False)
    receiver = Receiver(
        dev_env.client, Verifier(["whsec_" + "A" * 32]), OwnerLookup(dev_env.client, None)
    )
    app = build_receiver_app(receiver)
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        (peer, 40000) if name == "peername" else default
    )
    headers = {"Authorization": f"Bearer {sent}"} if sent else {}
    request = make_mocked_request(
        "GET", "/webhooks/stats", headers=headers, app=app, transport=transport
    )
    match = await app.router.resolve(request)
    answer = await match.handler(request)
    assert answer.status == status


def _gateway_command(
    *args: str, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "durable_responses.gateway", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TEMPORAL_ADDRESS": "127.0.0.1:1", **(env or {})},
    )


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_keys_file_others_can_read_is_refused_at_start_in_one_line(tmp_path, mode):
    keys = tmp_path / "gateway_keys"
    keys.write_text(KEYS.replace(",", "\n"))
    keys.chmod(mode)
    done = _gateway_command("--port", "0", env={"DURABLE_RESPONSES_GATEWAY_KEYS_FILE": str(keys)})
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "chmod 600" in lines[0], done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_hash_key_reads_the_key_from_standard_input_never_the_command_line():
    done = _gateway_command("hash-key", stdin=f"{KEY}\n")
    assert done.returncode == 0 and done.stdout.strip() == hash_key(KEY)
    helped = _gateway_command("hash-key", "--help")
    assert helped.returncode == 0 and "standard input" in helped.stdout
    assert hash_key("--help") not in helped.stdout
    refused = _gateway_command("hash-key", KEY)
    assert refused.returncode == 1 and KEY not in refused.stderr + refused.stdout
    assert hash_key(KEY) not in refused.stdout


async def test_a_tenant_over_its_requests_per_second_gets_429_with_retry_after(dev_env):
    limits = TenantLimits(requests_per_second=2)
    runner, _ = await start(dev_env.client, Tenants.parse(KEYS), port=0, limits=limits)
    host, port = runner.addresses[0][:2]
    try:
        answers = [await _get(host, port, "/v1/models") for _ in range(3)]
        assert [a.status for a in answers] == [200, 200, 429]
        _assert_openai_error(answers[2], 429, "rate_limit_exceeded", None, type_="requests")
        wait = int(answers[2].headers["retry-after"])
        assert wait == 1
        assert (await _get(host, port, "/v1/models", key=OTHER_KEY)).status == 200  # its own
        await asyncio.sleep(wait)
        assert (await _get(host, port, "/v1/models")).status == 200
    finally:
        await runner.cleanup()


async def test_a_tenant_at_its_runs_in_flight_gets_429_and_starts_nothing(dev_env, task_queue):
    """Counted by Temporal: the same limit on every replica. No worker: the runs stay queued."""
    tenant, key = f"t{uuid.uuid4().hex[:12]}", f"key-{uuid.uuid4()}"
    tenants = Tenants.parse(f"{tenant}:{hash_key(key)},{KEYS}")
    limits = TenantLimits(runs_in_flight=1)
    runner, _ = await start(
        dev_env.client,
        tenants,
        port=0,
        task_queue=task_queue,
        limits=limits,
        create_wait_seconds=NO_PROVIDER_WAIT,
    )
    host, port = runner.addresses[0][:2]
    headers = {"Authorization": f"Bearer {key}".encode(), "Content-Type": b"application/json"}
    try:
        first = await raw_request(
            host, port, "POST", "/v1/responses", headers=headers, body=_body()
        )
        assert first.status == 200, first
        query = f"WorkflowId STARTS_WITH 'gateway/{tenant}/'"
        deadline = time.monotonic() + 10
        while (await dev_env.client.count_workflows(query)).count < 1:  # visibility's lag
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        again = f"hostile-{uuid.uuid4()}"
        second = await raw_request(
            host,
            port,
            "POST",
            "/v1/responses",
            headers={**headers, "Idempotency-Key": again.encode()},
            body=_body(),
        )
        _assert_openai_error(second, 429, "rate_limit_exceeded", None, type_="requests")
        assert second.headers["retry-after"] == str(RUNS_RETRY_AFTER_SECONDS)
        handle = dev_env.client.get_workflow_handle(
            workflow_id(tenant, idempotent_response_id(tenant, again))
        )
        with pytest.raises(RPCError):
            await handle.describe()
    finally:
        await runner.cleanup()


# ---- Streams sized to their clients ------------------------------------------------------------


async def test_an_open_stream_gets_a_keepalive_comment_while_the_run_is_queued(dev_env, task_queue):
    """No worker: the run stays queued, nothing to send, and a proxy's idle timeout would cut
    the stream without the comment lines."""
    runner, url = await start(
        dev_env.client, Tenants.parse(KEYS), port=0, task_queue=task_queue, keepalive_seconds=0.3
    )
    headers = {"Authorization": f"Bearer {KEY}"}
    body = {"model": "o3", "input": "Hi.", "background": True, "stream": True}
    lines: list[bytes] = []
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{url}/responses", json=body, headers=headers) as answer,
        ):
            async with asyncio.timeout(10):
                async for line in answer.content:
                    lines.append(line)
                    if lines.count(b": keepalive\n") == 2:
                        break
    finally:
        await runner.cleanup()
    events = [line for line in lines if line.startswith(b"event:")]
    assert events == [b"event: response.created\n", b"event: response.queued\n"]


class _Tee(httpx.AsyncBaseTransport):
    """Passes every byte through and counts the gateway's keepalive comments on the way."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.keepalives = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        answer = await self._inner.handle_async_request(request)

        async def counted() -> AsyncIterator[bytes]:
            async for chunk in answer.stream:  # type: ignore[union-attr]
                self.keepalives += chunk.count(b": keepalive")
                yield chunk

        return httpx.Response(
            answer.status_code,
            headers=answer.headers,
            stream=_Stream(counted(), answer.stream),  # type: ignore[arg-type]
            extensions=answer.extensions,
        )


class _Stream(httpx.AsyncByteStream):
    def __init__(self, chunks: AsyncIterator[bytes], inner: httpx.AsyncByteStream) -> None:
        self._chunks, self._inner = chunks, inner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._chunks:
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_the_python_sdk_reads_on_through_keepalives_after_events(dev_env, task_queue):
    """The SDK keeps the last `id:` and turns a blank line after a comment into an empty event
    it parses as JSON: a keepalive framed as its own event crashed every Python client whose
    run went quiet for 15 s after its first events (a worker restart, a slow reasoning step)."""
    runner, url = await start(
        dev_env.client, Tenants.parse(KEYS), port=0, task_queue=task_queue, keepalive_seconds=0.2
    )
    tee = _Tee()
    client = openai.AsyncOpenAI(
        base_url=url, api_key=KEY, max_retries=0, http_client=httpx.AsyncClient(transport=tee)
    )
    got: list[str] = []
    try:
        stream = await client.responses.create(
            model="o3", input="Hi.", background=True, stream=True
        )
        events = aiter(stream)
        got += [(await anext(events)).type, (await anext(events)).type]
        # No worker: the run stays queued and only keepalives come, which the SDK must skip.
        reading = asyncio.ensure_future(anext(events))
        async with asyncio.timeout(20):
            while tee.keepalives < 3 and not reading.done():
                await asyncio.sleep(0.05)
        assert not reading.done(), reading.exception() if reading.done() else None
        reading.cancel()
        await stream.close()
    finally:
        await client.close()
        await runner.cleanup()
    assert got == ["response.created", "response.queued"]
    assert tee.keepalives >= 3


async def test_streams_whose_clients_left_stop_reading_temporal(
    dev_env, activities, fake, task_queue, monkeypatch
):
    """10 streams of runs the provider keeps queued, each closed by its client after its
    first events: within a poll interval the gateway reads none of them again (it read each
    four times a second until the run's next event)."""
    fake.configure(queued_seconds=60)
    reads = 0
    refresh = runs.RunReader.refresh

    async def counted(self: runs.RunReader) -> object:
        nonlocal reads
        reads += 1
        return await refresh(self)

    monkeypatch.setattr(runs.RunReader, "refresh", counted)
    headers = {"Authorization": f"Bearer {KEY}"}
    body = {"model": "o3", "input": "Hi.", "background": True, "stream": True}
    ids: list[str] = []

    async def follow_then_leave(url: str) -> None:
        async with aiohttp.ClientSession() as http:
            answer = await http.post(f"{url}/responses", json=body, headers=headers)
            async for line in answer.content:
                if line.startswith(b"data:"):
                    ids.append(json.loads(line[5:])["response"]["id"])
                    break
            answer.close()  # the connection is dropped, as a closed browser tab drops it

    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        runner, url = await start(
            dev_env.client, Tenants.parse(KEYS), port=0, task_queue=task_queue
        )
        try:
            await asyncio.gather(*(follow_then_leave(url) for _ in range(10)))
            deadline = time.monotonic() + 10
            while len(gateway_upstream(fake)) < 10:  # every run has reached the provider
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)  # a few poll intervals for the handlers to notice
            before = reads
            await asyncio.sleep(1.0)
            assert reads == before, f"{reads - before} reads for streams nobody follows"
        finally:
            async with openai.AsyncOpenAI(base_url=url, api_key=KEY, max_retries=0) as client:
                await asyncio.gather(*(client.responses.cancel(i) for i in ids))
            await runner.cleanup()
