"""The client-side run handle (`durable_responses.run.RunHandle`) on a real dev server against
the fake over HTTP: start and attach, read from an offset (the recorded text plus the reader's
unrecorded tail), follow to the end, progress, cancel (nothing left running upstream), result,
on a streaming run and on a polling one."""

from __future__ import annotations

import uuid

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import CancelledError

from durable_responses import RunHandle
from durable_responses.models import (
    PollPolicy,
    Progress,
    ResponseRequest,
    ResponseResult,
    StreamPolicy,
)
from tests.workers import build_worker, wait_until

FAST_POLL = PollPolicy(initial_interval_seconds=0.2, backoff=1.5, max_interval_seconds=0.5)
KINDS = pytest.mark.parametrize("stream", [True, False], ids=["streaming", "polling"])


async def _start(client, task_queue: str, *, stream: bool, **request) -> RunHandle:
    return await RunHandle.start(
        client,
        ResponseRequest(input=f"handle {uuid.uuid4()}", poll=FAST_POLL, **request),
        id=f"handle-{uuid.uuid4()}",
        stream=stream,
        task_queue=task_queue,
    )


async def _created(run: RunHandle) -> Progress:
    """The run's progress once its response exists upstream."""
    seen: list[Progress] = []

    async def created() -> bool:
        progress = await run.progress()
        seen[:] = [progress] if progress is not None else []
        return bool(seen and seen[0].response_id)

    await wait_until(created, timeout=30)
    return seen[0]


@KINDS
async def test_attach_follow_read_and_result_equal_the_providers_text(
    dev_env, fake, activities, task_queue, stream
):
    fake.configure(tokens=240, tokens_per_second=240)  # about a second
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        started = await _start(dev_env.client, task_queue, stream=stream)
        run = RunHandle.attach(dev_env.client, started.id)  # by id alone, as another process
        assert await run.streaming() is stream
        progress = await _created(run)
        if stream:
            followed = [piece async for piece in run.follow(7)]
            assert followed[-1].done and followed[0].offset == 7
            text = "".join(piece.text for piece in followed)
        else:
            events = [event async for event in run.follow_progress(poll_seconds=0.1)]
            assert all(isinstance(e, Progress | str) for e in events[:-1])
            assert isinstance(events[-1], ResponseResult)
            assert [e.polls for e in events if isinstance(e, Progress)][-1] >= 1
            text = events[-1].output_text[7:]
        result = await run.result()
        record = fake.response(result.response_id)
        assert result.response_id == progress.response_id
        assert result.output_text == record.text != ""
        assert text == record.text[7:]  # followed from offset 7: no gap, no repeat
        piece = await run.read(12)  # a closed run reads from its result
        assert (piece.offset, piece.text, piece.done) == (12, record.text[12:], True)
        assert piece.next_offset == len(record.text)
        assert (await run.progress()) is not None  # asked of a closed run too


async def test_read_mid_stream_joins_the_readers_unrecorded_tail(
    dev_env, fake, activities, task_queue
):
    # Batches are recorded 30 s apart after the first text: the rest is only in the tail.
    fake.configure(tokens=400, tokens_per_second=80)  # about 5 s
    policy = StreamPolicy(first_batch_seconds=30, max_batch_seconds=30)
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        run = await _start(dev_env.client, task_queue, stream=True, streaming=policy)
        await _created(run)
        reads = []

        async def past_the_recording() -> bool:
            progress = await run.progress()
            piece = await run.read(3)
            reads.append(piece)
            return progress is not None and piece.next_offset > max(progress.text_length, 3)

        await wait_until(past_the_recording, timeout=30)
        piece = reads[-1]
        assert piece.offset == 3 and not piece.done
        result = await run.result()
    # The tail is the provider's text at the same offsets: joined, it is a slice of the answer.
    assert result.output_text[3 : piece.next_offset] == piece.text != ""


async def test_read_of_a_running_polling_run_says_what_it_does(
    dev_env, fake, activities, task_queue
):
    fake.configure(tokens=300, tokens_per_second=100)  # about 3 s
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        run = await _start(dev_env.client, task_queue, stream=False)
        progress = await _created(run)
        piece = await run.read(0)
        result = await run.result()
    # A polled response's text comes whole at the end; meanwhile the read is its status.
    if not piece.done:
        assert (piece.text, piece.next_offset) == ("", 0)
        assert piece.response_id == progress.response_id
        assert piece.status in ("queued", "in_progress")
    assert result.output_text == fake.response(result.response_id).text


@KINDS
async def test_cancel_leaves_nothing_running_upstream(
    dev_env, fake, activities, task_queue, stream
):
    fake.configure(tokens=5000, tokens_per_second=50)  # far longer than the test
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        run = await _start(dev_env.client, task_queue, stream=stream)
        progress = await _created(run)
        assert progress.response_id is not None
        await run.cancel(wait=True)
        with pytest.raises(WorkflowFailureError) as failure:
            await run.result()
        assert isinstance(failure.value.cause, CancelledError)
        with pytest.raises(WorkflowFailureError):
            await run.read(0)
    # The orphan rule: the run cancelled its response before it closed.
    assert fake.response(progress.response_id).status == "cancelled"
    assert [r.status for r in fake.responses()] == ["cancelled"]


async def test_attach_to_no_such_run_is_a_lookup_error(dev_env):
    run = RunHandle.attach(dev_env.client, f"no-such-{uuid.uuid4()}")
    with pytest.raises(LookupError):
        await run.streaming()
    with pytest.raises(LookupError):
        await run.read(0)
