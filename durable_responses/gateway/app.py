"""The gateway's HTTP API: OpenAI's Responses routes over the durable workflows.

    POST   /v1/responses                     start a run (answer at once, or wait, or stream)
    GET    /v1/responses/{id}                the Response now (?stream=true&starting_after=N)
    POST   /v1/responses/{id}/cancel         cancel the run and its response upstream
    DELETE /v1/responses/{id}                cancel, then forget it
    GET    /v1/responses/{id}/input_items    what it was asked
    GET    /v1/models[/{model}]              the models the operator configured
    GET    /runs/{id}                        the watch page (?key=...)
    GET    /livez, /readyz (/healthz)        alive; ready (Temporal reachable)

One access log line per request (`durable_responses.gateway.access`): tenant, method, route,
status, milliseconds, and an error's code and param; never a key, a query or a body.

aiohttp, not an ASGI stack: the project already depends on it, and a long-lived SSE answer
that must stop cleanly when the client leaves wants the transport in hand, as the fake does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from importlib import resources
from typing import Any

from aiohttp import web
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from durable_responses.models import ResponseRequest

from . import bodies, health, ids, runs
from .auth import Tenants
from .errors import APIError, not_found, unauthorized
from .events import events
from .limits import TenantLimits
from .objects import Run, response_object
from .requests import parse_create

log = logging.getLogger("durable_responses.gateway")
access_log = logging.getLogger("durable_responses.gateway.access")

POLL_SECONDS = 0.25
"""How often a stream or a waiting request reads its run again."""
CANCEL_WAIT_SECONDS = 2.0
"""How long a cancel or a delete waits for the run to close (the response cancelled upstream
by its worker, about a second); past it the answer says how the run is, the cancel recorded."""
MAX_IDEMPOTENCY_KEY = 255
"""Characters an `Idempotency-Key` may have."""
RECONNECT_MS = 500
"""What browsers are told to wait before they reconnect an event stream."""
KEEPALIVE_SECONDS = 15.0
"""Silence after which an open stream gets a `: keepalive` comment line: proxies cut idle
connections (60 s is a common timeout), and a deep-research run can stay queued for minutes."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Gateway:
    """What every request needs: the Temporal client, the tenants, where runs go."""

    def __init__(
        self,
        client: Client,
        tenants: Tenants,
        task_queue: str,
        *,
        max_body_bytes: int = bodies.MAX_BODY_BYTES,
        models: Sequence[str] = (),
        limits: TenantLimits | None = None,
        keepalive_seconds: float = KEEPALIVE_SECONDS,
    ) -> None:
        self.client = client
        self.tenants = tenants
        self.task_queue = task_queue
        self.max_body_bytes = max_body_bytes
        self.models = list(models)
        """What `GET /v1/models` lists: the operator's choice, not a provider's catalogue."""
        self.started_at = int(time.time())
        self.limits = limits or TenantLimits()
        self.keepalive_seconds = keepalive_seconds


GATEWAY: web.AppKey[Gateway] = web.AppKey("gateway")
_TENANT: web.RequestKey[str] = web.RequestKey("tenant", str)
_ERROR: web.RequestKey[APIError] = web.RequestKey("error", APIError)


def _tenant(request: web.Request) -> str:
    """Whose request this is, from its gateway key (401 without a known one)."""
    key = request.headers.get("Authorization")
    if key is None and request.method == "GET" and "key" in request.query:
        key = f"Bearer {request.query['key']}"  # EventSource and the page send no header
    tenant = request.app[GATEWAY].tenants.tenant(key)
    if tenant is None:
        raise unauthorized()
    request[_TENANT] = tenant
    return tenant


@web.middleware
async def _middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    began = time.perf_counter()
    status = 499  # the client left before the answer (nginx's code for it)
    try:
        answer = await _answer(request, handler)
        status = answer.status
        return answer
    except web.HTTPException as err:
        status = err.status
        raise
    finally:
        _access(request, status, time.perf_counter() - began)


def _access(request: web.Request, status: int, seconds: float) -> None:
    """The request's access line; a bad request's only line (its error's code and param),
    no traceback: it is the client's news, not the operator's."""
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else _printable(request.path)
    error: APIError | None = request.get(_ERROR)
    access_log.info(
        "tenant=%s %s %s %s %.1fms%s",
        request.get(_TENANT, "-"),
        request.method,
        route,
        status,
        seconds * 1000,
        f" error={error.code or error.type}"
        + (f" param={_printable(error.param)}" if error.param else "")
        if error is not None
        else "",
    )


