"""Past Temporal's 2 MB payload limit in plain JSON, under it compressed: a 4 MB answer (whole
when compressed, reduced but never stuck when not), and a prompt whose plain size the
workflow's input check must not hold against it."""

from __future__ import annotations

import asyncio
import base64
import random
import uuid
from collections.abc import Iterator

import openai
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from durable_responses.activities import ResponsesActivities
from durable_responses.codec import codec_chain, data_converter
from durable_responses.fake_openai import FakeOpenAIServer, GenerationSettings, ServerSettings
from durable_responses.models import OutputIncomplete, PollPolicy, ResponseRequest
from durable_responses.models.limits import PAYLOAD_LIMIT
from durable_responses.workflows import BackgroundResponseWorkflow
from tests.workers import address_of, build_worker

TOKENS = 700_000
"""About 4.4 MB of answer text: the fake's words average a little over six characters."""
POLL = PollPolicy(initial_interval_seconds=1.0)


@pytest.fixture(scope="module")
def big_fake() -> Iterator[FakeOpenAIServer]:
    """A fake that writes the whole answer within a second or two."""
    generation = GenerationSettings(
        tokens=TOKENS, tokens_per_second=2_000_000, queued_seconds=0, reasoning_seconds=0
    )
    with FakeOpenAIServer(ServerSettings(generation=generation)) as server:
        yield server
        # Its own fake, out of conftest's `no_orphans` reach: the same check, once at the end.
        running = [r.id for r in server.control.responses() if not r.terminal]
        server.control.reset()  # let go of the events of the big responses
        assert running == [], f"left running upstream: {running}"


@pytest.fixture
def big_activities(big_fake: FakeOpenAIServer) -> ResponsesActivities:
    client = openai.AsyncOpenAI(base_url=big_fake.base_url, api_key="sk-test", max_retries=0)
    return ResponsesActivities(client)


async def test_a_4mb_answer_completes_with_compression(
    dev_env, big_fake, big_activities, task_queue
):
    codec = codec_chain(None, compress=True)
    client = await Client.connect(address_of(dev_env), data_converter=data_converter(codec))
    async with build_worker(client, big_activities, task_queue=task_queue):
        result = await client.execute_workflow(
            BackgroundResponseWorkflow.run,
            ResponseRequest(input="Write at length.", poll=POLL),
            id=f"big-{uuid.uuid4()}",
            task_queue=task_queue,
        )
    assert len(result.output_text.encode()) > 4_000_000
    assert result.output_text == big_fake.control.response(result.response_id, events=False).text


async def test_without_compression_a_result_over_the_limit_is_reduced_not_stuck(
    dev_env, big_fake, big_activities, task_queue
):
    """4.4 MB of text cannot fit a 2 MB payload in plain JSON. The run must still end: the
    result keeps what fits (the tail of the text, the items without their text) and says so;
    the provider keeps it all. It used to leave the workflow task failing with
    `PayloadsTooLarge` until someone terminated the run."""
    client = await Client.connect(address_of(dev_env), data_converter=data_converter(None))
    async with build_worker(client, big_activities, task_queue=task_queue):
        handle = await client.start_workflow(
            BackgroundResponseWorkflow.run,
            ResponseRequest(input="Write at length, plainly.", poll=POLL),
            id=f"big-plain-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        result = await asyncio.wait_for(handle.result(), timeout=120)
    kinds = [event.event_type async for event in handle.fetch_history_events()]
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in kinds
    text = big_fake.control.response(result.response_id, events=False).text
    assert result.status == "completed" and len(text.encode()) > 4_000_000
    # What is kept is exact, and where it starts is said.
    assert 0 < result.output_text_offset < len(text)
    assert result.output_text == text[result.output_text_offset :]
    assert len(result.output_text.encode()) < PAYLOAD_LIMIT
    assert result.output_text_lengths == [len(text)]  # the message's text is not repeated
    assert result.response is None
    with pytest.raises(OutputIncomplete):
        result.output_items()


async def test_a_prompt_over_the_limit_in_plain_json_fits_compressed(
    dev_env, fake, activities, task_queue
):
    # A long document: 2.2 MB of words, about 550k tokens (within gpt-4.1's 1M context; the
    # fake refuses what a model's window cannot hold), well under 2 MB once compressed. The
    # workflow sees the plain size only; the local activity measures what the codec makes of
    # it, and lets it through.
    rng = random.Random(1)
    words = [base64.b32encode(rng.randbytes(5)).decode().lower()[:7] for _ in range(20_000)]
    prompt = " ".join(rng.choice(words) for _ in range(280_000))
    client = await Client.connect(
        address_of(dev_env), data_converter=data_converter(codec_chain(None, compress=True))
    )
    async with build_worker(client, activities, task_queue=task_queue):
        result = await client.execute_workflow(
            BackgroundResponseWorkflow.run,
            ResponseRequest(input=prompt, model="gpt-4.1", poll=POLL),
            id=f"big-prompt-{uuid.uuid4()}",
            task_queue=task_queue,
        )
    assert len(prompt) > 2 * 1024 * 1024
    assert result.status == "completed"
    assert result.output_text == fake.response(result.response_id, events=False).text
