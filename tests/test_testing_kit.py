"""The testing kit (`durable_responses.testing`) as a user meets it: their pipelines on our
workflows under time skipping, the provider answering on the workflow clock, so hours of
provider time take milliseconds and are polled exactly as the poll policy says."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import durable_responses.workflow as durable
from durable_responses.follow import follow
from durable_responses.models import (
    TASK_QUEUE,
    ErrorType,
    PollPolicy,
    ResponseRequest,
    ResponseResult,
)
from durable_responses.models.agent import SessionRequest
from durable_responses.models.webhooks import WEBHOOK_SIGNAL, WebhookEvent
from durable_responses.session import AgentSession
from durable_responses.testing import (
    SCRIPT_UNSUPPORTED,
    ScriptedProvider,
    failed,
    items,
    polls_for,
    rate_limited,
    refused,
    reply,
    skip_until,
    time_skipping_env,
)
from tests.kit_pipelines import (
    Briefing,
    ResearchPipelineWorkflow,
    TripInput,
    TripPlanner,
    book_table,
    get_weather,
)

FORTY_MINUTES = timedelta(minutes=40)
BRIEFING = Briefing(headline="Two answers", points=["one", "two"])


@pytest.fixture
def provider() -> ScriptedProvider:
    return ScriptedProvider()


@pytest.fixture
async def env(provider: ScriptedProvider) -> AsyncIterator[WorkflowEnvironment]:
    async with time_skipping_env(provider) as env:
        yield env
    assert provider.running() == []  # nothing left running upstream, whatever the test did


def _worker(env: WorkflowEnvironment, task_queue: str) -> Worker:
    return Worker(
        env.client,
        task_queue=task_queue,
        workflows=[ResearchPipelineWorkflow, TripPlanner],
        activities=[get_weather, book_table],
    )


async def test_a_forty_minute_deep_research_pipeline_is_polled_as_the_policy_says(env, provider):
    provider.script = [
        reply("Blue: Rayleigh scattering.", items=[items.web_search("sky")], takes=FORTY_MINUTES),
        reply("Salty: rivers carry salt.", takes=FORTY_MINUTES),
        reply(BRIEFING.model_dump_json(), takes=timedelta(minutes=2)),
    ]
    started = time.monotonic()
    async with _worker(env, "pipeline"):
        result = await env.client.execute_workflow(
            ResearchPipelineWorkflow.run,
            ["Why is the sky blue?", "Why is the sea salty?"],
            id=f"pipeline-{uuid.uuid4()}",
            task_queue="pipeline",
        )
    wall = time.monotonic() - started
    assert result == BRIEFING
    assert provider.creates == 3
    policy = PollPolicy()
    assert [r.polls for r in provider.responses.values()] == [
        polls_for(FORTY_MINUTES, policy),
        polls_for(FORTY_MINUTES, policy),
        polls_for(timedelta(minutes=2), policy),
    ]
    assert polls_for(FORTY_MINUTES, policy) == 47  # 2 s growing by 1.5 to 60 s
    assert wall < 30, f"{wall:.1f} s: the provider answered in real time, not workflow time"


def _trip_script(turn_takes: timedelta = timedelta(minutes=20)) -> list:
    return [
        reply(
            items=[
                items.web_search("restaurants in Zürich"),
                items.function_call("get_weather", {"city": "Zürich"}, call_id="call_weather"),
                items.function_call(
                    "book_table", {"restaurant": "Kronenhalle", "seats": 2}, call_id="call_book"
                ),
            ],
            takes=turn_takes,
        ),
        reply("Sunny; a table for two at Kronenhalle is booked.", takes=turn_takes),
    ]


def _asked(handle: WorkflowHandle) -> Callable[[], Awaitable[bool]]:
    async def asked() -> bool:
        return bool(await handle.query(durable.PENDING_QUERY, result_type=list))

    return asked


async def _approve(handle: WorkflowHandle, after: timedelta, env: WorkflowEnvironment) -> None:
    await skip_until(env, _asked(handle))  # the first turn takes 20 minutes
    if after:
        await env.sleep(after)
    await handle.execute_update(durable.APPROVE_UPDATE, {"id": "call_book", "approve": True})


@pytest.mark.parametrize(
    ("deadline_hours", "answered_after"),
    [(2, timedelta(0)), (12, timedelta(hours=6))],
    ids=["2h-deadline-approved-at-once", "12h-deadline-approved-after-6h"],
)
async def test_a_trip_planner_waits_for_its_approval_within_its_deadline(
    env, provider, deadline_hours, answered_after
):
    provider.script = _trip_script()
    async with _worker(env, "trips"):
        handle = await env.client.start_workflow(
            TripPlanner.run,
            TripInput(question="Plan a day in Zürich.", deadline_hours=deadline_hours),
            id=f"trip-{uuid.uuid4()}",
            task_queue="trips",
        )
        await _approve(handle, answered_after, env)
        assert await handle.result() == "Sunny; a table for two at Kronenhalle is booked."
    assert provider.creates == 2  # one per turn
    second = provider.requests[1]
    assert second.previous_response_id == "resp_scripted0001"
    outputs = {i["call_id"]: i["output"] for i in second.input if isinstance(second.input, list)}
    assert outputs == {
        "call_weather": json.dumps("Sunny in Zürich."),
        "call_book": json.dumps("Booked 2 at Kronenhalle."),
    } or outputs == {"call_weather": "Sunny in Zürich.", "call_book": "Booked 2 at Kronenhalle."}


async def test_an_approval_that_comes_after_the_deadline_fails_typed(env, provider):
    provider.script = _trip_script()
    async with _worker(env, "trips"):
        handle = await env.client.start_workflow(
            TripPlanner.run,
            TripInput(question="Plan a day in Zürich.", deadline_hours=2),
            id=f"trip-{uuid.uuid4()}",
            task_queue="trips",
        )
        await skip_until(env, _asked(handle))
        await env.sleep(timedelta(hours=3))
        with pytest.raises(RPCError):  # the run ended at its deadline: no one to approve
            await handle.execute_update(
                durable.APPROVE_UPDATE, {"id": "call_book", "approve": True}
            )
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    assert isinstance(failure.value.cause, ApplicationError)
    assert failure.value.cause.type == ErrorType.DEADLINE_EXCEEDED
    assert provider.creates == 1


async def test_provider_errors_reach_the_caller_as_production_types_them(env, provider):
    provider.script = [
        refused(404, "The model 'o5' does not exist", code="model_not_found", param="model"),
        rate_limited(reply("after two 429s"), times=2, retry_after=timedelta(seconds=30)),
        failed("The model crashed.", takes=timedelta(minutes=5)),
    ]
    async with Worker(env.client, task_queue="errors"):
        with pytest.raises(WorkflowFailureError) as refused_run:
            await env.client.execute_workflow(
                "BackgroundResponseWorkflow",
                ResponseRequest(input="x", model="o5"),
                id=f"refused-{uuid.uuid4()}",
                task_queue="errors",
            )
        limited = await env.client.execute_workflow(
            "BackgroundResponseWorkflow",
            ResponseRequest(input="y"),
            id=f"limited-{uuid.uuid4()}",
            task_queue="errors",
            result_type=ResponseResult,
        )
        with pytest.raises(WorkflowFailureError) as failed_run:
            await env.client.execute_workflow(
                "BackgroundResponseWorkflow",
                ResponseRequest(input="z"),
                id=f"failed-{uuid.uuid4()}",
                task_queue="errors",
            )
    assert isinstance(refused_run.value.cause, ApplicationError)
    assert refused_run.value.cause.type == ErrorType.NOT_FOUND
    assert "o5" in refused_run.value.cause.message
    assert limited.output_text == "after two 429s"
    assert isinstance(failed_run.value.cause, ApplicationError)
    assert failed_run.value.cause.type == ErrorType.RESPONSE_FAILED
    assert provider.creates == 2  # the refused create created nothing


async def test_a_streamed_reply_keeps_every_item_and_the_exact_text(env, provider):
    text = "Durable streams keep every character. " * 40
    provider.script = [
        reply(
            text,
            reasoning="Plan the answer.",
            items=[
                items.web_search("durable streams"),
                items.code_interpreter("print(1)", logs="1"),
                items.mcp_approval_request("ask", {"q": "x"}),
            ],
        )
    ]
    async with Worker(env.client, task_queue="streams"):
        result = await env.client.execute_workflow(
            "StreamingResponseWorkflow",
            ResponseRequest(input="Stream it."),
            id=f"stream-{uuid.uuid4()}",
            task_queue="streams",
            result_type=ResponseResult,
        )
    assert result.output_text == text
    assert result.reasoning_summary == "Plan the answer."
    types = [item["type"] for item in result.output_items()]
    assert types == [
        "reasoning",
        "web_search_call",
        "code_interpreter_call",
        "mcp_approval_request",
        "message",
    ]
    assert provider.creates == 1


async def test_echo_answers_the_input_and_a_script_that_runs_out_fails_typed(env, provider):
    async with Worker(env.client, task_queue="echo"):
        echoed = await env.client.execute_workflow(
            "BackgroundResponseWorkflow",
            ResponseRequest(input="Say this back."),
            id=f"echo-{uuid.uuid4()}",
            task_queue="echo",
            result_type=ResponseResult,
        )
        provider.script = []
        with pytest.raises(WorkflowFailureError) as failure:
            await env.client.execute_workflow(
                "BackgroundResponseWorkflow",
                ResponseRequest(input="One too many."),
                id=f"exhausted-{uuid.uuid4()}",
                task_queue="echo",
            )
    assert echoed.output_text == "Say this back."
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and "asked for another" in cause.message


def test_polls_for_counts_the_policy_s_growing_intervals():
    policy = PollPolicy(initial_interval_seconds=2, backoff=2, max_interval_seconds=8)
    # 2, 4, 8, 8, ...: cumulative 2, 6, 14, 22
    seconds = (0, 1, 2, 3, 6, 14, 15)
    assert [polls_for(timedelta(seconds=s), policy) for s in seconds] == [0, 1, 1, 2, 2, 3, 4]


async def test_a_streamed_reply_that_takes_workflow_time_is_refused_not_ignored(env, provider):
    """The time-skipping server cannot skip time while a stream reader heartbeats every 2 s:
    a streamed reply with `takes` fails typed instead of silently taking none."""
    provider.script = [reply("Long stream.", takes=timedelta(hours=1))]
    async with Worker(env.client, task_queue="long-streams"):
        with pytest.raises(WorkflowFailureError) as failure:
            await env.client.execute_workflow(
                "StreamingResponseWorkflow",
                ResponseRequest(input="Take your time."),
                id=f"stream-{uuid.uuid4()}",
                task_queue="long-streams",
            )
    cause = failure.value.cause
    while cause is not None and not isinstance(cause, ApplicationError):
        cause = cause.__cause__
    assert isinstance(cause, ApplicationError) and cause.type == SCRIPT_UNSUPPORTED
    assert provider.cancelled == list(provider.responses)  # the orphan rule held


async def test_followers_read_a_scripted_stream_whole(env, provider):
    text = "Every piece once, in order. " * 30
    provider.script = [reply(text, items=[items.web_search("order")])]
    async with Worker(env.client, task_queue="follow"):
        handle = await env.client.start_workflow(
            "StreamingResponseWorkflow",
            ResponseRequest(input="Follow me."),
            id=f"follow-{uuid.uuid4()}",
            task_queue="follow",
            result_type=ResponseResult,
        )
        async with asyncio.timeout(60):
            followed = "".join([piece.text async for piece in follow(handle)])
        result = await handle.result()
    assert followed == result.output_text == text


async def test_a_session_answers_each_message_with_the_chain(env, provider):
    async with Worker(env.client, task_queue=TASK_QUEUE):
        session = await AgentSession.start(
            env.client, SessionRequest(request=ResponseRequest(input="-", model="o3"))
        )
        first = await session.send("Hello.")
        second = await session.send("Again.")
        await session.close()
    assert (first.output_text, second.output_text) == ("Hello.", "Again.")
    assert provider.requests[1].previous_response_id == "resp_scripted0001"


async def test_a_webhook_wakes_a_run_before_its_safety_net_poll():
    provider = ScriptedProvider([reply("Woken.", takes=timedelta(hours=1))], webhooks=True)
    async with time_skipping_env(provider) as env, Worker(env.client, task_queue="hooks"):
        handle = await env.client.start_workflow(
            "BackgroundResponseWorkflow",
            ResponseRequest(input="Wake me."),
            id=f"hook-{uuid.uuid4()}",
            task_queue="hooks",
            result_type=ResponseResult,
        )

        async def created() -> bool:
            return provider.creates == 1

        await skip_until(env, created, step=timedelta(seconds=1))
        await env.sleep(timedelta(hours=1))  # the response ends; its webhook comes
        (response_id,) = provider.responses
        await handle.signal(
            WEBHOOK_SIGNAL, WebhookEvent(response_id=response_id, type="response.completed")
        )
        result = await handle.result()
    assert result.output_text == "Woken."
    assert result.finished_at is not None and result.started_at is not None
    # The safety net alone would have seen it at 77.5 minutes (polls at 10, 25, 47.5, 77.5).
    assert result.finished_at - result.started_at < timedelta(minutes=62)


def test_dev_servers_keep_the_search_attribute_cache_unless_the_caller_says_otherwise():
    """The CLI's dev server reads search attributes from its store on every start and upsert;
    ours are registered before it starts, so `dev_server` turns that off (and eager activities
    on), as a production server runs. A caller's own value for a key wins."""
    from durable_responses.testing._servers import _dynamic_config

    flags = _dynamic_config([])
    assert flags[::2] == ["--dynamic-config-value"] * 2
    assert set(flags[1::2]) == {
        "system.forceSearchAttributesCacheRefreshOnRead=false",
        "system.enableActivityEagerExecution=true",
    }
    mine = ["--dynamic-config-value", "system.forceSearchAttributesCacheRefreshOnRead=true"]
    assert _dynamic_config(mine) == [
        "--dynamic-config-value",
        "system.enableActivityEagerExecution=true",
    ]


def test_dev_servers_get_their_http_and_metrics_ports_from_us_distinct_from_the_frontends():
    """The CLI picked its HTTP API's port before its frontend bound, once the frontend's own
    port: `worker --dev` then never started (`bind: address already in use`)."""
    from durable_responses.testing._servers import _distinct_ports

    port, flags = _distinct_ports(7233, 8233, [])
    assert port == 7233 and flags[::2] == ["--http-port", "--metrics-port"]
    assert len({port, 8233, *map(int, flags[1::2])}) == 4
    port, flags = _distinct_ports(None, None, ["--metrics-port", "9090"])
    assert flags[0] == "--http-port" and len(flags) == 2 and port != int(flags[1])
