"""A gateway stack for tests that kill things: a worker process and a gateway process on a
fixed port (restarted, it serves the same URL), two tenants' keys, and what a test checks
after: every event of a stream, valid and numbered without a gap."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any, get_args

from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter
from temporalio.testing import WorkflowEnvironment

from durable_responses.fake_openai import FakeControl
from durable_responses.gateway import hash_key
from durable_responses.testing import GatewayProcess, WorkerProcess
from tests import workers

KEY, OTHER_KEY = "gw-key-acme", "gw-key-globex"
KEYS = f"acme:{hash_key(KEY)},globex:{hash_key(OTHER_KEY)}"
WATCH_SECRET = "test-watch-secret-" + "0123456789abcdef" * 2
"""The gateways' watch secret: a link minted before a restart still opens its page after."""

EVENT: TypeAdapter[ResponseStreamEvent] = TypeAdapter(ResponseStreamEvent)
EVENT_TYPES = frozenset(
    get_args(member.model_fields["type"].annotation)[0]
    for member in get_args(get_args(ResponseStreamEvent)[0])
)


@dataclass
class Stack:
    worker: WorkerProcess
    gateway: GatewayProcess

    @property
    def url(self) -> str:
        return self.gateway.url

    async def restart_gateway(self) -> None:
        """SIGKILL the gateway and start it again on the same port."""
        self.gateway.kill()
        await asyncio.to_thread(self.gateway.start)

    async def restart_worker(self) -> None:
        """SIGKILL the worker and start another."""
        self.worker.kill()
        await asyncio.to_thread(self.worker.start)


@contextlib.asynccontextmanager
async def gateway_stack(
    env: WorkflowEnvironment, openai_base_url: str, task_queue: str
) -> AsyncIterator[Stack]:
    """A worker process and a gateway process for `task_queue`, killed at the end."""
    address = workers.address_of(env)
    worker = workers.worker_process(address, task_queue, openai_base_url)
    gateway = GatewayProcess(
        address,
        task_queue,
        port=workers.free_port(),
        keys=KEYS,
        env={"DURABLE_RESPONSES_GATEWAY_WATCH_SECRET": WATCH_SECRET},
        log_dir=workers.LOG_DIR,
    )
    try:
        await asyncio.gather(asyncio.to_thread(worker.start), asyncio.to_thread(gateway.start))
        yield Stack(worker, gateway)
    finally:
        gateway.close()
        worker.close()


def valid_events(events: Iterable[Any]) -> list[dict[str, Any]]:
    """The events as dicts, each a valid `ResponseStreamEvent`, numbered without a gap."""
    raw = [e if isinstance(e, dict) else e.to_dict() for e in events]
    for event in raw:
        assert event["type"] in EVENT_TYPES, event["type"]
        EVENT.validate_python(event)
    if raw:
        first = raw[0]["sequence_number"]
        assert [e["sequence_number"] for e in raw] == list(range(first, first + len(raw)))
    return raw


def text_of(events: Iterable[dict[str, Any]]) -> str:
    return "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")


@dataclass
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: bytes


async def raw_request(
    host: str,
    port: int,
    method: str,
    path: str,
    *,
    headers: dict[str, bytes],
    body: bytes = b"",
    chunked: bool = False,
    timeout: float = 30.0,
) -> RawAnswer:
    """One HTTP/1.1 request written byte for byte (headers no client library would send:
    bytes that are not UTF-8), the connection closed after the answer. A `chunked` body goes
    in 64 KiB chunks while the answer is read: a server may answer before it has all."""
    reader, writer = await asyncio.open_connection(host, port)
    head = [f"{method} {path} HTTP/1.1".encode(), b"Host: gateway", b"Connection: close"]
    head += [name.encode() + b": " + value for name, value in headers.items()]
    head.append(b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % len(body))
    writer.write(b"\r\n".join(head) + b"\r\n\r\n")

    async def send_body() -> None:
        with contextlib.suppress(ConnectionError):
            if not chunked:
                writer.write(body)
            else:
                for at in range(0, len(body), 65536):
                    piece = body[at : at + 65536]
                    writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    await writer.drain()
                writer.write(b"0\r\n\r\n")
            await writer.drain()

    sending = asyncio.create_task(send_body())
    try:
        async with asyncio.timeout(timeout):
            status_line = await reader.readline()
            answer_headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                answer_headers[name.strip().lower()] = value.strip()
            if "content-length" in answer_headers:
                data = await reader.readexactly(int(answer_headers["content-length"]))
            else:
                data = await reader.read()
    finally:
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sending
        writer.close()
    return RawAnswer(int(status_line.split()[1]), answer_headers, data)


def assert_same_as_provider(whole: list[dict[str, Any]], stored: Any) -> None:
    """The replayed events carry the provider's text and every item it made (a replay is
    rebuilt from the same durable state as the stream, so comparing the two alone would not
    notice an item lost in a crash)."""
    assert text_of(whole) == stored.text
    done = [e["item"] for e in whole if e["type"] == "response.output_item.done"]
    assert done == stored.output
    assert whole[-1]["response"]["output"] == stored.output


def gateway_upstream(fake: FakeControl) -> list[Any]:
    """The provider's responses that the gateway's runs created."""
    return [
        r
        for r in fake.responses()
        if r.metadata.get("temporal_workflow_id", "").startswith("gateway/")
    ]
