"""`BackgroundResponseWorkflow` end to end: real dev server, real fake API over HTTP, real
worker processes that get killed."""

from __future__ import annotations

import asyncio
import uuid

import openai
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError

from durable_responses.activities import ResponsesActivities
from durable_responses.fake_openai import FakeOpenAIServer, ServerSettings
from durable_responses.models import ErrorType, PollPolicy, ResponseRequest
from durable_responses.workflows import BackgroundResponseWorkflow
from tests.workers import address_of, build_worker, wait_until, worker_process

FAST_POLL = PollPolicy(initial_interval_seconds=0.2, backoff=1.5, max_interval_seconds=1.0)


async def test_end_to_end_text_equals_the_canonical_text(dev_env, fake, activities, task_queue):
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        result = await dev_env.client.execute_workflow(
            BackgroundResponseWorkflow.run,
            ResponseRequest(input="Briefly explain relativity.", poll=FAST_POLL),
            id=f"bg-{uuid.uuid4()}",
            task_queue=task_queue,
        )
    record = fake.response(result.response_id)
    assert result.status == "completed" and result.output_text == record.text != ""
    assert result.reasoning_summary == record.reasoning_summary
    assert result.usage is not None and result.usage.output_tokens > 0
    assert fake.counts()["creates"] == 1 and result.polls >= 1


@pytest.mark.parametrize("moment", ["sleeping", "polling"])
async def test_sigkill_worker_then_new_worker_finishes_with_one_create(
    dev_env, fake, fake_server, task_queue, moment
):
    fake.configure(tokens=300, tokens_per_second=60)  # a five-second response
    if moment == "polling":
        # every retrieve takes 1.5 s, so the kill lands inside a poll
        fake.add_fault(route="retrieve", kind="delay", seconds=1.5)
    handle = None
    with worker_process(address_of(dev_env), task_queue, fake_server.base_url) as first:
        handle = await dev_env.client.start_workflow(
            BackgroundResponseWorkflow.run,
            # durable polls from the first, so the kill lands in one of them or a sleep
            # (test_first_polls.py kills a create polling a young response)
            ResponseRequest(
                input="kill me", poll=FAST_POLL.model_copy(update={"first_polls_seconds": 0})
            ),
            id=f"bg-kill-{uuid.uuid4()}",
            task_queue=task_queue,
        )

        async def polled_twice() -> bool:
            progress = await handle.query(BackgroundResponseWorkflow.progress)
            return progress.polls >= 2

        await wait_until(polled_twice)
        if moment == "polling":
            await asyncio.sleep(0.5)
        first.kill()
    assert first.proc is not None and first.proc.returncode == -9
    with worker_process(address_of(dev_env), task_queue, fake_server.base_url):
        result = await asyncio.wait_for(handle.result(), timeout=60)
    record = fake.response(result.response_id)
    assert result.output_text == record.text == record.planned_text
    assert fake.counts()["creates"] == 1
    assert len(fake.responses()) == 1


async def test_injected_faults_are_retried_and_the_run_completes(
    dev_env, fake, activities, task_queue
):
    fake.configure(tokens=600, tokens_per_second=100)  # outlives the create retries
    fake.add_fault(route="create", kind="error", status=500, times=1)
    fake.add_fault(route="create", kind="reset", when="after", times=1)  # created, answer lost
    fake.add_fault(route="retrieve", kind="error", status=429, retry_after=0.2, times=2)
    fake.add_fault(route="retrieve", kind="reset", times=1)
    fake.add_fault(route="retrieve", kind="error", status=503, times=1)
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        result = await dev_env.client.execute_workflow(
            BackgroundResponseWorkflow.run,
            ResponseRequest(input="faults", poll=FAST_POLL),
            id=f"bg-faults-{uuid.uuid4()}",
            task_queue=task_queue,
        )
    assert result.output_text == fake.response(result.response_id).text
    counts = fake.counts()
    assert counts["faults_fired"] == 6
    # OpenAI does not document honouring the Idempotency-Key, and the fake ignores it here: the
    # create whose answer was lost made a second response, unread (the documented create
    # window). The fake attributes it to the reset; it carried the same key, so a provider that
    # honours the key would have answered the retry with it instead.
    assert (counts["creates"], counts["idempotent_replays"]) == (2, 0)
    (lost,) = [r for r in fake.responses() if r.id != result.response_id]
    assert lost.counts.get("reset_after_accept") == 1 and lost.answered_at is None
    assert lost.idempotency_key == fake.response(result.response_id).idempotency_key


async def test_bad_api_key_fails_fast_with_the_api_message(dev_env, task_queue):
    with FakeOpenAIServer(ServerSettings(api_key="sk-the-right-one")) as server:
        wrong = ResponsesActivities(
            openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-wrong-key", max_retries=0)
        )
        async with build_worker(dev_env.client, wrong, task_queue=task_queue):
            handle = await dev_env.client.start_workflow(
                BackgroundResponseWorkflow.run,
                ResponseRequest(input="x"),
                id=f"bg-401-{uuid.uuid4()}",
                task_queue=task_queue,
            )
            with pytest.raises(WorkflowFailureError) as err:
                await asyncio.wait_for(handle.result(), timeout=20)
    cause = err.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == ErrorType.AUTHENTICATION
    assert "Incorrect API key provided" in cause.message
    events = (await handle.fetch_history()).events
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    assert attempts == [1]  # not retried


async def test_polls_routed_to_a_queue_nobody_serves_fail_typed_not_silently(
    dev_env, fake, activities, task_queue
):
    poll = FAST_POLL.model_copy(
        update={"task_queue": f"{task_queue}-nobody", "task_queue_timeout_seconds": 2}
    )
    fake.configure(tokens=3000, tokens_per_second=20)  # still running when the run gives up
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        with pytest.raises(WorkflowFailureError) as err:
            await dev_env.client.execute_workflow(
                BackgroundResponseWorkflow.run,
                ResponseRequest(input="polls go nowhere", poll=poll),
                id=f"bg-unserved-{uuid.uuid4()}",
                task_queue=task_queue,
            )
    cause = err.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == ErrorType.POLL_QUEUE_UNSERVED
    assert f"{task_queue}-nobody" in cause.message
    assert fake.counts()["retrieves"] == 0
    # The run gave up on the response, so it cancelled it (the orphan rule).
    assert [record.status for record in fake.responses()] == ["cancelled"]
