"""Shared test environments: the fake Responses API over HTTP, Temporal test/dev servers."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import openai
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from durable_responses.activities import ResponsesActivities
from durable_responses.fake_openai import (
    FakeControl,
    FakeOpenAIServer,
    ResponseRecord,
    ServerSettings,
)
from durable_responses.namespace import ensure_registered
from durable_responses.testing import STARTUP_TIMEOUT, dev_server, find_binary
from tests import workers


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--slow", action="store_true", help="30 SIGKILL trials instead of 10 (crash test)"
    )
    parser.addoption("--trials", type=int, default=None, help="exact number of SIGKILL trials")


@pytest.fixture(autouse=True)
def worker_logs(tmp_path: Path) -> Iterator[Path]:
    """Worker processes log into this test's `tmp_path`: kept for a failed test, removed
    for a passed one (`tmp_path_retention_policy = "failed"`)."""
    workers.LOG_DIR = tmp_path
    yield tmp_path
    workers.LOG_DIR = None


ORPHAN_GRACE_SECONDS = 3.0
"""How long a test's responses may take to reach a terminal status after it ends."""


@pytest.fixture(autouse=True)
def no_orphans(request: pytest.FixtureRequest) -> Iterator[None]:
    """The orphan invariant, after every test: no response left running in the shared fake.

    A response still `queued`/`in_progress` once the test is over is one nobody reads or
    stops: billed for nothing on the real API. A test that leaves one on purpose says so with
    `@pytest.mark.leaves_responses_running`; it is cancelled here either way.
    """
    yield
    if "fake_server" not in request.fixturenames:
        return
    server: FakeOpenAIServer = request.getfixturevalue("fake_server")
    control = server.control
    deadline = time.monotonic() + ORPHAN_GRACE_SECONDS
    running = _running(control)
    while running and time.monotonic() < deadline:
        time.sleep(0.1)
        running = _running(control)
    if running:
        with openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0) as api:
            for record in running:
                api.responses.cancel(record.id)
    if running and request.node.get_closest_marker("leaves_responses_running") is None:
        pytest.fail(
            f"{len(running)} response(s) left running upstream: "
            + ", ".join(
                f"{r.id} ({r.status}, workflow {r.metadata.get('temporal_workflow_id')})"
                for r in running
            )
        )


def _running(control: FakeControl) -> list[ResponseRecord]:
    return [r for r in control.responses() if r.status in ("queued", "in_progress")]


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeOpenAIServer]:
    """One fake Responses API for the whole session, on a free loopback port."""
    with FakeOpenAIServer(ServerSettings()) as server:
        yield server


@pytest.fixture
def fake(fake_server: FakeOpenAIServer) -> Iterator[FakeControl]:
    """The shared fake, reset to defaults (no responses, no faults) for this test."""
    control = fake_server.control
    control.reset()
    control.configure(
        **FAST_GENERATION,
        stream_retention_seconds=300,
        honour_idempotency_key=False,  # OpenAI does not document honouring the key
        models=[],
        max_request_bytes=ServerSettings().max_request_bytes,
        reject_unknown_parameters=True,
        webhook_url=None,
        webhook_secret=None,
        webhook_timeout_seconds=5.0,
        webhook_retry_seconds=1.0,
        webhook_max_attempts=6,
        flex_unavailable_seconds=0.0,
        retrieve_lag_seconds=0.0,
    )
    yield control
    control.clear_faults()


# Short responses keep the suite fast while still spanning many events and several chunks.
FAST_GENERATION = {
    "tokens": 120,
    "tokens_per_second": 300.0,
    "queued_seconds": 0.05,
    "reasoning_seconds": 0.1,
    "reasoning_tokens": 8,
    "reasoning": None,
    "seed": 0,
    # What a test's own `configure` may have changed of the items a response makes.
    "item_seconds": 0.05,
    "searches": 3,
    "tool_rounds": None,
    "mcp_tool": "ask_question",
    "refusal": False,
    "image_bytes": 2048,
    "window_2h_seconds": 2.0,
    "window_8h_seconds": 8.0,
    "window_fraction": 0.5,
    "flex_slowdown": 2.0,
}


@pytest.fixture
def openai_sync(fake_server: FakeOpenAIServer) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(base_url=fake_server.base_url, api_key="sk-test", max_retries=0)
    yield client
    client.close()


@pytest.fixture
async def openai_async(fake_server: FakeOpenAIServer) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(base_url=fake_server.base_url, api_key="sk-test", max_retries=0)
    yield client
    await client.close()


# ---- Temporal ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server (pip-installed binary): hours of timers in milliseconds."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=find_binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
        test_server_startup_timeout=STARTUP_TIMEOUT,
    )
    await ensure_registered(env.client)  # the workflows upsert them
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """A real Temporal dev server (the pip-installed CLI's `server start-dev`, in memory)."""
    async with dev_server(port=None, ui_port=None, db=None) as env:
        yield env


@pytest.fixture(scope="session")
def spans() -> InMemorySpanExporter:
    """An in-memory exporter behind the process's tracer provider (set once per process)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


@pytest.fixture
def task_queue() -> str:
    return f"test-{uuid.uuid4()}"


@pytest.fixture
async def activities(fake_server: FakeOpenAIServer) -> AsyncIterator[ResponsesActivities]:
    """The real activities, pointed at the fake over HTTP."""
    client = openai.AsyncOpenAI(base_url=fake_server.base_url, api_key="sk-test", max_retries=0)
    yield ResponsesActivities(client, heartbeat_every_seconds=0.2)
    await client.close()
