"""The webhook wake under time skipping, the API's activities mocked by name: a webhook the
provider's own status does not confirm yet is re-checked within seconds, not at the safety-net
poll minutes later; and webhooks switch on and off while a run runs (`set_webhooks`)."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from durable_responses.activities import (
    CreateResponseInput,
    ResponseRef,
    ResponseSnapshot,
    StreamBatch,
    StreamReaderEnd,
    StreamReaderInput,
)
from durable_responses.models import ErrorType, PollPolicy, ResponseRequest
from durable_responses.models.webhooks import (
    WEBHOOK_SIGNAL,
    WEBHOOKS_UPDATE,
    WebhookEvent,
    WebhookSetting,
)
from durable_responses.workflows import BackgroundResponseWorkflow, StreamingResponseWorkflow
from tests.test_cli import temporal
from tests.workers import mocked_worker

RESPONSE = "resp_lagging"


class Lagging:
    """A response that ends when the test says so, whose reads show it running for `lag` more
    retrieves after that (at-least-once webhooks and eventually consistent reads)."""

    def __init__(self, *, webhooks: bool, lag: int = 0) -> None:
        self.webhooks = webhooks
        self.lag = lag
        self.done = False
        self.retrieves = 0

    def snapshot(self, status: str) -> ResponseSnapshot:
        return ResponseSnapshot(
            id=RESPONSE,
            status=status,
            model="o3",
            output_text="Done." if status == "completed" else "",
            webhooks=self.webhooks,
        )

    def activities(self):
        @activity.defn(name="create_background_response")
        async def create(input: CreateResponseInput) -> ResponseSnapshot:
            return self.snapshot("queued")

        @activity.defn(name="retrieve_response")
        async def retrieve(input: ResponseRef) -> ResponseSnapshot:
            self.retrieves += 1
            if self.done and self.lag == 0:
                return self.snapshot("completed")
            if self.done:
                self.lag -= 1
            return self.snapshot("in_progress")

        @activity.defn(name="stream_background_response")
        async def stream(input: StreamReaderInput) -> StreamReaderEnd:
            """Past the replay window at once: the run polls for the rest."""
            handle = activity.client().get_workflow_handle(activity.info().workflow_id or "")
            await handle.signal(
                "record_stream_batch",
                StreamBatch(
                    response_id=RESPONSE, model="o3", after=None, cursor=1, status="queued"
                ),
            )
            raise ApplicationError("expired", type=ErrorType.STREAM_EXPIRED, non_retryable=True)

        @activity.defn(name="cancel_response")
        async def cancel(input: ResponseRef) -> ResponseSnapshot:
            return self.snapshot("cancelled")

        return [create, retrieve, stream, cancel]


def _start(env, workflow, task_queue: str, poll: PollPolicy | None = None):
    return env.client.start_workflow(
        workflow,
        ResponseRequest(input="x", poll=poll or PollPolicy()),
        id=f"wake-{uuid.uuid4()}",
        task_queue=task_queue,
    )


async def test_a_webhook_the_poll_does_not_confirm_is_rechecked_within_seconds(ts_env, task_queue):
    """The poll a webhook brings still says `in_progress` twice: the run re-polls 2 s and 4 s
    later and ends 6 s after the webhook, not at the safety-net poll 15 minutes on."""
    api = Lagging(webhooks=True, lag=2)
    async with mocked_worker(ts_env.client, task_queue, api.activities()):
        handle = await _start(ts_env, BackgroundResponseWorkflow.run, task_queue)
        await ts_env.sleep(timedelta(minutes=30))  # safety-net polls at 10 and 25 minutes
        assert api.retrieves == 2
        api.done = True
        sent = await ts_env.get_current_time()
        await handle.signal(WEBHOOK_SIGNAL, WebhookEvent(response_id=RESPONSE))
        result = await handle.result()
    assert result.status == "completed" and result.finished_at is not None
    assert result.finished_at - sent < timedelta(seconds=8)
    assert result.polls == 2 + 1 + 2  # the safety net's, the webhook's, two re-polls


async def test_re_polls_after_an_unconfirmed_webhook_stop_after_their_window(ts_env, task_queue):
    """A provider that never confirms costs five re-polls in two minutes, then the safety net
    again (a bounded while, not polling forever on one event)."""
    api = Lagging(webhooks=True, lag=1000)
    async with mocked_worker(ts_env.client, task_queue, api.activities()):
        handle = await _start(ts_env, BackgroundResponseWorkflow.run, task_queue)
        await ts_env.sleep(timedelta(minutes=1))
        api.done = True
        await handle.signal(WEBHOOK_SIGNAL, WebhookEvent(response_id=RESPONSE))
        await ts_env.sleep(timedelta(minutes=8))
        # the webhook's poll, then 2, 4, 8, 16 and 32 s later; 64 s more would pass 120 s
        assert api.retrieves == 1 + 5
        api.lag = 0
        result = await handle.result()  # at the safety-net poll
    assert result.status == "completed" and result.polls == 1 + 5 + 1


async def test_set_webhooks_switches_a_running_run_between_polling_and_the_safety_net(
    ts_env, task_queue
):
    api = Lagging(webhooks=False)
    async with mocked_worker(ts_env.client, task_queue, api.activities()):
        handle = await _start(ts_env, BackgroundResponseWorkflow.run, task_queue)
        await ts_env.sleep(timedelta(minutes=5))
        polled = api.retrieves  # 2 s growing to 60 s: about ten in five minutes
        assert polled >= 8
        answer = await handle.execute_update(
            WEBHOOKS_UPDATE, WebhookSetting(enabled=True), result_type=WebhookSetting
        )
        assert answer.enabled is True
        await ts_env.sleep(timedelta(minutes=30))
        assert api.retrieves - polled == 2  # the safety net: 10 and 25 minutes on
        before = await ts_env.get_current_time()
        await handle.execute_update(WEBHOOKS_UPDATE, WebhookSetting(enabled=False))
        api.done = True
        result = await handle.result()
    # polling again at once: its first interval (2 s), not the next safety-net poll
    assert result.finished_at is not None and result.finished_at - before < timedelta(seconds=5)


async def test_set_webhooks_reaches_the_streaming_runs_polling_fallback(ts_env, task_queue):
    api = Lagging(webhooks=False)
    async with mocked_worker(ts_env.client, task_queue, api.activities()):
        handle = await _start(ts_env, StreamingResponseWorkflow.run, task_queue)
        answer = await handle.execute_update(
            WEBHOOKS_UPDATE, WebhookSetting(enabled=True), result_type=WebhookSetting
        )
        assert answer.enabled is True
        await ts_env.sleep(timedelta(minutes=30))
        assert api.retrieves <= 3  # its first poll, then the safety net's (10 and 25 min)
        api.done = True
        await handle.signal(WEBHOOK_SIGNAL, WebhookEvent(response_id=RESPONSE))
        result = await handle.result()
    assert result.status == "completed" and result.output_text == "Done."


async def test_the_temporal_cli_switches_webhooks_and_delivers_a_webhook(ts_env, task_queue):
    """What an operator types: `temporal workflow update execute --name set_webhooks` and
    `temporal workflow signal --name openai_webhook`."""
    api = Lagging(webhooks=False)
    async with mocked_worker(ts_env.client, task_queue, api.activities()):
        handle = await _start(ts_env, BackgroundResponseWorkflow.run, task_queue)
        code, out = await temporal(
            ts_env,
            "workflow",
            "update",
            "execute",
            "--workflow-id",
            handle.id,
            "--name",
            WEBHOOKS_UPDATE,
            "--input",
            '{"enabled": true}',
        )
        assert code == 0, out
        assert out["result"] == {"enabled": True}
        await ts_env.sleep(timedelta(minutes=30))
        assert api.retrieves <= 3  # the safety net's (10 and 25 minutes), not polling's
        api.done = True
        code, out = await temporal(
            ts_env,
            "workflow",
            "signal",
            "--workflow-id",
            handle.id,
            "--name",
            WEBHOOK_SIGNAL,
            "--input",
            json.dumps({"response_id": RESPONSE, "type": "response.completed"}),
        )
        assert code == 0, out
        result = await handle.result()
    assert result.status == "completed" and result.polls == api.retrieves
