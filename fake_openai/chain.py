"""The `previous_response_id` chain: what earlier turns asked and said, and the API's 400s for
a continuation that does not answer them.

A continuation of a response with `function_call` items must hold a `function_call_output`
for every call (`No tool output found for function call <call_id>.`), and no output for a
call the chain or the input does not have (`No tool call found for function call output with
call_id <call_id>.`): both from real API errors. An `mcp_approval_response` must answer a
pending `mcp_approval_request` of the chain or the input (ASSUMED wording: `No approval request
found with id <id>.`), and a continuation of a response with approval requests must answer
every one (ASSUMED, the fake is strict: `No approval response found for approval request
<id>.`). All four are 400 `invalid_request_error` with `param: "input"`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import APIErrorResponse, invalid_type, missing

_ID_KEYS = frozenset({"id", "call_id", "approval_request_id"})


@dataclass(frozen=True)
class PastResponse:
    """A response of the chain: what it was asked and what it said."""

    input: Any
    output: list[dict[str, Any]]


def check_continuation(input_: Any, history: list[PastResponse]) -> None:
    """Raise the API's 400 when `input_` does not answer the chain's calls and requests."""
    items = input_items(input_)
    for i, item in enumerate(items):
        if item.get("type") == "function_call_output":
            if not isinstance(item.get("call_id"), str):
                raise missing(f"input[{i}].call_id")
            if not isinstance(item.get("output"), (str, list)):
                raise invalid_type(f"input[{i}].output", "a string or an array", item.get("output"))
        elif item.get("type") == "mcp_approval_response":
            if not isinstance(item.get("approval_request_id"), str):
                raise missing(f"input[{i}].approval_request_id")
            if not isinstance(item.get("approve"), bool):
                raise invalid_type(f"input[{i}].approve", "a boolean", item.get("approve"))
    previous = history[-1].output if history else []
    calls = list(call_names(history, input_))
    outputs = [item["call_id"] for item in items if item.get("type") == "function_call_output"]
    for call_id in calls:
        if call_id not in outputs:
            raise _input_error(f"No tool output found for function call {call_id}.")
    for call_id in outputs:
        if call_id not in calls:
            raise _input_error(
                f"No tool call found for function call output with call_id {call_id}."
            )
    pending = pending_approvals(history, input_)
    answered = [i["approval_request_id"] for i in approval_responses(input_)]
    for request_id in answered:
        if request_id not in pending:
            raise _input_error(f"No approval request found with id {request_id}.")
    for item in previous:
        if item["type"] == "mcp_approval_request" and item["id"] not in answered:
            raise _input_error(f"No approval response found for approval request {item['id']}.")


def _input_error(message: str) -> APIErrorResponse:
    return APIErrorResponse(400, message, param="input")


def input_items(input_: Any) -> list[dict[str, Any]]:
    """The items of a list input (a string input has none)."""
    return [item for item in input_ if isinstance(item, dict)] if isinstance(input_, list) else []


def call_names(history: list[PastResponse], input_: Any) -> dict[str, str]:
    """call_id → function name of the calls the input may answer: the previous response's
    and (stateless callers) the input's own."""
    previous = history[-1].output if history else []
    return {
        item["call_id"]: str(item.get("name", ""))
        for item in [*previous, *input_items(input_)]
        if item.get("type") == "function_call" and isinstance(item.get("call_id"), str)
    }


def approval_responses(input_: Any) -> list[dict[str, Any]]:
    return [i for i in input_items(input_) if i.get("type") == "mcp_approval_response"]


def pending_approvals(history: list[PastResponse], input_: Any) -> dict[str, dict[str, Any]]:
    """Approval requests of the chain (or the input) that no later input has answered."""
    pending: dict[str, dict[str, Any]] = {}
    for past in history:
        for item in approval_responses(past.input):
            pending.pop(str(item.get("approval_request_id")), None)
        pending.update(
            (item["id"], item) for item in past.output if item["type"] == "mcp_approval_request"
        )
    pending.update(
        (item["id"], item)
        for item in input_items(input_)
        if item.get("type") == "mcp_approval_request" and isinstance(item.get("id"), str)
    )
    return pending


def turn_number(history: list[PastResponse], input_: Any) -> int:
    """1 + the chain's responses that ended with function calls (+ each run of
    `function_call` items in the input, for stateless callers)."""
    ended = sum(1 for p in history if p.output and p.output[-1].get("type") == "function_call")
    batches, previous = 0, None
    for item in input_items(input_):
        if item.get("type") == "function_call" and previous != "function_call":
            batches += 1
        previous = item.get("type")
    return 1 + ended + batches


def listed_servers(history: list[PastResponse], input_: Any) -> set[str]:
    """Labels of the MCP servers an `mcp_list_tools` item of the chain or input lists."""
    items = [item for past in history for item in past.output] + input_items(input_)
    return {str(i.get("server_label")) for i in items if i.get("type") == "mcp_list_tools"}


def without_ids(input_: Any) -> Any:
    """The input without ids: what seeds the texts (ids are random, contents are not)."""
    if not isinstance(input_, list):
        return input_
    return [
        {k: v for k, v in item.items() if k not in _ID_KEYS} if isinstance(item, dict) else item
        for item in input_
    ]


def topic(input_: Any, history: list[PastResponse]) -> str:
    """Up to six words of the latest user text of the input or the chain ("the question"
    without one): what searches look for and tools are asked."""
    texts = [input_, *(p.input for p in reversed(history))]
    text = next((t for t in map(_user_text, texts) if t.strip()), "")
    words = re.findall(r"[^\W_]+(?:['\u2019-][^\W_]+)*", text)[:6]
    return " ".join(words) or "the question"


def _user_text(input_: Any) -> str:
    if isinstance(input_, str):
        return input_
    for item in reversed(input_items(input_)):
        if item.get("role") != "user":
            continue
        content = item.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""