async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        if request.path.startswith(("/v1/", "/runs/")):
            tenant = _tenant(request)  # before the body is read or any route runs
            request.app[GATEWAY].limits.take_request(tenant)
        return await handler(request)
    except APIError as err:
        request[_ERROR] = err
        return err.response()
    except web.HTTPException as err:
        if err.status == 404:
            return APIError(404, f"Invalid URL ({request.method} {request.path})").response()
        if err.status == 405:
            return APIError(405, f"Method not allowed ({request.method} {request.path})").response()
        raise
    except RPCError as err:
        log.warning("%s %s: Temporal answered %s", request.method, request.path, err)
        if err.status == RPCStatusCode.RESOURCE_EXHAUSTED:  # the namespace's rate limit
            return APIError(
                429,
                "Rate limit reached for requests; retry after a second.",
                type_="requests",
                code="rate_limit_exceeded",
                headers={"Retry-After": "1"},
            ).response()
        # Temporal down or overloaded: the SDKs retry a 503.
        return APIError(
            503,
            "The service is temporarily unavailable; retry shortly.",
            type_="server_error",
            code="unavailable",
        ).response()
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return APIError(
            500,
            "The server had an error while processing your request.",
            type_="server_error",
            code="server_error",
        ).response()


def _printable(text: str) -> str:
    """`text` as a log line can hold it: bytes that were not UTF-8 escaped, not raised."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _response_id(request: web.Request) -> str:
    response_id = request.match_info["response_id"]
    if not ids.is_response_id(response_id):
        raise not_found(response_id)
    return response_id


async def _reader(request: web.Request) -> runs.RunReader:
    gateway = request.app[GATEWAY]
    return await runs.RunReader.open(gateway.client, _tenant(request), _response_id(request))


async def create(request: web.Request) -> web.StreamResponse:
    gateway = request.app[GATEWAY]
    tenant = _tenant(request)
    key = _idempotency_key(request)
    raw = await bodies.read_capped(request, gateway.max_body_bytes)
    call = parse_create(await bodies.parse_json(raw))
    await gateway.limits.check_runs(gateway.client, tenant)
    response_id = ids.idempotent_response_id(tenant, key) if key else ids.new_response_id()
    try:
        started = await runs.start(gateway.client, gateway.task_queue, tenant, response_id, call)
    except RPCError as err:
        if _refused_as_too_large(err):  # a retry can never succeed: no 429, no 503
            raise APIError(
                413,
                "Request too large for one run: Temporal refused its input as over its "
                "payload limit (about 2 MB as the gateway encodes it).",
                code="request_too_large",
            ) from None
        raise
    if started.existing:
        log.info("create with key %r: %s again", key, response_id)
    if call.stream:
        reader = (
            await runs.RunReader.open(gateway.client, tenant, response_id)
            if started.existing
            else runs.RunReader.started(gateway.client, tenant, started.run)
        )
        return await _stream(request, reader, starting_after=-1)
    if call.background:
        return web.json_response(response_object(started.run))
    # Foreground: wait for the end; a client that leaves does not stop the run, only the wait.
    reader = await runs.RunReader.open(gateway.client, tenant, response_id)
    run = await _until_terminal(reader, request)
    return web.json_response(response_object(run))


def _idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if not key:
        return None
    try:
        key.encode()
    except UnicodeEncodeError:
        raise APIError(
            400,
            "Invalid 'Idempotency-Key': expected UTF-8 text.",
            param="Idempotency-Key",
            code="invalid_value",
        ) from None
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise APIError(
            400,
            f"Invalid 'Idempotency-Key': longer than {MAX_IDEMPOTENCY_KEY} characters.",
            param="Idempotency-Key",
            code="invalid_value",
        )
    return key


def _refused_as_too_large(err: RPCError) -> bool:
    """Whether Temporal refused the run's input for its size (its blob limit, or gRPC's
    message limit), which no retry of the same request can get past."""
    message = err.message.lower()
    if err.status == RPCStatusCode.INVALID_ARGUMENT:
        return "size" in message or "exceeds" in message
    if err.status == RPCStatusCode.RESOURCE_EXHAUSTED:
        return "larger than" in message or "too large" in message
    return False


async def retrieve(request: web.Request) -> web.StreamResponse:
    reader = await _reader(request)
    if request.query.get("stream", "").lower() in ("true", "1"):
        if not reader.run.stream:
            raise APIError(
                400,
                "This response was created without stream=true and cannot be streamed.",
                param="stream",
            )
        return await _stream(request, reader, starting_after=_starting_after(request))
    return web.json_response(response_object(reader.run))


def _starting_after(request: web.Request) -> int:
    """`starting_after`, or the last event a reconnecting browser saw (`Last-Event-ID`)."""
    # A browser reconnects to the URL it first opened: its Last-Event-ID is newer than the
    # URL's starting_after, so the header wins.
    raw = request.headers.get("Last-Event-ID") or request.query.get("starting_after")
    if raw is None or raw == "":
        return -1
    try:
        value = int(raw)
    except ValueError:
        raise APIError(
            400,
            f"Invalid type for 'starting_after': expected an integer, but got '{raw}' instead.",
            param="starting_after",
            code="invalid_type",
        ) from None
    if value < 0:
        raise APIError(400, "Invalid 'starting_after': below 0.", param="starting_after")
    return value


async def cancel(request: web.Request) -> web.StreamResponse:
    reader = await _reader(request)
    run = reader.run
    if run.terminal:
        if run.status == "cancelled":
            return web.json_response(response_object(run))
        raise APIError(400, f"Cannot cancel a response with status '{run.status}'.")
    if not run.background:
        raise APIError(400, "Only responses created with background=true can be cancelled.")
    await reader.handle.cancel()  # recorded in the run's history: it ends cancelled
    # The run as it is once closed, or after the wait (no worker to close it now): a status
    # still queued/in_progress then, which turns cancelled when a worker takes the run.
    run = await _settled(reader)
    return web.json_response(response_object(run))


async def delete(request: web.Request) -> web.StreamResponse:
    gateway = request.app[GATEWAY]
    reader = await _reader(request)
    if not reader.run.terminal:
        await reader.handle.cancel()  # cancels upstream too
        if not (await _settled(reader)).terminal and reader.upstream_id:
            # Deleting now would terminate the run and leave its response running at the
            # provider: the cancel is recorded, the history stays until the run has closed.
            log.info("delete of %s: cancel recorded, not closed yet", reader.run.response_id)
            return web.json_response(
                {"id": reader.run.response_id, "object": "response.deleted", "deleted": False}
            )
    await gateway.client.workflow_service.delete_workflow_execution(
        DeleteWorkflowExecutionRequest(
            namespace=gateway.client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=reader.handle.id),
        )
    )
    # Temporal deletes in the background (about 35 s on the dev server): until then a read
    # still finds the run (README, "Any OpenAI client: the gateway").
    return web.json_response(
        {"id": reader.run.response_id, "object": "response.deleted", "deleted": True}
    )


async def input_items(request: web.Request) -> web.StreamResponse:
    limit = _limit(request)
    order = request.query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise APIError(
            400,
            f"Invalid value: '{order}'. Supported values are: 'asc' and 'desc'.",
            param="order",
            code="invalid_value",
        )
    reader = await _reader(request)
    converter = request.app[GATEWAY].client.data_converter
    async for event in reader.handle.fetch_history_events():
        payloads = event.workflow_execution_started_event_attributes.input.payloads
        (started,) = await converter.decode(payloads, [ResponseRequest])
        break
    given = started.input
    items: list[dict[str, Any]] = (
        [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": given}]}]
        if isinstance(given, str)
        else [dict(item) for item in given]
    )
    for n, item in enumerate(items):
        item.setdefault("id", f"msg_{reader.run.response_id[5:29]}{n:04d}")
        if item.get("type", "message") == "message":
            item.setdefault("type", "message")
            item.setdefault("status", "completed")
            if isinstance(item.get("content"), str):
                item["content"] = [{"type": "input_text", "text": item["content"]}]
    if order == "desc":
        items.reverse()
    after = request.query.get("after")
    if after is not None:
        at = next((i for i, item in enumerate(items) if item["id"] == after), len(items))
        items = items[at + 1 :]
    page = items[:limit]
    return web.json_response(
        {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": len(items) > limit,
        }
    )


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", "20")
    try:
        limit = int(raw)
    except ValueError:
        raise APIError(
            400,
            f"Invalid type for 'limit': expected an integer, but got '{_printable(raw)}' instead.",
            param="limit",
            code="invalid_type",
        ) from None
    if not 1 <= limit <= 100:
        raise APIError(
            400,
            f"Invalid 'limit': expected a value from 1 to 100, but got {limit} instead.",
            param="limit",
            code="invalid_value",
        )
    return limit


async def _settled(reader: runs.RunReader) -> Run:
    """The run once closed, or as it is after `CANCEL_WAIT_SECONDS`."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(CANCEL_WAIT_SECONDS):
            return await _until_terminal(reader)
    return reader.run


