"""Activities mocked by name for time-skipping unit tests of the workflow logic."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity

from durable_responses.activities import (
    CreateResponseInput,
    ReadStreamChunkInput,
    ResponseRef,
    ResponseSnapshot,
    StreamChunk,
)
from durable_responses.models import ResponseErrorInfo, Usage

RESPONSE_ID = "resp_mock"


@dataclass
class ScriptedAPI:
    """The four activities, by name, answering from a script instead of the network."""

    polls_until_done: int = 3
    create_status: str = "queued"
    final_status: str = "completed"
    text: str = "The theory of relativity, in two sentences."
    error_code: str = "server_error"
    incomplete_reason: str = "max_output_tokens"
    create_errors: list[BaseException] = field(default_factory=list)
    retrieve_errors: list[BaseException] = field(default_factory=list)
    chunks: list[Any] = field(default_factory=list)  # StreamChunk or an exception to raise
    creates: int = 0
    retrieves: int = 0
    cancelled: list[str] = field(default_factory=list)
    chunk_inputs: list[ReadStreamChunkInput] = field(default_factory=list)

    def snapshot(self, status: str) -> ResponseSnapshot:
        terminal = status not in ("queued", "in_progress")
        return ResponseSnapshot(
            id=RESPONSE_ID,
            status=status,
            model="o3",
            output_text=self.text if terminal else "",
            usage=Usage(input_tokens=5, output_tokens=9, total_tokens=14) if terminal else None,
            error=ResponseErrorInfo(code=self.error_code, message="model exploded")
            if status == "failed"
            else None,
            incomplete_reason=self.incomplete_reason if status == "incomplete" else None,
            created_at=1_700_000_000.0,
            completed_at=1_700_000_100.0 if status == "completed" else None,
        )

    def activities(self) -> list[Callable[..., Any]]:
        @activity.defn(name="create_background_response")
        async def create(input: CreateResponseInput) -> ResponseSnapshot:
            if self.create_errors:
                raise self.create_errors.pop(0)
            self.creates += 1
            return self.snapshot(self.create_status)

        @activity.defn(name="retrieve_response")
        async def retrieve(input: ResponseRef) -> ResponseSnapshot:
            if self.retrieve_errors:
                raise self.retrieve_errors.pop(0)
            self.retrieves += 1
            if self.retrieves >= self.polls_until_done:
                return self.snapshot(self.final_status)
            return self.snapshot("in_progress")

        @activity.defn(name="cancel_response")
        async def cancel(input: ResponseRef) -> ResponseSnapshot:
            self.cancelled.append(input.response_id)
            return self.snapshot("cancelled")

        @activity.defn(name="read_stream_chunk")
        async def read_stream_chunk(input: ReadStreamChunkInput) -> StreamChunk:
            self.chunk_inputs.append(input)
            if input.response_id is None:
                self.creates += 1
            if not self.chunks:
                raise RuntimeError("script ran out of chunks")
            step = self.chunks.pop(0)
            if isinstance(step, BaseException):
                raise step
            return step

        return [create, retrieve, cancel, read_stream_chunk]
