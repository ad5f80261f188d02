"""The agent loop's waiting, under time skipping with the API's activities mocked by name: an
approval answered six hours later costs nothing and goes on; one never answered times out
typed; the turn limit and the token budget end the loop typed."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

import durable_responses.workflow as durable
from durable_responses.activities import CreateResponseInput, ResponseRef, ResponseSnapshot
from durable_responses.models import ErrorType, Usage
from tests.agent_workflows import LoopUnderTest, lookup
from tests.workers import mocked_worker, wait_until

APPROVAL = {
    "id": "mcpr_1",
    "type": "mcp_approval_request",
    "server_label": "docs",
    "name": "ask_question",
    "arguments": "{}",
}
CALL = {
    "id": "fc_1",
    "type": "function_call",
    "status": "completed",
    "call_id": "call_1",
    "name": "lookup",
    "arguments": "{}",
}
ANSWER = {
    "id": "msg_1",
    "type": "message",
    "status": "completed",
    "role": "assistant",
    "content": [{"type": "output_text", "text": "Done.", "annotations": []}],
}


class Script:
    """`create_background_response` answering finished responses, one output per create."""

    def __init__(self, *outputs: list[dict]) -> None:
        self.outputs = list(outputs)
        self.inputs: list[CreateResponseInput] = []

    def activities(self):
        @activity.defn(name="create_background_response")
        async def create(input: CreateResponseInput) -> ResponseSnapshot:
            self.inputs.append(input)
            output = self.outputs[min(len(self.inputs), len(self.outputs)) - 1]
            return ResponseSnapshot(
                id=f"resp_{len(self.inputs)}",
                status="completed",
                model="o3",
                output=output,
                output_text="Done." if output is not None and ANSWER in output else "",
                usage=Usage(input_tokens=10, output_tokens=90, total_tokens=100),
                response={"id": f"resp_{len(self.inputs)}", "object": "response"},
            )

        @activity.defn(name="cancel_response")
        async def cancel(input: ResponseRef) -> ResponseSnapshot:
            return ResponseSnapshot(id=input.response_id, status="cancelled")

        return [create, cancel]


def _worker(env, script: Script, task_queue: str) -> Worker:
    return mocked_worker(
        env.client, task_queue, [*script.activities(), lookup], workflows=[LoopUnderTest]
    )


async def test_an_approval_answered_six_hours_later_goes_on(ts_env, task_queue):
    script = Script([APPROVAL], [ANSWER])
    async with _worker(ts_env, script, task_queue):
        handle = await ts_env.client.start_workflow(
            LoopUnderTest.run, {}, id=f"loop-{uuid.uuid4()}", task_queue=task_queue
        )

        async def asked() -> bool:
            return bool(await handle.query(durable.PENDING_QUERY, result_type=list))

        await wait_until(asked)
        await ts_env.sleep(timedelta(hours=6))
        assert await handle.query(durable.PENDING_QUERY, result_type=list)  # still waiting
        await handle.execute_update(durable.APPROVE_UPDATE, {"id": "mcpr_1", "approve": True})
        result = await handle.result()
    first, second = result.turns
    assert second.started_at is not None and first.finished_at is not None
    assert second.started_at - first.finished_at >= timedelta(hours=6)
    assert [d.id for d in result.approvals] == ["mcpr_1"] and result.output_text == "Done."
    # The approval went to the model with the chain.
    sent = script.inputs[1].params
    assert sent.previous_response_id == "resp_1"
    assert sent.input == [
        {"type": "mcp_approval_response", "approval_request_id": "mcpr_1", "approve": True}
    ]
    assert len(script.inputs) == 2  # one create per turn


async def test_an_approval_never_answered_times_out_typed(ts_env, task_queue):
    async with _worker(ts_env, Script([APPROVAL]), task_queue):
        with pytest.raises(WorkflowFailureError) as failure:
            await ts_env.client.execute_workflow(
                LoopUnderTest.run,
                {"approval_hours": 8},
                id=f"loop-{uuid.uuid4()}",
                task_queue=task_queue,
            )
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == ErrorType.APPROVAL_TIMED_OUT


@pytest.mark.parametrize(
    ("limits", "error"),
    [
        ({"max_turns": 3}, ErrorType.AGENT_TURN_LIMIT),
        ({"max_total_tokens": 250}, ErrorType.AGENT_BUDGET_EXCEEDED),
    ],
)
async def test_a_loop_that_keeps_calling_tools_ends_typed(ts_env, task_queue, limits, error):
    script = Script([CALL])  # the model calls the tool on every turn
    async with _worker(ts_env, script, task_queue):
        with pytest.raises(WorkflowFailureError) as failure:
            await ts_env.client.execute_workflow(
                LoopUnderTest.run, limits, id=f"loop-{uuid.uuid4()}", task_queue=task_queue
            )
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == error
    assert len(script.inputs) == 3  # three turns: the limit, or 300 tokens past 250


@pytest.mark.parametrize(
    "call",
    [
        {**CALL, "name": "not_a_tool_of_the_loop"},
        {
            "id": "ctc_1",
            "type": "custom_tool_call",
            "call_id": "c1",
            "name": "lookup",
            "input": "x",
        },
    ],
    ids=["unknown-function", "custom-tool"],
)
async def test_a_call_no_tool_of_the_loop_runs_fails_typed_instead_of_a_stuck_task(
    ts_env, task_queue, call
):
    """A hosted custom tool, or a name the loop has no tool for: the loop cannot answer it, so
    the run fails InvalidRequest (it used to fail its workflow task, retried forever)."""
    async with _worker(ts_env, Script([call]), task_queue):
        with pytest.raises(WorkflowFailureError) as failure:
            await ts_env.client.execute_workflow(
                LoopUnderTest.run,
                {},
                id=f"loop-{uuid.uuid4()}",
                task_queue=task_queue,
                execution_timeout=timedelta(minutes=5),
            )
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == ErrorType.INVALID_REQUEST
    assert call["name"] in cause.message
