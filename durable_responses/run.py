"""A response run seen from a client: start it or attach to it, read what it recorded plus what
its stream reader has read but not recorded yet, follow it from an offset, its progress, cancel
it, its result. `follow`, the follow command, the demo and the benches build on it.

    run = await RunHandle.start(client, ResponseRequest(input="..."), id="r-1", stream=True)
    async for piece in run.follow():
        print(piece.text, end="")
    result = await run.result()

Reading writes no history and counts against no per-run update limit: the workflow's queries
(`text`, `view`, `progress`) and `describe` (the reader's heartbeat, decoded with the client's
converter and codec). Public Temporal SDK API only. Client-side code: workflows never import it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, TypeVar

from temporalio.api.enums.v1 import PendingActivityState
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
)
from temporalio.exceptions import CancelledError
from temporalio.service import RPCError, RPCStatusCode

from durable_responses.activities.models import FirstPollsHeartbeat
from durable_responses.models import (
    TASK_QUEUE,
    Progress,
    ResponseRequest,
    ResponseResult,
    StreamTail,
    TextRequest,
    TextSlice,
    items,
)
from durable_responses.models.names import (
    BACKGROUND_RESPONSE_WORKFLOW,
    CREATE_ACTIVITY,
    PROGRESS_QUERY,
    STREAM_READER_ACTIVITY,
    STREAMING_RESPONSE_WORKFLOW,
    TEXT_QUERY,
    VIEW_QUERY,
    response_workflow,
)
from durable_responses.models.view import RunView, ViewRequest

QUERY_TIMEOUT = timedelta(seconds=1)
"""A query waits for the worker that has the run cached, and one that just died holds it for
seconds; the tail (from `describe`) does not need that worker, so queries are kept short."""
MAX_BACKOFF_SECONDS = 5.0
"""Longest wait between two tries while the server or the workflow's worker does not answer."""


