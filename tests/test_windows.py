"""Discounted completion windows under time skipping, the API's activities mocked by name: an
8-hour wait is a handful of sparse polls, and a webhook ends it at once."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio import activity

from durable_responses.activities import CreateResponseInput, ResponseRef, ResponseSnapshot
from durable_responses.models import ResponseRequest
from durable_responses.models.webhooks import WEBHOOK_SIGNAL, WebhookEvent
from durable_responses.workflows import BackgroundResponseWorkflow
from tests.workers import mocked_worker

EIGHT_HOURS = {"input": "Summarise the quarter.", "background_options": {"completion_window": "8h"}}


class Window:
    """A response that stays queued until `done`; creates and retrieves counted."""

    def __init__(self, webhooks: bool) -> None:
        self.webhooks = webhooks
        self.done = False
        self.creates: list[CreateResponseInput] = []
        self.retrieves = 0

    def snapshot(self, status: str) -> ResponseSnapshot:
        return ResponseSnapshot(
            id="resp_window",
            status=status,
            model="o3",
            output_text="The quarter, summarised." if status == "completed" else "",
            webhooks=self.webhooks,
        )

    def activities(self):
        @activity.defn(name="create_background_response")
        async def create(input: CreateResponseInput) -> ResponseSnapshot:
            self.creates.append(input)
            return self.snapshot("queued")

        @activity.defn(name="retrieve_response")
        async def retrieve(input: ResponseRef) -> ResponseSnapshot:
            self.retrieves += 1
            return self.snapshot("completed" if self.done else "queued")

        return [create, retrieve]


async def _eight_hours(env, api: Window, task_queue: str, *, webhook: bool):
    async with mocked_worker(env.client, task_queue, api.activities()):
        handle = await env.client.start_workflow(
            BackgroundResponseWorkflow.run,
            ResponseRequest.model_validate(EIGHT_HOURS),
            id=f"window-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        await env.sleep(timedelta(hours=7, minutes=20))  # the provider runs it late in its window
        api.done = True
        if webhook:
            await handle.signal(WEBHOOK_SIGNAL, WebhookEvent(response_id="resp_window"))
        result = await handle.result()
    assert result.status == "completed" and result.output_text == "The quarter, summarised."
    assert result.started_at is not None and result.finished_at is not None
    return result, result.finished_at - result.started_at, handle


async def test_an_eight_hour_window_sleeps_sparsely_and_a_webhook_wakes_it(ts_env, task_queue):
    api = Window(webhooks=True)
    result, took, handle = await _eight_hours(ts_env, api, task_queue, webhook=True)
    # Woken at once at 7 h 20 min, not at the next 30-minute safety-net poll (7 h 30 min).
    # (`started_at` is the run's first task, a few test-clock ms after the start the test's
    # 7 h 20 min sleep counts from.)
    assert timedelta(hours=7, minutes=19, seconds=59) <= took < timedelta(hours=7, minutes=21)
    assert result.polls == 15  # 14 safety-net polls in 7 h 20 min, the one the webhook asked for
    # The discounted window's requests are grouped by the run (OpenAI's continuation_id).
    (create,) = api.creates
    options = create.params.background_options
    assert options is not None and options.continuation_id == handle.id


async def test_without_webhooks_an_eight_hour_window_polls_sparsely(ts_env, task_queue):
    api = Window(webhooks=False)
    result, took, _ = await _eight_hours(ts_env, api, task_queue, webhook=False)
    assert took < timedelta(hours=8)  # seen within one sparse interval (30 min at most)
    assert result.polls == 22  # from 1 minute growing by 1.5 to 30, not a minute apart (440)


@pytest.mark.parametrize("webhooks", [True, False])
async def test_a_plain_run_polls_as_before_unless_a_receiver_will_wake_it(
    ts_env, task_queue, webhooks
):
    """Without a window: polls grow from 2 s to 60 s; with a receiver, every 5 minutes."""
    api = Window(webhooks=webhooks)
    async with mocked_worker(ts_env.client, task_queue, api.activities()):
        handle = await ts_env.client.start_workflow(
            BackgroundResponseWorkflow.run,
            ResponseRequest(input="x"),
            id=f"plain-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        await ts_env.sleep(timedelta(minutes=29))
        api.done = True
        result = await handle.result()
    # Receiver: at 10 min, then 25 (growing by 1.5), the third after 29 min. None: 2 s growing
    # by 1.5 to 60 s (10 polls by 3.5 min), then a minute apart.
    assert result.polls == (3 if webhooks else 36)
