"""The runs behind the gateway's response ids: starting them, and reading what they show.

Reading writes no history and needs no lock: `describe` (the run's status, its memo, and the
stream reader's unrecorded tail from its heartbeat), the streaming workflow's `view` query
(only what the reader recorded since the last read), and the result of a finished run. All
state lives in Temporal, so any gateway replica serves any id.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, CancelledError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from durable_responses.follow import reader_tail
from durable_responses.models import ErrorType, ResponseResult
from durable_responses.models.items import inflate_message_text
from durable_responses.models.names import (
    BATCH_SIGNAL,
    CREATE_ACTIVITY,
    OPENAI_RESPONSE_ID,
    OPENAI_RESPONSE_STATUS,
    STREAM_READER_ACTIVITY,
    response_workflow,
)
from durable_responses.models.view import RunView, ViewRequest
from durable_responses.run import heartbeating_create

from .errors import APIError, not_found
from .ids import workflow_id
from .objects import ECHOED, Run
from .requests import CreateCall

log = logging.getLogger("durable_responses.gateway")

VIEW_QUERY_SECONDS = 2.0
"""Bound of one `view` query. With no worker the server holds a query for about 30 s; the
reader answers from what it has and asks again on its next read instead."""
CREATE_WAIT_SECONDS = 5.0
"""How long a create waits for the provider to accept or refuse the run's response before it
answers `queued` anyway. OpenAI accepts a background create in well under a second; 5 s also
covers two retries of a transient failure (Temporal retries a create after 1 s, then 2 s more),
and stays far below what clients and proxies allow a request (the SDKs: 10 minutes; common
proxies: 60 s). Past it the run goes on, and a refusal then shows as a failed Response."""
MAX_CREATE_WAIT_SECONDS = 55.0
"""The most an operator may set (`--create-wait-seconds`): below the 60 s common proxies allow
a request, past which a client would see the proxy's 504, not the gateway's `queued`."""

HEARTBEAT_READ_SECONDS = 0.1
"""How often a create reads its run for the create activity's first heartbeat: the provider's
answer is in it, and every tenth of a second waited is the client's."""

MEMO_KEY = "gateway"
READER_ACTIVITY = STREAM_READER_ACTIVITY  # its old home
_CLOSED_STATUS = {
    WorkflowExecutionStatus.CANCELED: "cancelled",
    WorkflowExecutionStatus.TERMINATED: "failed",
    WorkflowExecutionStatus.TIMED_OUT: "failed",
    WorkflowExecutionStatus.FAILED: "failed",
}


@dataclass(frozen=True)
class Started:
    """The run a create started, or found (a retried create with the same key)."""

    run: Run
    existing: bool


