"""What leaves the worker, scanned for secrets: a polling run, a streaming run with a follower,
a 401 and a cancel, with a distinctive API key, prompt and answer.

- The OpenAI key (and its last characters, which the API quotes in a 401) appears nowhere:
  not in history, not in the worker's log, not on its metrics page, not in exported spans.
- With the codec on, the prompt and the answer appear nowhere in the raw history (events,
  update results and query answers fetched without the codec). With it off they do, which
  shows the scan can fail.
"""

from __future__ import annotations

import urllib.request
import uuid
from collections.abc import Iterator

import openai
import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.query.v1 import WorkflowQuery
from temporalio.api.workflowservice.v1 import QueryWorkflowRequest
from temporalio.client import Client, WorkflowFailureError
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.exceptions import ApplicationError, CancelledError

from durable_responses.activities import ResponsesActivities
from durable_responses.codec import KeyRing, codec_chain, data_converter, new_key
from durable_responses.fake_openai import FakeOpenAIServer, GenerationSettings, ServerSettings
from durable_responses.follow import follow
from durable_responses.models import ErrorType, PollPolicy, ResponseRequest
from durable_responses.workflows import BackgroundResponseWorkflow, StreamingResponseWorkflow
from tests.workers import address_of, build_worker, free_port, wait_until, worker_process

API_KEY = "sk-proj-ZEBRA0API0KEY0abcdefghijklmnopQ7V9"
WRONG_KEY = "sk-proj-YAK0WRONG0KEY0abcdefghijklmnoK3P8"
SECRETS = (API_KEY, API_KEY[-4:], WRONG_KEY, WRONG_KEY[-4:], API_KEY[8:20], WRONG_KEY[8:20])
"""The keys, the suffixes a 401 quotes, and a middle piece: none may leave the worker."""

PROMPT = "ZEBRA-PROMPT-7731: summarise the merger terms of Acme and Globex"
POLL = PollPolicy(initial_interval_seconds=0.2, backoff=1.5, max_interval_seconds=1.0)


@pytest.fixture(scope="module")
def keyed_fake() -> Iterator[FakeOpenAIServer]:
    """A fake that accepts only `API_KEY`, as OpenAI does, and answers 401 quoting the rest."""
    generation = GenerationSettings(
        tokens=150, tokens_per_second=300, queued_seconds=0.05, reasoning_seconds=0.1
    )
    with FakeOpenAIServer(ServerSettings(api_key=API_KEY, generation=generation)) as server:
        yield server


def _find(haystack: bytes, needles: tuple[str, ...]) -> list[str]:
    return [needle for needle in needles if needle.encode() in haystack]


async def _raw_history(raw: Client, workflow_id: str) -> bytes:
    """Every event of the run as stored, payloads undecoded."""
    history = await raw.get_workflow_handle(workflow_id).fetch_history()
    return b"".join(event.SerializeToString() for event in history.events)


async def _raw_query(raw: Client, workflow_id: str, query: str) -> bytes:
    """A query's answer as the worker encoded it."""
    answer = await raw.workflow_service.query_workflow(
        QueryWorkflowRequest(
            namespace=raw.namespace,
            execution=WorkflowExecution(workflow_id=workflow_id),
            query=WorkflowQuery(query_type=query),
        )
    )
    return answer.query_result.SerializeToString()


