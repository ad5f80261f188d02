"""Agent loops and sessions, end to end: every model turn a durable background response, every
tool call an activity, approvals as updates. Worker SIGKILLs in each phase repeat no turn and
no finished tool call; a rejection ends the loop typed; a session outlives its workers."""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import uuid
from collections import Counter
from pathlib import Path

import openai
import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError

import durable_responses.workflow as durable
from durable_responses.fake_openai import FakeControl, FakeOpenAIServer
from durable_responses.models import ErrorType, PollPolicy, ResponseRequest
from durable_responses.models.agent import SessionRequest
from durable_responses.session import AgentSession
from durable_responses.testing import find_binary
from examples.agent import (
    LOG_VARIABLE,
    TripPlannerWorkflow,
    TripRequest,
    compile_report,
    get_weather,
    local_fake,
)
from tests.agent_workflows import McpAgentWorkflow
from tests.workers import ROOT, address_of, build_worker, wait_until, worker_process

QUICK_POLL = PollPolicy(initial_interval_seconds=0.2, max_interval_seconds=0.5)
SLOW_TURNS = {"tokens": 60, "tokens_per_second": 40, "reasoning_seconds": 1.0}
"""o3 thinks a second before each turn, then writes for about a second and a half."""


def _creates_per_turn(fake: FakeControl, workflow_id: str) -> Counter[str]:
    """Responses created for each turn (child) of the loop started by `workflow_id`."""
    return Counter(
        r.metadata["temporal_workflow_id"]
        for r in fake.responses()
        if r.metadata.get("temporal_workflow_id", "").startswith(f"{workflow_id}/")
    )


def _finished_tools(log: Path) -> Counter[str]:
    lines = log.read_text().splitlines() if log.exists() else []
    return Counter(line.split(" ", 1)[0] for line in lines)


async def _approve_when_asked(handle: WorkflowHandle, approve: bool = True) -> str:
    """Wait for the pending approval, answer it; its id."""
    pending: list = []

    async def asked() -> bool:
        nonlocal pending
        pending = await handle.query(durable.PENDING_QUERY, result_type=list)
        return bool(pending)

    await wait_until(asked, timeout=60)
    (request,) = pending
    await handle.execute_update(
        durable.APPROVE_UPDATE, {"id": request["id"], "approve": approve, "reason": "not today"}
    )
    return str(request["id"])


def _assert_three_turns(result, fake: FakeControl, workflow_id: str, log: Path) -> None:
    assert [run.name for run in result.tool_runs] == ["get_weather", "compile_report"]
    assert [run.approved for run in result.tool_runs] == [None, True]
    assert len(result.turns) == 3 and result.turns[2].output_kind == "text"
    # The last turn's answer quotes what the report tool said, as its input carried it.
    report = result.tool_runs[1].output
    assert result.output_text.startswith(f'compile_report said "{report[:40]}')
    assert result.output_text == fake.response(result.response_id).text
    turns = _creates_per_turn(fake, workflow_id)
    assert sorted(turns.values()) == [1, 1, 1], turns  # one create per turn
    assert _finished_tools(log) == {"get_weather": 1, "compile_report": 1}
    # Each turn continues the one before.
    for before, after in itertools.pairwise(result.turns):
        sent = fake.response(after.response_id, events=False).request
        assert sent["previous_response_id"] == before.response_id


