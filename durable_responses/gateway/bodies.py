"""Request bodies read within bounds: a size cap checked before a byte is parsed, JSON
without NaN or unbounded nesting, parsed where a large body cannot stall other requests.

A body the gateway accepts becomes one workflow input, and Temporal refuses a payload over
2 MB (its default `limit.blobSize.error`): the cap leaves room for a compressing codec (a
2.2 MB prompt passes with one, README) and refuses at once what no run could carry, so a
32 MiB body is never read, let alone parsed.
"""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

from aiohttp import web

from .errors import APIError

MAX_BODY_BYTES = 3 * 1024 * 1024
"""Default cap on a create body (`--max-body-bytes`): Temporal's 2 MB plus a codec's gain."""
MAX_DEPTH = 64
"""Nesting of arrays and objects a body may have: a JSON schema of 30 levels fits."""
MAX_INPUT_ITEMS = 2048
"""Items an `input` array may hold."""
OFF_LOOP_BYTES = 64 * 1024
"""Bodies larger than this are parsed in a thread, so the loop keeps answering meanwhile."""
_READ_CHUNK = 64 * 1024


def too_large(limit: int) -> APIError:
    return APIError(
        413,
        f"Request body too large: the gateway takes at most {limit} bytes (one run's input "
        "must fit Temporal's payload limit).",
        code="request_too_large",
    )


async def read_capped(request: web.Request, limit: int) -> bytes:
    """The body, or 413 before reading it when `Content-Length` says it is over `limit`,
    and as soon as a chunked body goes over it."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(_READ_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)


async def parse_json(raw: bytes) -> Any:
    """The JSON of a body; `APIError` 400 for what the API would not parse either."""
    if len(raw) > OFF_LOOP_BYTES:
        return await asyncio.to_thread(_parse, raw)
    return _parse(raw)


def _invalid_json(detail: str) -> APIError:
    return APIError(
        400,
        f"We could not parse the JSON body of your request ({detail}). The OpenAI API "
        "expects a JSON payload.",
        code="invalid_json",
    )


def _parse(raw: bytes) -> Any:
    try:
        value = json.loads(raw, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise _invalid_json(f"nested deeper than {MAX_DEPTH} levels") from None
    except APIError:
        raise
    except ValueError as err:  # JSONDecodeError, bad UTF-8, an integer of 5000 digits
        raise _invalid_json(str(err).split(":")[0]) from None
    if _depth_over(value, MAX_DEPTH):
        raise _invalid_json(f"nested deeper than {MAX_DEPTH} levels")
    return value


def _no_constant(name: str) -> Any:
    raise _invalid_json(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _invalid_json(f"{text} is out of range")
    return value


def _depth_over(value: Any, limit: int) -> bool:
    """Whether `value` nests arrays and objects deeper than `limit` (without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