@pytest.mark.parametrize("codec_on", [True, False], ids=["codec-on", "codec-off"])
async def test_nothing_secret_leaves_the_worker(dev_env, keyed_fake, codec_on):
    ring = f"k1:{new_key()}"
    codec = codec_chain(KeyRing.parse(ring)) if codec_on else None
    address = address_of(dev_env)
    client = await Client.connect(address, data_converter=data_converter(codec))
    raw = await Client.connect(address)  # what anyone with read access to the namespace sees
    metrics_port = free_port()
    queue, wrong_queue = f"protect-{uuid.uuid4()}", f"protect-401-{uuid.uuid4()}"
    env = {"LOG_LEVEL": "DEBUG", "DURABLE_RESPONSES_CODEC_KEYS": ring if codec_on else ""}
    with (
        worker_process(
            address,
            queue,
            keyed_fake.base_url,
            ["--metrics-port", str(metrics_port)],
            **env,
            OPENAI_API_KEY=API_KEY,
        ) as worker,
        worker_process(
            address, wrong_queue, keyed_fake.base_url, **env, OPENAI_API_KEY=WRONG_KEY
        ) as wrong,
    ):
        # 1. polling
        polling = f"protect-poll-{uuid.uuid4()}"
        polled = await client.execute_workflow(
            BackgroundResponseWorkflow.run,
            ResponseRequest(input=PROMPT, poll=POLL),
            id=polling,
            task_queue=queue,
        )
        # 2. streaming, with a follower (update results are history events too)
        stream = await client.start_workflow(
            StreamingResponseWorkflow.run,
            ResponseRequest(input=PROMPT + " (streamed)", poll=POLL),
            id=f"protect-stream-{uuid.uuid4()}",
            task_queue=queue,
        )
        followed = "".join([piece.text async for piece in follow(stream, wait_seconds=5)])
        streamed = await stream.result()
        # 3. a 401: OpenAI quotes the key's last characters in its message
        failing = f"protect-401-{uuid.uuid4()}"
        with pytest.raises(WorkflowFailureError) as failure:
            await client.execute_workflow(
                BackgroundResponseWorkflow.run,
                ResponseRequest(input=PROMPT + " (401)", poll=POLL),
                id=failing,
                task_queue=wrong_queue,
            )
        # 4. a cancel, mid-response
        keyed_fake.control.configure(tokens=5000, tokens_per_second=100)
        cancelled = await client.start_workflow(
            BackgroundResponseWorkflow.run,
            ResponseRequest(input=PROMPT + " (cancelled)", poll=POLL),
            id=f"protect-cancel-{uuid.uuid4()}",
            task_queue=queue,
        )

        async def created() -> bool:
            return (
                await cancelled.query(BackgroundResponseWorkflow.progress)
            ).response_id is not None

        await wait_until(created)
        await cancelled.cancel()
        with pytest.raises(WorkflowFailureError) as cancel:
            await cancelled.result()
        keyed_fake.control.configure(tokens=150, tokens_per_second=300)
        queries = [await _raw_query(raw, stream.id, name) for name in ("state", "progress")]
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as page:
            metrics = page.read()
    logs = (worker.output() + wrong.output()).encode()

    assert (
        followed == streamed.output_text == keyed_fake.control.response(streamed.response_id).text
    )
    assert isinstance(failure.value.cause, ApplicationError)
    assert failure.value.cause.type == ErrorType.AUTHENTICATION
    assert "[redacted]" in failure.value.cause.message  # read back through the codec
    assert isinstance(cancel.value.cause, CancelledError)

    ids = [polling, stream.id, failing, cancelled.id]
    histories = b"".join([await _raw_history(raw, wid) for wid in ids] + queries)
    answers = (polled.output_text[:40], streamed.output_text[:40], streamed.output_text[-40:])
    for where, text in (("history", histories), ("logs", logs), ("metrics", metrics)):
        assert _find(text, SECRETS) == [], f"key material in the {where}"
    plaintext = _find(histories, (PROMPT, *answers))
    if codec_on:
        assert plaintext == [], "prompt or answer in plaintext in the raw history"
    else:
        assert PROMPT in plaintext and answers[0] in plaintext  # the scan does see plaintext


async def test_spans_carry_no_key_material(dev_env, keyed_fake, spans, task_queue):
    """The tracing interceptor records failures on spans: a 401's message must be redacted."""
    activities = ResponsesActivities(
        openai.AsyncOpenAI(base_url=keyed_fake.base_url, api_key=WRONG_KEY, max_retries=0)
    )
    config = dev_env.client.config()
    client = Client(**{**config, "interceptors": [TracingInterceptor()]})
    spans.clear()
    async with build_worker(client, activities, task_queue=task_queue):
        with pytest.raises(WorkflowFailureError):
            await client.execute_workflow(
                BackgroundResponseWorkflow.run,
                ResponseRequest(input=PROMPT, poll=POLL),
                id=f"protect-spans-{uuid.uuid4()}",
                task_queue=task_queue,
            )
    exported = repr(
        [
            (
                span.name,
                dict(span.attributes or {}),
                [(e.name, dict(e.attributes or {})) for e in span.events],
                span.status.description,
            )
            for span in spans.get_finished_spans()
        ]
    ).encode()
    assert b"openai.responses.create" in exported  # the call was traced
    assert b"OpenAI 401" in exported  # and its failure recorded
    assert _find(exported, SECRETS) == []
