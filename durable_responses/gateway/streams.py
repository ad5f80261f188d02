"""A run's answer while it runs: its event stream (`text/event-stream`), or a wait for its
end, each reading the run again every `POLL_SECONDS` only while its client is there (the
streams of one run share their reads, `followers.py`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from aiohttp import web
from temporalio.service import RPCError

from . import runs
from .followers import Shared
from .objects import Run

log = logging.getLogger("durable_responses.gateway")

POLL_SECONDS = 0.25
"""How often a stream or a waiting request reads its run again."""
RECONNECT_MS = 500
"""What browsers are told to wait before they reconnect an event stream."""
KEEPALIVE_SECONDS = 15.0
"""Silence after which an open stream gets a `: keepalive` comment line: proxies cut idle
connections (60 s is a common timeout), and a deep-research run can stay queued for minutes."""


async def until_terminal(reader: runs.RunReader, request: web.Request | None = None) -> Run:
    """The run once closed; as it is if `request`'s client leaves first."""
    run = reader.run
    while not run.terminal:
        await asyncio.sleep(POLL_SECONDS)
        if request is not None and gone(request):
            break
        run = await reader.refresh()
    return run


def gone(request: web.Request) -> bool:
    """Whether the client has closed its connection: aiohttp does not cancel the handler, so
    a handler that only waits would go on reading Temporal for nobody."""
    transport = request.transport
    return transport is None or transport.is_closing()


async def stream(
    request: web.Request,
    shared: Shared,
    *,
    starting_after: int,
    keepalive_seconds: float = KEEPALIVE_SECONDS,
) -> web.StreamResponse:
    """The run's events after `starting_after`, live to its end (`events.py`), from the run's
    reading shared with its other streams in this process (`followers.py`)."""
    answer = web.StreamResponse(
        headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
    )
    await answer.prepare(request)
    position = starting_after + 1  # the events before it were sent before a reconnect
    retry = f"retry: {RECONNECT_MS}\n".encode()  # with the first event: alone it is no event
    keepalive = keepalive_seconds
    written = time.monotonic()
    try:
        while True:
            tick = shared.tick
            if position < len(shared.frames):
                await answer.write(retry + shared.since(position))
                position = len(shared.frames)
                retry = b""
                written = time.monotonic()
            if shared.ended:
                break
            if shared.error is not None:
                raise shared.error
            # Reads can take long (a query waits for a worker, and none may run): the comment
            # line goes out meanwhile, and a client gone leaves (the last one stops the reads).
            if gone(request):
                return answer  # the client left; the run goes on
            if time.monotonic() - written >= keepalive:
                # A comment line and no blank line: a blank line would end an event, and the
                # Python SDK, having seen an `id:`, decodes that empty event as JSON and raises.
                await answer.write(b": keepalive\n")
                written = time.monotonic()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(POLL_SECONDS, keepalive)):
                    await tick.wait()
        await answer.write_eof()
    except (ConnectionError, RuntimeError):
        pass  # the client left; the run goes on
    except RPCError as err:  # Temporal unreachable mid-stream: the client resumes after the last
        log.warning("stream of %s cut: Temporal answered %s", shared.reader.run.response_id, err)
    return answer
