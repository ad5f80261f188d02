"""`bench.gateway --followers N`: N streams following one long run, and the gateway's CPU per
follower and per tick as the run grows.

One run writes "30 minutes" of answer: `--run-tokens` (60,000: half an hour at ~33 tok/s, a
deep-research answer's pace) at the rate that fits them into `--run-seconds` of wall time (the
fake's generation rate is the duration scale). N clients follow it with
`GET /v1/responses/{id}?stream=true` from its start to its end. Every `WINDOW` seconds the bench
samples the gateway's CPU and the followers' received text: a gateway whose work per tick is
what is new keeps a flat CPU per tick as the text grows; one that rebuilds the run's events
each tick grows with it. The gateway's own Temporal calls (its client's `temporal_request`
metric, scraped from its metrics port) give the `view` queries and describes per tick: a
gateway that shares one reader per run makes one of each per tick, whatever N.

`--gateway-code DIR` runs the gateway from another checkout (e.g. `git archive main` unpacked
in DIR) under the same bench, worker and fake, for old-vs-new figures in one session.
"""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench._process import cpu_seconds, fake_process
from durable_responses.gateway import hash_key
from durable_responses.gateway.streams import POLL_SECONDS
from durable_responses.testing import GatewayProcess, WorkerProcess, dev_server
from tests.workers import address_of, free_port

KEY = "bench-followers-key"
WINDOW = 5.0
"""Seconds between the CPU samples."""

_SHIM = """\
import importlib.machinery
import sys


class _Other:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name == "durable_responses":
            return importlib.machinery.PathFinder.find_spec(name, [{code!r}])
        return None


sys.meta_path.insert(0, _Other)
"""
"""A `sitecustomize` that imports `durable_responses` from another checkout, ahead of the
editable install's finder and of the working directory that `python -m` puts first."""


def code_from(gateway_code: str | None, shim: str) -> dict[str, str]:
    """The environment of a gateway that runs `gateway_code`'s `durable_responses` (none:
    this checkout's), its `sitecustomize` written in the directory `shim`."""
    if not gateway_code:
        return {}
    code = str(Path(gateway_code).resolve())
    Path(shim, "sitecustomize.py").write_text(_SHIM.format(code=code))
    return {"PYTHONPATH": shim}


@dataclass
class Follower:
    chars: int = 0
    events: int = 0
    done: bool = False
    first_at: float | None = None


@dataclass
class Window:
    at: float
    gateway_cpu: float
    chars: int
    streams: int


@dataclass
class Result:
    windows: list[Window] = field(default_factory=list)
    followers: list[Follower] = field(default_factory=list)
    wall: float = 0.0
    cpu: float = 0.0
    calls: dict[str, float] = field(default_factory=dict)
    """The gateway's Temporal calls over the run, by operation."""


_REQUEST = re.compile(r'^temporal_request\{[^}]*operation="(\w+)"[^}]*\} (\S+)$', re.M)


async def _calls(http: aiohttp.ClientSession, metrics_url: str) -> dict[str, float]:
    """The gateway's Temporal calls so far, by operation (its client's own counter)."""
    async with http.get(metrics_url) as answer:
        text = await answer.text()
    calls: dict[str, float] = {}
    for operation, value in _REQUEST.findall(text):
        calls[operation] = calls.get(operation, 0.0) + float(value)
    return calls


async def _follow(http: aiohttp.ClientSession, base: str, response_id: str, me: Follower) -> None:
    url = f"{base}/responses/{response_id}?stream=true"
    async with http.get(url, headers={"Authorization": f"Bearer {KEY}"}) as answer:
        answer.raise_for_status()
        async for line in answer.content:
            if not line.startswith(b"data:"):
                continue
            event = json.loads(line[5:])
            me.events += 1
            if event["type"] == "response.output_text.delta":
                me.chars += len(event["delta"])
                me.first_at = me.first_at or time.monotonic()
            if event["type"] in ("response.completed", "response.failed", "response.incomplete"):
                me.done = True
                return


