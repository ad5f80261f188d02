"""Follow a run through Temporal, across crashes: a `StreamingResponseWorkflow`'s text by
offset, a `BackgroundResponseWorkflow`'s progress (status, polls, what it is doing).

    durable-responses-follow WORKFLOW_ID [--from N] [--no-items] [--json]
    (or python -m durable_responses.follow)

Each step asks the workflow's `text` query for the recorded text after offset N, and the
reader's heartbeat (`describe`) for the text it has read but not recorded yet. Neither writes
history or counts against the server's per-run update limits, so any number of followers may
watch one run. Offsets are absolute, so a follower that restarts (or whose worker restarts)
reconnects with its last offset and sees no gap and no repeat. Client-side code: workflows
never import it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import (
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
)
from temporalio.service import RPCError, RPCStatusCode

from durable_responses.models import (
    Progress,
    ResponseResult,
    StreamTail,
    TextRequest,
    TextSlice,
    items,
)
from durable_responses.models.names import PROGRESS_QUERY, STREAM_READER_ACTIVITY
from durable_responses.workflows import StreamingResponseWorkflow

READER_ACTIVITY = STREAM_READER_ACTIVITY  # its old home
QUERY_TIMEOUT = timedelta(seconds=1)
MAX_BACKOFF_SECONDS = 5.0
"""Longest wait between two tries while the server or the workflow's worker does not answer."""


async def follow(
    handle: WorkflowHandle[StreamingResponseWorkflow, ResponseResult],
    offset: int = 0,
    *,
    poll_seconds: float = 0.2,
    retry_seconds: float = 0.5,
    live_tail: bool = True,
    wait_seconds: float | None = None,
    items_from: int | None = None,
) -> AsyncIterator[TextSlice]:
    """Yield the text after `offset` as the stream is read, until the response is done.

    `live_tail` also yields text the reader has read but not yet recorded (at most a batch
    interval behind the provider, one heartbeat at most after it was read); it is the
    provider's text at the same offsets, so nothing repeats once it is recorded.

    With `items_from`, slices also carry the output items recorded from that index on, one
    line each (`items`: `searching: "…"`, `calling get_weather({…})`), each once, and what
    the stream is doing right now (`activity`) whenever it changes.

    A follower fails only when the run does: it raises `WorkflowFailureError` if the workflow
    failed, was cancelled, terminated or timed out, `LookupError` if there is no such
    workflow, and `TypeError` if it is not a streaming one. Everything else is transient and
    retried: a query the busy workflow cannot take ("consistent query buffer is full") or
    whose worker died with the workflow cached (asked again after `retry_seconds`), the
    server unreachable or rate limiting (backing off up to `MAX_BACKOFF_SECONDS`),
    continue-as-new, the end of the run. `wait_seconds` is accepted for callers of the
    update-based version and ignored.
    """
    del wait_seconds
    backoff = _Backoff(retry_seconds)
    activity: str | None = None
    while True:
        piece = await _text(handle, offset, items_from)
        if piece is not None and items_from is not None:
            items_from = piece.next_item if piece.next_item is not None else items_from
            if piece.activity == activity:
                piece = piece.model_copy(update={"activity": None})  # said already
            activity = piece.activity or activity
        if piece is not None and (piece.text or piece.done or piece.items or piece.activity):
            yield piece
            offset = piece.next_offset
        if piece is not None and piece.done:
            await _result(handle, backoff)  # raises if the workflow failed or was cancelled
            return
        description = await _describe(handle)
        if description is not None and description.status != WorkflowExecutionStatus.RUNNING:
            # Closed with no done slice seen (terminated, timed out, or a replay slower than
            # the query's timeout): the rest comes from the result, which raises on a failure.
            result = await _result(handle, backoff)
            start = max(offset, result.output_text_offset)
            rest = result.output_text[start - result.output_text_offset :]
            notes = [] if items_from is None else list(items.notes(result.output))[items_from:]
            yield TextSlice(
                offset=start,
                text=rest,
                next_offset=start + len(rest),
                status=result.status,
                done=True,
                response_id=result.response_id,
                truncated=offset < result.output_text_offset,
                items=notes,
            )
            return
        if items_from is not None and description is not None:
            note = retrying(description)
            if note is not None and note != activity:
                activity = note
                yield TextSlice(
                    offset=offset,
                    next_offset=offset,
                    status=piece.status if piece is not None else "in_progress",
                    activity=note,
                )
        if live_tail and description is not None:
            tail = await reader_tail(description)
            text = ""
            if tail is not None and tail.offset <= offset < tail.offset + len(tail.text):
                text = tail.text[offset - tail.offset :]
            news = None
            if items_from is not None and tail is not None and tail.activity != activity:
                news = activity = tail.activity
            if tail is not None and (text or news):
                yield TextSlice(
                    offset=offset,
                    text=text,
                    next_offset=offset + len(text),
                    status=piece.status if piece is not None else "in_progress",
                    response_id=tail.response_id,
                    activity=news,
                )
                offset += len(text)
        if description is None:
            await backoff.wait()  # the server does not answer: ease off
            continue
        backoff.reset()
        # A query that failed while the server answers: the workflow's worker is busy or gone,
        # and the tail keeps flowing meanwhile.
        await asyncio.sleep(poll_seconds if piece is not None else retry_seconds)


