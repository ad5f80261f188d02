"""Activities mocked by name for time-skipping unit tests of the workflow logic."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity
from temporalio.service import RPCError

from durable_responses.activities import (
    CreateResponseInput,
    ResponseRef,
    ResponseSnapshot,
    StreamBatch,
    StreamReaderEnd,
    StreamReaderInput,
)
from durable_responses.models import Progress, ResponseErrorInfo, Usage

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
    batches: list[StreamBatch] = field(default_factory=list)  # the whole stream, in order
    reader_faults: dict[int, BaseException] = field(default_factory=dict)
    """Raised (once) by the reader before it sends the batch at this index."""
    creates: int = 0
    retrieves: int = 0
    cancelled: list[str] = field(default_factory=list)
    reader_inputs: list[StreamReaderInput] = field(default_factory=list)
    sent: int = 0
    pause: float = 0.02
    """Real seconds between two batches of the mocked reader."""

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

        @activity.defn(name="stream_background_response")
        async def stream(input: StreamReaderInput) -> StreamReaderEnd:
            """Signals the scripted batches to its workflow run, as the real reader does."""
            info = activity.info()
            self.reader_inputs.append(input)
            handle = activity.client().get_workflow_handle(
                info.workflow_id or "", run_id=info.workflow_run_id
            )
            if input.response_id is None:
                # As the real reader: a retry attaches only to an id the workflow recorded;
                # with none recorded, it creates again (and that counts).
                recorded = None
                if info.attempt > 1:
                    progress = await handle.query("progress", result_type=Progress)
                    recorded = progress.response_id
                if recorded is None:
                    self.creates += 1
            while self.sent < len(self.batches):
                if self.sent in self.reader_faults:
                    raise self.reader_faults.pop(self.sent)
                try:
                    batch = self.batches[self.sent].model_copy(update={"attempt": info.attempt})
                    if batch.snapshot is not None and input.end_in_result:
                        self.sent += 1  # as the real reader: the end comes with the result
                        return StreamReaderEnd(
                            response_id=RESPONSE_ID, batches=self.sent, last=batch
                        )
                    await handle.signal("record_stream_batch", batch)
                except RPCError:
                    return StreamReaderEnd()  # the run closed (continued as new)
                self.sent += 1
                activity.heartbeat()
                await asyncio.sleep(self.pause)
            if self.batches and input.response_id is not None:
                # Attached after the end, as a run continued at the last moment does: the
                # real reader finds the stream over and sends the terminal batch from a
                # retrieve.
                batch = self.batches[-1].model_copy(update={"attempt": info.attempt})
                if input.end_in_result:
                    return StreamReaderEnd(response_id=RESPONSE_ID, last=batch)
                with contextlib.suppress(RPCError):
                    await handle.signal("record_stream_batch", batch)
            return StreamReaderEnd(response_id=RESPONSE_ID, batches=self.sent)

        return [create, retrieve, cancel, stream]
