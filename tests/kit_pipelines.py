"""A user's workflows built on us, as the docs show them, for the testing kit's own tests: a
module of their own, since the workflow sandbox re-imports it."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from pydantic import BaseModel
from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    import durable_responses.workflow as durable
    from durable_responses import ResponseRequest


class Briefing(BaseModel):
    headline: str
    points: list[str]


@workflow.defn
class ResearchPipelineWorkflow:
    """A deep-research answer per question, then a briefing of them (structured output)."""

    @workflow.run
    async def run(self, questions: list[str]) -> Briefing:
        answers = await asyncio.gather(
            *(
                durable.run_response(ResponseRequest(input=q, model="o3-deep-research"))
                for q in questions
            )
        )
        notes = "\n\n".join(a.output_text for a in answers)
        briefing = await durable.run_response(
            ResponseRequest(input=notes, instructions="Combine into a short briefing."),
            text_format=Briefing,
        )
        assert briefing.output_parsed is not None
        return briefing.output_parsed


class City(BaseModel):
    city: str


class Table(BaseModel):
    restaurant: str
    seats: int


@activity.defn
async def get_weather(args: City) -> str:
    """Today's weather in a city."""
    return f"Sunny in {args.city}."


@activity.defn
async def book_table(args: Table) -> str:
    """Book a table (a person approves it first)."""
    return f"Booked {args.seats} at {args.restaurant}."


class TripInput(BaseModel):
    question: str
    deadline_hours: float = 2


@workflow.defn
class TripPlanner:
    """A tool loop: the weather as a tool, a booking that waits for a person's approval."""

    @workflow.run
    async def run(self, input: TripInput) -> str:
        result = await durable.run_agent(
            ResponseRequest(input=input.question, model="o3", tools=[{"type": "web_search"}]),
            tools=[
                durable.activity_tool(get_weather, start_to_close_timeout=timedelta(seconds=30)),
                durable.activity_tool(
                    book_table, start_to_close_timeout=timedelta(seconds=30), needs_approval=True
                ),
            ],
            max_turns=8,
            deadline=timedelta(hours=input.deadline_hours),
        )
        return result.output_text