async def _until_terminal(reader: runs.RunReader, request: web.Request | None = None) -> Run:
    """The run once closed; as it is if `request`'s client leaves first."""
    run = reader.run
    while not run.terminal:
        await asyncio.sleep(POLL_SECONDS)
        if request is not None and _gone(request):
            break
        run = await reader.refresh()
    return run


def _gone(request: web.Request) -> bool:
    """Whether the client has closed its connection: aiohttp does not cancel the handler, so
    a handler that only waits would go on reading Temporal for nobody."""
    transport = request.transport
    return transport is None or transport.is_closing()


async def _stream(
    request: web.Request, reader: runs.RunReader, *, starting_after: int
) -> web.StreamResponse:
    """The run's events after `starting_after`, live to its end (`events.py`)."""
    answer = web.StreamResponse(
        headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
    )
    await answer.prepare(request)
    sent = starting_after + 1
    retry = f"retry: {RECONNECT_MS}\n"  # with the first event: a frame of its own is no event
    keepalive = request.app[GATEWAY].keepalive_seconds
    written = time.monotonic()
    try:
        run = reader.run
        while True:
            listed = events(run)
            for event in listed[sent:]:
                frame = json.dumps(event, ensure_ascii=False)
                await answer.write(
                    f"{retry}event: {event['type']}\nid: {event['sequence_number']}\n"
                    f"data: {frame}\n\n".encode()
                )
                retry = ""
                written = time.monotonic()
            sent = max(sent, len(listed))
            if run.terminal:
                break
            await asyncio.sleep(POLL_SECONDS)
            # A read can take long (a query waits for a worker, and none may run): the
            # comment line goes out meanwhile, and a client gone stops the read.
            refreshing = asyncio.ensure_future(reader.refresh())
            try:
                while not refreshing.done():
                    if _gone(request):
                        return answer  # the client left: no more reads; the run goes on
                    if time.monotonic() - written >= keepalive:
                        await answer.write(b": keepalive\n\n")  # a comment: no event
                        written = time.monotonic()
                    await asyncio.wait({refreshing}, timeout=min(POLL_SECONDS, keepalive))
                run = refreshing.result()
            finally:
                refreshing.cancel()  # nothing when done
        await answer.write_eof()
    except (ConnectionError, RuntimeError):
        pass  # the client left; the run goes on
    except RPCError as err:  # Temporal unreachable mid-stream: the client resumes after the last
        log.warning("stream of %s cut: Temporal answered %s", reader.run.response_id, err)
    return answer


