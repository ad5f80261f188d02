"""The reaper: responses that a closed run left running upstream (a terminate, a run timeout:
no cleanup code runs) are found through the search attributes and cancelled, idempotently,
by `durable-responses-reap` or by its Schedule."""

from __future__ import annotations

import uuid
from datetime import timedelta

import openai
import pytest
from temporalio.client import ScheduleActionStartWorkflow

from durable_responses.activities.reaper import reap
from durable_responses.models import PollPolicy, ResponseRequest
from durable_responses.models.reaper import ReapReport, ReapRequest
from durable_responses.reaper import ensure_schedule, schedule_id
from durable_responses.workflows import BackgroundResponseWorkflow
from tests.workers import address_of, build_worker, wait_until, worker_process

POLL = PollPolicy(
    initial_interval_seconds=0.2, backoff=1.5, max_interval_seconds=1.0, first_polls_seconds=0
)
"""Durable polls from the first, so the runs record their response's id at once: the reaper
finds responses by it. A run terminated inside its first polls cancels its own
(tests/test_first_polls.py)."""
NOW = ReapRequest(older_than_seconds=0)


async def _terminated_with_a_running_response(env, fake, task_queue: str) -> str:
    """A run terminated mid-response: its response is still in progress upstream."""
    fake.configure(tokens=3000, tokens_per_second=20)
    handle = await env.client.start_workflow(
        BackgroundResponseWorkflow.run,
        ResponseRequest(input=f"reap me {uuid.uuid4()}", poll=POLL),
        id=f"reap-{uuid.uuid4()}",
        task_queue=task_queue,
    )

    async def created() -> bool:
        return (await handle.query(BackgroundResponseWorkflow.progress)).response_id is not None

    await wait_until(created)
    response_id = (await handle.query(BackgroundResponseWorkflow.progress)).response_id
    assert response_id is not None
    await handle.terminate("test: a terminate runs no cleanup")
    assert fake.response(response_id, events=False).status == "in_progress"
    return response_id


async def test_terminate_then_the_reaper_cancels_the_response_once(
    dev_env, fake, fake_server, activities, task_queue
):
    api = openai.AsyncOpenAI(base_url=fake_server.base_url, api_key="sk-test", max_retries=0)
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        orphan = await _terminated_with_a_running_response(dev_env, fake, task_queue)
        running = await dev_env.client.start_workflow(  # owned by a running workflow: kept
            BackgroundResponseWorkflow.run,
            ResponseRequest(input="still wanted", poll=POLL),
            id=f"reap-keep-{uuid.uuid4()}",
            task_queue=task_queue,
        )

        async def kept_created() -> bool:  # its response exists before the reaper looks
            return (
                await running.query(BackgroundResponseWorkflow.progress)
            ).response_id is not None

        await wait_until(kept_created)
        dry: list[ReapReport] = []

        async def listed() -> bool:  # visibility sees the closed run shortly after
            dry.append(await reap(dev_env.client, api, NOW.model_copy(update={"dry_run": True})))
            return orphan in dry[-1].cancelled

        await wait_until(listed, timeout=30, every=0.5)
        assert fake.response(orphan, events=False).status == "in_progress"  # dry: nothing done
        first = await reap(dev_env.client, api, NOW)
        assert orphan in first.cancelled and not first.failed
        assert fake.response(orphan, events=False).status == "cancelled"
        again = await reap(dev_env.client, api, NOW)  # idempotent: a cancel of a cancelled
        assert orphan in again.cancelled + again.already_ended and not again.failed  # response
        assert fake.response(orphan, events=False).status == "cancelled"
        kept = (await running.query(BackgroundResponseWorkflow.progress)).response_id
        assert kept is not None and kept not in first.cancelled
        await running.cancel()
        with pytest.raises(Exception):  # noqa: B017 - cancelled, and its response with it
            await running.result()
    # A run closed less long ago than `older_than` is left to finish its own cleanup.
    recent = await reap(dev_env.client, api, ReapRequest(older_than_seconds=3600))
    assert orphan not in recent.cancelled + recent.already_ended


async def test_the_schedule_runs_the_reaper_on_the_workers_task_queue(
    dev_env, fake, activities, task_queue
):
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        orphan = await _terminated_with_a_running_response(dev_env, fake, task_queue)
        every = timedelta(hours=1)
        sid = await ensure_schedule(dev_env.client, task_queue, every, NOW)
        assert sid == await ensure_schedule(dev_env.client, task_queue, every, NOW)  # once
        schedule = dev_env.client.get_schedule_handle(sid)
        try:

            async def reaped() -> bool:
                await schedule.trigger()
                return fake.response(orphan, events=False).status == "cancelled"

            await wait_until(reaped, timeout=60, every=2)
        finally:
            await schedule.delete()
    assert sid == schedule_id(task_queue)


async def test_the_worker_flag_creates_the_schedule(dev_env, fake, fake_server, task_queue):
    with worker_process(
        address_of(dev_env), task_queue, fake_server.base_url, ["--reap-every", "3600"]
    ):
        schedule = dev_env.client.get_schedule_handle(schedule_id(task_queue))
        try:
            described = await schedule.describe()
            action = described.schedule.action
            assert isinstance(action, ScheduleActionStartWorkflow)
            assert action.workflow == "ReapOrphanedResponsesWorkflow"
            assert action.task_queue == task_queue
        finally:
            await schedule.delete()
