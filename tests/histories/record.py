"""Record workflow histories for the replay test: `python -m tests.histories.record [NAME...]`.

Run it after a change that is meant to be compatible with in-flight workflows has landed,
never to paper over a non-determinism error: the committed files are what running workflows
have in their history today. Names given: record only those (a new history beside the others).
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import openai
from pydantic import BaseModel
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle

import durable_responses.workflow as durable
from durable_responses.activities import ResponsesActivities
from durable_responses.fake_openai import (
    FakeOpenAIServer,
    FaultRule,
    GenerationSettings,
    ServerSettings,
)
from durable_responses.models import PollPolicy, ResponseRequest, StreamPolicy
from durable_responses.models.agent import SessionRequest
from durable_responses.models.reaper import ReapRequest
from durable_responses.models.webhooks import (
    WEBHOOK_SIGNAL,
    WEBHOOKS_UPDATE,
    WebhookEvent,
    WebhookSetting,
)
from durable_responses.session import AgentSession
from durable_responses.testing import dev_server
from durable_responses.workflows import BackgroundResponseWorkflow
from examples.agent import TripPlannerWorkflow, TripRequest, compile_report, get_weather
from tests.workers import build_worker, wait_until

HERE = Path(__file__).parent
POLL = PollPolicy(initial_interval_seconds=0.2, backoff=1.5, max_interval_seconds=1)
SLOW_POLL = PollPolicy(initial_interval_seconds=60)
"""Polls a minute apart: the webhook, not a poll, ends the run."""
RECHECK_POLL = PollPolicy(initial_interval_seconds=60, webhook_recheck_seconds=0.3)
"""... and when the webhook's poll still sees the response running, re-polls 0.3 s apart."""
RETRIEVE_LAG = 1.0
"""The fake's reads lag its webhook by this while `background_webhook_recheck` records."""
ONLY: set[str] = set(sys.argv[1:])


async def _record(
    client: Client,
    name: str,
    workflow: str,
    request: BaseModel,
    task_queue: str,
    drive: Callable[[WorkflowHandle[Any, Any]], Awaitable[None]] | None = None,
    fails: bool = False,
) -> None:
    if ONLY and name not in ONLY:
        return
    # The file's name is the workflow id: the replay test replays it under that id, and ids
    # derived from it (an agent loop's turns) must come out the same.
    handle = await client.start_workflow(workflow, request, id=name, task_queue=task_queue)
    if drive is not None:
        await drive(handle)
    try:
        await handle.result()
    except WorkflowFailureError:
        if not fails:
            raise
    history = await client.get_workflow_handle(
        handle.id, run_id=handle.first_execution_run_id
    ).fetch_history()
    (HERE / f"{name}.json").write_text(history.to_json())
    print(f"recorded {name}.json ({len(history.events)} events)")