async def _run(
    http: aiohttp.ClientSession,
    base: str,
    gateway_pid: int,
    metrics_url: str,
    followers: int,
    tokens: int,
    rate: float,
) -> Result:
    body = {
        "model": "gpt-4.1",
        "input": f"Bench followers {uuid.uuid4()}",
        "background": True,
        "metadata": {"fake_tokens": str(tokens), "fake_tokens_per_second": f"{rate:g}"},
    }
    # A streamed run (the followers read its recording), created in background: its creator
    # does not follow it.
    body["stream"] = True
    async with http.post(
        f"{base}/responses", json=body, headers={"Authorization": f"Bearer {KEY}"}
    ) as answer:
        answer.raise_for_status()
        async for line in answer.content:
            if line.startswith(b"data:"):
                response_id = json.loads(line[5:])["response"]["id"]
                break
    result = Result(followers=[Follower() for _ in range(followers)])
    began = time.monotonic()
    cpu0 = cpu_seconds(gateway_pid)
    calls0 = await _calls(http, metrics_url)
    tasks = [asyncio.create_task(_follow(http, base, response_id, f)) for f in result.followers]
    last = cpu0
    while not all(task.done() for task in tasks):
        await asyncio.wait(tasks, timeout=WINDOW)
        now = cpu_seconds(gateway_pid)
        open_streams = sum(not task.done() for task in tasks)
        chars = max(f.chars for f in result.followers)
        result.windows.append(Window(time.monotonic() - began, now - last, chars, open_streams))
        last = now
    for task in tasks:
        task.result()  # a follower's failure fails the bench
    result.wall = time.monotonic() - began
    result.cpu = cpu_seconds(gateway_pid) - cpu0
    calls = await _calls(http, metrics_url)
    result.calls = {name: n - calls0.get(name, 0.0) for name, n in calls.items()}
    return result


async def main(
    followers: int,
    tokens: int,
    seconds: float,
    processes: int = 1,
    gateway_code: str | None = None,
) -> None:
    rate = tokens / seconds
    fake_port = free_port()
    fake_proc = fake_process(fake_port, "--queued-seconds", "0.3", "--reasoning", "off")
    direct = f"http://127.0.0.1:{fake_port}/v1"
    metrics_port = free_port()
    gateway_env = {"DURABLE_RESPONSES_GATEWAY_METRICS_PORT": str(metrics_port)}
    shim = tempfile.TemporaryDirectory(prefix="bench-gateway-code-")
    gateway_env.update(code_from(gateway_code, shim.name))
    try:
        async with dev_server(port=None, ui_port=None, db=None) as env:
            address = address_of(env)
            task_queue = f"bench-followers-{uuid.uuid4()}"
            env_vars = {"OPENAI_BASE_URL": direct, "OPENAI_API_KEY": "sk-bench"}
            with (
                WorkerProcess(
                    address, task_queue, env=env_vars, args=["--processes", str(processes)]
                ) as worker,
                GatewayProcess(
                    address,
                    task_queue,
                    port=free_port(),
                    keys=f"bench:{hash_key(KEY)}",
                    env=gateway_env,
                ) as gateway,
            ):
                connector = aiohttp.TCPConnector(limit=0)
                async with aiohttp.ClientSession(connector=connector) as http:
                    while processes > 1 and "worker processes polling" not in worker.output():
                        await asyncio.sleep(0.1)
                    idle0, idle_at = cpu_seconds(gateway.pid or 0), time.monotonic()
                    await asyncio.sleep(2)
                    idle = (cpu_seconds(gateway.pid or 0) - idle0) / (time.monotonic() - idle_at)
                    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
                    result = await _run(
                        http, gateway.url, gateway.pid or 0, metrics_url, followers, tokens, rate
                    )
    finally:
        fake_proc.kill()
        shim.cleanup()
    _print(result, followers, tokens, seconds, idle, gateway_code)


def _print(
    result: Result,
    followers: int,
    tokens: int,
    seconds: float,
    idle: float,
    gateway_code: str | None,
) -> None:
    chars = max(f.chars for f in result.followers)
    print(
        f"\n{followers} followers of one run of {tokens} tokens ({chars} characters) written in "
        f"{seconds:g} s; gateway from {gateway_code or 'this checkout'}; idle gateway "
        f"{idle * 1000:.0f} ms CPU/s\n"
    )
    print("| window end (s) | text so far (chars) | open streams | gateway CPU (cores) "
          "| CPU per follower per tick |")  # fmt: skip
    print("|---|---|---|---|---|")
    previous, following = 0.0, followers
    for window in result.windows:
        span = window.at - previous
        ticks = max(following, 1) * span / POLL_SECONDS  # the streams open as it began
        previous, following = window.at, window.streams
        print(
            f"| {window.at:.0f} | {window.chars} | {window.streams} | "
            f"{window.gateway_cpu / span:.2f} | {window.gateway_cpu / ticks * 1000:.2f} ms |"
        )
    ticks = followers * result.wall / POLL_SECONDS
    print(
        f"\nWhole run: {result.wall:.1f} s wall, gateway {result.cpu:.1f} s CPU: "
        f"{result.cpu / followers * 1000:.0f} ms per follower, "
        f"{result.cpu / ticks * 1000:.2f} ms per follower per tick ({POLL_SECONDS:g} s ticks)"
    )
    run_ticks = result.wall / POLL_SECONDS
    queries = result.calls.get("QueryWorkflow", 0.0)
    describes = result.calls.get("DescribeWorkflowExecution", 0.0)
    print(
        f"Gateway's Temporal calls: {queries:.0f} queries, {describes:.0f} describes over "
        f"{run_ticks:.0f} ticks: {queries / run_ticks:.2f} queries and "
        f"{describes / run_ticks:.2f} describes per tick"
    )
