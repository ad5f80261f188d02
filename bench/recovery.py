"""Measure how fast a stream moves to another worker after SIGKILL and after SIGTERM.

Two `python worker.py` processes poll the task queue; a long streaming response runs; the
worker holding the stream reader is signalled; we time until the other worker has started
the reader ("picked up") and until a follower (`RunHandle.follow`: recorded text plus the
reader's tail) sees its text grow again ("text flowing").

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
from durable_responses.run import RunHandle, reader_activity
from durable_responses.testing import WorkerProcess, dev_server


async def _holder(run: RunHandle) -> str | None:
    reader = reader_activity(await run.describe())
    return None if reader is None else str(reader.last_worker_identity)


async def trial(
    env, task_queue: str, workers: list[WorkerProcess], sig: int
) -> tuple[float, float]:
    run = await RunHandle.start(
        env.client,
        ResponseRequest(input=f"recovery {uuid.uuid4()}"),
        id=f"recovery-{uuid.uuid4()}",
        stream=True,
        task_queue=task_queue,
    )
    growth: list[tuple[float, int]] = []  # (when, offset) as a follower saw it

    async def watch() -> None:
        async for piece in run.follow(poll_seconds=0.05):
            growth.append((time.monotonic(), piece.next_offset))

    follower = asyncio.create_task(watch())
    async with asyncio.timeout(30):  # let it stream a few seconds, batches grown
        while not growth or growth[-1][1] < 400:
            await asyncio.sleep(0.05)
        while (holder := await _holder(run)) is None:
            await asyncio.sleep(0.01)
    victim = next(w for w in workers if holder.startswith(f"{w.pid}@"))
    length = growth[-1][1]
    started = time.monotonic()
    if sig == signal.SIGTERM:
        stopping = asyncio.create_task(asyncio.to_thread(victim.terminate))
    else:
        victim.kill()
    picked = flowing = None
    async with asyncio.timeout(60):
        while picked is None or flowing is None:
            holder = await _holder(run)
            if picked is None and holder and not holder.startswith(f"{victim.pid}@"):
                picked = time.monotonic() - started
            later = [when for when, offset in growth if when > started and offset > length]
            if flowing is None and later:
                flowing = later[0] - started
            await asyncio.sleep(0.02)
    if sig == signal.SIGTERM:
        await stopping
    follower.cancel()
    await run.workflow.terminate()
    workers.remove(victim)
    victim.close()  # its log too: a bench leaves nothing in the temp folder
    workers.append(
        await asyncio.to_thread(WorkerProcess(victim.address, task_queue, env=victim.env).start)
    )
    return picked, flowing


async def main(trials: int) -> None:
    # 20 tokens/s: a long response, read and batched when the signal lands
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
                    worker.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--trials", type=int, default=3)
    asyncio.run(main(parser.parse_args().trials))
