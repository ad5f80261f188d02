"""The README's pipeline, with deep-research answers: each takes many minutes upstream."""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import durable_responses.workflow as durable
    from durable_responses import ResponseRequest


@workflow.defn
class ResearchPipeline:
    @workflow.run
    async def run(self, questions: list[str]) -> str:
        answers = await asyncio.gather(
            *(
                durable.run_response(ResponseRequest(input=q, model="o3-deep-research"))
                for q in questions
            )
        )
        notes = "\n\n".join(a.output_text for a in answers)
        briefing = await durable.run_response(
            ResponseRequest(input=notes, instructions="Combine into a short briefing.")
        )
        return briefing.output_text