class _Backoff:
    """Growing, jittered waits while calls fail, so a crowd of followers of a struggling
    server or worker eases off instead of asking again in step."""

    def __init__(self, first_seconds: float) -> None:
        self._first = first_seconds
        self._next = first_seconds

    def reset(self) -> None:
        self._next = self._first

    async def wait(self) -> None:
        await asyncio.sleep(self._next * random.uniform(0.5, 1.0))
        self._next = min(self._next * 2, max(self._first, MAX_BACKOFF_SECONDS))


async def _text(
    handle: WorkflowHandle[StreamingResponseWorkflow, ResponseResult],
    offset: int,
    items_from: int | None,
) -> TextSlice | None:
    """The recorded text after `offset` (and items from `items_from`); None when the query
    could not be answered now."""
    try:
        # Short: a query waits for the worker that has the workflow cached, and one that just
        # died holds it for seconds. The tail (from `describe`) does not need that worker.
        piece: TextSlice = await handle.query(
            "text",
            TextRequest(offset=offset, items_from=items_from),
            result_type=TextSlice,
            rpc_timeout=QUERY_TIMEOUT,
        )
        return piece
    except WorkflowQueryFailedError as err:
        if "expected but not found" in str(err):  # the SDK's words for an unknown query
            raise TypeError(
                f"workflow {handle.id!r} has no 'text' query: "
                "only a StreamingResponseWorkflow can be followed"
            ) from None
    except RPCError:
        pass  # not found is decided by `describe`, the rest is transient
    return None


async def _describe(
    handle: WorkflowHandle[Any, ResponseResult],
) -> WorkflowExecutionDescription | None:
    """The run's description; None while the server does not answer. `LookupError` if the
    workflow does not exist (the server's answer to `describe` is authoritative)."""
    try:
        return await handle.describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise LookupError(f"workflow {handle.id!r} not found") from None
        return None  # briefly unreachable or rate limited: ask again at the next step


async def _result(handle: WorkflowHandle[Any, ResponseResult], backoff: _Backoff) -> ResponseResult:
    """The workflow's result, waiting out a server that does not answer; raises
    `WorkflowFailureError` for a failed, cancelled, terminated or timed-out workflow."""
    while True:
        try:
            return await handle.result()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise LookupError(f"workflow {handle.id!r} not found") from None
        await backoff.wait()


async def reader_tail(description: WorkflowExecutionDescription) -> StreamTail | None:
    """The stream reader's read-but-unrecorded text, from its last heartbeat (decoded with the
    client's converter and codec); None if there is none. Followers and the gateway read it."""
    for pending in description.raw_description.pending_activities:
        if (
            pending.activity_type.name == STREAM_READER_ACTIVITY
            and pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
            and pending.heartbeat_details.payloads
        ):
            try:
                (tail,) = await description.data_converter.decode(
                    pending.heartbeat_details.payloads, [StreamTail]
                )
            except Exception:  # a reader of another version: the recorded text will come
                return None
            return tail if isinstance(tail, StreamTail) else None
    return None


async def follow_progress(
    handle: WorkflowHandle[Any, ResponseResult],
    *,
    poll_seconds: float = 0.5,
    retry_seconds: float = 0.5,
) -> AsyncIterator[Progress | ResponseResult | str]:
    """Yield a polling run's `progress` whenever it changes, then its result.

    Changes are of status, polls, items or the latest item (`activity`, e.g.
    `searching: "…"`); waits between them are `poll_seconds`. A `str` is a new retry note
    (`retrying`): an activity fails and Temporal retries it. Fails as `follow` does:
    `WorkflowFailureError` for a run that did not complete, `LookupError` for no such run;
    a query the busy or restarting worker cannot answer now is asked again.
    """
    backoff = _Backoff(retry_seconds)
    last: tuple[object, ...] | None = None
    note: str | None = None
    while True:
        description = await _describe(handle)
        if description is None:
            await backoff.wait()
            continue
        backoff.reset()
        if (news := retrying(description)) != note and news is not None:
            yield news
        note = news
        running = description.status == WorkflowExecutionStatus.RUNNING
        progress = await _progress(handle)
        if progress is not None:
            key = (progress.status, progress.polls, progress.items, progress.activity)
            if key != last:
                last = key
                yield progress
        if not running:
            yield await _result(handle, backoff)
            return
        await asyncio.sleep(poll_seconds)


def retrying(description: WorkflowExecutionDescription) -> str | None:
    """What an activity of the run is retrying after, from its last failure (None when none
    is): what `follow` and the demo print instead of going silent while the API is down."""
    for pending in description.raw_description.pending_activities:
        if pending.attempt > 1 and pending.last_failure.message:
            return (
                f"{pending.activity_type.name} retrying (attempt {pending.attempt}): "
                f"{pending.last_failure.message}"
            )
    return None


async def _progress(handle: WorkflowHandle[Any, ResponseResult]) -> Progress | None:
    """The run's `progress` query; None when it cannot be answered now."""
    try:
        progress: Progress = await handle.query(
            PROGRESS_QUERY, result_type=Progress, rpc_timeout=QUERY_TIMEOUT
        )
        return progress
    except (WorkflowQueryFailedError, RPCError):
        return None


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of `durable-responses-follow` (the command: `_follow_command.py`)."""
    from durable_responses._follow_command import main as command

    command(argv)


if __name__ == "__main__":
    main()
