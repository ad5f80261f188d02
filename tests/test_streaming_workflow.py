"""`StreamingResponseWorkflow`'s chunk loop under time skipping, activities mocked by name."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio import activity
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.worker import Worker

from durable_responses.activities import ReadStreamChunkInput, ResponseSnapshot, StreamChunk
from durable_responses.models import ErrorType, ResponseRequest, StreamPolicy
from durable_responses.workflows import WORKFLOWS, StreamingResponseWorkflow
from tests.mocks import RESPONSE_ID, ScriptedAPI

TEXT = "Here are three key benefits of regular exercise: heart, mood and bones. " * 3


def script(text: str, pieces: int, *, final: str = "completed") -> list[StreamChunk]:
    """The text cut into `pieces` chunks with consecutive cursors, the last one terminal."""
    size = -(-len(text) // pieces)
    chunks: list[StreamChunk] = []
    for i in range(pieces):
        last = i == pieces - 1
        chunks.append(
            StreamChunk(
                response_id=RESPONSE_ID,
                text=text[i * size : (i + 1) * size],
                cursor=10 * (i + 1),
                events=10,
                status=final if last else "in_progress",
                snapshot=ResponseSnapshot(id=RESPONSE_ID, status=final, model="o3")
                if last
                else None,
                stopped_by="terminal" if last else "budget",
            )
        )
    return chunks


async def _run(env, api: ScriptedAPI, task_queue: str, request: ResponseRequest, **kw):
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=kw.get("activities") or api.activities(),
    ):
        handle = await env.client.start_workflow(
            StreamingResponseWorkflow.run, request, id=f"st-{uuid.uuid4()}", task_queue=task_queue
        )
        return await handle.result(), handle


async def test_chunks_are_appended_in_order_and_the_cursor_is_passed_on(ts_env, task_queue):
    api = ScriptedAPI(chunks=script(TEXT, 7))
    request = ResponseRequest(input="Three benefits of exercise.")
    result, _ = await _run(ts_env, api, task_queue, request)
    assert (result.output_text, result.cursor, result.chunks, result.resumes) == (TEXT, 70, 7, 0)
    first, *rest = api.chunk_inputs
    assert first.response_id is None and first.params is not None and first.cursor is None
    assert first.params.input == "Three benefits of exercise."
    assert [i.cursor for i in rest] == [10, 20, 30, 40, 50, 60]
    assert all(i.response_id == RESPONSE_ID and i.params is None for i in rest)
    # budgets start short and grow to the cap: 0.5, 1, 2, 4, 5, 5, 5
    assert [i.budget_seconds for i in api.chunk_inputs] == [0.5, 1, 2, 4, 5, 5, 5]
    assert api.creates == 1


async def test_retried_and_interrupted_chunks_count_as_resumes(ts_env, task_queue):
    chunks = script(TEXT, 3)
    chunks[1] = chunks[1].model_copy(update={"attempt": 3, "interrupted": True})
    api = ScriptedAPI(chunks=chunks)
    result, _ = await _run(ts_env, api, task_queue, ResponseRequest(input="x"))
    assert result.output_text == TEXT and result.resumes == 3


async def test_retryable_chunk_failures_are_retried_from_the_recorded_cursor(ts_env, task_queue):
    chunks: list = script(TEXT, 3)
    chunks.insert(1, ApplicationError("cut", type=ErrorType.CONNECTION_ERROR))
    chunks.insert(2, ApplicationError("429", type=ErrorType.RATE_LIMITED))
    api = ScriptedAPI(chunks=chunks)
    result, _ = await _run(ts_env, api, task_queue, ResponseRequest(input="x"))
    assert result.output_text == TEXT
    assert [i.cursor for i in api.chunk_inputs] == [None, 10, 10, 10, 20]


async def test_expired_stream_falls_back_to_polling_and_appends_only_the_rest(ts_env, task_queue):
    head = TEXT[:50]
    api = ScriptedAPI(
        chunks=[
            script(head, 1)[0].model_copy(update={"status": "in_progress", "snapshot": None}),
            ApplicationError(
                "OpenAI 400: can no longer be streamed",
                type=ErrorType.STREAM_EXPIRED,
                non_retryable=True,
            ),
        ],
        polls_until_done=3,
        text=TEXT,
    )
    result, _ = await _run(ts_env, api, task_queue, ResponseRequest(input="x"))
    assert result.output_text == TEXT  # head from the stream + the rest from retrieve, once
    assert result.polls == 3 and result.status == "completed"


async def test_continue_as_new_carries_response_cursor_and_text(ts_env, task_queue):
    api = ScriptedAPI(chunks=script(TEXT, 10))
    request = ResponseRequest(input="x", streaming=StreamPolicy(max_chunks_per_run=3))
    result, _ = await _run(ts_env, api, task_queue, request)
    assert (result.output_text, result.cursor, result.chunks, result.runs) == (TEXT, 100, 10, 4)
    assert api.creates == 1
    assert [i.cursor for i in api.chunk_inputs] == [None, *range(10, 100, 10)]


async def test_long_text_keeps_a_bounded_tail_with_absolute_offsets(ts_env, task_queue):
    api = ScriptedAPI(chunks=script(TEXT, 5))
    request = ResponseRequest(input="x", streaming=StreamPolicy(max_carried_chars=40))
    result, _ = await _run(ts_env, api, task_queue, request)
    assert result.output_text == TEXT[-40:]
    assert result.output_text_offset == len(TEXT) - 40


async def test_failed_and_incomplete_endings(ts_env, task_queue):
    api = ScriptedAPI(chunks=script(TEXT, 2, final="incomplete"))
    result, _ = await _run(ts_env, api, task_queue, ResponseRequest(input="x"))
    assert (result.status, result.output_text) == ("incomplete", TEXT)
    failed = script(TEXT, 2, final="failed")
    failed[-1].snapshot.error = {"code": "server_error", "message": "boom"}  # type: ignore[union-attr]
    api = ScriptedAPI(chunks=failed)
    with pytest.raises(WorkflowFailureError) as err:
        await _run(ts_env, api, f"{task_queue}-2", ResponseRequest(input="x"))
    assert isinstance(err.value.cause, ApplicationError)
    assert err.value.cause.type == ErrorType.RESPONSE_FAILED and "boom" in err.value.cause.message


async def test_cancel_mid_stream_cancels_upstream(ts_env, task_queue):
    api = ScriptedAPI()
    started, stopped = asyncio.Event(), asyncio.Event()

    @activity.defn(name="read_stream_chunk")
    async def slow_chunk(input: ReadStreamChunkInput) -> StreamChunk:
        if input.response_id is None:  # the first chunk creates the response and returns
            return StreamChunk(response_id=RESPONSE_ID, cursor=4, events=5, status="in_progress")
        started.set()
        try:
            while True:  # a chunk that runs until it is cancelled (through its heartbeats)
                activity.heartbeat(None)
                await asyncio.sleep(0.1)
        finally:
            stopped.set()

    others = [a for a in api.activities() if getattr(a, "__name__", "") != "read_stream_chunk"]
    async with Worker(
        ts_env.client, task_queue=task_queue, workflows=WORKFLOWS, activities=[*others, slow_chunk]
    ):
        handle = await ts_env.client.start_workflow(
            StreamingResponseWorkflow.run,
            ResponseRequest(input="x"),
            id=f"st-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        await asyncio.wait_for(started.wait(), 10)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as err:
            await handle.result()
        await asyncio.wait_for(stopped.wait(), 10)  # the stream read was stopped too
    assert isinstance(err.value.cause, CancelledError)
    assert api.cancelled == [RESPONSE_ID]


async def test_state_query_after_completion(ts_env, task_queue):
    api = ScriptedAPI(chunks=script(TEXT, 2))
    async with Worker(
        ts_env.client, task_queue=task_queue, workflows=WORKFLOWS, activities=api.activities()
    ):
        handle = await ts_env.client.start_workflow(
            StreamingResponseWorkflow.run,
            ResponseRequest(input="x"),
            id=f"st-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        await handle.result()
        state = await handle.query(StreamingResponseWorkflow.current_state)
    assert (state.text, state.text_length, state.done) == (TEXT, len(TEXT), True)
