"""Output items as the Responses API sends them, for scripts of the scripted provider.

Each function returns one item as JSON (a dict), the shape `GET /v1/responses/{id}` gives in
`output`; the SDK's `Response` model validates every one of them. Ids are made up unless given.

    from durable_responses.testing import items, reply

    reply("Zürich is sunny.", items=[items.web_search("weather Zürich")])
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from typing import Any

__all__ = [
    "code_interpreter",
    "function_call",
    "mcp_approval_request",
    "message",
    "reasoning",
    "url_citation",
    "web_search",
]

_ids = itertools.count(1)


def _id(prefix: str) -> str:
    return f"{prefix}_scripted{next(_ids):06d}"


def url_citation(url: str, title: str = "", *, start: int = 0, end: int = 0) -> dict[str, Any]:
    """A `url_citation` annotation of a message's text (`start`..`end` are character offsets)."""
    return {
        "type": "url_citation",
        "url": url,
        "title": title or url,
        "start_index": start,
        "end_index": end,
    }


def message(text: str, *, annotations: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """The assistant's answer: one `output_text` part (with citations, if any)."""
    return {
        "id": _id("msg"),
        "type": "message",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": list(annotations)}],
    }


def reasoning(summary: str = "") -> dict[str, Any]:
    """A reasoning item with its summary (empty: the model shared none)."""
    return {
        "id": _id("rs"),
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": summary}] if summary else [],
    }


def function_call(
    name: str, arguments: dict[str, Any] | str = "{}", *, call_id: str | None = None
) -> dict[str, Any]:
    """A call of one of your function tools (`activity_tool`, `function_tool`)."""
    return {
        "id": _id("fc"),
        "type": "function_call",
        "status": "completed",
        "call_id": call_id or _id("call"),
        "name": name,
        "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
    }


def web_search(query: str, *, sources: Sequence[str] = ()) -> dict[str, Any]:
    """A finished web search (the built-in `web_search` tool)."""
    action: dict[str, Any] = {"type": "search", "query": query}
    if sources:
        action["sources"] = [{"type": "url", "url": url} for url in sources]
    return {"id": _id("ws"), "type": "web_search_call", "status": "completed", "action": action}


def mcp_approval_request(
    name: str, arguments: dict[str, Any] | str = "{}", *, server_label: str = "mcp"
) -> dict[str, Any]:
    """An MCP tool call waiting for approval (`run_agent` pauses on its `approve` update)."""
    return {
        "id": _id("mcpr"),
        "type": "mcp_approval_request",
        "server_label": server_label,
        "name": name,
        "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
    }


def code_interpreter(code: str, *, logs: str = "") -> dict[str, Any]:
    """A finished code interpreter call, with its logs as its one output."""
    return {
        "id": _id("ci"),
        "type": "code_interpreter_call",
        "status": "completed",
        "container_id": "cntr_scripted",
        "code": code,
        "outputs": [{"type": "logs", "logs": logs}] if logs else [],
    }
