"""`StreamingResponseWorkflow`'s batch recording under time skipping, activities mocked by name.

The mocked reader signals scripted `StreamBatch`es to its run, as the real one does; these tests
pin what the workflow records from them: in order, exactly once, across retries, expiry and
continue-as-new.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio import activity
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError, CancelledError

from durable_responses.activities import (
    ResponseSnapshot,
    StreamBatch,
    StreamReaderEnd,
    StreamReaderInput,
)
from durable_responses.activities.stream_reader import SIGNAL_LIMIT
from durable_responses.models import ErrorType, ResponseRequest, StreamPolicy
from durable_responses.workflows import StreamingResponseWorkflow
from tests.mocks import RESPONSE_ID, ScriptedAPI
from tests.workers import mocked_worker

TEXT = "Here are three key benefits of regular exercise: heart, mood and bones. " * 3


def script(text: str, pieces: int, *, final: str = "completed") -> list[StreamBatch]:
    """The id batch, then `text` in `pieces` batches with consecutive cursors, the last one
    terminal."""
    batches = [
        StreamBatch(response_id=RESPONSE_ID, model="o3", after=None, cursor=1, status="queued")
    ]
    size = -(-len(text) // pieces)
    for i in range(pieces):
        last = i == pieces - 1
        batches.append(
            StreamBatch(
                response_id=RESPONSE_ID,
                model="o3",
                after=1 if i == 0 else 10 * i,
                cursor=10 * (i + 1),
                offset=i * size,
                text=text[i * size : (i + 1) * size],
                status=final if last else "in_progress",
                snapshot=ResponseSnapshot(id=RESPONSE_ID, status=final, model="o3")
                if last
                else None,
            )
        )
    return batches


async def _run(env, api: ScriptedAPI, task_queue: str, request: ResponseRequest, **kw):
    async with mocked_worker(env.client, task_queue, kw.get("activities") or api.activities()):
        handle = await env.client.start_workflow(
            StreamingResponseWorkflow.run, request, id=f"st-{uuid.uuid4()}", task_queue=task_queue
        )
        return await handle.result(), handle


async def test_batches_are_recorded_in_order_by_one_reader(ts_env, task_queue):
    api = ScriptedAPI(batches=script(TEXT, 7))
    request = ResponseRequest(input="Three benefits of exercise.")
    result, _ = await _run(ts_env, api, task_queue, request)
    assert (result.output_text, result.cursor, result.chunks, result.resumes) == (TEXT, 70, 8, 0)
    (only,) = api.reader_inputs  # one reader for the whole response
    assert only.response_id is None and only.cursor is None and only.params is not None
    assert only.params.input == "Three benefits of exercise."
    assert (only.first_batch_seconds, only.max_batch_seconds) == (0.5, 10.0)
    assert api.creates == 1


async def test_redelivered_and_overlapping_batches_change_nothing(ts_env, task_queue):
    batches = script(TEXT, 4)
    second, third = batches[2], batches[3]
    overlap = StreamBatch(  # a reader that lost its worker, read from cursor 10 to 30
        response_id=RESPONSE_ID,
        after=second.after,
        cursor=third.cursor,
        offset=second.offset,
        text=second.text + third.text,
        status="in_progress",
    )
    api = ScriptedAPI(batches=[*batches[:3], batches[2], batches[1], overlap, *batches[3:]])
    result, _ = await _run(ts_env, api, task_queue, ResponseRequest(input="x"))
    assert result.output_text == TEXT and result.cursor == 40


async def test_gaps_and_other_responses_are_never_recorded(ts_env, task_queue):
    batches = script(TEXT, 3)
    gap = batches[2].model_copy(update={"after": 15, "cursor": 25, "text": "GAP"})
    stranger = batches[2].model_copy(update={"response_id": "resp_other", "text": "OTHER"})
    api = ScriptedAPI(batches=[*batches[:2], gap, stranger, *batches[2:]])
    result, _ = await _run(ts_env, api, task_queue, ResponseRequest(input="x"))
    assert result.output_text == TEXT


async def test_a_retried_reader_is_a_resume_and_loses_nothing(ts_env, task_queue):
    api = ScriptedAPI(
        batches=script(TEXT, 3),
        reader_faults={2: ApplicationError("cut", type=ErrorType.CONNECTION_ERROR)},
    )
    result, _ = await _run(ts_env, api, task_queue, ResponseRequest(input="x"))
    assert result.output_text == TEXT and result.resumes == 1
    assert len(api.reader_inputs) == 2 and api.creates == 1  # one activity, two attempts


async def test_expired_stream_falls_back_to_polling_and_appends_only_the_rest(ts_env, task_queue):
    head = script(TEXT[:50], 1)
    head[1] = head[1].model_copy(update={"status": "in_progress", "snapshot": None})
    api = ScriptedAPI(
        batches=[*head, head[1]],  # the fault fires before the last one
        reader_faults={
            2: ApplicationError(
                "OpenAI 400: can no longer be streamed",
                type=ErrorType.STREAM_EXPIRED,
                non_retryable=True,
            )
        },
        polls_until_done=3,
        text=TEXT,
    )
    result, _ = await _run(ts_env, api, task_queue, ResponseRequest(input="x"))
    assert result.output_text == TEXT  # head from the stream + the rest from retrieve, once
    assert result.polls == 3 and result.status == "completed"


async def test_continue_as_new_while_live_carries_response_cursor_and_text(ts_env, task_queue):
    api = ScriptedAPI(batches=script(TEXT, 10), pause=0.4)  # cancelled while it reads
    request = ResponseRequest(input="x", streaming=StreamPolicy(max_batches_per_run=3))
    result, _ = await _run(ts_env, api, task_queue, request)
    assert (result.output_text, result.cursor) == (TEXT, 100)
    assert result.runs >= 2 and api.creates == 1
    first, *attached = api.reader_inputs
    assert first.response_id is None
    assert all(i.response_id == RESPONSE_ID and i.params is None for i in attached)
    size = -(-len(TEXT) // 10)  # each attaches at the recorded cursor and text length
    assert all(i.text_length == min((i.cursor or 0) // 10 * size, len(TEXT)) for i in attached)


async def test_a_refused_signal_continues_as_new(ts_env, task_queue):
    api = ScriptedAPI(
        batches=script(TEXT, 4),
        reader_faults={3: ApplicationError("limit", type=SIGNAL_LIMIT, non_retryable=True)},
    )
    result, _ = await _run(ts_env, api, task_queue, ResponseRequest(input="x"))
    assert (result.output_text, result.runs) == (TEXT, 2)
    assert api.reader_inputs[1].cursor == 20 and api.reader_inputs[1].response_id == RESPONSE_ID


async def test_long_text_and_reasoning_keep_a_bounded_tail_with_absolute_offsets(
    ts_env, task_queue
):
    batches = script(TEXT, 5)
    batches[1] = batches[1].model_copy(update={"reasoning_summary": "R" * 100})
    api = ScriptedAPI(batches=batches)
    request = ResponseRequest(input="x", streaming=StreamPolicy(max_carried_chars=40))
    result, _ = await _run(ts_env, api, task_queue, request)
    assert result.output_text == TEXT[-40:]
    assert result.output_text_offset == len(TEXT) - 40
    assert result.reasoning_summary == "R" * 40


async def test_failed_and_incomplete_endings(ts_env, task_queue):
    api = ScriptedAPI(batches=script(TEXT, 2, final="incomplete"))
    result, _ = await _run(ts_env, api, task_queue, ResponseRequest(input="x"))
    assert (result.status, result.output_text) == ("incomplete", TEXT)
    failed = script(TEXT, 2, final="failed")
    failed[-1].snapshot.error = {"code": "server_error", "message": "boom"}  # type: ignore[union-attr]
    api = ScriptedAPI(batches=failed)
    with pytest.raises(WorkflowFailureError) as err:
        await _run(ts_env, api, f"{task_queue}-2", ResponseRequest(input="x"))
    assert isinstance(err.value.cause, ApplicationError)
    assert err.value.cause.type == ErrorType.RESPONSE_FAILED and "boom" in err.value.cause.message


async def test_cancel_mid_stream_stops_the_reader_and_cancels_upstream(ts_env, task_queue):
    api = ScriptedAPI()
    started, stopped = asyncio.Event(), asyncio.Event()

    @activity.defn(name="stream_background_response")
    async def endless(input: StreamReaderInput) -> StreamReaderEnd:
        info = activity.info()
        handle = activity.client().get_workflow_handle(
            info.workflow_id or "", run_id=info.workflow_run_id
        )
        await handle.signal("record_stream_batch", script(TEXT, 1)[0])
        started.set()
        try:
            while True:  # a reader that runs until it is cancelled (through its heartbeats)
                activity.heartbeat()
                await asyncio.sleep(0.1)
        finally:
            stopped.set()

    others = [a for a in api.activities() if getattr(a, "__name__", "") != "stream"]
    async with mocked_worker(ts_env.client, task_queue, [*others, endless]):
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
        await asyncio.wait_for(stopped.wait(), 10)  # the reader was stopped first
    assert isinstance(err.value.cause, CancelledError)
    assert api.cancelled == [RESPONSE_ID]


async def test_state_and_text_queries_after_completion(ts_env, task_queue):
    api = ScriptedAPI(batches=script(TEXT, 2))
    async with mocked_worker(ts_env.client, task_queue, api.activities()):
        handle = await ts_env.client.start_workflow(
            StreamingResponseWorkflow.run,
            ResponseRequest(input="x"),
            id=f"st-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        await handle.result()
        state = await handle.query(StreamingResponseWorkflow.current_state)
        piece = await handle.query(StreamingResponseWorkflow.text, {"offset": 5, "max_chars": 10})
        past = await handle.query(StreamingResponseWorkflow.text, {"offset": 10**6})
    assert (state.text, state.text_length, state.done) == (TEXT, len(TEXT), True)
    assert (piece.offset, piece.text, piece.next_offset, piece.done) == (5, TEXT[5:15], 15, False)
    assert (past.text, past.next_offset, past.done) == ("", 10**6, True)


async def test_flex_fallback_seconds_is_refused_at_start_not_silently_ignored(ts_env, task_queue):
    """The reader creates the response on its one connection and cannot move it to another
    tier: a setting the run would ignore fails it at once, before anything is created."""
    api = ScriptedAPI(batches=script(TEXT, 2))
    request = ResponseRequest(input="x", service_tier="flex", flex_fallback_seconds=30)
    with pytest.raises(WorkflowFailureError) as err:
        await _run(ts_env, api, task_queue, request)
    assert isinstance(err.value.cause, ApplicationError)
    assert err.value.cause.type == ErrorType.INVALID_REQUEST
    assert "flex_fallback_seconds" in err.value.cause.message
    assert api.creates == 0 and not api.reader_inputs
