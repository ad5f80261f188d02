"""Output items and their stream events, one writer per item type.

A writer turns one planned step (`turns.py` decides the steps) into one output item, strictly
on its own: `response.output_item.added` with the partial item, the item's own events, then
`response.output_item.done` with the final item, which is what `response.output` holds at that
`output_index` afterwards. The item is mutated in place as its events go out, so a `GET` while it
runs shows it in its partial form. Shapes and event orders follow the installed SDK's models and
real recorded streams (see the README's table); where the two disagree the SDK wins: an added
`web_search_call` carries `action: {"type": "search"}`, which the SDK requires and real streams
leave out.

Delta events carry `obfuscation` (dropped on the wire when the client asks).
"""

from __future__ import annotations

import asyncio
import copy
import secrets
from collections.abc import AsyncIterator
from typing import Any, Protocol

from .config import GenerationSettings
from .steps import (
    CodeInterpreterStep,
    FileSearchStep,
    FunctionCallStep,
    ImageStep,
    McpApprovalRequestStep,
    McpCallStep,
    McpListToolsStep,
    MessageStep,
    ReasoningStep,
    Step,
    WebSearchStep,
)


class Sink(Protocol):
    """Where a writer puts its item and events: the response job."""

    def open_item(self, item: dict[str, Any]) -> int:
        """Append `item` to the output, emit `output_item.added`; return its output index."""
        ...

    def close_item(self, index: int) -> None:
        """Emit `output_item.done` with the item as it is now."""
        ...

    def emit(self, type_: str, **fields: Any) -> None: ...

    def pad(self) -> str:
        """A fresh `obfuscation` value for a delta event."""
        ...

    def paced(self, count: int, seconds_per_token: float) -> AsyncIterator[int]:
        """Batch sizes that release `count` tokens at the given pace."""
        ...


def new_id(prefix: str) -> str:
    """An id as the API makes them: prefix and 48 hex digits (ids are never parsed)."""
    return f"{prefix}_{secrets.token_hex(24)}"


INTERRUPTED_STATUS = {"image_generation_call": "failed"}
"""What a cancelled item's status becomes; `incomplete` for the types not listed."""

RUNNING_STATUSES = frozenset({"in_progress", "searching", "interpreting", "generating", "calling"})


def interrupt(item: dict[str, Any]) -> None:
    """Mark an item that a cancellation stopped mid-way."""
    if item.get("status") in RUNNING_STATUSES:
        item["status"] = INTERRUPTED_STATUS.get(item["type"], "incomplete")


def chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _open(sink: Sink, item: dict[str, Any]) -> dict[str, Any]:
    """Add the item; return the `item_id`/`output_index` every one of its events carries."""
    return {"item_id": item["id"], "output_index": sink.open_item(item)}


async def _deltas(
    sink: Sink,
    type_: str,
    ids: dict[str, Any],
    pieces: list[str] | tuple[str, ...],
    seconds_each: float,
    target: dict[str, Any],
    key: str,
) -> None:
    """Stream `pieces` as `type_` delta events at the given pace, growing `target[key]`."""
    emitted = 0
    async for batch in sink.paced(len(pieces), seconds_each):
        for piece in pieces[emitted : emitted + batch]:
            target[key] += piece
            sink.emit(type_, **ids, delta=piece, obfuscation=sink.pad())
        emitted += batch


async def _phase(
    sink: Sink,
    item: dict[str, Any],
    ids: dict[str, Any],
    event: str,
    *,
    status: str | None = None,
    seconds: float = 0.0,
) -> None:
    """`response.<item type>.<event>` (the item's status set first), then a pause."""
    if status is not None:
        item["status"] = status
    sink.emit(f"response.{item['type']}.{event}", **ids)
    if seconds > 0:
        await asyncio.sleep(seconds)


# ---- writers --------------------------------------------------------------------------------


async def write(sink: Sink, step: Step, settings: GenerationSettings) -> None:
    """Write every step but the message (`write_message`, which takes limits)."""
    match step:
        case ReasoningStep():
            await write_reasoning(sink, step)
        case FunctionCallStep():
            await _function_call(sink, step, settings)
        case WebSearchStep():
            await _web_search(sink, step, settings)
        case FileSearchStep():
            await _file_search(sink, step, settings)
        case CodeInterpreterStep():
            await _code_interpreter(sink, step, settings)
        case ImageStep():
            await _image(sink, step, settings)
        case McpListToolsStep():
            await _mcp_list_tools(sink, step, settings)
        case McpApprovalRequestStep():
            _mcp_approval_request(sink, step)
        case McpCallStep():
            await _mcp_call(sink, step, settings)
        case MessageStep():
            raise TypeError("messages are written by write_message")


