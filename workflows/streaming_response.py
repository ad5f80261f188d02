"""`StreamingResponseWorkflow`: one reader activity reads a background stream over one connection
and records it here in batches, resuming from the cursor in workflow state after any crash, so
the text has no gap and no duplicate."""

from __future__ import annotations

import contextlib
from typing import NoReturn

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from durable_responses.activities import StreamBatch
    from durable_responses.models import (
        ErrorType,
        Progress,
        ResponseResult,
        StreamPolicy,
        StreamState,
        TextRequest,
        TextSlice,
        fitting,
    )
    from durable_responses.models import items as _items
    from durable_responses.models._carried import CarriedRequest, ResumeState
    from durable_responses.models.names import (
        BATCH_SIGNAL,
        PROGRESS_QUERY,
        STATE_QUERY,
        STREAMING_RESPONSE_WORKFLOW,
        TEXT_AFTER_UPDATE,
        TEXT_QUERY,
        VIEW_QUERY,
    )
    from durable_responses.models.view import RunView, ViewRequest
    from durable_responses.models.webhooks import (
        WEBHOOK_SIGNAL,
        WEBHOOKS_UPDATE,
        WebhookEvent,
        WebhookSetting,
    )

    from . import _following as following
    from . import _outcome as outcome
    from . import _state
    from ._patches import patched
    from ._reading import Reading
    from ._recording import Recording
    from ._sandbox import SANDBOXED
    from ._size import ensure_input_fits, fit_result
    from ._state import RunInput
    from ._upstream import cancelling_upstream_on_exit
    from ._wake import Wake

STREAM_READER_PATCH = "stream-reader-v1"
"""Runs from before this patch replay with the chunked engine (`read_stream_chunk`)."""
FLEX_REFUSED_PATCH = "streaming-flex-refused-v1"
"""Runs from before this patch accepted `flex_fallback_seconds` and ignored it; new ones refuse
it at start (asked only when it is set, so other runs record no marker)."""


