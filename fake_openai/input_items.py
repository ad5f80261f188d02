"""`GET /v1/responses/{id}/input_items`: what a response was asked, as the API lists it."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from aiohttp import web

from .errors import APIErrorResponse, invalid_type, invalid_value

_PREFIXES = {"message": "msg", "function_call": "fc", "function_call_output": "fco"}
_WITH_STATUS = frozenset({"message", "function_call", "function_call_output"})


def input_items(response_id: str, given: Any) -> list[dict[str, Any]]:
    """The input as items, oldest first: a string is one user message; each item gets an id
    (the same at every read) and the status and content list the API adds."""
    raw: list[Any] = (
        [{"type": "message", "role": "user", "content": given}]
        if isinstance(given, str)
        else list(given or [])
    )
    items = []
    for n, entry in enumerate(raw):
        item = copy.deepcopy(entry)
        kind = item.setdefault("type", "message")
        if "id" not in item:
            digest = hashlib.sha256(f"{response_id}/{n}".encode()).hexdigest()[:48]
            item["id"] = f"{_PREFIXES.get(kind, kind.split('_')[0])}_{digest}"
        if kind in _WITH_STATUS:
            item.setdefault("status", "completed")
        if kind == "message" and isinstance(item.get("content"), str):
            part = "output_text" if item.get("role") == "assistant" else "input_text"
            text = {"type": part, "text": item["content"]}
            item["content"] = [
                {**text, "annotations": [], "logprobs": []} if part == "output_text" else text
            ]
        items.append(item)
    return items


def page(items: list[dict[str, Any]], query: Any) -> dict[str, Any]:
    """One page of `items` for the query's `limit` (1-100, 20), `order` (`desc`) and `after`."""
    raw_limit = query.get("limit", "20")
    try:
        limit = int(raw_limit)
    except ValueError:
        raise invalid_type("limit", "an integer", raw_limit) from None
    if not 1 <= limit <= 100:
        raise APIErrorResponse(
            400,
            f"Invalid 'limit': expected a value from 1 to 100, but got {limit} instead.",
            param="limit",
            code="invalid_value",
        )
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise invalid_value("order", order, ["asc", "desc"])
    listed = items[::-1] if order == "desc" else list(items)
    after = query.get("after")
    if after is not None:
        at = next((i for i, item in enumerate(listed) if item["id"] == after), len(listed))
        listed = listed[at + 1 :]
    data = listed[:limit]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": len(listed) > limit,
    }


def answer(response_id: str, given: Any, query: Any) -> web.Response:
    return web.json_response(page(input_items(response_id, given), query))
