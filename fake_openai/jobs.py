"""Response jobs: the status machine, the event log and the generator that fills it."""

from __future__ import annotations

import asyncio
import copy
import random
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

from . import textgen
from .config import GenerationSettings
from .params import CreateParams

TERMINAL = frozenset({"completed", "failed", "incomplete", "cancelled"})
_TICK = 0.02  # longest pause between two batches of tokens


@dataclass(frozen=True)
class Outcome:
    """How a job ends: normally, or (by fault) `failed`/`incomplete` after some tokens."""

    kind: Literal["complete", "fail", "incomplete"] = "complete"
    after_tokens: int = 0
    code: str = "server_error"
    message: str = "The model produced an error while generating the response."
    reason: str = "max_output_tokens"


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(24)}"


def is_reasoning_model(model: str, flag: bool | None) -> bool:
    if flag is not None:
        return flag
    name = model.lower()
    return name.startswith("o") or "reason" in name


class ResponseJob:
    """One response: its parameters, status, output so far and full event log."""

    def __init__(
        self,
        params: CreateParams,
        settings: GenerationSettings,
        outcome: Outcome,
        retention_seconds: float,
    ) -> None:
        self.id = _new_id("resp")
        self.params = params
        self.settings = settings
        self.outcome = outcome
        self.retention_seconds = retention_seconds
        self.accepted_at = time.time()  # precise, for measuring clients (control API only)
        self.create_seconds = 0.0  # how long the create request had waited when accepted
        self.answered_at: float | None = None  # when a create was last answered with it
        self.idempotency_key: str | None = None  # as the create sent it, honoured or not
        self.created_at = int(self.accepted_at)
        self._created_monotonic = time.monotonic()
        self.completed_at: int | None = None
        self.status = "queued"
        self.error: dict[str, Any] | None = None
        self.incomplete_details: dict[str, Any] | None = None
        self.usage: dict[str, Any] | None = None
        self.events: list[dict[str, Any]] = []
        self.counts: Counter[str] = Counter(creates=1)
        self.deleted = False
        self.reasoning = is_reasoning_model(params.model, settings.reasoning)
        self._obfuscation = random.Random(self.id)
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._reasoning_item: dict[str, Any] | None = None
        self._message_item: dict[str, Any] | None = None
        self.text = ""
        self.summary = ""
        schema = _json_schema(params.text)
        self.answer_tokens = (
            textgen.json_tokens(seed=settings.seed, input_=params.input, schema=schema)
            if schema is not None
            else textgen.answer_tokens(
                seed=settings.seed,
                model=params.model,
                input_=params.input,
                instructions=params.instructions,
                count=settings.tokens,
            )
        )
        self.summary_tokens = (
            textgen.summary_tokens(
                seed=settings.seed,
                model=params.model,
                input_=params.input,
                instructions=params.instructions,
                count=settings.reasoning_tokens,
            )
            if self.reasoning
            else []
        )

    # ---- state -------------------------------------------------------------------------------

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def planned_text(self) -> str:
        return "".join(self.answer_tokens)

    def stream_expired(self) -> bool:
        return time.monotonic() - self._created_monotonic > self.retention_seconds

    def output(self) -> list[dict[str, Any]]:
        items = [self._reasoning_item, self._message_item]
        return [copy.deepcopy(item) for item in items if item is not None]

    def snapshot(self) -> dict[str, Any]:
        """The Response object as `GET /v1/responses/{id}` returns it now."""
        p = self.params
        reasoning = None
        if self.reasoning:
            reasoning = {"effort": "medium", "summary": None, **(p.reasoning or {})}
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": self.status,
            "background": p.background,
            "completed_at": self.completed_at,
            "error": copy.deepcopy(self.error),
            "incomplete_details": copy.deepcopy(self.incomplete_details),
            "instructions": p.instructions,
            "max_output_tokens": p.max_output_tokens,
            "max_tool_calls": None,
            "metadata": dict(p.metadata),
            "model": p.model,
            "output": self.output(),
            "parallel_tool_calls": p.parallel_tool_calls,
            "previous_response_id": p.previous_response_id,
            "prompt_cache_key": None,
            "reasoning": reasoning,
            "safety_identifier": None,
            "service_tier": p.service_tier or "default",
            "store": p.store,
            "temperature": 1.0 if p.temperature is None else p.temperature,
            "text": p.text or {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": p.tool_choice,
            "tools": copy.deepcopy(p.tools),
            "top_logprobs": 0,
            "top_p": 1.0 if p.top_p is None else p.top_p,
            "truncation": p.truncation or "disabled",
            "usage": copy.deepcopy(self.usage),
            "user": p.user,
        }

    # ---- events ------------------------------------------------------------------------------

    def _emit(self, type_: str, **fields: Any) -> None:
        event = {"type": type_, "sequence_number": len(self.events), **fields}
        self.events.append(event)
        self._changed.set()
        self._changed = asyncio.Event()

    def _emit_lifecycle(self, type_: str) -> None:
        self._emit(type_, response=self.snapshot())

    async def follow(self, start: int) -> AsyncIterator[dict[str, Any]]:
        """Yield events from index `start`, waiting for new ones until the terminal event."""
        index = start
        while True:
            if index < len(self.events):
                event = self.events[index]
                index += 1
                yield event
                continue
            if self.terminal:
                return
            await self._changed.wait()

    async def wait_terminal(self) -> None:
        while not self.terminal:
            await self._changed.wait()

    # ---- generation --------------------------------------------------------------------------

    def start(self) -> None:
        self._emit_lifecycle("response.created")
        self._emit_lifecycle("response.queued")
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.id)

    async def _paced(self, count: int, seconds_per_token: float) -> AsyncIterator[int]:
        """Yield batch sizes so that `count` tokens come out at the given pace."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        done = 0
        while done < count:
            due = (
                count
                if seconds_per_token <= 0
                else int((loop.time() - start) / seconds_per_token) + 1
            )
            batch = min(due, count) - done
            if batch > 0:
                yield batch
                done += batch
            if done < count:
                await asyncio.sleep(min(_TICK, seconds_per_token) if seconds_per_token > 0 else 0)

    async def _run(self) -> None:
        s = self.settings
        await asyncio.sleep(s.queued_seconds)
        self.status = "in_progress"
        self._emit_lifecycle("response.in_progress")
        output_index = 0
        if self.reasoning:
            await self._reason(output_index)
            output_index += 1
        limit = len(self.answer_tokens)
        if self.params.max_output_tokens is not None:
            limit = min(limit, max(0, self.params.max_output_tokens - len(self.summary_tokens)))
        if self.outcome.kind != "complete":
            limit = min(limit, self.outcome.after_tokens)
        if self.outcome.kind == "fail":
            await self._write_message(output_index, limit, finish=False)
            self._finish("failed")
            return
        await self._write_message(output_index, limit, finish=True)
        if limit < len(self.answer_tokens):
            reason = (
                self.outcome.reason if self.outcome.kind == "incomplete" else "max_output_tokens"
            )
            self.incomplete_details = {"reason": reason}
            self._finish("incomplete")
        else:
            self._finish("completed")

    async def _reason(self, output_index: int) -> None:
        item: dict[str, Any] = {"id": _new_id("rs"), "type": "reasoning", "summary": []}
        self._reasoning_item = item
        self._emit(
            "response.output_item.added", output_index=output_index, item=copy.deepcopy(item)
        )
        ids = {"item_id": item["id"], "output_index": output_index, "summary_index": 0}
        self._emit(
            "response.reasoning_summary_part.added",
            **ids,
            part={"type": "summary_text", "text": ""},
        )
        part: dict[str, Any] = {"type": "summary_text", "text": ""}
        item["summary"].append(part)
        tokens = self.summary_tokens
        pace = self.settings.reasoning_seconds / max(1, len(tokens))
        emitted = 0
        async for batch in self._paced(len(tokens), pace):
            for token in tokens[emitted : emitted + batch]:
                part["text"] += token
                self._emit("response.reasoning_summary_text.delta", **ids, delta=token)
            emitted += batch
        self.summary = part["text"]
        self._emit("response.reasoning_summary_text.done", **ids, text=part["text"])
        self._emit("response.reasoning_summary_part.done", **ids, part=dict(part))
        self._emit("response.output_item.done", output_index=output_index, item=copy.deepcopy(item))

    async def _write_message(self, output_index: int, limit: int, *, finish: bool) -> None:
        item: dict[str, Any] = {
            "id": _new_id("msg"),
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        self._message_item = item
        self._emit(
            "response.output_item.added", output_index=output_index, item=copy.deepcopy(item)
        )
        ids = {"item_id": item["id"], "output_index": output_index, "content_index": 0}
        part: dict[str, Any] = {
            "type": "output_text",
            "text": "",
            "annotations": [],
            "logprobs": [],
        }
        self._emit("response.content_part.added", **ids, part=copy.deepcopy(part))
        item["content"].append(part)
        emitted = 0
        async for batch in self._paced(limit, 1.0 / self.settings.tokens_per_second):
            for token in self.answer_tokens[emitted : emitted + batch]:
                pad = "".join(self._obfuscation.choices("abcdefghijklmnop", k=4))
                self._emit(
                    "response.output_text.delta", **ids, delta=token, logprobs=[], obfuscation=pad
                )
            emitted += batch
            # Once a batch, not once a token: appending to a shared string copies it each time,
            # quadratic for multi-megabyte answers. Nothing reads the text within a batch.
            part["text"] = self.text = "".join(self.answer_tokens[:emitted])
        if not finish:
            return
        item["status"] = "completed" if limit == len(self.answer_tokens) else "incomplete"
        self._emit("response.output_text.done", **ids, text=part["text"], logprobs=[])
        self._emit("response.content_part.done", **ids, part=copy.deepcopy(part))
        self._emit("response.output_item.done", output_index=output_index, item=copy.deepcopy(item))

    def _finish(self, status: str) -> None:
        self.status = status
        output_tokens = len(self.summary_tokens) + len(self.text.split())
        input_tokens = textgen.count_input_tokens(self.params.input, self.params.instructions)
        self.usage = {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": len(self.summary_tokens)},
            "total_tokens": input_tokens + output_tokens,
        }
        if status == "completed":
            self.completed_at = int(time.time())
            self._emit_lifecycle("response.completed")
        elif status == "incomplete":
            self._emit_lifecycle("response.incomplete")
        else:
            if status == "failed":
                self.error = {"code": self.outcome.code, "message": self.outcome.message}
            # A cancelled response's open streams end with `response.failed` (status `cancelled`).
            self._emit_lifecycle("response.failed")

    def cancel(self) -> None:
        """Move a running job to `cancelled` for good; the caller checks it is not terminal."""
        if self._task is not None:
            self._task.cancel()
        if self._message_item is not None and self._message_item["status"] == "in_progress":
            self._message_item["status"] = "incomplete"
        self._finish("cancelled")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


class JobStore:
    """All responses of one server, with the idempotency-key index and request counters."""

    def __init__(self) -> None:
        self.jobs: dict[str, ResponseJob] = {}
        self.by_idempotency_key: dict[str, str] = {}
        self.counts: Counter[str] = Counter()

    def add(self, job: ResponseJob, idempotency_key: str | None) -> None:
        self.jobs[job.id] = job
        if idempotency_key:
            self.by_idempotency_key[idempotency_key] = job.id
        self.counts["creates"] += 1

    def visible(self, response_id: str) -> ResponseJob | None:
        """A job a client may see: stored and not deleted."""
        job = self.jobs.get(response_id)
        if job is None or job.deleted or not job.params.store:
            return None
        return job

    def clear(self) -> None:
        for job in self.jobs.values():
            job.stop()
        self.jobs.clear()
        self.by_idempotency_key.clear()
        self.counts.clear()


def _json_schema(text: dict[str, Any] | None) -> dict[str, Any] | None:
    """The schema of a `text: {format: {type: json_schema, schema: ...}}` create parameter."""
    fmt = (text or {}).get("format") or {}
    schema = fmt.get("schema") if fmt.get("type") == "json_schema" else None
    return schema if isinstance(schema, dict) else None