class RunHandle:
    """One run of a `StreamingResponseWorkflow` or `BackgroundResponseWorkflow`, from a client.

    Every read is by absolute character offset, so a reader that restarts (or whose worker
    restarts) asks again from its last `next_offset` and sees no gap and no repeat. Reads fail
    only when the run does: `WorkflowFailureError` if it failed, was cancelled, terminated or
    timed out, `LookupError` if there is no such run; the rest (a busy or restarting worker,
    an unreachable server, continue-as-new) is retried or answered with what is known.
    """

    def __init__(self, workflow: WorkflowHandle[Any, ResponseResult]) -> None:
        self.workflow = workflow
        """The SDK's handle of the run's workflow (signals, updates, history)."""

    @classmethod
    async def start(
        cls,
        client: Client,
        request: ResponseRequest,
        *,
        id: str,
        stream: bool = False,
        task_queue: str = TASK_QUEUE,
        **options: Any,
    ) -> RunHandle:
        """Start a run: streamed (`stream=True`) or polled; `options` go to `start_workflow`."""
        workflow: WorkflowHandle[Any, ResponseResult] = await client.start_workflow(
            response_workflow(stream=stream),
            request,
            id=id,
            task_queue=task_queue,
            result_type=ResponseResult,
            **options,
        )
        return cls(workflow)

    @classmethod
    def attach(cls, client: Client, workflow_id: str, *, run_id: str | None = None) -> RunHandle:
        """The run with this workflow id (its latest run unless `run_id`); no call is made."""
        return cls(
            client.get_workflow_handle(workflow_id, run_id=run_id, result_type=ResponseResult)
        )

    @property
    def id(self) -> str:
        return self.workflow.id

    # ---- one read ------------------------------------------------------------------------------

    async def describe(self) -> WorkflowExecutionDescription:
        """The run's description (status, type, the reader's heartbeat): `LookupError` if
        there is no such run, the SDK's `RPCError` if the server does not answer."""
        try:
            return await self.workflow.describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise LookupError(f"workflow {self.id!r} not found") from None
            raise

    async def streaming(self) -> bool:
        """Whether the run streams (a `StreamingResponseWorkflow`) or polls (a
        `BackgroundResponseWorkflow`); `TypeError` for a workflow that is neither."""
        kind = (await self.describe()).workflow_type
        if kind not in (STREAMING_RESPONSE_WORKFLOW, BACKGROUND_RESPONSE_WORKFLOW):
            raise TypeError(
                f"workflow {self.id!r} is a {kind}, not a response run: only a "
                f"{STREAMING_RESPONSE_WORKFLOW} or a {BACKGROUND_RESPONSE_WORKFLOW} can be followed"
            )
        return kind == STREAMING_RESPONSE_WORKFLOW

    async def text(self, offset: int = 0, *, items_from: int | None = None) -> TextSlice | None:
        """A streaming run's recorded text after `offset` (and items from `items_from`); None
        when the query cannot be answered now; `TypeError` for a run that does not stream."""
        try:
            piece: TextSlice = await self.workflow.query(
                TEXT_QUERY,
                TextRequest(offset=offset, items_from=items_from),
                result_type=TextSlice,
                rpc_timeout=QUERY_TIMEOUT,
            )
            return piece
        except WorkflowQueryFailedError as err:
            if "expected but not found" in str(err):  # the SDK's words for an unknown query
                raise TypeError(
                    f"workflow {self.id!r} has no 'text' query: "
                    "only a StreamingResponseWorkflow can be followed"
                ) from None
        except RPCError:
            pass  # not found is decided by `describe`, the rest is transient
        return None

    async def view(self, request: ViewRequest | None = None) -> RunView:
        """A streaming run's recording from what the asker has (`request`): finished items,
        text, the item being written. Raises the SDK's errors as they come."""
        view: RunView = await self.workflow.query(
            VIEW_QUERY, request or ViewRequest(), result_type=RunView
        )
        return view

    async def progress(self, *, rpc_timeout: timedelta = QUERY_TIMEOUT) -> Progress | None:
        """The run's `progress` (either kind); None when it cannot be answered now."""
        try:
            progress: Progress = await self.workflow.query(
                PROGRESS_QUERY, result_type=Progress, rpc_timeout=rpc_timeout
            )
            return progress
        except (WorkflowQueryFailedError, RPCError):
            return None

    async def tail(
        self, description: WorkflowExecutionDescription | None = None
    ) -> StreamTail | None:
        """The stream reader's read-but-unrecorded text (from `description`, else a new one)."""
        description = description or await self._try_describe()
        return None if description is None else await reader_tail(description)

    async def read(self, offset: int = 0, *, items_from: int | None = None) -> TextSlice:
        """What the run has after `offset` now, whatever its kind.

        A streaming run: its recorded text, and the reader's tail where it continues it. A
        polling run: nothing until it closes (its status and what it is doing meanwhile),
        then its result's text. Raises `WorkflowFailureError` for a run that did not complete.
        """
        description = await self.describe()
        if description.status != WorkflowExecutionStatus.RUNNING:
            return _rest_of(await self.result(), offset, items_from)
        if description.workflow_type != STREAMING_RESPONSE_WORKFLOW:
            progress = await self.progress()
            return TextSlice(
                offset=offset,
                next_offset=offset,
                status=progress.status if progress is not None else "in_progress",
                response_id=progress.response_id if progress is not None else None,
                activity=progress.activity if progress is not None else None,
            )
        piece = await self.text(offset, items_from=items_from)
        if piece is None:
            piece = TextSlice(offset=offset, next_offset=offset, status="in_progress")
        more = tail_after(await reader_tail(description), piece.next_offset)
        if more and not piece.done:
            piece = piece.model_copy(
                update={"text": piece.text + more, "next_offset": piece.next_offset + len(more)}
            )
        return piece

    async def _try_describe(self) -> WorkflowExecutionDescription | None:
        """`describe`, or None while the server does not answer (briefly unreachable or rate
        limiting: ask again at the next step); not found is still `LookupError`."""
        try:
            return await self.describe()
        except RPCError:
            return None

    # ---- following -----------------------------------------------------------------------------

    async def follow(
        self,
        offset: int = 0,
        *,
        poll_seconds: float = 0.2,
        retry_seconds: float = 0.5,
        live_tail: bool = True,
        items_from: int | None = None,
    ) -> AsyncIterator[TextSlice]:
        """Yield a streaming run's text after `offset` as it is read, until the run is done.

        `live_tail` also yields text the reader has read but not yet recorded (at most a batch
        interval behind the provider, one heartbeat at most after it was read); it is the
        provider's text at the same offsets, so nothing repeats once it is recorded. With
        `items_from`, slices also carry the output items from that index on, one line each,
        each once, and what the stream is doing now (`activity`) whenever it changes.
        `TypeError` for a run that does not stream (follow its `follow_progress`).
        """
        backoff = _Backoff(retry_seconds)
        activity: str | None = None
        while True:
            piece = await self.text(offset, items_from=items_from)
            if piece is not None and items_from is not None:
                items_from = piece.next_item if piece.next_item is not None else items_from
                if piece.activity == activity:
                    piece = piece.model_copy(update={"activity": None})  # said already
                activity = piece.activity or activity
            if piece is not None and (piece.text or piece.done or piece.items or piece.activity):
                yield piece
                offset = piece.next_offset
            if piece is not None and piece.done:
                await self._result(backoff)  # raises if the workflow failed or was cancelled
                return
            description = await self._try_describe()
            if description is not None and description.status != WorkflowExecutionStatus.RUNNING:
                # Closed with no done slice seen (terminated, timed out, or a replay slower
                # than the query's timeout): the rest comes from the result, which raises on
                # a failure.
                yield _rest_of(await self._result(backoff), offset, items_from)
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
                text = tail_after(tail, offset)
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
            # A query that failed while the server answers: the workflow's worker is busy or
            # gone, and the tail keeps flowing meanwhile.
            await asyncio.sleep(poll_seconds if piece is not None else retry_seconds)

    async def follow_progress(
        self, *, poll_seconds: float = 0.5, retry_seconds: float = 0.5
    ) -> AsyncIterator[Progress | ResponseResult | str]:
        """Yield the run's `progress` whenever it changes, then its result.

        Changes are of status, polls, items or the latest item (`activity`, e.g.
        `searching: "…"`); waits between them are `poll_seconds`. While a polling run's create
        makes its first polls, the response, its status and the polls come from the create's
        heartbeat (`first_polls`): the workflow has them only once the create returns. A `str`
        is a new retry note (`retrying`): an activity fails and Temporal retries it. Either kind
        of run.
        """
        backoff = _Backoff(retry_seconds)
        last: tuple[object, ...] | None = None
        note: str | None = None
        while True:
            description = await self._try_describe()
            if description is None:
                await backoff.wait()
                continue
            backoff.reset()
            if (news := retrying(description)) != note and news is not None:
                yield news
            note = news
            running = description.status == WorkflowExecutionStatus.RUNNING
            progress = await self.progress()
            if progress is not None and progress.response_id is None and running:
                progress = _with_first_polls(progress, await first_polls(description))
            if progress is not None:
                key = (progress.status, progress.polls, progress.items, progress.activity)
                if key != last:
                    last = key
                    yield progress
            if not running:
                yield await self._result(backoff)
                return
            await asyncio.sleep(poll_seconds)

    # ---- the end -------------------------------------------------------------------------------

    async def cancel(self, *, wait: bool = False) -> None:
        """Ask the run to stop; it cancels its response upstream first (the orphan rule). With
        `wait`, return once the run has closed (cancelled, or ended before the cancel came)."""
        await self.workflow.cancel()
        if not wait:
            return
        try:
            await self.result()
        except WorkflowFailureError as err:
            if not isinstance(err.cause, CancelledError):
                raise

    async def result(self, *, retry_seconds: float = 0.5) -> ResponseResult:
        """The run's result once it closes, waiting out a server that does not answer; raises
        `WorkflowFailureError` for a run that failed, was cancelled, terminated or timed out."""
        return await self._result(_Backoff(retry_seconds))

    async def _result(self, backoff: _Backoff) -> ResponseResult:
        while True:
            try:
                return await self.workflow.result()
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    raise LookupError(f"workflow {self.id!r} not found") from None
            await backoff.wait()