async def main() -> None:
    settings = ServerSettings(
        generation=GenerationSettings(tokens=120, tokens_per_second=150, queued_seconds=0.1),
        faults=[
            # the reader's one connection is cut once; it reattaches after the cursor
            FaultRule(route="create", kind="cut", after_events=30, times=1),
            FaultRule(route="stream", kind="cut", after_events=20, skip=2, times=1),
        ],
    )
    with FakeOpenAIServer(settings) as fake:
        async with dev_server(port=None, ui_port=None, db=None) as env:
            activities = ResponsesActivities(
                openai.AsyncOpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
            )
            task_queue = f"record-{uuid.uuid4()}"
            async with build_worker(
                env.client,
                activities,
                task_queue=task_queue,
                workflows=[TripPlannerWorkflow],
                own_activities=[get_weather, compile_report],
            ):
                await _record(
                    env.client,
                    "background_completed",
                    BackgroundResponseWorkflow.__name__,
                    ResponseRequest(input="Explain relativity.", poll=POLL),
                    task_queue,
                )
                fake.control.configure(tokens=450)  # three seconds: past the create's polls
                await _record(
                    env.client,
                    "background_continued_as_new",
                    BackgroundResponseWorkflow.__name__,
                    ResponseRequest(
                        input="Long one.",
                        # polls inside the create, then durable ones, continuing as new
                        poll=PollPolicy(
                            initial_interval_seconds=0.1,
                            backoff=1.0,
                            max_polls_per_run=1,
                            first_polls_seconds=0.3,
                        ),
                    ),
                    task_queue,
                )
                fake.control.configure(tokens=120)
                streaming = ResponseRequest(
                    input="Three benefits of exercise.",
                    # small batches, and continue-as-new while live after 4 of them
                    streaming=StreamPolicy(
                        first_batch_seconds=0.05, max_batch_seconds=0.1, max_batches_per_run=4
                    ),
                )
                from durable_responses.workflows import WORKFLOWS

                if any(w.__name__ == "StreamingResponseWorkflow" for w in WORKFLOWS):
                    await _record(
                        env.client,
                        "streaming_resumed",
                        "StreamingResponseWorkflow",
                        streaming,
                        task_queue,
                    )
                await _record(
                    env.client,
                    "background_webhook",
                    BackgroundResponseWorkflow.__name__,
                    ResponseRequest(input="Woken by a webhook.", poll=SLOW_POLL),
                    task_queue,
                    drive=lambda handle: _webhook_when_done(handle, fake),
                )
                fake.control.configure(retrieve_lag_seconds=RETRIEVE_LAG)
                await _record(
                    env.client,
                    "background_webhook_recheck",
                    BackgroundResponseWorkflow.__name__,
                    ResponseRequest(input="Woken before the read agrees.", poll=RECHECK_POLL),
                    task_queue,
                    drive=lambda handle: _webhooks_on_then_webhook(handle, fake),
                )
                fake.control.configure(retrieve_lag_seconds=0)
                await _record(
                    env.client,
                    "streaming_items",
                    "StreamingResponseWorkflow",
                    ResponseRequest(
                        input="Survey solid-state batteries.",
                        model="o3-deep-research",
                        tools=[{"type": "web_search_preview"}],
                        include=["web_search_call.action.sources"],
                        streaming=StreamPolicy(first_batch_seconds=0.05, max_batch_seconds=0.2),
                    ),
                    task_queue,
                )
                await _record(
                    env.client,
                    "agent_loop",
                    "TripPlannerWorkflow",
                    TripRequest(poll_seconds=0.2),
                    task_queue,
                    drive=_approve,
                )
                await _record(
                    env.client,
                    "agent_approval_deadline",
                    "TripPlannerWorkflow",
                    TripRequest(poll_seconds=0.2, deadline_seconds=8),
                    task_queue,
                    drive=_asked,
                    fails=True,  # DeadlineExceeded while the report waits for its approval
                )
                await _record(
                    env.client,
                    "agent_session",
                    "AgentSessionWorkflow",
                    SessionRequest(
                        request=ResponseRequest(input="-", model="gpt-4.1", poll=POLL),
                        max_messages_per_run=2,
                    ),
                    task_queue,
                    drive=_converse,
                )
                await _record(
                    env.client,
                    "reaper_pass",
                    "ReapOrphanedResponsesWorkflow",
                    ReapRequest(older_than_seconds=0),
                    task_queue,
                )


async def _webhook_when_done(handle: WorkflowHandle[Any, Any], fake: FakeOpenAIServer) -> None:
    """Signal the run as the receiver would, once its response has ended."""
    progress: dict[str, Any] = {}

    async def ended() -> bool:
        nonlocal progress
        progress = await handle.query("progress", result_type=dict)
        rid = progress.get("response_id")
        return isinstance(rid, str) and fake.control.response(rid, events=False).terminal

    await wait_until(ended, timeout=60)
    await handle.signal(WEBHOOK_SIGNAL, WebhookEvent(response_id=progress["response_id"]))


async def _webhooks_on_then_webhook(
    handle: WorkflowHandle[Any, Any], fake: FakeOpenAIServer
) -> None:
    """Once the run sleeps its first interval, switch webhooks on (`set_webhooks`: the safety
    net's intervals from now), then signal the webhook while the fake's reads still show the
    response running."""

    async def sleeping() -> bool:
        progress = await handle.query("progress", result_type=dict)
        return progress.get("next_poll_at") is not None

    await wait_until(sleeping, timeout=60)
    await handle.execute_update(WEBHOOKS_UPDATE, WebhookSetting(enabled=True))
    await _webhook_when_done(handle, fake)


async def _asked(handle: WorkflowHandle[Any, Any]) -> None:
    """Wait until the loop asks for an approval, and give none."""

    async def asked() -> bool:
        return bool(await handle.query(durable.PENDING_QUERY, result_type=list))

    await wait_until(asked, timeout=60)


async def _approve(handle: WorkflowHandle[Any, Any]) -> None:
    pending: list[dict[str, Any]] = []

    async def asked() -> bool:
        nonlocal pending
        pending = await handle.query(durable.PENDING_QUERY, result_type=list)
        return bool(pending)

    await wait_until(asked, timeout=60)
    await handle.execute_update(durable.APPROVE_UPDATE, {"id": pending[0]["id"]})


async def _converse(handle: WorkflowHandle[Any, Any]) -> None:
    """Two messages (the first run continues as new after them), then a third and close."""
    session = AgentSession(handle)
    for text in ("Hello.", "And then?", "Thanks."):
        await session.send(text)
    await handle.execute_update("close")


if __name__ == "__main__":
    asyncio.run(main())
