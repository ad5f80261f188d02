"""The gateway with the official TypeScript `openai` SDK in front, under Node: a stream dropped
after the provider's replay window closed and resumed with `starting_after`, as
tests/test_gateway_crashes.py does with the Python SDK. A second SDK because each parses the
events and builds the requests (query strings, headers, aborts) its own way.

tests/node pins `openai` 7.x, which declares Node >= 22; it runs under Node 20 all the same
(`npm ci` warns EBADENGINE)."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import openai
import pytest

from durable_responses.fake_openai import FakeControl
from tests.gateways import (
    KEY,
    Stack,
    assert_same_as_provider,
    gateway_stack,
    gateway_upstream,
    valid_events,
)

NODE_DIR = Path(__file__).parent / "node"
SCRIPT = NODE_DIR / "resume_stream.mjs"
CREATE = NODE_DIR / "create.mjs"
LOCKFILE = NODE_DIR / "package-lock.json"

RETENTION = 2.0
"""The fake's stream replay window, scaled down from OpenAI's five minutes."""

NODE_TIMEOUT = 60.0
"""Seconds one run of the script may take (the whole stream is about ten)."""

NPM_CI_FLAGS = ("--no-audit", "--no-fund", "--fetch-retries=1", "--fetch-timeout=30000")
"""Bounded: npm's defaults try three times, each up to five minutes on a black-holed network."""

UNREACHABLE = re.compile(
    r"npm error (network|code (ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT"
    r"|ENETUNREACH|EHOSTUNREACH|ERR_SOCKET_TIMEOUT))"
)
"""How `npm ci` says it could not reach the registry (rather than that the lock is wrong)."""


def _installed() -> bool:
    """Whether tests/node/node_modules holds the `openai` version the lock pins."""
    package = NODE_DIR / "node_modules" / "openai" / "package.json"
    if not package.exists():
        return False
    pinned = json.loads(LOCKFILE.read_text())["packages"]["node_modules/openai"]["version"]
    return bool(json.loads(package.read_text())["version"] == pinned)


@pytest.fixture(scope="session")
def node() -> str:
    """`node`, with the locked `openai` package installed once, whichever xdist worker asks
    first: the others wait on a lock of the lockfile, then find it installed."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("the Node SDK test needs `node` and `npm` on PATH")
    with LOCKFILE.open() as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not _installed():
            done = subprocess.run(
                [npm, "ci", "--prefix", str(NODE_DIR), *NPM_CI_FLAGS],
                capture_output=True,
                text=True,
                timeout=240,
                check=False,
            )
            unreachable = UNREACHABLE.search(done.stderr) if done.returncode else None
            if unreachable:
                pytest.skip(f"`npm ci` cannot reach the npm registry ({unreachable[0]})")
            assert done.returncode == 0, f"`npm ci` failed:\n{done.stderr}"
    return node


@pytest.fixture
async def stack(dev_env, fake_server, task_queue) -> AsyncIterator[Stack]:
    async with gateway_stack(dev_env, fake_server.base_url, task_queue) as running:
        yield running


async def _node_events(
    node: str, stack: Stack, *args: str, script: Path = SCRIPT
) -> list[dict[str, Any]]:
    """Run resume_stream.mjs (or `script`); the JSON lines it printed: the events the Node
    SDK yielded, as the gateway sent them."""
    process = await asyncio.create_subprocess_exec(
        node,
        str(script),
        *args,
        env={**os.environ, "GATEWAY_URL": stack.url, "GATEWAY_KEY": KEY},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), NODE_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode == 0, f"node {' '.join(args)} failed:\n{err.decode()}"
    return [json.loads(line) for line in out.decode().splitlines()]


def _only_upstream(fake: FakeControl) -> Any:
    (upstream,) = gateway_upstream(fake)  # one create, however many streams were opened
    return upstream


async def test_the_node_sdk_resumes_a_stream_after_the_providers_replay_window_has_closed(
    node, stack, fake, openai_async
):
    fake.configure(
        tokens=900, tokens_per_second=100, stream_retention_seconds=RETENTION
    )  # a run three windows long and more
    started = time.monotonic()
    # Dropped at the first delta 1.5 windows after the script's create: half a window for the
    # gateway to make the upstream one.
    *first, dropped = await _node_events(node, stack, "create", str(RETENTION * 1.5))
    assert first[-1]["type"].endswith(".delta")  # dropped mid-stream, not at the end
    after = first[-1]["sequence_number"]
    response_id = first[0]["response"]["id"]
    upstream = _only_upstream(fake)
    assert upstream.status == "in_progress"
    # The provider's window had closed when event N arrived.
    assert dropped["dropped_at"] - upstream.accepted_at > RETENTION
    # The provider itself would not resume it now.
    with pytest.raises(openai.BadRequestError, match="can no longer be streamed"):
        async for _ in await openai_async.responses.retrieve(
            upstream.id, stream=True, starting_after=after
        ):
            pass
    resumed = await _node_events(node, stack, "retrieve", response_id, str(after))
    assert time.monotonic() - started > 3 * RETENTION
    whole = valid_events(await _node_events(node, stack, "retrieve", response_id))
    assert valid_events(first + resumed) == whole  # each event once, in order
    # text and every item, as the provider made them (not only the text)
    assert_same_as_provider(whole, fake.response(_only_upstream(fake).id, events=False))
    assert whole[-1]["type"] == "response.completed"


@pytest.mark.parametrize("stream", [False, True], ids=["background", "stream"])
async def test_the_node_sdk_raises_its_usual_errors_for_a_create_the_provider_refuses(
    node, stack, fake, stream
):
    base = {"input": "Refused, from Node.", "background": True, "stream": stream}
    cases = [
        ({"model": "gpt-9-nonexistent"}, ("NotFoundError", 404, "model_not_found", None)),
        (
            {"model": "gpt-4.1", "tools": [{"type": "function"}]},
            ("BadRequestError", 400, "missing_required_parameter", "tools[0].name"),
        ),
    ]
    for body, (error, status, code, param) in cases:
        (answer,) = await _node_events(node, stack, json.dumps({**base, **body}), script=CREATE)
        assert answer == {"error": error, "status": status, "code": code, "param": param}
    # Nothing running: the provider made no response, and no run waits for one.
    assert [r.status for r in fake.responses()] == []
    (answer,) = await _node_events(node, stack, json.dumps({**base, "model": "o3"}), script=CREATE)
    assert answer["status"] == ("completed" if stream else "queued")
