"""A streaming run's recording: what the reader's batches (or, past the replay window, polls)
add to the carried state, exactly once, and what clients read of it (progress, state, the
gateway's view, text by offset). One owner: the workflow's handlers delegate here."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from durable_responses.activities import ResponseSnapshot, StreamBatch
    from durable_responses.models import (
        ErrorType,
        Progress,
        StreamPolicy,
        StreamState,
        TextRequest,
        TextSlice,
        fitting,
        is_terminal,
    )
    from durable_responses.models import items as _items
    from durable_responses.models._carried import ResumeState
    from durable_responses.models.limits import MAX_ITEM_BYTES
    from durable_responses.models.view import RunView, ViewRequest

    from . import _following as following
    from . import _state, metrics
    from .search_attributes import index


class Recording:
    """The recorded stream of one run, over its carried `ResumeState`."""

    def __init__(self, state: ResumeState, policy: StreamPolicy) -> None:
        self.state = state
        self.policy = policy
        self.terminal: ResponseSnapshot | None = None
        """The final response, once the terminal batch (or poll) is recorded."""
        self.done = False
        """The run is over: no more text will come."""
        self.batches_this_run = 0
        self.reader_attempt = 0

    def record(self, batch: StreamBatch) -> None:
        """Append a reader's batch from the recorded cursor on; ignore what is already here."""
        self.batches_this_run += 1
        state = self.state
        if self.terminal is not None:
            return
        if state.response_id is not None and batch.response_id != state.response_id:
            workflow.logger.warning(
                "ignoring a batch of %s: this run records %s", batch.response_id, state.response_id
            )
            return
        recorded = -1 if state.cursor is None else state.cursor
        after = -1 if batch.after is None else batch.after
        last = -1 if batch.cursor is None else batch.cursor
        length = state.text_length
        reasoning = state.reasoning_length
        count = len(state.items)
        if (
            after > recorded
            or batch.offset > length
            or batch.reasoning_offset > reasoning
            or batch.items_from > count
        ):
            workflow.logger.warning(
                "ignoring a batch after cursor %s: %s is recorded", batch.after, state.cursor
            )
            return  # it would leave a gap; the reader's retry starts from the recorded cursor
        if last <= recorded and state.response_id is not None and batch.snapshot is None:
            return  # already recorded
        if state.response_id is None:
            metrics.created(batch.model)
        state.response_id = batch.response_id
        state.model = batch.model or state.model
        state.cursor = max(last, recorded) if last >= 0 else state.cursor
        state.status = batch.status or state.status
        state.chunks += 1
        resumed = batch.reconnects + (batch.attempt > self.reader_attempt > 0)
        self.reader_attempt = max(self.reader_attempt, batch.attempt)
        state.resumes += resumed
        metrics.stream_resumed(resumed)
        self.append(
            batch.text[length - batch.offset :],
            batch.reasoning_summary[reasoning - batch.reasoning_offset :],
        )
        self.append_items(batch.items[count - batch.items_from :])
        state.activity = batch.activity or state.activity
        state.current_index, state.current_item = batch.current_index, batch.current_item
        if batch.snapshot is not None:
            self.terminal = batch.snapshot
            state.status = batch.snapshot.status or state.status
        index(state)

    def record_snapshot(self, snapshot: ResponseSnapshot) -> None:
        self.state.status = snapshot.status
        index(self.state)
        self.append_missing(snapshot)

    def append(self, text: str, reasoning: str) -> None:
        state = self.state
        state.text += text
        state.reasoning_summary += reasoning
        # Beyond the payload-safe size only the tail is kept; offsets stay absolute.
        overflow = len(state.text) - self.policy.max_carried_chars
        if overflow > 0:
            state.text = state.text[overflow:]
            state.text_offset += overflow
        overflow = len(state.reasoning_summary) - self.policy.max_carried_chars
        if overflow > 0:
            state.reasoning_summary = state.reasoning_summary[overflow:]
            state.reasoning_offset += overflow

    def append_items(self, recorded: list[fitting.RecordedItem]) -> None:
        """Append finished items; past the budget, keep the largest as stubs only."""
        state = self.state
        state.items.extend(recorded)
        fitting.omit_largest(state.items, self.policy.max_carried_item_bytes)
        if recorded:
            state.activity = _items.describe_item(recorded[-1].item)

    def append_missing(self, snapshot: ResponseSnapshot) -> None:
        """Append the part of a snapshot's text and items this workflow does not have yet."""
        state = self.state
        have = state.text_length
        full = snapshot.output_text
        prefix = full[state.text_offset : have] if snapshot.output_text_offset == 0 else None
        if prefix is not None and len(full) > have and prefix != state.text:
            workflow.logger.warning(
                "response %s: recorded text is not a prefix of the provider's text",
                snapshot.id,
            )
        start = have - snapshot.output_text_offset
        if start < 0:
            workflow.logger.warning(
                "response %s: the snapshot starts at character %d, past the %d recorded; "
                "the text between stays at the provider",
                snapshot.id,
                snapshot.output_text_offset,
                have,
            )
            start = len(full)
        have_reasoning = state.reasoning_length
        self.append(full[start:], snapshot.reasoning_summary[have_reasoning:])
        # A running response's last item may still change: it is recorded once finished.
        finished = snapshot.output if is_terminal(snapshot.status) else snapshot.output[:-1]
        self.append_items(
            fitting.recorded_from_output(
                finished,
                snapshot.output_text_lengths,
                snapshot.omitted_items,
                len(state.items),
                MAX_ITEM_BYTES,
            )
        )
        state.activity = snapshot.activity or state.activity

    # ---- what clients read ---------------------------------------------------------------------

    def finished(self) -> bool:
        """No more text will be recorded: the run is over, or the terminal batch is in (the
        reader may still be returning)."""
        return self.done or self.terminal is not None

    def progress(self) -> Progress:
        state = self.state
        return _state.progress_of(state, None, items=len(state.items), activity=state.activity)

    def stream_state(self) -> StreamState:
        state = self.state
        return StreamState(
            response_id=state.response_id,
            status=state.status or "starting",
            cursor=state.cursor,
            text=state.text,
            text_offset=state.text_offset,
            text_length=state.text_length,
            reasoning_summary=state.reasoning_summary,
            chunks=state.chunks,
            resumes=state.resumes,
            done=self.finished(),
            items=following.notes_of(state.items),
        )

    def view(self, asked: ViewRequest) -> RunView:
        state = self.state
        start = max(asked.text_from, state.text_offset)
        return RunView(
            upstream_id=state.response_id,
            status=state.status or "starting",
            model=state.model,
            started_at=state.started_at,
            items_from=asked.items_from,
            items=state.items[asked.items_from :],
            item_count=len(state.items),
            text_offset=start,
            text=state.text[start - state.text_offset :],
            text_length=state.text_length,
            dropped=state.text_offset,
            current_index=state.current_index,
            current_item=state.current_item,
            finished=self.finished(),
            response=self.terminal.response if self.terminal is not None else None,
        )

    def slice(self, request: TextRequest) -> TextSlice:
        return following.slice_of(self.state, request, finished=self.finished())

    def check_offset(self, request: TextRequest) -> None:
        """A long-poll may not start past the recorded text (a query may: `text`)."""
        recorded = self.state.text_length
        if request.offset > recorded:
            raise ApplicationError(
                f"offset {request.offset} is past the text recorded so far ({recorded})",
                type=ErrorType.INVALID_REQUEST,
            )