def reader_activity(description: WorkflowExecutionDescription) -> PendingActivityInfo | None:
    """The run's stream reader as the server sees it, while a worker runs it (its heartbeat,
    attempt, `last_worker_identity`); None between attempts and in a polling run."""
    for pending in description.raw_description.pending_activities:
        if (
            pending.activity_type.name == STREAM_READER_ACTIVITY
            and pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
        ):
            return pending
    return None


def heartbeating_create(description: WorkflowExecutionDescription) -> PendingActivityInfo | None:
    """The run's create once it has heartbeated: the provider has answered, and the create
    polls the young response itself (`activities/first_polls.py`); None before, or after."""
    for pending in description.raw_description.pending_activities:
        if pending.activity_type.name == CREATE_ACTIVITY and pending.heartbeat_details.payloads:
            return pending
    return None


async def first_polls(description: WorkflowExecutionDescription) -> FirstPollsHeartbeat | None:
    """What a polling run's create knows while it polls the young response itself, from its
    last heartbeat in `description` (`heartbeating_create`); None if none."""
    return await _last_heartbeat(description, heartbeating_create(description), FirstPollsHeartbeat)


def _with_first_polls(progress: Progress, known: FirstPollsHeartbeat | None) -> Progress:
    if known is None:
        return progress
    return progress.model_copy(
        update={
            "response_id": known.response_id,
            "status": known.status or progress.status,
            "model": known.model or progress.model,
            "polls": known.polls,
        }
    )


