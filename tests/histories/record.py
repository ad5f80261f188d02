"""Record workflow histories for the replay test: `python -m tests.histories.record`.

Run it after a change that is meant to be compatible with in-flight workflows has landed,
never to paper over a non-determinism error: the committed files are what running workflows
have in their history today.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import openai
from pydantic import BaseModel
from temporalio.client import Client

from durable_responses.activities import ResponsesActivities
from durable_responses.fake_openai import (
    FakeOpenAIServer,
    FaultRule,
    GenerationSettings,
    ServerSettings,
)
from durable_responses.models import PollPolicy, ResponseRequest, StreamPolicy
from durable_responses.models.reaper import ReapRequest
from durable_responses.testing import dev_server
from durable_responses.workflows import BackgroundResponseWorkflow
from tests.workers import build_worker

HERE = Path(__file__).parent
POLL = PollPolicy(initial_interval_seconds=0.2, backoff=1.5, max_interval_seconds=1)


async def _record(
    client: Client, name: str, workflow: str, request: BaseModel, task_queue: str
) -> None:
    handle = await client.start_workflow(
        workflow, request, id=f"{name}-{uuid.uuid4()}", task_queue=task_queue
    )
    await handle.result()
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
            async with build_worker(env.client, activities, task_queue=task_queue):
                await _record(
                    env.client,
                    "background_completed",
                    BackgroundResponseWorkflow.__name__,
                    ResponseRequest(input="Explain relativity.", poll=POLL),
                    task_queue,
                )
                await _record(
                    env.client,
                    "background_continued_as_new",
                    BackgroundResponseWorkflow.__name__,
                    ResponseRequest(
                        input="Long one.", poll=POLL.model_copy(update={"max_polls_per_run": 2})
                    ),
                    task_queue,
                )
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
                    "reaper_pass",
                    "ReapOrphanedResponsesWorkflow",
                    ReapRequest(older_than_seconds=0),
                    task_queue,
                )


if __name__ == "__main__":
    asyncio.run(main())
