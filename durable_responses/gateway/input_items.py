"""`GET /v1/responses/{id}/input_items`: what a run was asked, as OpenAI lists it (its
`ResponseItemList`: every item with an id, and the status and content list the API adds)."""

from __future__ import annotations

import copy
from typing import Any

_PREFIXES = {"message": "msg", "function_call": "fc", "function_call_output": "fco"}
_WITH_STATUS = frozenset({"message", "function_call", "function_call_output"})


def listed(response_id: str, given: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The run's input as items, oldest first; ids made up from the response id (the same at
    every read) where the client gave none."""
    raw = (
        [{"type": "message", "role": "user", "content": given}] if isinstance(given, str) else given
    )
    items = []
    for n, entry in enumerate(raw):
        item = copy.deepcopy(entry)
        kind = str(item.setdefault("type", "message"))
        item.setdefault(
            "id", f"{_PREFIXES.get(kind, kind.split('_')[0])}_{response_id[5:29]}{n:04d}"
        )
        if kind in _WITH_STATUS:
            item.setdefault("status", "completed")
        if kind == "message" and isinstance(item.get("content"), str):
            text = item["content"]
            item["content"] = [
                {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
                if item.get("role") == "assistant"
                else {"type": "input_text", "text": text}
            ]
        items.append(item)
    return items


def page(
    items: list[dict[str, Any]], *, limit: int, order: str, after: str | None
) -> dict[str, Any]:
    """One page of `items` (oldest first) in `order`, after the item `after`."""
    ordered = items[::-1] if order == "desc" else list(items)
    if after is not None:
        at = next((i for i, item in enumerate(ordered) if item["id"] == after), len(ordered))
        ordered = ordered[at + 1 :]
    data = ordered[:limit]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": len(ordered) > limit,
    }
