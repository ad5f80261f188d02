"""Server-sent events: a job's event log replayed from a cursor, then followed live; the
stream faults (`cut`, `error_event`) end it early, as a broken connection or the API would."""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

from aiohttp import web

from .faults import FaultRule
from .jobs import ResponseJob


def drop(request: web.Request, *, reset: bool) -> None:
    transport = request.transport
    if transport is None:
        return
    if reset:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # SO_LINGER 0 makes close() send RST: a real "connection reset by peer".
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()


def _frame(event: dict[str, Any], obfuscation: bool) -> bytes:
    if not obfuscation and "obfuscation" in event:
        event = {k: v for k, v in event.items() if k != "obfuscation"}
    return f"event: {event['type']}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n".encode()


def stream_stop(rule: FaultRule | None) -> FaultRule | None:
    return rule if rule is not None and rule.kind in ("cut", "error_event") else None


def _error_event(rule: FaultRule, sequence_number: int) -> dict[str, Any]:
    return {
        "type": "error",
        "code": rule.code or "server_error",
        "message": rule.message or "The server had an error while processing your request.",
        "param": None,
        "sequence_number": sequence_number,
    }


async def stream_events(
    request: web.Request,
    job: ResponseJob,
    start: int,
    *,
    stop: FaultRule | None,
    obfuscation: bool,
) -> web.StreamResponse:
    """Replay the job's events from index `start`, then follow live until the terminal event;
    a `cut` or `error_event` rule in `stop` ends the stream early."""
    response = web.StreamResponse(
        status=200,
        headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"},
    )
    sent = 0
    try:
        # Inside the try: a client that left before the headers went out is no error either.
        await response.prepare(request)
        async for event in job.follow(start):
            if stop is not None and sent >= stop.after_events:
                if stop.kind == "error_event":
                    # As the API reports a failure mid-stream: an `error` event, then the end.
                    await response.write(_frame(_error_event(stop, start + sent), obfuscation))
                    await response.write_eof()
                    return response
                # A cut: close the TCP connection mid-body, no terminal event, no last chunk.
                drop(request, reset=False)
                return response
            await response.write(_frame(event, obfuscation))
            sent += 1
        await response.write_eof()
    except (ConnectionError, RuntimeError):
        # The client went away; the job itself never depends on a connection.
        pass
    return response