async def test_a_three_turn_tool_loop_answers_from_its_tools(
    dev_env, fake, activities, task_queue, tmp_path, monkeypatch
):
    log = tmp_path / "tools.log"
    monkeypatch.setenv(LOG_VARIABLE, str(log))
    fake.configure(tokens=40, tokens_per_second=400)
    async with build_worker(
        dev_env.client,
        activities,
        task_queue=task_queue,
        workflows=[TripPlannerWorkflow],
        own_activities=[get_weather, compile_report],
    ):
        handle = await dev_env.client.start_workflow(
            TripPlannerWorkflow.run,
            TripRequest(question="Plan a day in Zürich.", poll_seconds=0.2),
            id=f"trip-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        await _approve_when_asked(handle)
        result = await handle.result()
    _assert_three_turns(result, fake, handle.id, log)


@pytest.mark.parametrize(
    "phases",
    [["mid-turn-stream"], ["waiting-for-approval", "during-a-tool"]],
    ids=["mid-turn", "approval-then-tool"],
)
async def test_a_sigkill_in_each_phase_repeats_no_turn_and_no_finished_tool(
    dev_env, fake, fake_server, task_queue, tmp_path, phases
):
    """The worker running the loop is killed mid-turn (a turn's stream read again), or while
    the loop waits for the approval and then again while the approved tool runs."""
    log = tmp_path / "tools.log"
    fake.configure(**SLOW_TURNS)
    address = address_of(dev_env)

    def spawn():
        return worker_process(
            address,
            task_queue,
            fake_server.base_url,
            module="examples.agent worker",
            **{LOG_VARIABLE: str(log)},
        ).start()

    workers = [await asyncio.to_thread(spawn)]

    async def kill_and_replace() -> None:
        workers[-1].kill()
        workers.append(await asyncio.to_thread(spawn))

    try:
        handle = await dev_env.client.start_workflow(
            TripPlannerWorkflow.run,
            TripRequest(stream=phases == ["mid-turn-stream"], poll_seconds=0.2),
            id=f"trip-kill-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        if "mid-turn-stream" in phases:

            async def first_turn_streaming() -> bool:
                turns = [t for t in _creates_per_turn(fake, handle.id) if t.endswith("/turn-1")]
                if not turns:
                    return False
                child = dev_env.client.get_workflow_handle(turns[0])
                progress = await child.query("progress", result_type=dict)
                return progress.get("response_id") is not None  # recorded: a kill now resumes

            await wait_until(first_turn_streaming, timeout=60)
            await kill_and_replace()
        if "waiting-for-approval" in phases:

            async def waiting() -> bool:
                return bool(await handle.query(durable.PENDING_QUERY, result_type=list))

            await wait_until(waiting, timeout=60)
            await kill_and_replace()
        await _approve_when_asked(handle)
        if "during-a-tool" in phases:

            async def report_running() -> bool:
                description = await handle.describe()
                return any(
                    p.activity_type.name == "compile_report" and p.state == 2
                    for p in description.raw_description.pending_activities
                )

            await wait_until(report_running, timeout=60)
            await asyncio.sleep(0.7)  # a third of its work done
            await kill_and_replace()
        result = await asyncio.wait_for(handle.result(), timeout=120)
    finally:
        for worker in workers:
            worker.kill()
    _assert_three_turns(result, fake, handle.id, log)
    if "mid-turn-stream" in phases:
        assert result.turns[0].resumes >= 1  # the first turn's stream was read again


async def test_a_rejected_approval_ends_the_loop_typed_and_the_tool_never_runs(
    dev_env, fake, activities, task_queue, tmp_path, monkeypatch
):
    log = tmp_path / "tools.log"
    monkeypatch.setenv(LOG_VARIABLE, str(log))
    fake.configure(tokens=40, tokens_per_second=400)
    async with build_worker(
        dev_env.client,
        activities,
        task_queue=task_queue,
        workflows=[TripPlannerWorkflow],
        own_activities=[get_weather, compile_report],
    ):
        handle = await dev_env.client.start_workflow(
            TripPlannerWorkflow.run,
            TripRequest(poll_seconds=0.2),
            id=f"trip-reject-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        call_id = await _approve_when_asked(handle, approve=False)
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == ErrorType.APPROVAL_REJECTED
    assert call_id in cause.message and "not today" in cause.message
    assert _finished_tools(log) == {"get_weather": 1}


@pytest.mark.parametrize("approve", [True, False])
async def test_an_mcp_approval_request_is_answered_from_the_temporal_cli(
    dev_env, fake, activities, task_queue, approve
):
    """The update a person sends with the Temporal CLI, as the README says."""
    fake.configure(tokens=40, tokens_per_second=400)
    async with build_worker(
        dev_env.client, activities, task_queue=task_queue, workflows=[McpAgentWorkflow]
    ):
        handle = await dev_env.client.start_workflow(
            McpAgentWorkflow.run, "Look it up.", id=f"mcp-{uuid.uuid4()}", task_queue=task_queue
        )
        pending: list = []

        async def asked() -> bool:
            nonlocal pending
            pending = await handle.query(durable.PENDING_QUERY, result_type=list)
            return bool(pending)

        await wait_until(asked, timeout=60)
        decision = json.dumps({"id": pending[0]["id"], "approve": approve})
        proc = await asyncio.create_subprocess_exec(
            find_binary("temporal"), "workflow", "update", "execute",
            "--address", address_of(dev_env), "--workflow-id", handle.id,
            "--name", "approve", "--input", decision,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await asyncio.wait_for(proc.communicate(), timeout=30)
        assert proc.returncode == 0, err.decode()
        result = await handle.result()
    (first, second) = result.turns
    assert first.output_kind == "approval_requests"
    kinds = [item["type"] for item in second.output]
    assert ("mcp_call" in kinds) is approve
    assert result.approvals[0].approve is approve
    if not approve:
        assert result.output_text.startswith("The ask_question call on docs was not approved.")


async def test_a_session_of_five_messages_survives_worker_restarts_between_them(
    dev_env, fake, fake_server, task_queue
):
    fake.configure(tokens=30, tokens_per_second=300)
    address = address_of(dev_env)

    def spawn():
        return worker_process(address, task_queue, fake_server.base_url).start()

    workers = [await asyncio.to_thread(spawn)]
    try:
        session = await AgentSession.start(
            dev_env.client,
            SessionRequest(
                request=ResponseRequest(
                    input="-", model="gpt-4.1", instructions="Be concise.", poll=QUICK_POLL
                ),
                max_messages_per_run=2,  # continue-as-new twice in five messages
            ),
            task_queue=task_queue,
        )
        replies = []
        for n in range(5):
            if n == 2:  # a new worker between messages, the old one killed
                workers[-1].kill()
                workers.append(await asyncio.to_thread(spawn))
            replies.append(await asyncio.wait_for(session.send(f"Message {n + 1}."), 60))
        state = await session.close()
    finally:
        for worker in workers:
            worker.kill()
    assert [r.message for r in replies] == [1, 2, 3, 4, 5]
    assert state.messages == 5 and state.closed
    for before, after in itertools.pairwise(replies):
        sent = fake.response(after.response_id, events=False).request
        assert sent["previous_response_id"] == before.response_id  # one conversation
        assert sent["instructions"] == "Be concise."
    for reply in replies:
        assert reply.output_text == fake.response(reply.response_id).text
    created = [
        r
        for r in fake.responses()
        if r.metadata.get("temporal_workflow_id", "").startswith(session.id)
    ]
    assert len(created) == 5  # one create per message
    description = await session.handle.describe()
    assert description.run_id != session.handle.first_execution_run_id  # it continued as new


async def test_the_example_runs_on_a_fresh_machine(tmp_path):
    """No Temporal server, no OpenAI key: it brings its own of both."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "examples.agent", "Plan a day in Bern.", cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert "3 turns" in out.decode() and "approval needed: compile_report" in err.decode()


def test_the_examples_fake_ignores_the_idempotency_key_like_the_suites():
    """Two creates with one key make two responses there, as against the suite's fake: a
    duplicate create by the example would show, not be hidden by the fake."""
    with (
        FakeOpenAIServer(local_fake()) as server,
        openai.OpenAI(base_url=server.base_url, api_key="sk-fake", max_retries=0) as api,
    ):
        created = [
            api.responses.create(
                model="gpt-4.1",
                input="x",
                background=True,
                extra_headers={"Idempotency-Key": "the-same-key"},
            )
            for _ in range(2)
        ]
    assert created[0].id != created[1].id