@workflow.defn(
    name=STREAMING_RESPONSE_WORKFLOW, failure_exception_types=[ValidationError], sandboxed=SANDBOXED
)
class StreamingResponseWorkflow:
    """Stream one background response into workflow state, exactly once, across crashes.

    A `stream_background_response` activity creates the response (or attaches after the
    recorded cursor) and reads its stream over one connection to the end, signalling batches
    here (`record_stream_batch`): the response id first, then text at growing intervals. A
    batch is appended only from the recorded cursor on, so redeliveries and readers that lost
    their worker change nothing. If the provider no longer replays the stream, the workflow
    polls `retrieve` and appends only the text it does not have yet. Clients follow the text by
    offset with the `text` query plus the reader's unrecorded tail (no history cost), or the
    older `text_after` update.
    """

    @workflow.init
    def __init__(self, request: RunInput = None, *unexpected: object) -> None:
        # State is set up before the first `text_after` validator runs, so a follower of a run
        # that continued as new is checked against the carried text, not an empty one. A bad
        # request leaves it empty and `run` reports the problem.
        checked = _state.try_request(request)
        self._state = _state.initial_state(checked) if checked else ResumeState()
        self._policy = checked.streaming if checked else StreamPolicy()
        self._draining = False
        self._recording = Recording(self._state, self._policy)
        self._wake = Wake(self._state)

    @workflow.run
    async def run(self, request: RunInput = None, *unexpected: object) -> ResponseResult:
        """Create and stream (unless continued), record every chunk, return the whole text."""
        checked = _state.validated_request(request, unexpected)
        if checked.discounted_window():
            raise ApplicationError(
                f"background_options.completion_window {checked.discounted_window()!r} is for "
                "polled background responses only (OpenAI refuses it with stream=true): start "
                "a BackgroundResponseWorkflow",
                type=ErrorType.INVALID_REQUEST,
                non_retryable=True,
            )
        if (
            checked.flex_fallback_seconds is not None
            and checked.resume is None
            and patched(FLEX_REFUSED_PATCH)
        ):
            raise ApplicationError(
                "flex_fallback_seconds is for polled background responses only: the stream "
                "reader creates the response on its one connection and cannot move it to "
                "another tier; start a BackgroundResponseWorkflow, or leave it unset",
                type=ErrorType.INVALID_REQUEST,
                non_retryable=True,
            )
        await ensure_input_fits(checked)
        state = self._state
        reading = Reading(
            state,
            self._policy,
            checked,
            recording=self._recording,
            wake=self._wake,
            continue_as_new=lambda seconds: self._continue_as_new(checked, seconds),
        )
        try:
            async with cancelling_upstream_on_exit(state):
                if patched(STREAM_READER_PATCH):
                    snapshot = await reading.stream_until_terminal()
                else:
                    snapshot = await reading.chunks_until_terminal()
        except workflow.ContinueAsNewError:
            # Not done: a follower that asks this run before it closes must keep going, and
            # its next query reaches the new run.
            raise
        except BaseException:
            self._recording.done = True
            raise
        self._recording.done = True
        # Followers waiting in `text_after` get the last slice before the workflow closes.
        await workflow.wait_condition(workflow.all_handlers_finished)
        result = outcome.conclude(snapshot, state)
        fitted = fitting.from_recorded(state.items, state.text if not state.text_offset else None)
        return fit_result(
            result.model_copy(
                update={
                    "output_text": state.text,
                    "output_text_offset": state.text_offset,
                    "reasoning_summary": state.reasoning_summary,
                    "cursor": state.cursor,
                    "resumes": state.resumes,
                    "chunks": state.chunks,
                    **fitted.model_dump(),
                    "output_kind": _items.output_kind(fitted.output),
                }
            )
        )

    @workflow.signal(name=WEBHOOK_SIGNAL)
    def openai_webhook(self, event: WebhookEvent) -> None:
        """OpenAI says the response has ended: a polling fallback polls it now. (The reader,
        on its one connection, needs no wake-up.)"""
        self._wake.webhook(event)

    @workflow.update(name=WEBHOOKS_UPDATE)
    async def set_webhooks(self, setting: WebhookSetting) -> WebhookSetting:
        """Switch a polling fallback between webhooks (polls a slow safety net) and polling on
        the request's intervals, now and for continuations; the answer is the setting now."""
        return self._wake.set(setting)

    @workflow.signal(name=BATCH_SIGNAL)
    def record_stream_batch(self, batch: StreamBatch) -> None:
        """Append a reader's batch from the recorded cursor on; ignore what is already here."""
        self._recording.record(batch)

    async def _continue_as_new(
        self, request: CarriedRequest, chunk_seconds: float | None
    ) -> NoReturn:
        state = self._state
        workflow.logger.info(
            "response %s: continuing as new at cursor %s (%d chars)",
            state.response_id,
            state.cursor,
            state.text_length,
        )
        # Waiting followers return now and ask again: their next update reaches the new run.
        self._draining = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        state.chunk_seconds = chunk_seconds
        workflow.continue_as_new(_state.continued(request, state))

    # ---- clients -----------------------------------------------------------------------------

    @workflow.query(name=PROGRESS_QUERY)
    def progress(self) -> Progress:
        """Live progress: status, response id, cursor, text length, chunks, resumes."""
        return self._recording.progress()

    @workflow.query(name=STATE_QUERY)
    def current_state(self) -> StreamState:
        """Everything recorded so far, text included."""
        return self._recording.stream_state()

    @workflow.query(name=VIEW_QUERY)
    def view(self, request: ViewRequest | None = None) -> RunView:
        """The finished items, the text and the item being written, from what the asker has
        (`durable_responses.gateway` builds OpenAI's Response and stream from it)."""
        return self._recording.view(request or ViewRequest())

    @workflow.query(name=TEXT_QUERY)
    def text(self, request: TextRequest | None = None) -> TextSlice:
        """The recorded text after `offset` (up to `max_chars`), at once and at no history cost.

        An offset past the recorded text is allowed: a follower may have shown the reader's
        unrecorded tail (`StreamTail`, in the reader's heartbeat) and asks from there.
        """
        checked = TextRequest() if request is None else following.text_request(request, ())
        return self._recording.slice(checked)

    @workflow.update(name=TEXT_AFTER_UPDATE)
    async def text_after(
        self, request: TextRequest | None = None, *unexpected: object
    ) -> TextSlice:
        """Long-poll: the text after `offset`, as soon as there is some (or `wait_seconds`).

        Offsets are absolute character positions in the answer, so a client that reconnects
        with its last `next_offset` sees no gap and no repeat. Each call is an update: its
        answer is written to history, and a run takes at most 10 at once and 2,000 in all.
        Prefer the `text` query (what `follow` uses).
        """

        request = following.text_request(request, unexpected)  # the validator refused the rest
        offset = request.offset
        recording = self._recording

        def ready() -> bool:
            return self._state.text_length > offset or recording.finished() or self._draining

        if not ready() and request.wait_seconds > 0:
            with contextlib.suppress(TimeoutError):  # nothing new in time: an empty slice
                await workflow.wait_condition(ready, timeout=request.wait_seconds)
        return recording.slice(request)

    @text_after.validator
    def _check_text_request(self, request: TextRequest | None = None, *unexpected: object) -> None:
        self._recording.check_offset(following.text_request(request, unexpected))
