"""The outside project's pipeline: its own activity, then durable responses as children."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    import durable_responses.workflow as durable
    from durable_responses import PollPolicy, ResponseRequest, ResponseResult

    from activities import shout
    from workflows.models import Answer, PipelineInput, PipelineResult, Summary

POLL = PollPolicy(initial_interval_seconds=0.2, max_interval_seconds=1)
"""Poll fast: the fake answers in well under a second."""


def _answer(question: str, result: ResponseResult) -> Answer:
    return Answer(
        question=question,
        response_id=result.response_id,
        status=result.status,
        output_text=result.output_text,
        polls=result.polls,
        chunks=result.chunks,
    )


@workflow.defn
class PipelineWorkflow:
    """Shout the first question, then ask all three: polled, streamed and structured."""

    @workflow.run
    async def run(self, input: PipelineInput) -> PipelineResult:
        first, second, third = input.questions
        shouted = await workflow.execute_activity(
            shout, first, start_to_close_timeout=timedelta(seconds=10)
        )
        polled, streamed, structured = await asyncio.gather(
            durable.run_response(ResponseRequest(input=shouted, poll=POLL)),
            durable.stream_response(ResponseRequest(input=second, poll=POLL)),
            durable.run_response(ResponseRequest(input=third, poll=POLL), text_format=Summary),
        )
        if structured.output_parsed is None:
            raise ApplicationError(f"no parsed summary in {structured.response_id}")
        return PipelineResult(
            shouted=shouted,
            polled=_answer(shouted, polled),
            streamed=_answer(second, streamed),
            structured=_answer(third, structured),
            summary=structured.output_parsed,
        )
