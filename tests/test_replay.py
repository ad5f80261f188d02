"""Recorded histories still replay: a workflow change that breaks running workflows fails here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from durable_responses.workflows import WORKFLOWS, _patches
from examples.agent import TripPlannerWorkflow
from tests.workers import IN_SANDBOX

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))
CALLERS: list[type] = [TripPlannerWorkflow]
"""Workflows of a caller's whose histories hold our code too (an agent loop)."""


def test_there_are_histories_for_every_workflow():
    types = {
        json.loads(path.read_text())["events"][0]["workflowExecutionStartedEventAttributes"][
            "workflowType"
        ]["name"]
        for path in HISTORIES
    }
    assert {w.__name__ for w in [*WORKFLOWS, *CALLERS]} <= types


@pytest.mark.parametrize("sandbox", [False, True], ids=["as-deployed", "in-sandbox"])
@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_history_replays_without_nondeterminism(path: Path, sandbox: bool):
    """As deployed (our workflows outside the sandbox) and inside it, whose checks then guard
    our workflow code (`workflows/_sandbox.py`)."""
    replayer = Replayer(
        workflows=[*WORKFLOWS, *CALLERS],
        data_converter=pydantic_data_converter,
        **(IN_SANDBOX if sandbox else {}),
    )
    result = await replayer.replay_workflow(
        WorkflowHistory.from_json(path.stem, path.read_text()), raise_on_replay_failure=True
    )
    assert result.replay_failure is None


def test_the_umbrella_covers_exactly_the_patches_from_before_it():
    """A patch added after the umbrella must not be in it (runs that recorded the umbrella
    never ran that patch's new branch), and every earlier one must be."""
    from durable_responses.workflows import _polling, _size, _upstream, search_attributes
    from durable_responses.workflows import streaming_response as streaming

    earlier = {
        search_attributes.PATCH_ID,
        _upstream.ORPHAN_PATCH,
        _upstream.FINAL_STATUS_PATCH,
        _size.SIZE_PATCH,
        streaming.STREAM_READER_PATCH,
        _polling.WEBHOOK_PATCH,
    }
    assert earlier == _patches.COVERED


def test_the_second_umbrella_covers_the_first_and_the_first_polls():
    """New runs record `UMBRELLA_2` alone; it must imply every patch the first one did."""
    assert _patches.COVERED | {_patches.FIRST_POLLS_PATCH} == _patches.COVERED_2


def test_the_third_umbrella_covers_the_second_and_the_end_in_the_result():
    """New runs record `UMBRELLA_3` alone; it must imply every patch the second one did."""
    assert _patches.COVERED_2 | {_patches.END_IN_RESULT_PATCH} == _patches.COVERED_3
