"""Output items: a response is a list of items (messages, reasoning, tool calls, searches,
approval requests...), kept whole as the API sent them, as JSON.

A leaf module (pydantic and the standard library): workflows, activities and clients share
it. Nothing here imports the `openai` SDK at import time; the SDK's own types are rebuilt on
the caller's side (`ResponseResult.to_response()`).

One rule keeps payloads small without losing a character: the text of a message's
`output_text` parts is the response's `output_text`, in order. Where a result or a stream
batch must stay small, those parts travel with their text left out ("elided") and the
lengths of the parts beside them; `inflate_message_text` puts the text back from
`output_text`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

OutputItem = dict[str, Any]
"""One output item as the API sent it (JSON)."""

OutputKind = Literal["text", "function_calls", "approval_requests", "refusal", "no_output"]
"""What a finished response asks of its caller: read the text, run the function calls, answer
the approval requests; a refusal; or nothing to read (e.g. only reasoning)."""

CALL_TYPES = frozenset({"function_call", "custom_tool_call"})
"""Items the caller must answer with an output on the next turn."""


class FunctionCall(BaseModel):
    """A function (or custom tool) call the model asked for."""

    call_id: str = ""
    name: str = ""
    arguments: str = Field(default="", description="JSON text (`input` of a custom tool).")
    id: str | None = None
    type: str = "function_call"

    def parsed_arguments(self) -> Any:
        """The arguments decoded from JSON (a custom tool's raw input is returned as is)."""
        if self.type != "function_call":
            return self.arguments
        return json.loads(self.arguments or "null")


class ApprovalRequest(BaseModel):
    """An MCP tool call that waits for the caller's approval."""

    id: str = ""
    server_label: str = ""
    name: str = ""
    arguments: str = ""


class Citation(BaseModel):
    """An annotation on the answer text: a URL, file or container-file citation."""

    type: str = ""
    url: str | None = None
    title: str | None = None
    file_id: str | None = None
    filename: str | None = None
    start_index: int | None = None
    end_index: int | None = None


class WebSearch(BaseModel):
    """A web search the model made (deep research makes dozens)."""

    id: str = ""
    status: str = ""
    action: dict[str, Any] | None = None

    @property
    def query(self) -> str | None:
        action = self.action or {}
        value = action.get("query")
        return value if isinstance(value, str) else None


class ItemNote(BaseModel):
    """One output item in a line, for followers and logs: `searching: "…"`."""

    index: int = Field(default=0, description="The item's position in the response's output.")
    type: str = ""
    summary: str = ""


# ---- reading items -------------------------------------------------------------------------


def text_parts(item: OutputItem) -> list[dict[str, Any]]:
    """The `output_text` content parts of a message item, in order (none for other items)."""
    if item.get("type") != "message":
        return []
    content = item.get("content")
    if not isinstance(content, list):
        return []
    return [p for p in content if isinstance(p, dict) and p.get("type") == "output_text"]


def output_text_of(items: Iterable[OutputItem]) -> str:
    """The response's `output_text`: every `output_text` part of every message, in order."""
    return "".join(str(part.get("text") or "") for item in items for part in text_parts(item))


def text_lengths(item: OutputItem) -> list[int]:
    """The lengths of a message item's `output_text` parts."""
    return [len(str(part.get("text") or "")) for part in text_parts(item)]


def elide_message_text(item: OutputItem) -> OutputItem:
    """A copy of `item` whose `output_text` parts have no text (it is in `output_text`)."""
    if not text_parts(item):
        return item
    content = [
        {**part, "text": ""}
        if isinstance(part, dict) and part.get("type") == "output_text"
        else part
        for part in item["content"]
    ]
    return {**item, "content": content}


def inflate_message_text(
    items: Sequence[OutputItem], lengths: Sequence[int], text: str
) -> list[OutputItem]:
    """Put elided text back: the `output_text` parts of `items`, in order, take the next
    `lengths[i]` characters of `text` (the response's `output_text`, complete)."""
    if sum(lengths) != len(text):
        raise ValueError(
            f"the parts' lengths add up to {sum(lengths)} characters, the text has {len(text)}"
        )
    taken = iter(lengths)
    at = 0
    inflated: list[OutputItem] = []
    for item in items:
        if not text_parts(item):
            inflated.append(item)
            continue
        content = []
        for part in item["content"]:
            if isinstance(part, dict) and part.get("type") == "output_text":
                size = next(taken)
                part = {**part, "text": text[at : at + size]}
                at += size
            content.append(part)
        inflated.append({**item, "content": content})
    return inflated


def function_calls(items: Iterable[OutputItem]) -> list[FunctionCall]:
    """The function and custom tool calls among `items`, in order."""
    calls = []
    for item in items:
        if item.get("type") in CALL_TYPES:
            arguments = item.get("arguments", item.get("input", ""))
            calls.append(
                FunctionCall(
                    call_id=str(item.get("call_id") or ""),
                    name=str(item.get("name") or ""),
                    arguments=arguments if isinstance(arguments, str) else json.dumps(arguments),
                    id=item.get("id"),
                    type=str(item["type"]),
                )
            )
    return calls


def approval_requests(items: Iterable[OutputItem]) -> list[ApprovalRequest]:
    """The MCP approval requests among `items` that no later item of theirs answers."""
    items = list(items)
    answered = {
        item.get("approval_request_id")
        for item in items
        if item.get("type") in {"mcp_call", "mcp_approval_response"}
    }
    return [
        ApprovalRequest.model_validate(
            {k: item.get(k) or "" for k in ("id", "server_label", "name", "arguments")}
        )
        for item in items
        if item.get("type") == "mcp_approval_request" and item.get("id") not in answered
    ]


def citations(items: Iterable[OutputItem]) -> list[Citation]:
    """Every annotation on the answer text, in order."""
    found = []
    for item in items:
        for part in text_parts(item):
            for annotation in part.get("annotations") or []:
                if isinstance(annotation, dict):
                    found.append(Citation.model_validate(annotation))
    return found


def web_searches(items: Iterable[OutputItem]) -> list[WebSearch]:
    """The web searches among `items`, in order."""
    return [
        WebSearch.model_validate({k: item.get(k) for k in ("id", "status", "action")})
        for item in items
        if item.get("type") == "web_search_call"
    ]


def output_kind(items: Sequence[OutputItem]) -> OutputKind:
    """What a finished response asks of its caller (see `OutputKind`)."""
    if approval_requests(items):
        return "approval_requests"
    if any(item.get("type") in CALL_TYPES for item in items):
        return "function_calls"
    messages = [item for item in items if item.get("type") == "message"]
    if any(text_parts(item) for item in messages):
        return "text"
    refusals = (
        part
        for item in messages
        for part in item.get("content") or []
        if isinstance(part, dict) and part.get("type") == "refusal"
    )
    if any(True for _ in refusals):
        return "refusal"
    return "no_output"


# ---- one line per item ---------------------------------------------------------------------

_ARGUMENTS_SHOWN = 80


def _short(text: object, limit: int = _ARGUMENTS_SHOWN) -> str:
    value = text if isinstance(text, str) else json.dumps(text, ensure_ascii=False)
    value = " ".join(value.split())
    return value if len(value) <= limit else value[: limit - 1] + "…"


def describe_item(item: OutputItem) -> str:
    """What an item is doing or did, in one line: `searching: "solid-state batteries"`."""
    kind = str(item.get("type") or "item")
    raw_action = item.get("action")
    action: dict[str, Any] = raw_action if isinstance(raw_action, dict) else {}
    if kind == "web_search_call":
        if action.get("type") == "open_page":
            return f"opening: {_short(action.get('url') or '…')}"
        if action.get("type") == "find_in_page":
            return f"finding {_short(action.get('pattern'))!s} in {_short(action.get('url'))}"
        query = action.get("query") or next(iter(action.get("queries") or []), None)
        return f"searching: {_short(query)}" if query else "searching the web"
    if kind in CALL_TYPES:
        arguments = item.get("arguments", item.get("input", ""))
        return f"calling {item.get('name')}({_short(arguments)})"
    if kind in {"mcp_approval_request", "mcp_call"}:
        call = f"{item.get('server_label')}.{item.get('name')}({_short(item.get('arguments', ''))})"
        return f"approval needed: {call}" if kind == "mcp_approval_request" else f"calling {call}"
    if kind == "mcp_list_tools":
        return f"listing the tools of {item.get('server_label')}"
    if kind == "code_interpreter_call":
        code = str(item.get("code") or "").strip().splitlines()
        return f"running code: {_short(code[0])}" if code else "running code"
    if kind == "file_search_call":
        queries = item.get("queries") or []
        return f"searching files: {_short(queries[0])}" if queries else "searching files"
    if kind == "image_generation_call":
        return "generating an image"
    if kind == "reasoning":
        return "reasoning"
    if kind == "message":
        return "refusing" if not text_parts(item) and item.get("content") else "answering"
    return kind.replace("_", " ")


def notes(items: Iterable[OutputItem], start: int = 0) -> Iterator[ItemNote]:
    """`ItemNote`s of `items`, the first at output index `start`."""
    for index, item in enumerate(items, start):
        yield ItemNote(index=index, type=str(item.get("type") or ""), summary=describe_item(item))
