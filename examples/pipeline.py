"""A business pipeline that calls durable responses from its own workflow code.

It fans out one background response per question, then asks for a synthesis of the answers
as structured output (a pydantic model). Each call is a child workflow started by
`durable_responses.workflow.run_response`; cancelling the pipeline cancels every child and,
through them, every response upstream.

Run it (its own worker runs our workflows too, through the plugin):

    python -m examples.pipeline "Why is the sky blue?" "Why is the sea salty?"

With nothing set up it uses an in-memory Temporal dev server and the fake API; with
`TEMPORAL_ADDRESS` (or `worker.py --dev` running) and `OPENAI_API_KEY` it uses those
(`examples/_local.py`).
"""

from __future__ import annotations

import asyncio
import sys
import uuid

from pydantic import BaseModel, Field
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import durable_responses.workflow as durable
    from durable_responses import PollPolicy, ResponseRequest, ResponseResult


class PipelineInput(BaseModel):
    """The questions to research in parallel, and the model to use."""

    questions: list[str] = Field(default_factory=list)
    model: str | None = None
    poll: PollPolicy = Field(default_factory=PollPolicy)


class Briefing(BaseModel):
    """The synthesis, as structured output."""

    headline: str = ""
    points: list[str] = Field(default_factory=list)


class PipelineResult(BaseModel):
    """One answer per question, and the synthesis."""

    answers: list[ResponseResult] = Field(default_factory=list)
    synthesis: ResponseResult | None = None
    briefing: Briefing | None = None


@workflow.defn(name="ResearchPipelineWorkflow")
class ResearchPipelineWorkflow:
    """Fan out background responses as children, then combine them in one more."""

    @workflow.run
    async def run(self, input: PipelineInput) -> PipelineResult:
        prefix = workflow.info().workflow_id
        answers = await asyncio.gather(
            *(
                durable.run_response(
                    ResponseRequest(input=question, model=input.model, poll=input.poll),
                    id=f"{prefix}/question-{i}",
                )
                for i, question in enumerate(input.questions)
            )
        )
        notes = "\n\n".join(
            f"Q: {q}\nA: {a.output_text}" for q, a in zip(input.questions, answers, strict=True)
        )
        synthesis = await durable.run_response(
            ResponseRequest(
                input=notes,
                instructions="Combine these answers into one short briefing.",
                model=input.model,
                poll=input.poll,
            ),
            text_format=Briefing,
            id=f"{prefix}/synthesis",
        )
        return PipelineResult(
            answers=list(answers),
            synthesis=ResponseResult.model_validate(synthesis.model_dump()),
            briefing=synthesis.output_parsed,
        )


async def main(questions: list[str]) -> None:
    """Run the pipeline on a worker of our own; the plugin adds durable-responses to it."""
    from temporalio.worker import Worker

    from examples._local import example_client

    async with (
        example_client() as (client, _),
        Worker(client, task_queue="research-pipeline", workflows=[ResearchPipelineWorkflow]),
    ):
        result = await client.execute_workflow(
            ResearchPipelineWorkflow.run,
            PipelineInput(questions=questions),
            id=f"pipeline-{uuid.uuid4()}",
            task_queue="research-pipeline",
        )
    for question, answer in zip(questions, result.answers, strict=True):
        print(f"## {question}\n{answer.output_text}\n")
    if result.briefing is not None:
        print(f"## {result.briefing.headline}")
        print("\n".join(f"- {point}" for point in result.briefing.points))


if __name__ == "__main__":
    from durable_responses import connection

    questions = sys.argv[1:] or ["Why is the sky blue?", "Why is the sea salty?"]
    connection.exit_after(lambda: asyncio.run(main(questions)))
