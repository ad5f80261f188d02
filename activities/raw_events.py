"""A background stream's events as the provider's JSON, for the stream reader's hot path.

The SDK's stream validates every event into its pydantic model; at a hundred concurrent
streams that is the reader's largest cost, and a text delta needs none of it: its `delta`,
`type` and `sequence_number` are read from the JSON as is. The request still goes through
the SDK (`with_streaming_response`: its headers, retries off, status errors mapped); only the
body is read here. The events whose content is kept (a response, an output item, an error)
are built into the SDK's own models by `event_model`, so what is recorded is validated as
the SDK would have it.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import anyio
import httpx2
import openai
from openai import AsyncOpenAI
from pydantic import BaseModel, TypeAdapter, ValidationError

from .streams import StreamCall

Event = dict[str, Any]
"""One stream event, as the provider's JSON."""
M = TypeVar("M", bound=BaseModel)

_TIMEOUTS = (httpx2.TimeoutException,)
_BROKEN = (httpx2.RequestError, ssl.SSLError, anyio.EndOfStream)
"""What the SDK's own stream maps to `APIConnectionError` (`openai/_streaming.py`)."""


class RawEvents:
    """An open background stream: its events as dicts, in order, until `[DONE]` or the end.

    A cut connection raises `openai.APIConnectionError` (`APITimeoutError` after the read
    timeout), as the SDK's stream does.
    """

    def __init__(self, response: openai.AsyncAPIResponse[Any]) -> None:
        self._response = response

    async def close(self) -> None:
        await self._response.close()

    async def __aiter__(self) -> AsyncIterator[Event]:
        request = self._response.http_response.request
        pending = b""
        try:
            async for chunk in self._response.iter_bytes():
                pending = pending + chunk if pending else chunk
                if b"\r" in pending:
                    if pending.endswith(b"\r"):
                        continue  # a CRLF may be split across reads: wait for its LF
                    pending = pending.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
                while True:
                    end = pending.find(b"\n\n")
                    if end < 0:
                        break
                    block, pending = pending[:end], pending[end + 2 :]
                    event = _event_of(block)
                    if event is _DONE:
                        return
                    if event is not None:
                        yield _checked(event, request)
        except _TIMEOUTS as err:
            raise openai.APITimeoutError(request=request) from err
        except _BROKEN as err:
            raise openai.APIConnectionError(request=request) from err
        if pending.strip():
            event = _event_of(pending.rstrip(b"\n"))
            if event is not None and event is not _DONE:
                yield _checked(event, request)


_DONE: Event = {}


def _event_of(block: bytes) -> Event | None:
    """One SSE block's `data` as JSON (None for a comment or an empty block)."""
    if block.startswith(b"data: ") and b"\n" not in block:
        data = block[6:]  # the usual block: one data line, no event name
    else:
        lines = [
            line[5:].removeprefix(b" ") for line in block.split(b"\n") if line.startswith(b"data:")
        ]
        if not lines:
            return None
        data = b"\n".join(lines)
    if data.startswith(b"[DONE]"):
        return _DONE
    event = json.loads(data)
    return event if isinstance(event, dict) else None


def _checked(event: Event, request: httpx2.Request) -> Event:
    """An `error` object (not an `error` event) ends the stream as the SDK's stream ends it."""
    error = event.get("error")
    if error and event.get("type") != "error":
        message = error.get("message") if isinstance(error, dict) else None
        if not isinstance(message, str) or not message:
            message = "An error occurred during streaming"
        raise openai.APIError(message, request=request, body=error)
    return event


_ADAPTERS: dict[type[BaseModel], TypeAdapter[Any]] = {}


def event_model(data: Any, model: type[M]) -> M:
    """`data` (an event, or the response or item it carries) as the SDK's `model`, validated
    as the SDK's stream validates events, or built unvalidated if it does not pass, as the SDK
    builds what it cannot validate."""
    adapter = _ADAPTERS.get(model)
    if adapter is None:
        adapter = _ADAPTERS[model] = TypeAdapter(model)
    try:
        built: M = adapter.validate_python(data)
    except ValidationError:
        built = model.model_construct(**data)
    return built


async def open_raw_stream(client: AsyncOpenAI, call: StreamCall) -> RawEvents:
    """`call` (`streams.stream_call`) with the body left unread for `RawEvents`."""
    method, args, kwargs = call
    response = getattr(client.responses.with_streaming_response, method)(*args, **kwargs)
    return RawEvents(await response.__aenter__())
