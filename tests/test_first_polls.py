"""The first polls of a young response, made by the create activity itself: a short run's
shape, a crash mid-poll (one create still), a cancel mid-poll (cancelled upstream), and the
hand-over to durable sleeps. Real dev server, real worker (a process when it is killed), the
fake over HTTP."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import CancelledError

from durable_responses import RunHandle
from durable_responses.activities import first_polls as first_polls_module
from durable_responses.models import PollPolicy, Progress, ResponseRequest, ResponseResult
from durable_responses.workflows import BackgroundResponseWorkflow
from tests.workers import address_of, build_worker, wait_until, worker_process

YOUNG = PollPolicy(initial_interval_seconds=0.2, backoff=1.5, max_interval_seconds=1.0)
"""Fast polls, the default first-polls budget (10 s): short responses end inside the create."""
LONG_YOUNG = YOUNG.model_copy(update={"first_polls_seconds": 60.0})
"""... a budget no test response outlives: every poll is the create's own."""


async def _events(handle: WorkflowHandle) -> list[EventType.ValueType]:
    return [event.event_type async for event in handle.fetch_history_events()]


def _retrieves(fake, response_id: str) -> int:
    return fake.response(response_id, events=False).counts.get("retrieves", 0)


async def _polling_inside_its_create(
    client, fake, task_queue: str, input: str, polls: int = 1
) -> WorkflowHandle:
    """A run started with every poll its create's, once the create has polled `polls` times
    (the response is the fake's first)."""
    handle = await client.start_workflow(
        BackgroundResponseWorkflow.run,
        ResponseRequest(input=input, poll=LONG_YOUNG),
        id=f"young-{uuid.uuid4()}",
        task_queue=task_queue,
    )

    async def polled() -> bool:
        created = fake.responses()
        return bool(created) and _retrieves(fake, created[0].id) >= polls

    await wait_until(polled)
    return handle


async def test_a_short_run_polls_inside_the_create_in_one_activity_and_two_tasks(
    dev_env, fake, activities, task_queue
):
    fake.configure(tokens=150, tokens_per_second=300)  # half a second: a few polls
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        handle = await dev_env.client.start_workflow(
            BackgroundResponseWorkflow.run,
            ResponseRequest(input="Be quick.", poll=YOUNG),
            id=f"young-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        result = await handle.result()
        progress = await handle.query(BackgroundResponseWorkflow.progress)
    assert result.status == "completed"
    assert result.output_text == fake.response(result.response_id).text != ""
    assert fake.counts()["creates"] == 1
    # every retrieve was the create's, and each one is counted as a poll
    assert result.polls == progress.polls == _retrieves(fake, result.response_id) >= 1
    events = await _events(handle)
    assert len(events) <= 16
    assert events.count(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) == 2
    assert EventType.EVENT_TYPE_TIMER_STARTED not in events
    assert events.count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) == 1


async def test_following_a_run_in_its_first_polls_shows_its_response_before_the_end(
    dev_env, fake, activities, task_queue
):
    # While the create polls, the workflow knows no response yet: the follower reads the
    # create's heartbeat. Without it, the only progress with an id was the final one.
    fake.configure(tokens=400, tokens_per_second=100)  # four seconds, all inside the create
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        handle = await dev_env.client.start_workflow(
            BackgroundResponseWorkflow.run,
            ResponseRequest(input="Take your time.", poll=LONG_YOUNG),
            id=f"young-followed-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        seen = [
            update
            async for update in RunHandle(handle).follow_progress(poll_seconds=0.1)
            if isinstance(update, (Progress, ResponseResult))
        ]
    result = seen[-1]
    assert isinstance(result, ResponseResult) and result.status == "completed"
    before_the_end = [p for p in seen[:-1] if isinstance(p, Progress) and p.status != "completed"]
    assert any(p.response_id == result.response_id for p in before_the_end), before_the_end
    assert fake.counts()["creates"] == 1


