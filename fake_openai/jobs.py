"""Response jobs: the status machine and the event log, filled by running a turn's plan."""

from __future__ import annotations

import asyncio
import copy
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Literal

from . import items, textgen
from .chain import PastResponse
from .config import GenerationSettings
from .params import CreateParams
from .steps import MessageStep, Turn
from .tiers import served_tier
from .turns import is_reasoning_model, plan_turn

TERMINAL = frozenset({"completed", "failed", "incomplete", "cancelled"})
_TICK = 0.02  # longest pause between two batches of tokens


@dataclass(frozen=True)
class Outcome:
    """How a job ends: normally, or (by fault) `failed`/`incomplete` after some answer tokens
    (a turn without a message ends so after its items)."""

    kind: Literal["complete", "fail", "incomplete"] = "complete"
    after_tokens: int = 0
    code: str = "server_error"
    message: str = "The model produced an error while generating the response."
    reason: str = "max_output_tokens"


class ResponseJob:
    """One response: its parameters, status, output so far and full event log."""

    def __init__(
        self,
        params: CreateParams,
        settings: GenerationSettings,
        outcome: Outcome,
        retention_seconds: float,
        turn: Turn | None = None,
    ) -> None:
        self.id = items.new_id("resp")
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
        self.started_at: float | None = None  # Unix times, precise (control API only)
        self.finished_at: float | None = None
        self.on_terminal: Callable[[ResponseJob], None] | None = None
        """Told once the job reaches a terminal status (the webhook sender)."""
        self.before_finish: dict[str, Any] | None = None
        """The snapshot just before the terminal status: what a lagging read shows."""
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
        self.turn = turn if turn is not None else plan_turn(params, settings, [])
        self.output_items: list[dict[str, Any]] = []
        """The output so far; the item being written is in its partial form."""

    # ---- state -------------------------------------------------------------------------------

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def planned_text(self) -> str:
        return self.turn.planned_text

    @property
    def text(self) -> str:
        """All `output_text` parts of all messages, in output order: the SDK's `output_text`."""
        return "".join(
            part["text"]
            for item in self.output_items
            if item["type"] == "message"
            for part in item["content"]
            if part["type"] == "output_text"
        )

    @property
    def summary(self) -> str:
        """All reasoning summaries, in output order."""
        return "".join(
            part["text"]
            for item in self.output_items
            if item["type"] == "reasoning"
            for part in item["summary"]
        )

    def stream_expired(self) -> bool:
        return time.monotonic() - self._created_monotonic > self.retention_seconds

    def output(self) -> list[dict[str, Any]]:
        return copy.deepcopy(self.output_items)

    def snapshot(self) -> dict[str, Any]:
        """The Response object as `GET /v1/responses/{id}` returns it now."""
        p = self.params
        reasoning = None
        if self.reasoning:
            reasoning = {"effort": "medium", "summary": None, **(p.reasoning or {})}
        response = {
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
            "max_tool_calls": p.max_tool_calls,
            "metadata": dict(p.metadata),
            "model": p.model,
            "output": self.output(),
            "parallel_tool_calls": p.parallel_tool_calls,
            "previous_response_id": p.previous_response_id,
            "prompt_cache_key": p.prompt_cache_key,
            "prompt_cache_retention": p.prompt_cache_retention,
            "reasoning": reasoning,
            "safety_identifier": p.safety_identifier,
            "service_tier": served_tier(p.service_tier),
            "store": p.store,
            "temperature": 1.0 if p.temperature is None else p.temperature,
            "text": p.text or {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": p.tool_choice,
            "tools": copy.deepcopy(p.tools),
            "top_logprobs": p.top_logprobs or 0,
            "top_p": 1.0 if p.top_p is None else p.top_p,
            "truncation": p.truncation or "disabled",
            "usage": copy.deepcopy(self.usage),
            "user": p.user,
        }
        if p.background_options is not None:
            # Not a field of the SDK's Response: kept as an extra, as the API sends it.
            response["background_options"] = copy.deepcopy(p.background_options)
        return response

    def read(self, lag_seconds: float) -> dict[str, Any]:
        """The snapshot a retrieve shows when reads lag the end by `lag_seconds`."""
        if (
            lag_seconds > 0
            and self.finished_at is not None
            and self.before_finish is not None
            and time.time() < self.finished_at + lag_seconds
        ):
            self.counts["lagging_reads"] += 1
            return self.before_finish
        return self.snapshot()

    # ---- events ------------------------------------------------------------------------------

    def _emit(self, type_: str, **fields: Any) -> None:
        event = {"type": type_, "sequence_number": len(self.events), **fields}
        self.events.append(event)
        self._changed.set()
        self._changed = asyncio.Event()

    def _emit_lifecycle(self, type_: str) -> None:
        self._emit(type_, response=self.snapshot())

    # The `items.Sink` the writers fill.

    def emit(self, type_: str, **fields: Any) -> None:
        self._emit(type_, **fields)

    def open_item(self, item: dict[str, Any]) -> int:
        self.output_items.append(item)
        index = len(self.output_items) - 1
        self._emit("response.output_item.added", output_index=index, item=copy.deepcopy(item))
        return index

    def close_item(self, index: int) -> None:
        item = copy.deepcopy(self.output_items[index])
        self._emit("response.output_item.done", output_index=index, item=item)

    def pad(self) -> str:
        return "".join(self._obfuscation.choices("abcdefghijklmnop", k=4))

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

    async def paced(self, count: int, seconds_per_token: float) -> AsyncIterator[int]:
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
        self.started_at = time.time()
        self._emit_lifecycle("response.in_progress")
        for step in self.turn.steps:
            if isinstance(step, MessageStep):
                await self._write_message(step)
                return
            await items.write(self, step, s)
        # A turn without a message (calls, approval requests) ends after its items.
        if self.outcome.kind == "fail":
            self._finish("failed")
        elif self.outcome.kind == "incomplete":
            self.incomplete_details = {"reason": self.outcome.reason}
            self._finish("incomplete")
        else:
            self._finish("completed")

    async def _write_message(self, step: MessageStep) -> None:
        """The answer, cut by `max_output_tokens` (reasoning counts) or the outcome, then the
        terminal status."""
        limit = len(step.tokens)
        if self.params.max_output_tokens is not None:
            limit = min(limit, max(0, self.params.max_output_tokens - self.turn.summary_tokens))
        if self.outcome.kind != "complete":
            limit = min(limit, self.outcome.after_tokens)
        if self.outcome.kind == "fail":
            await items.write_message(self, step, self.settings, limit, finish=False)
            self._finish("failed")
            return
        await items.write_message(self, step, self.settings, limit, finish=True)
        if limit < len(step.tokens):
            reason = (
                self.outcome.reason if self.outcome.kind == "incomplete" else "max_output_tokens"
            )
            self.incomplete_details = {"reason": reason}
            self._finish("incomplete")
        else:
            self._finish("completed")

    def _finish(self, status: str) -> None:
        self.before_finish = self.snapshot()
        self.status = status
        self.finished_at = time.time()
        reasoning_tokens = self.turn.summary_tokens
        output_tokens = reasoning_tokens + len(self.text.split()) + self._call_tokens()
        input_tokens = textgen.count_input_tokens(self.params.input, self.params.instructions)
        self.usage = {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
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
        if self.on_terminal is not None:
            self.on_terminal(self)

    def cancel(self) -> None:
        """Move a running job to `cancelled` for good; the caller checks it is not terminal."""
        if self._task is not None:
            self._task.cancel()
        for item in self.output_items:
            items.interrupt(item)
        self._finish("cancelled")

    def _call_tokens(self) -> int:
        """Rough tokens of what the turn wrote besides text: arguments, code (4 chars each)."""
        size = sum(
            len(i.get("arguments") or "") + len(i.get("code") or "") for i in self.output_items
        )
        return size // 4

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

    def history(self, previous_response_id: str | None) -> list[PastResponse]:
        """The `previous_response_id` chain, oldest first, as far as it is visible."""
        chain: list[PastResponse] = []
        seen: set[str] = set()
        while previous_response_id is not None and previous_response_id not in seen:
            seen.add(previous_response_id)
            job = self.visible(previous_response_id)
            if job is None:
                break
            chain.append(PastResponse(job.params.input, job.output()))
            previous_response_id = job.params.previous_response_id
        return chain[::-1]

    def clear(self) -> None:
        for job in self.jobs.values():
            job.stop()
        self.jobs.clear()
        self.by_idempotency_key.clear()
        self.counts.clear()
