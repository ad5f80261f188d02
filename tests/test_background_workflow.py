"""`BackgroundResponseWorkflow` under time skipping, activities mocked by name."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from durable_responses.models import (
    ErrorType,
    PollPolicy,
    Progress,
    ResponseRequest,
    ResponseResult,
)
from durable_responses.workflows import BackgroundResponseWorkflow
from tests.mocks import RESPONSE_ID, ScriptedAPI
from tests.workers import mocked_worker

THREE_HOURS = 3 * 3600
POLICY = PollPolicy(initial_interval_seconds=2, backoff=1.5, max_interval_seconds=60)


def _polls_to_cover(seconds: float) -> tuple[int, list[float]]:
    """Independent arithmetic: how many polls a 2 s x1.5 → 60 s schedule needs to span `seconds`."""
    intervals: list[float] = []
    interval = 2.0
    while sum(intervals) < seconds:
        intervals.append(interval)
        interval = min(interval * 1.5, 60.0)
    return len(intervals), intervals


def _worker(env: WorkflowEnvironment, api: ScriptedAPI, task_queue: str) -> Worker:
    return mocked_worker(env.client, task_queue, api.activities())


async def _run(env, api, task_queue, request) -> tuple[ResponseResult, WorkflowHandle]:
    async with _worker(env, api, task_queue):
        handle = await env.client.start_workflow(
            BackgroundResponseWorkflow.run, request, id=f"wf-{uuid.uuid4()}", task_queue=task_queue
        )
        return await handle.result(), handle


async def _history_of_all_runs(client: Client, workflow_id: str, first_run: str | None):
    """Each run's events, following the continue-as-new chain."""
    runs, run_id = [], first_run
    while run_id:
        events = (
            await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        ).events
        runs.append(events)
        run_id = ""
        for event in events:
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
                run_id = (
                    event.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
                )
    return runs


async def test_three_hour_run_polls_with_backoff_in_skipped_time(ts_env, task_queue):
    polls, intervals = _polls_to_cover(THREE_HOURS)
    api = ScriptedAPI(polls_until_done=polls)
    result, handle = await _run(
        ts_env, api, task_queue, ResponseRequest(input="Explain.", poll=POLICY)
    )
    assert (result.status, result.output_text, result.polls) == ("completed", api.text, polls)
    assert (result.response_id, api.creates, api.retrieves) == (RESPONSE_ID, 1, polls)
    events = (await handle.fetch_history()).events
    timers = [
        e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta().total_seconds()
        for e in events
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
    ]
    assert timers == pytest.approx(intervals)
    assert timers[:4] == pytest.approx([2, 3, 4.5, 6.75]) and max(timers) == 60
    workflow_time = events[-1].event_time.ToDatetime() - events[0].event_time.ToDatetime()
    assert workflow_time >= timedelta(seconds=THREE_HOURS)


async def test_a_create_that_answers_a_finished_response_needs_no_poll(ts_env, task_queue):
    api = ScriptedAPI(create_status="completed")
    result, _ = await _run(ts_env, api, task_queue, ResponseRequest(input="fast", poll=POLICY))
    assert (result.status, result.output_text, result.polls, api.retrieves) == (
        "completed",
        api.text,
        0,
        0,
    )


async def test_each_poll_costs_at_most_six_history_events(ts_env, task_queue):
    api = ScriptedAPI(polls_until_done=40)
    result, handle = await _run(ts_env, api, task_queue, ResponseRequest(input="x", poll=POLICY))
    events = (await handle.fetch_history()).events
    polls = [i for i, e in enumerate(events) if _marker(e) == "core_local_activity"]
    assert len(polls) == result.polls == 40  # each poll is a local activity
    # Search attributes are written when the status changes, not on every poll (and each
    # patch the run goes through records itself once).
    upserted = [
        e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
        for e in events
        if e.event_type == UPSERT
    ]
    statuses = [f["OpenAIResponseStatus"].data for f in upserted if "OpenAIResponseStatus" in f]
    assert statuses == [b'"queued"', b'"in_progress"', b'"completed"']
    # + TemporalChangeVersion once: the umbrella marker stands for every patch the run uses
    # (workflows/_patches.py; before it, one each for search attributes, orphan rule, webhook)
    assert len(upserted) == len(statuses) + 1
    first_timer = next(i for i, e in enumerate(events) if e.event_type == TIMER_STARTED)
    span = events[first_timer : polls[-1] + 1]
    per_poll = sum(1 for e in span if e.event_type != UPSERT) / result.polls
    assert per_poll <= 6, f"{per_poll} history events per poll"


