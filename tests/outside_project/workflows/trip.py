"""The docs' trip planner: a tool loop whose booking waits for a person, within a deadline."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import durable_responses.workflow as durable
    from durable_responses import ResponseRequest

    from activities.trip import book_table, get_weather


class Trip(BaseModel):
    question: str
    deadline_hours: float = 2


@workflow.defn
class TripPlanner:
    @workflow.run
    async def run(self, trip: Trip) -> str:
        result = await durable.run_agent(
            ResponseRequest(input=trip.question, model="o3", tools=[{"type": "web_search"}]),
            tools=[
                durable.activity_tool(get_weather, start_to_close_timeout=timedelta(seconds=30)),
                durable.activity_tool(
                    book_table, needs_approval=True, start_to_close_timeout=timedelta(seconds=30)
                ),
            ],
            max_turns=8,
            deadline=timedelta(hours=trip.deadline_hours),
        )
        return result.output_text
