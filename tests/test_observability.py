"""What an operator sees of a running system: Prometheus metrics, traces, search attributes."""

from __future__ import annotations

import re
import urllib.request
import uuid

import pytest
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client, WorkflowFailureError
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from durable_responses.activities.tracing import RESPONSE_ID
from durable_responses.models import PollPolicy, ResponseRequest
from durable_responses.testing import STARTUP_TIMEOUT, find_binary
from durable_responses.workflows import (
    BackgroundResponseWorkflow,
    StreamingResponseWorkflow,
    metrics,
)
from durable_responses.workflows.search_attributes import (
    ALL,
    OPENAI_RESPONSE_ID,
    OPENAI_RESPONSE_STATUS,
)
from tests.test_cli import temporal
from tests.workers import address_of, build_worker, free_port, wait_until, worker_process

FAST_POLL = PollPolicy(
    initial_interval_seconds=0.2, backoff=1.5, max_interval_seconds=1.0, first_polls_seconds=0
)
"""Durable polls from the first: a run polled inside its create (the default's first 10 s)
upserts its status only when the create answers, and these tests watch it change."""


def _scrape(port: int) -> dict[str, float]:
    """`name{labels}` -> value of every sample on the worker's /metrics page."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as page:
        text = page.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def _total(samples: dict[str, float], name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for key, value in samples.items():
        metric, _, rest = key.partition("{")
        found = dict(re.findall(r'(\w+)="([^"]*)"', rest))
        if metric == name and all(found.get(k) == v for k, v in labels.items()):
            total += value
    return total


async def test_worker_metrics_endpoint_counts_responses_polls_resumes_and_tokens(
    dev_env, fake, fake_server, openai_sync, task_queue
):
    port = free_port()
    client = dev_env.client
    with worker_process(
        address_of(dev_env), task_queue, fake_server.base_url, args=["--metrics-port", str(port)]
    ):
        completed = await client.execute_workflow(
            BackgroundResponseWorkflow.run,
            ResponseRequest(input="count me", poll=FAST_POLL),
            id=f"metrics-ok-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        fake.add_fault(route="stream", kind="cut", after_events=5, times=1)
        streamed = await client.execute_workflow(
            StreamingResponseWorkflow.run,
            ResponseRequest(input="stream me"),
            id=f"metrics-stream-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        fake.add_fault(route="create", kind="fail", code="server_error", message="boom")
        with pytest.raises(WorkflowFailureError):
            await client.execute_workflow(
                BackgroundResponseWorkflow.run,
                ResponseRequest(input="fail me", poll=FAST_POLL),
                id=f"metrics-fail-{uuid.uuid4()}",
                task_queue=task_queue,
            )
        fake.clear_faults()
        fake.configure(tokens=2000, tokens_per_second=50)
        slow = await client.start_workflow(
            BackgroundResponseWorkflow.run,
            ResponseRequest(input="cancel me", poll=FAST_POLL),
            id=f"metrics-cancel-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        await wait_until(lambda: _has_response_id(slow))
        await slow.cancel()
        with pytest.raises(WorkflowFailureError):
            await slow.result()
        samples = _scrape(port)
    assert streamed.resumes >= 1
    assert _total(samples, metrics.CREATED) == 4
    for status in ("completed", "failed", "cancelled"):
        assert _total(samples, metrics.FINISHED, status=status) >= 1, status
    assert _total(samples, metrics.FINISHED, status="completed") == 2  # polled + streamed
    assert _total(samples, metrics.POLLS) >= completed.polls
    assert _total(samples, metrics.STREAM_RESUMES) == streamed.resumes
    assert _total(samples, f"{metrics.COMPLETION_LAG}_count") == 2
    # Tokens of every response that ended upstream (completed or failed), as the API bills them.
    ended = [
        openai_sync.responses.retrieve(record.id)
        for record in fake.responses()
        if record.status in ("completed", "failed")
    ]
    assert len(ended) == 3
    for kind, used in {
        "input": sum(r.usage.input_tokens for r in ended),
        "output": sum(r.usage.output_tokens for r in ended),
        "reasoning": sum(r.usage.output_tokens_details.reasoning_tokens for r in ended),
    }.items():
        assert used > 0
        assert _total(samples, metrics.TOKENS, model=completed.model, kind=kind) == used, kind
    # The SDK's own runtime metrics share the endpoint.
    assert _total(samples, "temporal_workflow_completed") >= 2


async def _has_response_id(handle) -> bool:
    return (await handle.query(BackgroundResponseWorkflow.progress)).response_id is not None


async def test_one_trace_runs_from_the_client_through_every_openai_call(
    dev_env, fake, activities, task_queue, spans
):
    # A client (and, through it, the worker) with Temporal's tracing interceptor.
    config = dev_env.client.config()
    client = Client(**{**config, "interceptors": [TracingInterceptor()]})
    spans.clear()
    async with build_worker(client, activities, task_queue=task_queue):
        result = await client.execute_workflow(
            BackgroundResponseWorkflow.run,
            ResponseRequest(input="trace me", poll=FAST_POLL),
            id=f"trace-{uuid.uuid4()}",
            task_queue=task_queue,
        )
    finished = spans.get_finished_spans()
    names = [span.name for span in finished]
    assert "StartWorkflow:BackgroundResponseWorkflow" in names
    assert "RunActivity:create_background_response" in names
    calls = [span for span in finished if span.name.startswith("openai.responses.")]
    assert {span.name for span in calls} >= {
        "openai.responses.create",
        "openai.responses.retrieve",
    }
    assert {span.attributes[RESPONSE_ID] for span in calls} == {result.response_id}
    assert len({span.context.trace_id for span in finished}) == 1  # one trace
    by_id = {span.context.span_id: span for span in finished}
    create = next(span for span in calls if span.name == "openai.responses.create")
    assert create.parent is not None
    assert by_id[create.parent.span_id].name == "RunActivity:create_background_response"


async def test_runs_are_listed_by_response_status_and_id(dev_env, fake, activities, task_queue):
    fake.configure(tokens=600, tokens_per_second=100)  # about six seconds in progress
    client = dev_env.client
    async with build_worker(client, activities, task_queue=task_queue):
        handle = await client.start_workflow(
            BackgroundResponseWorkflow.run,
            ResponseRequest(input="find me", poll=FAST_POLL),
            id=f"listed-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        in_progress = f"WorkflowId = '{handle.id}' AND OpenAIResponseStatus = 'in_progress'"

        async def listed(query: str) -> bool:
            return [w.id async for w in client.list_workflows(query)] == [handle.id]

        await wait_until(lambda: listed(in_progress))
        # The Temporal CLI answers the same query (the README's example).
        code, rows = await temporal(dev_env, "workflow", "list", "--query", in_progress)
        assert code == 0 and [row["execution"]["workflowId"] for row in rows] == [handle.id]
        result = await handle.result()
    done = f"OpenAIResponseId = '{result.response_id}' AND OpenAIResponseStatus = 'completed'"
    await wait_until(lambda: listed(done))
    described = await handle.describe()
    attributes = described.typed_search_attributes
    assert attributes.get(OPENAI_RESPONSE_ID) == result.response_id
    assert attributes.get(OPENAI_RESPONSE_STATUS) == "completed"


async def test_worker_registers_missing_search_attributes_before_it_polls(fake_server, fake):
    # A server that has never heard of them, as a fresh cluster or namespace.
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_binary("temporal"),
        data_converter=pydantic_data_converter,
        dev_server_startup_timeout=STARTUP_TIMEOUT,
    )
    try:
        task_queue = f"fresh-{uuid.uuid4()}"
        with worker_process(address_of(env), task_queue, fake_server.base_url) as proc:
            assert "registered search attributes" in proc.output()
            result_id = f"fresh-{uuid.uuid4()}"
            result = await env.client.execute_workflow(
                BackgroundResponseWorkflow.run,
                ResponseRequest(input="first run on a fresh namespace", poll=FAST_POLL),
                id=result_id,
                task_queue=task_queue,
            )
        assert result.status == "completed"
        listed = await env.client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=env.client.namespace)
        )
        assert {key.name for key in ALL} <= set(listed.custom_attributes)
        described = await env.client.get_workflow_handle(result_id).describe()
        assert described.typed_search_attributes.get(OPENAI_RESPONSE_ID) == result.response_id
    finally:
        await env.shutdown()
