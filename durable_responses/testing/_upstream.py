"""A scripted response as the API shows it: its Response object at each status, its stream
of events, and the HTTP errors a create answers, as the SDK raises them."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import httpx2
import openai

from durable_responses.models import ResponseParams, is_terminal

from ._replies import ProviderError, Reply

_STATUS_ERRORS: dict[int, type[openai.APIStatusError]] = {
    400: openai.BadRequestError,
    401: openai.AuthenticationError,
    403: openai.PermissionDeniedError,
    404: openai.NotFoundError,
    409: openai.ConflictError,
    422: openai.UnprocessableEntityError,
    429: openai.RateLimitError,
}


def sdk_error(error: ProviderError) -> openai.APIStatusError:
    """The SDK's exception for this HTTP error, as the real client would raise it."""
    headers = {}
    if error.retry_after_seconds is not None:
        headers["retry-after"] = f"{error.retry_after_seconds:g}"
    body = {
        "error": {
            "message": error.message,
            "type": "invalid_request_error" if error.status < 500 else "server_error",
            "param": error.param,
            "code": error.code,
        }
    }
    request = httpx2.Request("POST", "https://scripted.invalid/v1/responses")
    response = httpx2.Response(error.status, headers=headers, json=body, request=request)
    cls = _STATUS_ERRORS.get(error.status)
    if cls is None:
        cls = openai.InternalServerError if error.status >= 500 else openai.APIStatusError
    return cls(error.message, response=response, body=body["error"])


@dataclasses.dataclass
class ScriptedResponse:
    """One response the provider created: what was asked, what it answers, and when."""

    id: str
    params: ResponseParams
    reply: Reply
    model: str
    created_at: datetime
    workflow_id: str
    polls: int = 0
    cancelled_at: datetime | None = None

    def status_at(self, now: datetime) -> str:
        if self.cancelled_at is not None:
            return "cancelled"
        if now - self.created_at >= self.reply.takes:
            return self.reply.status
        return "in_progress"

    def body(self, status: str, output: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """The Response object as `GET /v1/responses/{id}` returns it with this status."""
        p = self.params
        finished = is_terminal(status)
        if output is None:
            output = self.reply.output() if finished and status != "cancelled" else []
        words = sum(len(str(part.get("text", "")).split()) for part in _texts(output))
        out_tokens = self.reply.output_tokens if self.reply.output_tokens is not None else words
        usage = None
        if finished:
            usage = {
                "input_tokens": self.reply.input_tokens,
                "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                "output_tokens": out_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": self.reply.input_tokens + out_tokens,
            }
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at.timestamp(),
            "status": status,
            "background": True,
            "completed_at": self.created_at.timestamp() + self.reply.takes.total_seconds()
            if status == "completed"
            else None,
            "error": {"code": self.reply.error_code, "message": self.reply.error_message}
            if status == "failed"
            else None,
            "incomplete_details": {"reason": self.reply.incomplete_reason}
            if status == "incomplete"
            else None,
            "instructions": p.instructions,
            "max_output_tokens": p.max_output_tokens,
            "metadata": dict(p.metadata),
            "model": self.model,
            "output": output,
            "parallel_tool_calls": True if p.parallel_tool_calls is None else p.parallel_tool_calls,
            "previous_response_id": p.previous_response_id,
            "reasoning": None,
            "service_tier": "default" if p.service_tier in (None, "auto") else p.service_tier,
            "store": True,
            "temperature": 1.0,
            "text": {"format": {"type": "text"}},
            "tool_choice": p.tool_choice or "auto",
            "tools": list(p.tools or []),
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": usage,
            "user": None,
        }

    def events(self) -> list[dict[str, Any]]:
        """The response's stream, as `stream=true` sends it (sequence numbers from 0)."""
        events: list[dict[str, Any]] = []

        def emit(type_: str, **fields: Any) -> None:
            events.append({"type": type_, "sequence_number": len(events), **fields})

        emit("response.created", response=self.body("queued"))
        emit("response.in_progress", response=self.body("in_progress"))
        output = self.reply.output() if self.reply.status != "failed" else []
        for index, item in enumerate(output):
            opened = {**item, "status": "in_progress"} if "status" in item else dict(item)
            if item["type"] == "message":
                opened["content"] = []
            elif item["type"] == "reasoning":
                opened["summary"] = []
            emit("response.output_item.added", output_index=index, item=opened)
            if item["type"] == "message":
                for part_index, part in enumerate(item["content"]):
                    for chunk in _chunks(str(part.get("text", ""))):
                        emit(
                            "response.output_text.delta",
                            item_id=item["id"],
                            output_index=index,
                            content_index=part_index,
                            delta=chunk,
                            logprobs=[],
                        )
            elif item["type"] == "reasoning":
                for summary_index, part in enumerate(item["summary"]):
                    emit(
                        "response.reasoning_summary_text.delta",
                        item_id=item["id"],
                        output_index=index,
                        summary_index=summary_index,
                        delta=part["text"],
                    )
            emit("response.output_item.done", output_index=index, item=item)
        status = self.reply.status
        emit(f"response.{status}", response=self.body(status, output))
        return events


def _texts(output: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        part
        for item in output
        if item.get("type") == "message"
        for part in item.get("content", [])
        if part.get("type") == "output_text"
    ]


def _chunks(text: str, size: int = 64) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or []
