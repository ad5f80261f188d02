"""A crowd of followers on one stream, through a worker SIGKILL and the Temporal frontend out of
reach as the run ends: none of them may fail while the run is healthy, and each ends with the
provider's exact text."""

from __future__ import annotations

import asyncio
import uuid

from temporalio.client import Client

from durable_responses.follow import follow
from durable_responses.models import ResponseRequest
from durable_responses.workflows import StreamingResponseWorkflow
from tests.tcp_proxy import TcpProxy
from tests.workers import address_of, wait_until, worker_process

FOLLOWERS = 24
OUTAGE_SECONDS = 11.0
"""A frontend restart or a partition, longer than the SDK's own retries of one call (10 s)."""


async def _holder(handle) -> str | None:
    for pending in (await handle.describe()).raw_description.pending_activities:
        if pending.activity_type.name == "stream_background_response" and pending.state == 2:
            return str(pending.last_worker_identity)
    return None


async def test_two_dozen_followers_through_a_sigkill_and_an_outage_end_with_the_exact_text(
    dev_env, fake, fake_server, task_queue
):
    fake.configure(tokens=420, tokens_per_second=35)  # a 12 s stream
    address = address_of(dev_env)

    def spawn():
        return worker_process(address, task_queue, fake_server.base_url).start()

    workers = list(await asyncio.gather(asyncio.to_thread(spawn), asyncio.to_thread(spawn)))
    async with TcpProxy(address) as proxy:
        # The followers reach the server through the proxy; the workers directly.
        followers = await Client.connect(
            proxy.address, data_converter=dev_env.client.data_converter
        )
        try:
            started = await dev_env.client.start_workflow(
                StreamingResponseWorkflow.run,
                ResponseRequest(input=f"A crowded stream ({uuid.uuid4()})."),
                id=f"crowd-{uuid.uuid4()}",
                task_queue=task_queue,
            )
            handle = followers.get_workflow_handle_for(StreamingResponseWorkflow.run, started.id)
            outages: list[asyncio.Task[None]] = []

            async def watch() -> str:
                text = ""
                async for piece in follow(handle, poll_seconds=0.2):
                    assert piece.offset == len(text), "a gap or a repeat"
                    text += piece.text
                    if piece.done and not outages:
                        # The run ends: the server goes out of reach just as followers ask
                        # for the result.
                        outages.append(asyncio.create_task(proxy.outage(OUTAGE_SECONDS)))
                return text

            watchers = [asyncio.create_task(watch()) for _ in range(FOLLOWERS)]

            async def reading() -> bool:
                return await _holder(started) is not None

            await wait_until(reading, timeout=60)
            await asyncio.sleep(3)
            holder = await _holder(started)
            (victim,) = [w for w in workers if holder and holder.startswith(f"{w.pid}@")]
            victim.kill()
            workers.remove(victim)
            workers.append(await asyncio.to_thread(spawn))
            outcomes = await asyncio.wait_for(
                asyncio.gather(*watchers, return_exceptions=True), timeout=120
            )
            result = await started.result()
        finally:
            for worker in workers:
                worker.kill()
    record = fake.response(result.response_id)
    assert result.output_text == record.text == record.planned_text
    failed = [repr(o) for o in outcomes if isinstance(o, BaseException)]
    assert not failed, f"{len(failed)} of {FOLLOWERS} followers raised: {failed[:3]}"
    assert all(text == record.text for text in outcomes)
    assert outages, "the run's end was never seen"
    assert result.resumes >= 1  # the kill hit the reader
