"""Flex processing in a durable run: cheaper and slower, sometimes unavailable (429); a run
waits it out, or falls back to the default tier after the time it was given, with one upstream
response at a time and none left running."""

from __future__ import annotations

import uuid

from durable_responses.models import PollPolicy, ResponseRequest
from durable_responses.workflows import BackgroundResponseWorkflow
from tests.workers import build_worker

QUICK = PollPolicy(initial_interval_seconds=0.2, max_interval_seconds=0.5)


def _mine(fake, workflow_id: str):
    return [r for r in fake.responses() if r.metadata.get("temporal_workflow_id") == workflow_id]


async def test_flex_unavailable_past_the_fallback_time_completes_on_the_default_tier_once(
    dev_env, fake, activities, task_queue
):
    fake.configure(tokens=40, tokens_per_second=400, flex_unavailable_seconds=8)
    workflow_id = f"flex-fallback-{uuid.uuid4()}"
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        result = await dev_env.client.execute_workflow(
            BackgroundResponseWorkflow.run,
            ResponseRequest(
                input="x", model="o3", service_tier="flex", flex_fallback_seconds=2, poll=QUICK
            ),
            id=workflow_id,
            task_queue=task_queue,
        )
    assert result.status == "completed" and result.service_tier == "default"
    (created,) = _mine(fake, workflow_id)  # the refused flex creates made nothing
    assert created.request["service_tier"] == "default"
    assert fake.counts()["flex_unavailable"] >= 2  # flex was tried, and retried, first
    assert result.output_text == created.text


async def test_flex_unavailable_for_a_while_is_waited_out_without_a_fallback(
    dev_env, fake, activities, task_queue
):
    fake.configure(tokens=40, tokens_per_second=400, flex_unavailable_seconds=2)
    workflow_id = f"flex-wait-{uuid.uuid4()}"
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        result = await dev_env.client.execute_workflow(
            BackgroundResponseWorkflow.run,
            ResponseRequest(input="x", model="o3", service_tier="flex", poll=QUICK),
            id=workflow_id,
            task_queue=task_queue,
        )
    assert result.status == "completed" and result.service_tier == "flex"
    assert len(_mine(fake, workflow_id)) == 1
