"""Measure how fast a stream moves to another worker after SIGKILL and after SIGTERM.

Two `python worker.py` processes poll the task queue; a long streaming response runs; the
worker holding the chunk activity is signalled; we time until the other worker has started
the chunk ("picked up") and until the recorded text grows again ("text flowing").

    python -m bench.recovery [--trials 3]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import statistics
import time
import uuid

from durable_responses.fake_openai import FakeOpenAIServer, GenerationSettings, ServerSettings
from durable_responses.models import ResponseRequest
from durable_responses.testing import WorkerProcess, dev_server
from durable_responses.workflows import StreamingResponseWorkflow


async def _holder(handle) -> str | None:
    pending = (await handle.describe()).raw_description.pending_activities
    if pending and pending[0].state == 2:  # PENDING_ACTIVITY_STATE_STARTED
        return str(pending[0].last_worker_identity)
    return None


async def trial(
    env, task_queue: str, workers: list[WorkerProcess], sig: int
) -> tuple[float, float]:
    handle = await env.client.start_workflow(
        StreamingResponseWorkflow.run,
        ResponseRequest(input=f"recovery {uuid.uuid4()}"),
        id=f"recovery-{uuid.uuid4()}",
        task_queue=task_queue,
    )
    async with asyncio.timeout(30):  # let it stream a few seconds, chunks at full size
        while (await handle.query(StreamingResponseWorkflow.current_state)).text_length < 400:
            await asyncio.sleep(0.05)
        while (holder := await _holder(handle)) is None:
            await asyncio.sleep(0.01)
    victim = next(w for w in workers if holder.startswith(f"{w.pid}@"))
    length = (await handle.query(StreamingResponseWorkflow.current_state)).text_length
    started = time.monotonic()
    if sig == signal.SIGTERM:
        await asyncio.to_thread(victim.terminate)
    else:
        victim.kill()
    picked = flowing = None
    async with asyncio.timeout(60):
        while picked is None or flowing is None:
            holder = await _holder(handle)
            if picked is None and holder and not holder.startswith(f"{victim.pid}@"):
                picked = time.monotonic() - started
            state = await handle.query(StreamingResponseWorkflow.current_state)
            if flowing is None and state.text_length > length and picked is not None:
                flowing = time.monotonic() - started
            await asyncio.sleep(0.02)
    await handle.terminate()
    workers.remove(victim)
    workers.append(
        await asyncio.to_thread(WorkerProcess(victim.address, task_queue, env=victim.env).start)
    )
    return picked, flowing


async def main(trials: int) -> None:
    # 20 tokens/s: each 5-second chunk is mid-read when the signal lands
    settings = ServerSettings(generation=GenerationSettings(tokens=5000, tokens_per_second=20))
    with FakeOpenAIServer(settings) as fake:
        async with dev_server(port=None, ui_port=None, db=None) as env:
            address = env.client.service_client.config.target_host
            task_queue = f"recovery-{uuid.uuid4()}"
            worker_env = {"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": "k"}
            workers = [
                await asyncio.to_thread(WorkerProcess(address, task_queue, env=worker_env).start)
                for _ in range(2)
            ]
            try:
                for name, sig in (("SIGKILL", signal.SIGKILL), ("SIGTERM", signal.SIGTERM)):
                    results = [await trial(env, task_queue, workers, sig) for _ in range(trials)]
                    picked = statistics.median(r[0] for r in results)
                    flowing = statistics.median(r[1] for r in results)
                    print(
                        f"{name}: picked up by the other worker after {picked:.2f}s, text "
                        f"flowing again after {flowing:.2f}s (median of {trials}; all: "
                        + ", ".join(f"{a:.2f}/{b:.2f}" for a, b in results)
                        + ")",
                        flush=True,
                    )
            finally:
                for worker in workers:
                    worker.kill()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--trials", type=int, default=3)
    asyncio.run(main(parser.parse_args().trials))