async def reader_tail(description: WorkflowExecutionDescription) -> StreamTail | None:
    """The stream reader's read-but-unrecorded text, from its last heartbeat in `description`
    (decoded with the client's converter and codec); None if there is none."""
    return await _last_heartbeat(description, reader_activity(description), StreamTail)


HeartbeatT = TypeVar("HeartbeatT", FirstPollsHeartbeat, StreamTail)


async def _last_heartbeat(
    description: WorkflowExecutionDescription,
    pending: PendingActivityInfo | None,
    kind: type[HeartbeatT],
) -> HeartbeatT | None:
    """`pending`'s last heartbeat as `kind`, decoded with the client's converter and codec;
    None if it has none, or one of another version (the workflow's record will say)."""
    if pending is None or not pending.heartbeat_details.payloads:
        return None
    try:
        (details,) = await description.data_converter.decode(
            pending.heartbeat_details.payloads, [kind]
        )
    except Exception:
        return None
    return details if isinstance(details, kind) else None


def tail_after(tail: StreamTail | None, offset: int) -> str:
    """The tail's text from `offset` on; empty unless the tail covers `offset` (a tail that
    starts later would leave a gap)."""
    if tail is None or not tail.offset <= offset < tail.offset + len(tail.text):
        return ""
    return tail.text[offset - tail.offset :]


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


def _rest_of(result: ResponseResult, offset: int, items_from: int | None) -> TextSlice:
    """A closed run's text after `offset` (and item notes from `items_from`), from its result."""
    start = max(offset, result.output_text_offset)
    rest = result.output_text[start - result.output_text_offset :]
    notes = [] if items_from is None else list(items.notes(result.output))[items_from:]
    return TextSlice(
        offset=start,
        text=rest,
        next_offset=start + len(rest),
        status=result.status,
        done=True,
        response_id=result.response_id,
        truncated=offset < result.output_text_offset,
        items=notes,
    )


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
