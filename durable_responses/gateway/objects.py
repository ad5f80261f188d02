"""OpenAI's `Response` object, as the gateway answers it: the provider's own once the run has
finished (under the gateway's id), else one built from what the run shows so far."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

ECHOED = (
    "instructions",
    "max_output_tokens",
    "max_tool_calls",
    "metadata",
    "parallel_tool_calls",
    "prompt_cache_key",
    "prompt_cache_retention",
    "reasoning",
    "safety_identifier",
    "service_tier",
    "temperature",
    "text",
    "tool_choice",
    "tools",
    "top_logprobs",
    "top_p",
    "truncation",
    "user",
)
"""Request fields a Response echoes."""
UNSET: dict[str, Any] = {
    "instructions": None,
    "max_output_tokens": None,
    "max_tool_calls": None,
    "metadata": {},
    "parallel_tool_calls": True,
    "prompt_cache_key": None,
    "prompt_cache_retention": None,
    "reasoning": None,
    "safety_identifier": None,
    "service_tier": None,
    "temperature": None,
    "text": {"format": {"type": "text"}},
    "tool_choice": "auto",
    "tools": [],
    "top_logprobs": None,
    "top_p": None,
    "truncation": None,
    "user": None,
}
"""What a Response built by the gateway says of a field the request left unset: the API's
default where the contract takes no null (`tool_choice`, `tools`...), else null. OpenAI's
description requires every one of its required properties on every Response, queued ones
included (tests/test_contract.py)."""


@dataclass
class Run:
    """What the gateway knows of one run (built by `runs.py` from queries and results)."""

    response_id: str
    stream: bool
    background: bool
    created_at: int
    model: str
    request: dict[str, Any]
    """The create's parameters the Response echoes, and the client's previous_response_id."""
    status: str = "queued"
    items: list[dict[str, Any]] = field(default_factory=list)
    """Finished output items, whole."""
    text: str = ""
    """The output text recorded so far, from the start."""
    live_index: int | None = None
    live_item: dict[str, Any] | None = None
    """The message being written, as added, while its text streams."""
    final: dict[str, Any] | None = None
    """The provider's response object (without output) once the run has finished."""
    error: dict[str, Any] | None = None
    terminal: bool = False

    def live_text(self) -> str:
        """The text of the message being written: what no finished message holds yet."""
        done = sum(
            len(part.get("text") or "")
            for item in self.items
            if item.get("type") == "message"
            for part in item.get("content") or []
            if isinstance(part, dict) and part.get("type") == "output_text"
        )
        return self.text[done:]


def opening_object(run: Run, status: str) -> dict[str, Any]:
    """The `Response` the stream's first events carry: only what never changes (so a replay
    of those events, at any time, is the same)."""
    body: dict[str, Any] = {
        "id": run.response_id,
        "object": "response",
        "created_at": run.created_at,
        "status": status,
        "background": run.background,
        "completed_at": None,
        "error": None,
        "incomplete_details": None,
        "model": run.model,
        "output": [],
        "previous_response_id": run.request.get("previous_response_id"),
        "store": True,
        "usage": None,
    }
    for name in ECHOED:
        given = run.request.get(name)
        body[name] = copy.deepcopy(UNSET[name] if given is None else given)
    return body


def response_object(run: Run) -> dict[str, Any]:
    """The `Response` of `run` now."""
    if run.final is not None:
        body = copy.deepcopy(run.final)
        body.update(id=run.response_id, output=copy.deepcopy(run.items))
        body["previous_response_id"] = run.request.get("previous_response_id")
        body["background"] = run.background
        if run.status in ("cancelled", "failed") and run.final.get("status") != run.status:
            body["status"] = run.status
        if run.error is not None:
            body["error"] = run.error
        return body
    body = opening_object(run, run.status)
    body.update(output=copy.deepcopy(run.items), error=run.error)
    return body
