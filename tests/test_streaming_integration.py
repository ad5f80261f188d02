"""`StreamingResponseWorkflow` end to end: real dev server, the fake over HTTP, real worker
processes killed at random points: one create, and text with no gap and no duplicate."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import uuid
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError, CancelledError

from durable_responses.fake_openai import FakeControl
from durable_responses.follow import follow
from durable_responses.models import (
    ErrorType,
    ResponseRequest,
    TextRequest,
    TextSlice,
)
from durable_responses.workflows import StreamingResponseWorkflow
from tests.workers import ROOT, address_of, build_worker, wait_until, worker_process


async def _start(env, task_queue: str, request: ResponseRequest | None = None, prefix="st"):
    return await env.client.start_workflow(
        StreamingResponseWorkflow.run,
        request or ResponseRequest(input=f"Three benefits of exercise ({uuid.uuid4()})."),
        id=f"{prefix}-{uuid.uuid4()}",
        task_queue=task_queue,
    )


def _created_for(fake: FakeControl, workflow_id: str) -> int:
    return sum(1 for r in fake.responses() if r.metadata.get("temporal_workflow_id") == workflow_id)


async def test_stream_end_to_end_equals_canonical_text(dev_env, fake, activities, task_queue):
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        handle = await _start(dev_env, task_queue, ResponseRequest(input="x", model="o3"))
        result = await handle.result()
    record = fake.response(result.response_id)
    assert result.output_text == record.text == record.planned_text
    assert result.reasoning_summary == record.reasoning_summary != ""  # kept apart
    assert record.reasoning_summary not in result.output_text
    assert result.cursor == record.event_count - 1
    assert (_created_for(fake, handle.id), result.resumes) == (1, 0)


async def test_sigkill_worker_at_random_points_never_loses_or_doubles_text(
    dev_env, fake, fake_server, task_queue, request
):
    trials = request.config.getoption("--trials") or (
        30 if request.config.getoption("--slow") else 7
    )
    seed = int(os.environ.get("KILL_SEED", "20261126"))
    rng = random.Random(seed)
    fake.configure(tokens=240, tokens_per_second=80, queued_seconds=0.3)  # ~3.5 s a response
    address = address_of(dev_env)
    current = await asyncio.to_thread(
        worker_process(address, task_queue, fake_server.base_url).start
    )
    workers = [current]
    replays = 0
    try:
        for trial in range(trials):
            handle = await _start(dev_env, task_queue, prefix=f"kill{trial}")
            delay = rng.uniform(0.05, 4.0)
            await asyncio.sleep(delay)
            current.kill()
            current = await asyncio.to_thread(
                worker_process(address, task_queue, fake_server.base_url).start
            )
            workers.append(current)
            result = await asyncio.wait_for(handle.result(), timeout=90)
            record = fake.response(result.response_id)
            context = f"seed {seed}, trial {trial}, killed after {delay:.2f}s"
            assert result.output_text == record.text == record.planned_text, context
            assert _created_for(fake, handle.id) == 1, context
            replays += record.counts.get("idempotent_replays", 0)
    finally:
        for worker in workers:
            worker.kill()
    print(
        f"\n{trials} SIGKILL trials (seed {seed}): all exact; {replays} create retries were "
        "answered by the Idempotency-Key (the documented window)"
    )


async def test_follower_reconnecting_with_its_offset_sees_the_exact_text(
    dev_env, fake, fake_server, task_queue
):
    fake.configure(tokens=300, tokens_per_second=60)
    address = address_of(dev_env)
    with worker_process(address, task_queue, fake_server.base_url) as first:
        handle = await _start(dev_env, task_queue)
        seen, offset = "", 0
        async for piece in follow(handle, wait_seconds=5):  # first follower, then it "crashes"
            seen += piece.text
            offset = piece.next_offset
            if offset >= 100:
                break
        first.kill()  # the worker dies too while nobody follows
        second = await asyncio.to_thread(
            worker_process(address, task_queue, fake_server.base_url).start
        )
        try:
            again = dev_env.client.get_workflow_handle_for(StreamingResponseWorkflow.run, handle.id)
            async for piece in follow(again, offset, wait_seconds=5):  # reconnect at the offset
                assert piece.offset == offset
                seen += piece.text
                offset = piece.next_offset
            result = await handle.result()
        finally:
            second.kill()
    assert seen == result.output_text == fake.response(result.response_id).text


async def test_expired_stream_falls_back_to_polling(dev_env, fake, activities, task_queue):
    """The one connection is cut after the provider stopped replaying: polling does the rest."""
    fake.configure(tokens=300, tokens_per_second=100, stream_retention_seconds=0.4)
    fake.add_fault(route="create", kind="cut", after_events=80, times=1)
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        handle = await _start(dev_env, task_queue, ResponseRequest(input="x"))
        result = await handle.result()
    record = fake.response(result.response_id)
    assert result.output_text == record.text
    assert result.polls >= 1 and record.counts["retrieves"] >= 1
    assert _created_for(fake, handle.id) == 1


async def test_cancel_mid_stream_cancels_the_response(dev_env, fake, activities, task_queue):
    fake.configure(tokens=5000, tokens_per_second=100)
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        handle = await _start(dev_env, task_queue)
        async for piece in follow(handle, wait_seconds=5):
            if piece.next_offset > 50:
                break
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as err:
            await handle.result()
    assert isinstance(err.value.cause, CancelledError)
    records = fake.responses()
    assert [r.status for r in records] == ["cancelled"]


CUT_ONCE = {"route": "create", "kind": "cut", "after_events": 40, "times": 1}


@pytest.mark.parametrize(
    "rules",
    [
        [{"route": "stream", "kind": "cut", "after_events": 40}],  # every stream is cut
        # The one connection is cut; reattaching then meets errors.
        [CUT_ONCE, {"route": "stream", "kind": "error", "status": 500, "times": 2}],
        [
            CUT_ONCE,
            {"route": "stream", "kind": "error", "status": 429, "retry_after": 0.3, "times": 2},
        ],
        [CUT_ONCE, {"route": "stream", "kind": "reset", "times": 2}],
        # Cut right after `response.created`: the id is known, nothing else. (A cut before it
        # is the documented create window: a second response, as after a reset.)
        [{"route": "create", "kind": "cut", "after_events": 1, "times": 1}],
    ],
    ids=["cut-every-stream", "500-on-resume", "429-on-resume", "reset-on-resume", "cut-at-create"],
)
async def test_stream_faults_resume_from_the_recorded_cursor(
    dev_env, fake, activities, task_queue, rules
):
    fake.configure(tokens=300, tokens_per_second=150)
    for rule in rules:
        fake.add_fault(**rule)
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        handle = await _start(dev_env, task_queue)
        result = await asyncio.wait_for(handle.result(), timeout=60)
    record = fake.response(result.response_id)
    assert result.output_text == record.text == record.planned_text
    assert _created_for(fake, handle.id) == 1
    assert result.resumes >= 1 and fake.counts()["faults_fired"] >= 1


async def test_frozen_worker_times_out_and_its_late_results_are_ignored(
    dev_env, fake, fake_server, task_queue
):
    """SIGSTOP: the worker stops heartbeating (a heartbeat timeout), another worker resumes;
    when the frozen one wakes up, its stale completion must not add text."""
    fake.configure(tokens=300, tokens_per_second=60)
    address = address_of(dev_env)
    with worker_process(address, task_queue, fake_server.base_url) as frozen:
        # A stopped process keeps its long-polls open and swallows tasks until they time out:
        # a short workflow task timeout keeps this test quick (the default is 10 s).
        handle = await dev_env.client.start_workflow(
            StreamingResponseWorkflow.run,
            ResponseRequest(input="frozen"),
            id=f"frozen-{uuid.uuid4()}",
            task_queue=task_queue,
            task_timeout=timedelta(seconds=2),
        )
        async for piece in follow(handle, wait_seconds=5):
            if piece.next_offset > 80:
                break
        frozen.signal(signal.SIGSTOP)
        with worker_process(address, task_queue, fake_server.base_url):
            result = await asyncio.wait_for(handle.result(), timeout=60)
            frozen.signal(signal.SIGCONT)
            await asyncio.sleep(1.0)
    record = fake.response(result.response_id)
    assert result.output_text == record.text
    events = (await handle.fetch_history()).events
    timeouts = [e for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT]
    assert timeouts or result.resumes >= 1
    assert _created_for(fake, handle.id) == 1


@pytest.mark.parametrize(
    ("code", "expect"),
    [("context_length_exceeded", ErrorType.BAD_REQUEST), ("server_error", None)],
)
async def test_an_error_event_fails_typed_unless_a_retry_can_help(
    dev_env, fake, activities, task_queue, code, expect
):
    # Users report the API ending a stream with an `error` event (`context_length_exceeded`
    # at sequence 2). A request error comes back on every reattach: fail typed, at once, and
    # cancel the response. A server error may not: reattach and read on.
    fake.configure(tokens=300, tokens_per_second=150)
    fake.add_fault(
        route="stream", kind="error_event", code=code, after_events=2, times=None if expect else 1
    )
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        handle = await _start(dev_env, task_queue)
        if expect is None:
            result = await asyncio.wait_for(handle.result(), timeout=30)
            assert result.output_text == fake.response(result.response_id).text
            assert _created_for(fake, handle.id) == 1
            return
        with pytest.raises(WorkflowFailureError) as raised:
            await asyncio.wait_for(handle.result(), timeout=30)
    cause = raised.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == expect, cause
    assert code in str(cause.details) and cause.non_retryable
    records = [r for r in fake.responses() if r.metadata.get("temporal_workflow_id") == handle.id]
    assert [r.status for r in records] == ["cancelled"]


async def test_sigterm_hands_the_stream_over_gracefully(dev_env, fake, fake_server, task_queue):
    fake.configure(tokens=400, tokens_per_second=60)
    address = address_of(dev_env)
    leaving = await asyncio.to_thread(
        worker_process(address, task_queue, fake_server.base_url).start
    )
    handle = await _start(dev_env, task_queue)
    async for piece in follow(handle, wait_seconds=5):
        if piece.next_offset > 80:
            break
    staying = await asyncio.to_thread(
        worker_process(address, task_queue, fake_server.base_url).start
    )
    try:
        code = await asyncio.to_thread(leaving.terminate)
        assert code == 0, leaving.output()
        result = await asyncio.wait_for(handle.result(), timeout=60)
    finally:
        leaving.kill()
        staying.kill()
    assert result.output_text == fake.response(result.response_id).text
    events = (await handle.fetch_history()).events
    kinds = [e.event_type for e in events]
    # handed over, not lost: no timeout, no failed attempt; the next attempt attached once
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT not in kinds
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED not in kinds
    assert result.resumes == 1
    assert fake.response(result.response_id).counts["stream_opens"] == 2
    assert "worker stopped" in leaving.output()


async def test_follow_command_prints_the_text_from_an_offset(dev_env, fake, activities, task_queue):
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        handle = await _start(dev_env, task_queue)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "durable_responses.follow",
            handle.id,
            "--from",
            "25",
            "--address",
            address_of(dev_env),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
        result = await handle.result()
    assert proc.returncode == 0, err.decode()
    assert out.decode() == result.output_text[25:]
    assert "resume with --from" in err.decode()


async def test_text_after_an_offset_past_the_text_is_rejected(
    dev_env, fake, activities, task_queue
):
    fake.configure(tokens=2000, tokens_per_second=100)
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        handle = await _start(dev_env, task_queue)

        async def recorded() -> bool:  # past the first chunk's create (see test_orphans.py)
            progress = await handle.query(StreamingResponseWorkflow.progress)
            return progress.response_id is not None

        await wait_until(recorded)
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await handle.execute_update(
                "text_after", TextRequest(offset=10**9, wait_seconds=0), result_type=TextSlice
            )
        await handle.cancel()
        with pytest.raises(WorkflowFailureError):  # cancelled, and the response with it
            await handle.result()
    cause = err.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == ErrorType.INVALID_REQUEST
    assert "past the text" in cause.message
    kinds = [e.event_type for e in (await handle.fetch_history()).events]
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED not in kinds  # rejected
