"""Many streams of one run in one gateway process: they share one reading of the run (one
refresh per tick, at most one `view` query in it), and each gets exactly the events a single
stream gets, from its own position, whoever else comes and goes."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp

from durable_responses.gateway import Tenants, runs, start, streams
from durable_responses.gateway.app import GATEWAY
from tests.gateways import KEY, KEYS, gateway_upstream, text_of, valid_events
from tests.workers import build_worker

FOLLOWERS = 24
HEADERS = {"Authorization": f"Bearer {KEY}"}


async def _events(
    http: aiohttp.ClientSession, url: str, *, leave_after: int | None = None
) -> list[dict[str, Any]]:
    """A stream's events, its connection dropped after `leave_after` of them."""
    got: list[dict[str, Any]] = []
    async with http.get(url, headers=HEADERS) as answer:
        answer.raise_for_status()
        async for line in answer.content:
            if line.startswith(b"data:"):
                got.append(json.loads(line[5:]))
                if len(got) == leave_after:
                    answer.close()  # as a closed browser tab drops it
                    break
    return got


async def test_followers_of_one_run_share_its_reads_and_each_gets_the_single_streams_events(
    dev_env, activities, fake, task_queue, monkeypatch
):
    """24 streams of one run from its start, one that leaves early and one that joins late
    from an event of its own: all get the events a lone stream of the finished run gets, and
    the gateway reads the run once per tick for all of them (it read it once per stream)."""
    fake.configure(tokens=400, tokens_per_second=150)
    calls = {"refresh": 0, "view": 0}
    refresh, read_view = runs.RunReader.refresh, runs.RunReader._read_view

    async def counted_refresh(self: runs.RunReader) -> object:
        calls["refresh"] += 1
        return await refresh(self)

    async def counted_view(self: runs.RunReader) -> bool:
        calls["view"] += 1
        return await read_view(self)

    monkeypatch.setattr(runs.RunReader, "refresh", counted_refresh)
    monkeypatch.setattr(runs.RunReader, "_read_view", counted_view)
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        runner, url = await start(
            dev_env.client, Tenants.parse(KEYS), port=0, task_queue=task_queue
        )
        try:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
                body = {"model": "gpt-4.1", "input": "Tell it.", "background": True, "stream": True}
                creator = await http.post(f"{url}/responses", json=body, headers=HEADERS)
                async for line in creator.content:
                    if line.startswith(b"data:"):
                        response_id = json.loads(line[5:])["response"]["id"]
                        break
                began, before = time.monotonic(), dict(calls)
                stream_url = f"{url}/responses/{response_id}?stream=true"
                followers = [
                    asyncio.create_task(_events(http, stream_url)) for _ in range(FOLLOWERS)
                ]
                async with asyncio.timeout(60):
                    left = await _events(http, stream_url, leave_after=12)
                    late_after = 8
                    late = await _events(http, f"{stream_url}&starting_after={late_after}")
                    followed = await asyncio.gather(*followers)
                    elapsed = time.monotonic() - began
                    spent = {name: calls[name] - before[name] for name in calls}
                    creator.close()
                    shared = runner.app[GATEWAY].followers
                    while len(shared):  # the reading goes with its last stream
                        await asyncio.sleep(0.05)
                    whole = await _events(http, stream_url)  # the run ended: a lone stream
        finally:
            await runner.cleanup()
    valid_events(whole)
    assert whole[-1]["type"] == "response.completed"
    (upstream,) = gateway_upstream(fake)
    assert text_of(whole) == upstream.text
    for events in followed:
        assert events == whole
    assert left == whole[: len(left)]
    assert late == whole[late_after + 1 :]
    # Once per tick for all of them, however many follow (each of them read it every tick).
    ticks = elapsed / streams.POLL_SECONDS
    assert spent["refresh"] <= ticks + 4, (spent, ticks)
    assert spent["view"] <= spent["refresh"] + 2, spent