async def write_reasoning(sink: Sink, step: ReasoningStep) -> None:
    item: dict[str, Any] = {"id": new_id("rs"), "type": "reasoning", "summary": []}
    if step.encrypted is not None:
        # The API's added item carries a shorter, provisional value; keep the done one.
        item["encrypted_content"] = step.encrypted[: len(step.encrypted) // 2]
    ids = {**_open(sink, item), "summary_index": 0}
    part: dict[str, Any] = {"type": "summary_text", "text": ""}
    sink.emit("response.reasoning_summary_part.added", **ids, part=dict(part))
    item["summary"].append(part)
    pace = step.seconds / max(1, len(step.tokens))
    await _deltas(
        sink, "response.reasoning_summary_text.delta", ids, step.tokens, pace, part, "text"
    )
    sink.emit("response.reasoning_summary_text.done", **ids, text=part["text"])
    sink.emit("response.reasoning_summary_part.done", **ids, part=dict(part))
    if step.encrypted is not None:
        item["encrypted_content"] = step.encrypted
    sink.close_item(ids["output_index"])


async def write_message(
    sink: Sink, step: MessageStep, settings: GenerationSettings, limit: int, *, finish: bool
) -> None:
    """The message with its first `limit` tokens; `finish=False` leaves it open (a failure)."""
    item: dict[str, Any] = {
        "id": new_id("msg"),
        "type": "message",
        "role": "assistant",
        "status": "in_progress",
        "content": [],
    }
    ids = {**_open(sink, item), "content_index": 0}
    key = "refusal" if step.refusal else "text"
    part: dict[str, Any] = (
        {"type": "refusal", "refusal": ""}
        if step.refusal
        else {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    )
    sink.emit("response.content_part.added", **ids, part=copy.deepcopy(part))
    item["content"].append(part)
    tokens = step.tokens
    delta_type = "response.refusal.delta" if step.refusal else "response.output_text.delta"
    extra: dict[str, Any] = {} if step.refusal else {"logprobs": []}
    emitted = 0
    async for batch in sink.paced(limit, 1.0 / settings.tokens_per_second):
        for position in range(emitted, emitted + batch):
            sink.emit(delta_type, **ids, delta=tokens[position], **extra, obfuscation=sink.pad())
            for annotation in step.annotations.get(position, ()):
                sink.emit(
                    "response.output_text.annotation.added",
                    **ids,
                    annotation_index=len(part["annotations"]),
                    annotation=dict(annotation),
                )
                part["annotations"].append(dict(annotation))
        emitted += batch
        # Once a batch, not once a token: appending to a shared string copies it each time,
        # quadratic for multi-megabyte answers. Nothing reads the text within a batch.
        part[key] = "".join(tokens[:emitted])
    if not finish:
        return
    item["status"] = "completed" if limit == len(tokens) else "incomplete"
    if step.refusal:
        sink.emit("response.refusal.done", **ids, refusal=part["refusal"])
    else:
        # As the API: the done text event has no annotations; the part and item carry them.
        sink.emit("response.output_text.done", **ids, text=part["text"], logprobs=[])
    sink.emit("response.content_part.done", **ids, part=copy.deepcopy(part))
    sink.close_item(ids["output_index"])


async def _function_call(sink: Sink, step: FunctionCallStep, settings: GenerationSettings) -> None:
    item: dict[str, Any] = {
        "id": new_id("fc"),
        "type": "function_call",
        "status": "in_progress",
        "arguments": "",
        "call_id": f"call_{secrets.token_hex(12)}",
        "name": step.name,
    }
    ids = _open(sink, item)
    pieces = chunks(step.arguments, 6)
    pace = 1.0 / settings.tokens_per_second
    await _deltas(
        sink, "response.function_call_arguments.delta", ids, pieces, pace, item, "arguments"
    )
    sink.emit(
        "response.function_call_arguments.done", **ids, name=step.name, arguments=step.arguments
    )
    item["status"] = "completed"
    sink.close_item(ids["output_index"])


async def _web_search(sink: Sink, step: WebSearchStep, settings: GenerationSettings) -> None:
    item: dict[str, Any] = {
        "id": new_id("ws"),
        "type": "web_search_call",
        "status": "in_progress",
        "action": {"type": "search"},
    }
    ids = _open(sink, item)
    await _phase(sink, item, ids, "in_progress")
    await _phase(sink, item, ids, "searching", status="searching", seconds=settings.item_seconds)
    await _phase(sink, item, ids, "completed")
    action: dict[str, Any] = {"type": "search", "query": step.query}
    if step.sources:
        action["sources"] = [{"type": "url", "url": step.url}]
    item.update(status="completed", action=action)
    sink.close_item(ids["output_index"])


async def _file_search(sink: Sink, step: FileSearchStep, settings: GenerationSettings) -> None:
    item: dict[str, Any] = {
        "id": new_id("fs"),
        "type": "file_search_call",
        "status": "in_progress",
        "queries": [],
        "results": None,
    }
    ids = _open(sink, item)
    await _phase(sink, item, ids, "in_progress")
    await _phase(sink, item, ids, "searching", status="searching", seconds=settings.item_seconds)
    await _phase(sink, item, ids, "completed")
    results = None if step.results is None else [dict(r) for r in step.results]
    item.update(status="completed", queries=list(step.queries), results=results)
    sink.close_item(ids["output_index"])


async def _code_interpreter(
    sink: Sink, step: CodeInterpreterStep, settings: GenerationSettings
) -> None:
    item: dict[str, Any] = {
        "id": new_id("ci"),
        "type": "code_interpreter_call",
        "status": "in_progress",
        "code": "",
        "container_id": step.container_id or new_id("cntr"),
        "outputs": [],
    }
    ids = _open(sink, item)
    await _phase(sink, item, ids, "in_progress")
    lines = step.code.splitlines(keepends=True) or [""]
    pace = 1.0 / settings.tokens_per_second
    await _deltas(sink, "response.code_interpreter_call_code.delta", ids, lines, pace, item, "code")
    sink.emit("response.code_interpreter_call_code.done", **ids, code=step.code)
    await _phase(
        sink, item, ids, "interpreting", status="interpreting", seconds=settings.item_seconds
    )
    await _phase(sink, item, ids, "completed")
    outputs = [{"type": "logs", "logs": step.logs}] if step.outputs else None
    item.update(status="completed", outputs=outputs)
    sink.close_item(ids["output_index"])


async def _image(sink: Sink, step: ImageStep, settings: GenerationSettings) -> None:
    item: dict[str, Any] = {
        "id": new_id("ig"),
        "type": "image_generation_call",
        "status": "in_progress",
        "result": None,  # required, null until the image is made
    }
    ids = _open(sink, item)
    half = settings.item_seconds / 2
    look = {
        "size": step.size,
        "quality": step.quality,
        "background": step.background,
        "output_format": step.output_format,
    }
    await _phase(sink, item, ids, "in_progress")
    await _phase(sink, item, ids, "generating", status="generating", seconds=half)
    sink.emit(
        "response.image_generation_call.partial_image",
        **ids,
        partial_image_index=0,
        partial_image_b64=step.partial,
        **look,
    )
    if half > 0:
        await asyncio.sleep(half)
    await _phase(sink, item, ids, "completed")
    item.update(status="completed", **look, result=step.result, revised_prompt=step.revised_prompt)
    sink.close_item(ids["output_index"])


async def _mcp_list_tools(sink: Sink, step: McpListToolsStep, settings: GenerationSettings) -> None:
    item: dict[str, Any] = {
        "id": new_id("mcpl"),
        "type": "mcp_list_tools",
        "server_label": step.server_label,
        "tools": [],
    }
    ids = _open(sink, item)
    await _phase(sink, item, ids, "in_progress", seconds=settings.item_seconds)
    await _phase(sink, item, ids, "completed")
    item["tools"] = copy.deepcopy(list(step.tools))
    sink.close_item(ids["output_index"])


def _mcp_approval_request(sink: Sink, step: McpApprovalRequestStep) -> None:
    # Complete from the start: added and done carry the same item, with no events between.
    item: dict[str, Any] = {
        "id": new_id("mcpr"),
        "type": "mcp_approval_request",
        "arguments": step.arguments,
        "name": step.name,
        "server_label": step.server_label,
    }
    sink.close_item(sink.open_item(item))


async def _mcp_call(sink: Sink, step: McpCallStep, settings: GenerationSettings) -> None:
    item: dict[str, Any] = {
        "id": new_id("mcp"),
        "type": "mcp_call",
        "status": "in_progress",
        "approval_request_id": step.approval_request_id,
        "arguments": "",
        "error": None,
        "name": step.name,
        "output": None,
        "server_label": step.server_label,
    }
    ids = _open(sink, item)
    await _phase(sink, item, ids, "in_progress")
    # As captured: the whole arguments in one delta.
    await _deltas(
        sink, "response.mcp_call_arguments.delta", ids, [step.arguments], 0.0, item, "arguments"
    )
    sink.emit("response.mcp_call_arguments.done", **ids, arguments=step.arguments)
    item["status"] = "calling"  # while the server works
    if settings.item_seconds > 0:
        await asyncio.sleep(settings.item_seconds)
    await _phase(sink, item, ids, "completed")
    item.update(status="completed", output=step.output)
    sink.close_item(ids["output_index"])
