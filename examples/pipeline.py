"""A business pipeline that embeds `BackgroundResponseWorkflow` as child workflows.

It fans out one background response per question, then asks for a synthesis of the answers.
Cancelling the pipeline cancels every child and, through them, every response upstream.

Run it on your own worker and task queue (no durable-responses worker needed):

    python worker.py --dev &                       # or any Temporal server
    OPENAI_BASE_URL=... OPENAI_API_KEY=... python -m examples.pipeline "Why is the sky blue?" ...
"""

from __future__ import annotations

import asyncio
import sys
import uuid

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities import PollPolicy, ResponseRequest, ResponseResult
    from workflows import BackgroundResponseWorkflow


class PipelineInput(BaseModel):
    """The questions to research in parallel, and the model to use."""

    questions: list[str] = Field(default_factory=list)
    model: str | None = None
    poll: PollPolicy = Field(default_factory=PollPolicy)


class PipelineResult(BaseModel):
    """One answer per question, and the synthesis."""

    answers: list[ResponseResult] = Field(default_factory=list)
    synthesis: ResponseResult | None = None


@workflow.defn(name="ResearchPipelineWorkflow")
class ResearchPipelineWorkflow:
    """Fan out background responses as children, then combine them in one more."""

    @workflow.run
    async def run(self, input: PipelineInput) -> PipelineResult:
        prefix = workflow.info().workflow_id
        answers = await asyncio.gather(
            *(
                workflow.execute_child_workflow(
                    BackgroundResponseWorkflow.run,
                    ResponseRequest(input=question, model=input.model, poll=input.poll),
                    id=f"{prefix}/question-{i}",
                    # if this pipeline ends abruptly (terminated, timed out), still cancel them
                    parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
                )
                for i, question in enumerate(input.questions)
            )
        )
        notes = "\n\n".join(
            f"Q: {q}\nA: {a.output_text}" for q, a in zip(input.questions, answers, strict=True)
        )
        synthesis = await workflow.execute_child_workflow(
            BackgroundResponseWorkflow.run,
            ResponseRequest(
                input=notes,
                instructions="Combine these answers into one short briefing.",
                model=input.model,
                poll=input.poll,
            ),
            id=f"{prefix}/synthesis",
            parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
        )
        return PipelineResult(answers=list(answers), synthesis=synthesis)


async def main(questions: list[str]) -> None:
    """Run the pipeline on a worker of our own: our workflow, plus durable-responses' ones."""
    from temporalio.worker import Worker

    import connection
    from activities import ResponsesActivities
    from workflows import WORKFLOWS, search_attributes

    client = await connection.connect()  # TEMPORAL_ADDRESS, TEMPORAL_API_KEY, a profile...
    await search_attributes.ensure_registered(client)  # our workers upsert them
    async with Worker(
        client,
        task_queue="research-pipeline",
        workflows=[ResearchPipelineWorkflow, *WORKFLOWS],
        activities=ResponsesActivities.from_env().all(),
    ):
        result = await client.execute_workflow(
            ResearchPipelineWorkflow.run,
            PipelineInput(questions=questions),
            id=f"pipeline-{uuid.uuid4()}",
            task_queue="research-pipeline",
        )
    for question, answer in zip(questions, result.answers, strict=True):
        print(f"## {question}\n{answer.output_text}\n")
    if result.synthesis is not None:
        print(f"## Synthesis\n{result.synthesis.output_text}")


if __name__ == "__main__":
    import connection

    questions = sys.argv[1:] or ["Why is the sky blue?", "Why is the sea salty?"]
    connection.exit_after(lambda: asyncio.run(main(questions)))
