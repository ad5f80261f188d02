"""This project's own tests of its workflows, with durable-responses' testing kit: the provider
answers on the workflow clock, so hours of runs and approvals take milliseconds."""

from __future__ import annotations

import sys
import sysconfig
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import durable_responses.testing
import pytest
from durable_responses import ErrorType
from durable_responses.testing import (
    ScriptedProvider,
    items,
    polls_for,
    reply,
    skip_until,
    time_skipping_env,
)
from durable_responses.workflow import APPROVE_UPDATE, PENDING_QUERY
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.trip import book_table, get_weather
from workflows.research import ResearchPipeline
from workflows.trip import Trip, TripPlanner

FORTY_MINUTES = timedelta(minutes=40)
WALL_LIMIT = 30.0
"""Seconds: far below what answering in real time would take (40 minutes, hours)."""


@pytest.fixture
def provider() -> ScriptedProvider:
    return ScriptedProvider()


@pytest.fixture
async def env(provider: ScriptedProvider) -> AsyncIterator[WorkflowEnvironment]:
    started = time.monotonic()
    async with (
        time_skipping_env(provider) as env,
        Worker(
            env.client,
            task_queue="project",
            workflows=[ResearchPipeline, TripPlanner],
            activities=[get_weather, book_table],
        ),
    ):
        yield env
    wall = time.monotonic() - started
    print(f"WALL {wall:.2f}")
    assert wall < WALL_LIMIT
    assert provider.running() == []


async def test_the_research_pipeline_polls_as_the_policy_says(env, provider):
    provider.script = [
        reply("Rayleigh scattering.", items=[items.web_search("sky")], takes=FORTY_MINUTES),
        reply("Rivers carry salt.", items=[items.web_search("sea")], takes=FORTY_MINUTES),
        reply("Sky: scattering. Sea: rivers.", takes=timedelta(minutes=2)),
    ]
    briefing = await env.client.execute_workflow(
        ResearchPipeline.run,
        ["Why is the sky blue?", "Why is the sea salty?"],
        id="research",
        task_queue="project",
    )
    assert briefing == "Sky: scattering. Sea: rivers."
    assert [r.polls for r in provider.responses.values()] == [
        polls_for(FORTY_MINUTES),
        polls_for(FORTY_MINUTES),
        polls_for(timedelta(minutes=2)),
    ]


def _trip_script() -> list:
    return [
        reply(
            items=[
                items.web_search("restaurants in Zürich"),
                items.function_call("get_weather", {"city": "Zürich"}),
                items.function_call(
                    "book_table", {"restaurant": "Kronenhalle", "people": 2}, call_id="call_book"
                ),
            ],
            takes=timedelta(minutes=20),
        ),
        reply("Dry and 21 °C; Kronenhalle is booked for two.", takes=timedelta(minutes=10)),
    ]


async def _asked(env: WorkflowEnvironment, trip: Trip) -> WorkflowHandle:
    handle = await env.client.start_workflow(TripPlanner.run, trip, id="trip", task_queue="project")

    async def asked() -> bool:
        return bool(await handle.query(PENDING_QUERY, result_type=list))

    await skip_until(env, asked)
    return handle


@pytest.mark.parametrize(
    ("deadline_hours", "answered_after"),
    [(2, timedelta(0)), (12, timedelta(hours=6))],
    ids=["2h-deadline-approved-at-once", "12h-deadline-approved-after-6h"],
)
async def test_the_trip_planner_waits_for_its_approval(
    env, provider, deadline_hours, answered_after
):
    provider.script = _trip_script()
    handle = await _asked(
        env, Trip(question="Plan a day in Zürich.", deadline_hours=deadline_hours)
    )
    await env.sleep(answered_after)
    await handle.execute_update(APPROVE_UPDATE, {"id": "call_book", "approve": True})
    assert await handle.result() == "Dry and 21 °C; Kronenhalle is booked for two."
    assert provider.creates == 2


async def test_an_approval_after_the_deadline_fails_typed(env, provider):
    provider.script = _trip_script()
    handle = await _asked(env, Trip(question="Plan a day in Zürich.", deadline_hours=2))
    await env.sleep(timedelta(hours=3))
    with pytest.raises(RPCError):
        await handle.execute_update(APPROVE_UPDATE, {"id": "call_book", "approve": True})
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    assert failure.value.cause.type == ErrorType.DEADLINE_EXCEEDED


def test_the_kit_comes_from_the_installed_package():
    """From this environment's site-packages (the wheel), not from a checkout."""
    assert sys.prefix != sys.base_prefix
    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    assert site in Path(durable_responses.testing.__file__).resolve().parents