def _marker(event) -> str | None:
    if event.event_type != EventType.EVENT_TYPE_MARKER_RECORDED:
        return None
    return event.marker_recorded_event_attributes.marker_name


UPSERT = EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
TIMER_STARTED = EventType.EVENT_TYPE_TIMER_STARTED


async def test_continue_as_new_bounds_each_run_and_keeps_the_result(ts_env, task_queue):
    polls, _ = _polls_to_cover(THREE_HOURS)
    api = ScriptedAPI(polls_until_done=polls)
    request = ResponseRequest(input="x", poll=POLICY.model_copy(update={"max_polls_per_run": 25}))
    result, handle = await _run(ts_env, api, task_queue, request)
    assert (result.output_text, result.polls, api.creates) == (api.text, polls, 1)
    assert result.runs == -(-polls // 25)  # one run per 25 polls, rounded up
    runs = await _history_of_all_runs(ts_env.client, handle.id, handle.first_execution_run_id)
    assert len(runs) == result.runs > 1
    for events in runs:
        assert len(events) <= 25 * 6 + 20, "a run's history must stay bounded"
    timers = [
        e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta().total_seconds()
        for events in runs
        for e in events
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
    ]
    assert timers == pytest.approx(_polls_to_cover(THREE_HOURS)[1])  # backoff carried across runs


async def test_deadline_cancels_upstream_and_fails_typed(ts_env, task_queue):
    api = ScriptedAPI(polls_until_done=10**6)
    request = ResponseRequest(input="x", poll=POLICY, deadline_seconds=1800)
    with pytest.raises(WorkflowFailureError) as err:
        await _run(ts_env, api, task_queue, request)
    cause = err.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == ErrorType.DEADLINE_EXCEEDED
    assert cause.non_retryable
    assert api.cancelled == [RESPONSE_ID]


async def test_cancelling_the_workflow_cancels_the_response_upstream(ts_env, task_queue):
    api = ScriptedAPI(polls_until_done=10**6)
    async with _worker(ts_env, api, task_queue):
        handle = await ts_env.client.start_workflow(
            BackgroundResponseWorkflow.run,
            ResponseRequest(input="x", poll=POLICY),
            id=f"wf-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        await ts_env.sleep(60)
        progress = await handle.query(BackgroundResponseWorkflow.progress)
        assert progress.polls >= 3 and progress.response_id == RESPONSE_ID
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as err:
            await handle.result()
    assert isinstance(err.value.cause, CancelledError)
    assert api.cancelled == [RESPONSE_ID]


async def test_progress_query_reports_live_state(ts_env, task_queue):
    api = ScriptedAPI(polls_until_done=10**6)
    async with _worker(ts_env, api, task_queue):
        handle = await ts_env.client.start_workflow(
            BackgroundResponseWorkflow.run,
            ResponseRequest(input="x", poll=POLICY),
            id=f"wf-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        await ts_env.sleep(20)
        progress: Progress = await handle.query("progress", result_type=Progress)
        assert progress.status == "in_progress" and progress.response_id == RESPONSE_ID
        assert progress.polls == api.retrieves >= 3
        # workflow time stands still between tasks: elapsed is as of the last poll
        done = _polls_to_cover(THREE_HOURS)[1][: progress.polls]
        assert progress.elapsed_seconds == pytest.approx(sum(done), abs=0.5)
        assert progress.next_poll_at is not None
        await handle.terminate()


async def test_failed_response_fails_the_workflow_with_code_and_message(ts_env, task_queue):
    api = ScriptedAPI(polls_until_done=2, final_status="failed", error_code="server_error")
    with pytest.raises(WorkflowFailureError) as err:
        await _run(ts_env, api, task_queue, ResponseRequest(input="x", poll=POLICY))
    cause = err.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == ErrorType.RESPONSE_FAILED
    assert (
        cause.non_retryable
        and "server_error" in cause.message
        and "model exploded" in cause.message
    )
    assert cause.details[0]["code"] == "server_error"


async def test_incomplete_returns_partial_text_with_reason(ts_env, task_queue):
    api = ScriptedAPI(polls_until_done=2, final_status="incomplete", text="partial")
    result, _ = await _run(ts_env, api, task_queue, ResponseRequest(input="x", poll=POLICY))
    assert (result.status, result.output_text, result.incomplete_reason) == (
        "incomplete",
        "partial",
        "max_output_tokens",
    )


async def test_response_cancelled_elsewhere_fails_with_its_own_type(ts_env, task_queue):
    api = ScriptedAPI(polls_until_done=2, final_status="cancelled")
    with pytest.raises(WorkflowFailureError) as err:
        await _run(ts_env, api, task_queue, ResponseRequest(input="x", poll=POLICY))
    assert isinstance(err.value.cause, ApplicationError)
    assert err.value.cause.type == ErrorType.RESPONSE_CANCELLED
    assert api.cancelled == []


async def test_non_retryable_create_error_fails_fast_with_its_type(ts_env, task_queue):
    api = ScriptedAPI(
        create_errors=[
            ApplicationError(
                "OpenAI 401: Incorrect API key provided",
                type=ErrorType.AUTHENTICATION,
                non_retryable=True,
            )
        ]
    )
    with pytest.raises(WorkflowFailureError) as err:
        await _run(ts_env, api, task_queue, ResponseRequest(input="x", poll=POLICY))
    cause = err.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == ErrorType.AUTHENTICATION
    assert "Incorrect API key" in cause.message and api.creates == 0


async def test_retryable_errors_are_retried_honouring_next_retry_delay(ts_env, task_queue):
    api = ScriptedAPI(
        polls_until_done=2,
        create_errors=[ApplicationError("OpenAI 500", type=ErrorType.SERVER_ERROR)],
        retrieve_errors=[
            ApplicationError(
                "OpenAI 429", type=ErrorType.RATE_LIMITED, next_retry_delay=timedelta(seconds=90)
            ),
            ApplicationError("down", type=ErrorType.CONNECTION_ERROR),
        ],
    )
    result, handle = await _run(ts_env, api, task_queue, ResponseRequest(input="x", poll=POLICY))
    assert result.status == "completed" and api.creates == 1
    events = (await handle.fetch_history()).events
    elapsed = events[-1].event_time.ToDatetime() - events[0].event_time.ToDatetime()
    assert elapsed >= timedelta(seconds=90)  # the 429's retry-after, as a durable timer


@pytest.mark.parametrize(
    ("args", "error_type", "fragment"),
    [
        ([{"input": 5}], ErrorType.INVALID_REQUEST, "input"),
        (
            [{"input": "x", "params": {"background": False}}],
            ErrorType.INVALID_REQUEST,
            "background",
        ),
        ([{"input": "x", "params": {"stream": True}}], ErrorType.INVALID_REQUEST, "stream"),
        (
            [{"input": "x", "poll": {"initial_interval_seconds": -1}}],
            ErrorType.INVALID_REQUEST,
            "initial_interval_seconds",
        ),
        ([{"input": "x", "params": {"model": "o3"}}], ErrorType.INVALID_REQUEST, "top-level"),
        ([{}], ErrorType.INVALID_REQUEST, "input"),
        (["just a string"], ErrorType.INVALID_REQUEST, "valid dictionary"),
        ([], ErrorType.INVALID_REQUEST, "expected a request"),
        ([None], ErrorType.INVALID_REQUEST, "expected a request"),
        ([{"input": "a"}, {"input": "b"}], ErrorType.INVALID_REQUEST, "got 2"),
        # Continue-as-new state is private: a caller cannot hand a run someone's response.
        (
            [{"input": "x", "resume": {"response_id": "resp_someone_elses"}}],
            ErrorType.INVALID_REQUEST,
            "continue-as-new",
        ),
    ],
)
async def test_bad_input_fails_the_workflow_at_once(ts_env, task_queue, args, error_type, fragment):
    api = ScriptedAPI()
    async with _worker(ts_env, api, task_queue):
        handle = await ts_env.client.start_workflow(
            "BackgroundResponseWorkflow",
            args=args,
            id=f"bad-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        with pytest.raises(WorkflowFailureError) as err:
            await asyncio.wait_for(handle.result(), timeout=30)
    cause = err.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == error_type and fragment in cause.message
    kinds = [e.event_type for e in (await handle.fetch_history()).events]
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in kinds
    assert api.creates == 0