async def watch_page(request: web.Request) -> web.StreamResponse:
    _response_id(request)
    page = resources.files(__package__).joinpath("static", "watch.html").read_text()
    # The key is in the page's URL: keep it out of caches and other sites' Referer headers.
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    return web.Response(text=page, content_type="text/html", headers=headers)


def _model(gateway: Gateway, name: str) -> dict[str, Any]:
    return {
        "id": name,
        "object": "model",
        "created": gateway.started_at,
        "owned_by": "durable-responses",
    }


async def list_models(request: web.Request) -> web.StreamResponse:
    gateway = request.app[GATEWAY]
    return web.json_response(
        {"object": "list", "data": [_model(gateway, name) for name in gateway.models]}
    )


async def retrieve_model(request: web.Request) -> web.StreamResponse:
    gateway = request.app[GATEWAY]
    name = request.match_info["model"]
    if name not in gateway.models:
        raise APIError(
            404,
            f"The model '{_printable(name)}' does not exist or you do not have access to it.",
            param="model",
            code="model_not_found",
        )
    return web.json_response(_model(gateway, name))


def build_app(gateway: Gateway) -> web.Application:
    app = web.Application(middlewares=[_middleware], client_max_size=gateway.max_body_bytes)
    app[GATEWAY] = gateway
    app.router.add_post("/v1/responses", create)
    app.router.add_get("/v1/responses/{response_id}", retrieve)
    app.router.add_post("/v1/responses/{response_id}/cancel", cancel)
    app.router.add_delete("/v1/responses/{response_id}", delete)
    app.router.add_get("/v1/responses/{response_id}/input_items", input_items)
    app.router.add_get("/v1/models", list_models)
    app.router.add_get("/v1/models/{model}", retrieve_model)
    app.router.add_get("/runs/{response_id}", watch_page)
    health.add_routes(app, gateway.client)
    return app
