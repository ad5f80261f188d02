"""Embedding: someone else's pipeline workflow, worker and task queue run our workflows as
children; cancelling the pipeline cancels the children and their responses upstream."""

from __future__ import annotations

import asyncio
import uuid

from temporalio.client import WorkflowFailureError
from temporalio.exceptions import CancelledError
from temporalio.worker import Worker

from durable_responses.models import PollPolicy
from durable_responses.plugin import DurableResponsesPlugin
from examples.pipeline import Briefing, PipelineInput, ResearchPipelineWorkflow
from tests.workers import IN_SANDBOX, wait_until

POLL = PollPolicy(initial_interval_seconds=0.2, backoff=1.5, max_interval_seconds=1)


def _their_worker(env, activities, task_queue: str) -> Worker:
    """Their worker: their workflow, plus whatever the plugin brings."""
    return Worker(
        env.client,
        task_queue=task_queue,
        workflows=[ResearchPipelineWorkflow],
        plugins=[DurableResponsesPlugin(activities=activities)],
        **IN_SANDBOX,
    )


async def test_pipeline_fans_out_children_and_combines_their_text(
    dev_env, fake, activities, task_queue
):
    questions = ["Why is the sky blue?", "Why is the sea salty?", "Why do cats purr?"]
    async with _their_worker(dev_env, activities, task_queue):
        result = await dev_env.client.execute_workflow(
            ResearchPipelineWorkflow.run,
            PipelineInput(questions=questions, model="o4-mini", poll=POLL),
            id=f"pipeline-{uuid.uuid4()}",
            task_queue=task_queue,
        )
    assert len(result.answers) == 3 and result.synthesis is not None
    for answer in [*result.answers, result.synthesis]:
        assert answer.output_text == fake.response(answer.response_id).text != ""
        assert answer.model == "o4-mini"
    synthesis_input = fake.response(result.synthesis.response_id)
    assert synthesis_input.status == "completed"
    # Structured output: the synthesis was asked for as a Briefing, and parsed into one.
    assert result.briefing == Briefing.model_validate_json(synthesis_input.text)
    assert fake.counts()["creates"] == 4


async def test_cancelling_the_pipeline_cancels_children_and_upstream(
    dev_env, fake, activities, task_queue
):
    fake.configure(tokens=5000, tokens_per_second=100)
    async with _their_worker(dev_env, activities, task_queue):
        handle = await dev_env.client.start_workflow(
            ResearchPipelineWorkflow.run,
            PipelineInput(questions=["a", "b", "c"], poll=POLL),
            id=f"pipeline-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        async with asyncio.timeout(30):
            while len(fake.responses()) < 3:
                await asyncio.sleep(0.05)
        await handle.cancel()
        try:
            await asyncio.wait_for(handle.result(), timeout=30)
            raise AssertionError("the pipeline should end cancelled")
        except WorkflowFailureError as err:
            assert isinstance(err.cause, CancelledError)
        for i in range(3):
            # gather ends at the first cancelled child; the others finish their cleanup
            # (the upstream cancel) a moment later
            child = dev_env.client.get_workflow_handle(f"{handle.id}/question-{i}")

            async def closed(child=child) -> bool:
                return (await child.describe()).status.name != "RUNNING"

            await wait_until(closed, timeout=10)
            assert (await child.describe()).status.name == "CANCELED"
    records = fake.responses()
    assert len(records) == 3
    assert {r.status for r in records} == {"cancelled"}
