"""A run's answer while it runs: its event stream (`text/event-stream`), or a wait for its
end, each reading the run again every `POLL_SECONDS` only while its client is there."""

from __future__ import annotations

import asyncio
import json
import logging
import time

from aiohttp import web
from temporalio.service import RPCError

from . import runs
from .events import EventLog
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
    reader: runs.RunReader,
    *,
    starting_after: int,
    keepalive_seconds: float = KEEPALIVE_SECONDS,
) -> web.StreamResponse:
    """The run's events after `starting_after`, live to its end (`events.py`): each tick
    builds only the events the run added since the last."""
    answer = web.StreamResponse(
        headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
    )
    await answer.prepare(request)
    sent = starting_after + 1
    event_log = EventLog()
    retry = f"retry: {RECONNECT_MS}\n"  # with the first event: a frame of its own is no event
    keepalive = keepalive_seconds
    written = time.monotonic()
    try:
        run = reader.run
        while True:
            for event in event_log.new(run):
                if event["sequence_number"] < sent:
                    continue  # sent before the client reconnected
                frame = json.dumps(event, ensure_ascii=False)
                await answer.write(
                    f"{retry}event: {event['type']}\nid: {event['sequence_number']}\n"
                    f"data: {frame}\n\n".encode()
                )
                retry = ""
                written = time.monotonic()
            if run.terminal:
                break
            await asyncio.sleep(POLL_SECONDS)
            # A read can take long (a query waits for a worker, and none may run): the
            # comment line goes out meanwhile, and a client gone stops the read.
            refreshing = asyncio.ensure_future(reader.refresh())
            try:
                while not refreshing.done():
                    if gone(request):
                        return answer  # the client left: no more reads; the run goes on
                    if time.monotonic() - written >= keepalive:
                        # A comment line and no blank line: a blank line would end an
                        # event, and the Python SDK, having seen an `id:`, decodes that
                        # empty event as JSON and raises.
                        await answer.write(b": keepalive\n")
                        written = time.monotonic()
                    await asyncio.wait({refreshing}, timeout=min(POLL_SECONDS, keepalive))
                run = refreshing.result()
            finally:
                refreshing.cancel()  # nothing when done
        await answer.write_eof()
    except (ConnectionError, RuntimeError):
        pass  # the client left; the run goes on
    except RPCError as err:  # Temporal unreachable mid-stream: the client resumes after the last
        log.warning("stream of %s cut: Temporal answered %s", reader.run.response_id, err)
    return answer
