"""The orphan rule: once a response exists upstream, every way out of a workflow but its end
cancels it there first, and the failure keeps its documented type. Real dev server, the fake
with its fault rules, long responses (3,000 tokens at 20 tok/s) so an orphan is still running
when checked."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError, CancelledError

from durable_responses.models import ErrorType, PollPolicy, ResponseRequest
from durable_responses.workflows import BackgroundResponseWorkflow, StreamingResponseWorkflow
from tests.workers import build_worker, wait_until

POLL = PollPolicy(initial_interval_seconds=0.2, backoff=1.5, max_interval_seconds=1.0)
LONG = {"tokens": 3000, "tokens_per_second": 20}


async def _start(
    env, task_queue: str, workflow=BackgroundResponseWorkflow, **request
) -> WorkflowHandle:
    return await env.client.start_workflow(
        workflow.run,
        ResponseRequest(input=f"orphan? {uuid.uuid4()}", poll=POLL, **request),
        id=f"orphan-{uuid.uuid4()}",
        task_queue=task_queue,
    )


async def _failure(handle: WorkflowHandle, timeout: float = 60) -> BaseException:
    with pytest.raises(WorkflowFailureError) as failed:
        await asyncio.wait_for(handle.result(), timeout)
    assert failed.value.cause is not None
    return failed.value.cause


def _statuses(fake) -> list[str]:
    return [record.status for record in fake.responses()]


async def test_cancel_while_the_create_is_in_flight_cancels_what_it_created(
    dev_env, fake, activities, task_queue
):
    fake.configure(**LONG)
    fake.add_fault(route="create", kind="delay", seconds=2, times=1)
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        handle = await _start(dev_env, task_queue)
        await asyncio.sleep(1.0)  # the create is in flight: the fake holds its answer back
        await handle.cancel()
        assert isinstance(await _failure(handle), CancelledError)
    assert _statuses(fake) == ["cancelled"]


async def test_a_401_after_the_create_cancels_upstream_and_keeps_its_type(
    dev_env, fake, activities, task_queue
):
    fake.configure(**LONG)
    fake.add_fault(route="retrieve", kind="error", status=401)
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        cause = await _failure(await _start(dev_env, task_queue))
    assert isinstance(cause, ApplicationError) and cause.type == ErrorType.AUTHENTICATION
    assert _statuses(fake) == ["cancelled"]


async def test_a_deadline_hit_while_retrying_a_429_with_a_long_retry_after(
    dev_env, fake, activities, task_queue
):
    fake.configure(**LONG)
    fake.add_fault(route="retrieve", kind="error", status=429, retry_after=30)
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        started = time.monotonic()
        cause = await _failure(await _start(dev_env, task_queue, deadline_seconds=8), timeout=90)
        elapsed = time.monotonic() - started
    assert isinstance(cause, ApplicationError) and cause.type == ErrorType.DEADLINE_EXCEEDED
    assert elapsed < 40, f"an 8 s deadline took {elapsed:.0f} s"
    assert _statuses(fake) == ["cancelled"]


async def test_a_deadline_hit_while_retrying_a_persistent_500_mid_stream(
    dev_env, fake, activities, task_queue
):
    fake.configure(**LONG)
    fake.add_fault(route="stream", kind="error", status=500, skip=1)
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        handle = await _start(
            dev_env, task_queue, workflow=StreamingResponseWorkflow, deadline_seconds=8
        )
        cause = await _failure(handle, timeout=90)
    assert isinstance(cause, ApplicationError) and cause.type == ErrorType.DEADLINE_EXCEEDED
    assert _statuses(fake) == ["cancelled"]


async def test_cancel_while_the_reader_creates_cancels_what_it_created(
    dev_env, fake, activities, task_queue
):
    """The provider has accepted the create but not answered: the workflow knows no id. The
    reader lets the create finish, records the id, and the workflow cancels it upstream."""
    fake.configure(**LONG)
    fake.add_fault(route="create", kind="delay", when="after", seconds=2.0, times=1)
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        handle = await _start(dev_env, task_queue, workflow=StreamingResponseWorkflow)
        await wait_until(lambda: _created(fake))
        progress = await handle.query(StreamingResponseWorkflow.progress)
        assert progress.response_id is None  # accepted upstream, not yet answered
        await handle.cancel()
        assert isinstance(await _failure(handle), CancelledError)
    assert _statuses(fake) == ["cancelled"]


async def _created(fake) -> bool:
    return bool(fake.responses())