async def test_a_run_longer_than_the_first_polls_goes_on_with_durable_sleeps(
    dev_env, fake, activities, task_queue
):
    fake.configure(tokens=300, tokens_per_second=100)  # three seconds
    policy = YOUNG.model_copy(update={"first_polls_seconds": 1.0})
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        handle = await dev_env.client.start_workflow(
            BackgroundResponseWorkflow.run,
            ResponseRequest(input="Take your time.", poll=policy),
            id=f"young-then-durable-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        result = await handle.result()
    assert result.status == "completed" and fake.counts()["creates"] == 1
    assert result.polls == _retrieves(fake, result.response_id)
    events = await _events(handle)
    assert EventType.EVENT_TYPE_TIMER_STARTED in events  # the durable polls took over
    durable = events.count(EventType.EVENT_TYPE_MARKER_RECORDED) - 1  # one is the umbrella
    assert 0 < durable < result.polls  # ... after the create's own polls


async def test_a_response_past_the_first_polls_is_polled_durably_from_the_next_interval(
    dev_env, fake, activities, task_queue
):
    """The first durable sleep continues the policy's intervals where the create stopped."""
    fake.configure(tokens=240, tokens_per_second=60)  # four seconds
    policy = PollPolicy(
        initial_interval_seconds=0.5, backoff=2.0, max_interval_seconds=4.0, first_polls_seconds=2
    )
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        handle = await dev_env.client.start_workflow(
            BackgroundResponseWorkflow.run,
            ResponseRequest(input="Steady.", poll=policy),
            id=f"young-interval-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        await handle.result()
    timers = [
        event.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta().total_seconds()
        async for event in handle.fetch_history_events()
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED
    ]
    # polls at 0.5 and 1.5 s in the create (the next, 2 s on, is past its budget): 2 s on
    assert timers[:2] == [2.0, 4.0]


async def test_sigkill_mid_first_polls_resumes_polling_without_a_second_create(
    dev_env, fake, fake_server, task_queue
):
    """Promise 1: the killed attempt's heartbeat names the response, so the retry polls it
    instead of creating another (the fake, like OpenAI here, does not honour the key)."""
    fake.configure(tokens=600, tokens_per_second=60)  # ten seconds
    with worker_process(address_of(dev_env), task_queue, fake_server.base_url) as first:
        handle = await _polling_inside_its_create(
            dev_env.client, fake, task_queue, "kill me while young", polls=2
        )
        progress = await handle.query(BackgroundResponseWorkflow.progress)
        assert progress.response_id is None  # still inside the create
        first.kill()
    assert first.proc is not None and first.proc.returncode == -9
    killed_at = _retrieves(fake, fake.responses()[0].id)
    with worker_process(address_of(dev_env), task_queue, fake_server.base_url):
        result = await asyncio.wait_for(handle.result(), timeout=90)
    record = fake.response(result.response_id)
    assert result.output_text == record.text == record.planned_text
    assert fake.counts()["creates"] == 1 and len(fake.responses()) == 1
    # the retry polled on (counting from the last heartbeat's count)
    assert 1 <= result.polls <= _retrieves(fake, result.response_id)
    assert _retrieves(fake, result.response_id) > killed_at
    attempts = [
        event.activity_task_started_event_attributes.attempt
        async for event in handle.fetch_history_events()
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    assert attempts == [2]  # the create was retried: the kill landed mid-poll


async def test_cancel_mid_first_polls_cancels_the_response_upstream_at_once(
    dev_env, fake, activities, task_queue
):
    """The orphan rule: the cancel reaches the polling create through its heartbeat, which
    answers with the response it made, and the workflow cancels that upstream."""
    fake.configure(tokens=3000, tokens_per_second=50)  # a minute
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        handle = await _polling_inside_its_create(
            dev_env.client, fake, task_queue, "cancel me while young"
        )
        cancelled_at = time.monotonic()
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        took = time.monotonic() - cancelled_at
        progress = await handle.query(BackgroundResponseWorkflow.progress)
    assert isinstance(failure.value.cause, CancelledError)
    (record,) = fake.responses()
    assert record.status == "cancelled" and record.counts.get("cancels") == 1
    assert took < 10  # through the heartbeat, not at the end of the 60 s budget
    assert progress.response_id == record.id and progress.status == "cancelled"
    assert progress.polls >= 1  # the create's polls are counted when it answers the cancel


async def test_a_run_terminated_mid_first_polls_leaves_nothing_running_upstream(
    dev_env, fake, activities, task_queue
):
    """A terminate runs no workflow code, and the run never recorded the id (no search
    attribute for the reaper to find): the polling create learns from its heartbeat that its
    run is gone and cancels the response itself."""
    fake.configure(tokens=3000, tokens_per_second=50)  # a minute
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        handle = await _polling_inside_its_create(
            dev_env.client, fake, task_queue, "terminate me while young"
        )
        await handle.terminate("test: a terminate runs no cleanup")

        async def cancelled() -> bool:
            return fake.responses()[0].status == "cancelled"

        await wait_until(cancelled, timeout=30)  # within a heartbeat (5 s) and its round trip
    (record,) = fake.responses()
    assert record.counts.get("cancels") == 1


async def test_past_the_young_runs_limit_a_run_polls_durably_from_the_first(
    dev_env, fake, activities, task_queue, monkeypatch
):
    """Runs polling inside their creates hold activity slots: past the limit the next create
    answers at once, so creates of other runs never queue behind first polls."""
    monkeypatch.setattr(first_polls_module, "MAX_YOUNG_RUNS", 1)
    fake.configure(tokens=3000, tokens_per_second=50)  # a minute: the first keeps its slot
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        first = await _polling_inside_its_create(
            dev_env.client, fake, task_queue, "I poll inside my create."
        )
        second = await dev_env.client.start_workflow(
            BackgroundResponseWorkflow.run,
            ResponseRequest(input="I poll durably.", poll=LONG_YOUNG),
            id=f"young-second-{uuid.uuid4()}",
            task_queue=task_queue,
        )

        async def recorded() -> bool:
            return (await second.query(BackgroundResponseWorkflow.progress)).polls >= 1

        await wait_until(recorded)  # its id and a durable poll, while the first still polls
        assert (await first.query(BackgroundResponseWorkflow.progress)).response_id is None
        assert EventType.EVENT_TYPE_TIMER_STARTED in await _events(second)
        await first.cancel()
        await second.cancel()
        for handle in (first, second):
            with pytest.raises(WorkflowFailureError):
                await handle.result()