async def start(
    client: Client, task_queue: str, tenant: str, response_id: str, call: CreateCall
) -> Started:
    """Start the run of a create; a run already there (an idempotent retry) is returned."""
    request = call.request
    previous = call.previous_response_id
    if previous is not None:
        upstream = await upstream_id(client, tenant, previous)
        request = request.model_copy(update={"previous_response_id": upstream})
    echo = request.model_dump(mode="json", include=set(ECHOED), exclude_none=True)
    if previous is not None:
        echo["previous_response_id"] = previous
    run = Run(
        response_id=response_id,
        stream=call.stream,
        background=call.background,
        created_at=int(time.time()),
        model=str(request.model),
        request=echo,
    )
    memo = {
        "stream": run.stream,
        "background": run.background,
        "created_at": run.created_at,
        "model": run.model,
        "request": run.request,
        "fingerprint": call.fingerprint,
    }
    workflow = response_workflow(stream=call.stream)
    try:
        await client.start_workflow(
            workflow,
            request,
            id=workflow_id(tenant, response_id),
            task_queue=task_queue,
            memo={MEMO_KEY: memo},
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        reader = await RunReader.open(client, tenant, response_id)
        if reader.memo.get("fingerprint") != call.fingerprint:
            raise APIError(
                409,
                "This Idempotency-Key was used with a different request body; use a new key "
                "for a new request.",
                param="Idempotency-Key",
                code="idempotency_key_reused",
            ) from None
        return Started(reader.run, existing=True)
    return Started(run, existing=False)


async def upstream_id(client: Client, tenant: str, response_id: str) -> str:
    """The provider's id of one of the tenant's responses (to chain from it)."""
    reader = await RunReader.open(client, tenant, response_id, param="previous_response_id")
    progress = await reader.handle.query("progress", result_type=dict)
    upstream = progress.get("response_id")
    if not upstream:
        raise APIError(
            400,
            f"Previous response '{response_id}' has not started yet.",
            param="previous_response_id",
        )
    return str(upstream)


async def created(
    client: Client, tenant: str, response_id: str, *, wait_seconds: float = CREATE_WAIT_SECONDS
) -> RunReader:
    """The run once the provider has accepted its create or the run has ended, or as it is
    after `wait_seconds` (a provider slow or retried).

    Raises the provider's refusal (`RunReader.refusal`) as OpenAI answers it at create.
    """
    handle = client.get_workflow_handle(workflow_id(tenant, response_id))
    try:
        async with asyncio.timeout(wait_seconds):
            await _accepted(handle)
    except TimeoutError:
        log.info("create of %s not answered by the provider in %gs", response_id, wait_seconds)
    # No `view` query: a query waits for the worker (busy at the run's start), and a stream's
    # first events need nothing it answers; the stream's first tick asks.
    reader = await RunReader.open(client, tenant, response_id, view=False)
    if reader.refusal is not None:
        raise reader.refusal
    return reader


async def _accepted(handle: WorkflowHandle[Any, Any]) -> None:
    """Until the provider has accepted the run's create, or the run has closed (a refusal
    fails it): the first proof the run's history or its create's heartbeat gives, so the
    answer waits for no workflow task after the provider's answer.

    - a streaming run: its reader's first batch signal (which carries the response id);
    - a polling run: its create's first heartbeat, which names the response as soon as the
      provider answers while the activity goes on polling it (`activities/first_polls.py`),
      or the create completed;
    - either: the `OpenAIResponseId` upsert the workflow makes as it records the id.

    A failed create attempt proves nothing: it is retried, or the run fails and closes.
    """
    create_scheduled = asyncio.Event()
    proofs = [
        asyncio.ensure_future(_history_proves(handle, create_scheduled)),
        asyncio.ensure_future(_heartbeat_proves(handle, create_scheduled)),
    ]
    try:
        done, _ = await asyncio.wait(proofs, return_when=asyncio.FIRST_COMPLETED)
        for proof in done:
            proof.result()  # Temporal unreachable: raised, as any read's error
    finally:
        for proof in proofs:
            proof.cancel()


async def _history_proves(
    handle: WorkflowHandle[Any, Any], create_scheduled: asyncio.Event
) -> None:
    """Read by a long poll, no worker involved; ends too when the run closes (its last event)."""
    creates: set[int] = set()  # the events that scheduled a create
    async for event in handle.fetch_history_events(wait_new_event=True):
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            if event.workflow_execution_signaled_event_attributes.signal_name == BATCH_SIGNAL:
                return
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            if event.activity_task_scheduled_event_attributes.activity_type.name == CREATE_ACTIVITY:
                creates.add(event.event_id)
                create_scheduled.set()
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            if event.activity_task_completed_event_attributes.scheduled_event_id in creates:
                return
        elif kind == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            upserted = event.upsert_workflow_search_attributes_event_attributes
            if OPENAI_RESPONSE_ID.name in upserted.search_attributes.indexed_fields:
                return


async def _heartbeat_proves(
    handle: WorkflowHandle[Any, Any], create_scheduled: asyncio.Event
) -> None:
    """A heartbeat is no history event (the long poll does not wake for it): once a create is
    scheduled, the run is described every `HEARTBEAT_READ_SECONDS` until one is there."""
    await create_scheduled.wait()
    while True:
        try:
            description = await handle.describe()
        except RPCError as err:  # the history's long poll says what is wrong, if it is
            log.debug("create of %s: not described: %s", handle.id, err)
        else:
            if description.status != WorkflowExecutionStatus.RUNNING:
                return
            if heartbeating_create(description) is not None:
                return
        await asyncio.sleep(HEARTBEAT_READ_SECONDS)


class RunReader:
    """What one run shows, read again and again at no history cost (see module docstring)."""

    def __init__(self, handle: WorkflowHandle[Any, Any], run: Run) -> None:
        self.handle = handle
        self.run = run
        self._recorded = ""  # the recorded text; `run.text` adds the reader's tail to it
        self._consumed = 0  # characters of it the finished messages hold
        self._history_length = 0  # the run's history when last queried: no growth, no news
        self.memo: dict[str, Any] = {}
        """What the gateway stored with the run when it started it."""
        self.upstream_id: str | None = None
        """The provider's id of the run's response, once the run has recorded it."""
        self.refusal: APIError | None = None
        """The provider's refusal of the run's create (the run failed with no upstream id),
        as the API answers it: the client gets it at create, not a failed Response."""

    @classmethod
    def started(cls, client: Client, tenant: str, run: Run) -> RunReader:
        """The reader of a run this gateway has just started: nothing to read yet, so the
        stream's first events go out before the worker has even seen the run."""
        handle = client.get_workflow_handle(
            workflow_id(tenant, run.response_id), result_type=ResponseResult
        )
        return cls(handle, run)

    @classmethod
    async def open(
        cls,
        client: Client,
        tenant: str,
        response_id: str,
        *,
        param: str = "response_id",
        view: bool = True,
    ) -> RunReader:
        """The reader of a tenant's response; 404 if the tenant has no such response. With
        `view=False` a running stream's recording is left for the first `refresh`."""
        handle = client.get_workflow_handle(
            workflow_id(tenant, response_id), result_type=ResponseResult
        )
        try:
            description = await handle.describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise _not_found(response_id, param) from None
            raise
        memo = (await description.memo()).get(MEMO_KEY)
        if not isinstance(memo, dict) or not memo:
            # Under a gateway id, but not started by a gateway: no response of the tenant's.
            raise _not_found(response_id, param)
        run = Run(
            response_id=response_id,
            stream=bool(memo.get("stream")),
            background=bool(memo.get("background")),
            created_at=int(memo.get("created_at") or description.start_time.timestamp()),
            model=str(memo.get("model") or ""),
            request=dict(memo.get("request") or {}),
        )
        reader = cls(handle, run)
        reader.memo = memo
        await reader._update(description, view=view)
        return reader

    async def refresh(self) -> Run:
        """Read the run again; what it shows now."""
        if not self.run.terminal:
            await self._update(await self.handle.describe())
        return self.run

    async def _update(self, description: Any, *, view: bool = True) -> None:
        self.upstream_id = description.typed_search_attributes.get(OPENAI_RESPONSE_ID)
        status = description.status
        if status == WorkflowExecutionStatus.RUNNING:
            if self.run.stream:
                # A query costs the worker a task; the state it reads changes only with the
                # history, so it is asked again only when the history has grown.
                length = description.raw_description.workflow_execution_info.history_length
                if view and length != self._history_length and await self._read_view():
                    self._history_length = length
                await self._add_tail(description)
            else:
                # The status the workflow upserts: no query, no worker involved.
                upserted = description.typed_search_attributes.get(OPENAI_RESPONSE_STATUS)
                self.run.status = _active(upserted)
        elif status == WorkflowExecutionStatus.COMPLETED:
            self._finish(await self.handle.result())
        else:
            await self._fail(status)

    async def _read_view(self) -> bool:
        """Add what the run recorded since the last read; False if it could not answer yet
        (its first workflow task not done: a run a moment old, or its worker down)."""
        try:
            view: RunView = await self.handle.query(
                "view",
                ViewRequest(items_from=len(self.run.items), text_from=len(self._recorded)),
                result_type=RunView,
                rpc_timeout=timedelta(seconds=VIEW_QUERY_SECONDS),
            )
        except (RPCError, WorkflowQueryFailedError) as err:
            log.debug("view of %s not read: %s", self.handle.id, err)
            return False
        if view.text_offset == len(self._recorded):
            self._recorded += view.text
        for recorded in view.items:
            item = recorded.item
            if recorded.text_lengths:
                size = sum(recorded.text_lengths)
                text = self._recorded[self._consumed : self._consumed + size]
                if len(text) == size:
                    item = inflate_message_text([item], recorded.text_lengths, text)[0]
                self._consumed += size
            self.run.items.append(item)
        self.run.text = self._recorded
        self.run.status = _active(view.status)
        self.run.live_index, self.run.live_item = view.current_index, view.current_item
        return True

    async def _add_tail(self, description: Any) -> None:
        """Text the reader has read but not recorded, if it belongs to the item being
        written (a newer item's text must wait for its own events)."""
        tail = await reader_tail(description)
        item = self.run.live_item or {}
        if (
            tail is not None
            and tail.offset == len(self._recorded)
            and tail.current_index == self.run.live_index
            and tail.current_id == item.get("id")
            # Unchanged (the same offset and length): no copy of the whole text per tick.
            and len(self.run.text) != len(self._recorded) + len(tail.text)
        ):
            self.run.text = self._recorded + tail.text

    def _finish(self, result: ResponseResult) -> None:
        run = self.run
        try:
            run.items = result.output_items()
        except (LookupError, ValueError):
            run.items = list(result.output)  # too large to keep whole: as the result has it
        run.text = result.output_text
        run.final = result.response
        run.status = result.status or "completed"
        run.live_item = run.live_index = None
        run.terminal = True

    async def _fail(self, status: WorkflowExecutionStatus) -> None:
        run = self.run
        run.status = _CLOSED_STATUS.get(status, "failed")
        live = run.live_item
        if live is not None and live.get("type") == "message" and run.live_index == len(run.items):
            # The message a stream was showing ends where the run did: its events so far stay
            # a prefix of the run's, and the stream closes it and sends the terminal event.
            part = {
                "type": "output_text",
                "text": run.live_text(),
                "annotations": [],
                "logprobs": [],
            }
            run.items.append({**live, "status": "incomplete", "content": [part]})
        run.live_item = run.live_index = None
        run.terminal = True
        try:
            await self.handle.result()
        except WorkflowFailureError as failure:
            cause = failure.cause
            if isinstance(cause, CancelledError) or (
                isinstance(cause, ApplicationError)
                and cause.type in (ErrorType.RESPONSE_CANCELLED, ErrorType.DEADLINE_EXCEEDED)
            ):
                run.status = "cancelled"
            else:
                run.error = _error_of(cause)
                if self.upstream_id is None:
                    self.refusal = _refusal(cause)
        except Exception as err:  # terminated, timed out: no failure to decode
            if run.status != "cancelled":
                run.error = {"code": "server_error", "message": f"the run ended: {err}"}


def _active(status: object) -> str:
    return status if status in ("queued", "in_progress") else "queued"


def _error_of(cause: BaseException) -> dict[str, Any]:
    """A failed run's `error`: the provider's code and message where the response failed
    there, else `server_error` (the contract's codes are the provider's) with what ended the
    run, its error type first."""
    if isinstance(cause, ApplicationError):
        details = cause.details[0] if cause.details else None
        if cause.type == ErrorType.RESPONSE_FAILED and isinstance(details, dict):
            return {
                "code": details.get("code") or "server_error",
                "message": details.get("message", ""),
            }
        return {"code": "server_error", "message": f"{cause.type}: {cause.message}"}
    return {"code": "server_error", "message": str(cause)}


_PROVIDER_MESSAGE = re.compile(r"^OpenAI \d{3}: ")


def _refusal(cause: BaseException) -> APIError | None:
    """A failure before any response existed upstream, as the API answers a create: the
    provider's 4xx with its status, type, code and param (its 401/403 concern the gateway's own
    credentials, so the client gets 502), or the run's refusal of its request (400)."""
    if not isinstance(cause, ApplicationError):
        return None
    details = cause.details[0] if cause.details else None
    if cause.type == ErrorType.INVALID_REQUEST:
        return APIError(400, cause.message)
    if not isinstance(details, dict) or not isinstance(details.get("status_code"), int):
        return None
    status = details["status_code"]
    if not 400 <= status < 500 or status in (408, 409):
        return None
    message = _PROVIDER_MESSAGE.sub("", cause.message)
    if status in (401, 403):
        return APIError(
            502,
            f"The provider refused the gateway's credentials: {message}",
            type_="server_error",
            code="upstream_authentication",
        )
    return APIError(
        status,
        message,
        type_=str(details.get("type") or "invalid_request_error"),
        param=details.get("param"),
        code=details.get("code"),
    )


def _not_found(response_id: str, param: str) -> APIError:
    if param == "previous_response_id":
        return APIError(
            404,
            f"Previous response with id '{response_id}' not found.",
            param="previous_response_id",
        )
    return not_found(response_id)


__all__ = [
    "CREATE_WAIT_SECONDS",
    "MAX_CREATE_WAIT_SECONDS",
    "MEMO_KEY",
    "RunReader",
    "Started",
    "created",
    "start",
    "upstream_id",
]
