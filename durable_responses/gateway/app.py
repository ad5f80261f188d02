"""The gateway's HTTP API: OpenAI's Responses routes over the durable workflows.

    POST   /v1/responses                     start a run (answer at once, or wait, or stream)
    GET    /v1/responses/{id}                the Response now (?stream=true&starting_after=N)
    POST   /v1/responses/{id}/cancel         cancel the run and its response upstream
    DELETE /v1/responses/{id}                cancel, then forget it
    GET    /v1/responses/{id}/input_items    what it was asked
    GET    /v1/models[/{model}]              the models the operator configured
    POST   /v1/responses/{id}/watch_link     a link to the run's page, for anyone to watch it
    GET    /runs/{id}?token=...              the watch page (`watch.py`); the token alone
    GET    /runs/{id}/events?token=...         opens these three, for that one run
    GET    /runs/{id}/response?token=...
    GET    /livez, /readyz (/healthz)        alive; ready (Temporal reachable)

Around every request, the middleware (`middleware.py`): who asks, errors in OpenAI's shape,
one access log line, metrics, security headers.

aiohttp, not an ASGI stack: the project already depends on it, and a long-lived SSE answer
that must stop cleanly when the client leaves wants the transport in hand, as the fake does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError

from durable_responses import health
from durable_responses.models import ResponseRequest

from . import bodies, ids, runs, streams, watch
from .auth import Tenants
from .errors import APIError, not_found, printable
from .followers import Followers
from .input_items import listed as listed_input
from .input_items import page
from .limits import TenantLimits
from .metrics import GatewayMetrics
from .middleware import GATEWAY, middleware, secure, tenant_of
from .objects import Run, response_object
from .requests import (
    idempotency_key,
    page_limit,
    parse_create,
    refused_as_too_large,
    starting_after,
)

log = logging.getLogger("durable_responses.gateway")

CANCEL_WAIT_SECONDS = 2.0
"""How long a cancel or a delete waits for the run to close (the response cancelled upstream
by its worker, about a second); past it the answer says how the run is, the cancel recorded."""
WATCH_LINK_BODY_BYTES = 4096
"""A watch link's request body holds one number at most."""


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
        keepalive_seconds: float = streams.KEEPALIVE_SECONDS,
        create_wait_seconds: float = runs.CREATE_WAIT_SECONDS,
        watch_links: watch.WatchLinks | None = None,
        public_url: str | None = None,
        metrics: GatewayMetrics | None = None,
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
        self.create_wait_seconds = create_wait_seconds
        """How long a create waits for the provider's answer (`runs.CREATE_WAIT_SECONDS`)."""
        self.watch_links = watch_links or watch.WatchLinks.ephemeral()
        self.public_url = public_url.rstrip("/") if public_url else None
        """The gateway's origin as browsers reach it (behind a proxy); None: the request's."""
        self.metrics = metrics or GatewayMetrics.of(client)
        """Prometheus metrics, on the client's runtime (`metrics.py`)."""
        self.followers = Followers(streams.POLL_SECONDS)
        """The runs streamed now, each read once per tick for all its streams."""


def _response_id(request: web.Request) -> str:
    response_id = request.match_info["response_id"]
    if not ids.is_response_id(response_id):
        raise not_found(response_id)
    return response_id


async def _reader(request: web.Request) -> runs.RunReader:
    gateway = request.app[GATEWAY]
    return await runs.RunReader.open(gateway.client, tenant_of(request), _response_id(request))


async def create(request: web.Request) -> web.StreamResponse:
    gateway = request.app[GATEWAY]
    tenant = tenant_of(request)
    key = idempotency_key(request)
    raw = await bodies.read_capped(request, gateway.max_body_bytes)
    call = parse_create(await bodies.parse_json(raw))
    await gateway.limits.check_runs(gateway.client, tenant)
    response_id = ids.idempotent_response_id(tenant, key) if key else ids.new_response_id()
    try:
        started = await runs.start(gateway.client, gateway.task_queue, tenant, response_id, call)
    except RPCError as err:
        if refused_as_too_large(err):  # a retry can never succeed: no 429, no 503
            raise APIError(
                413,
                "Request too large for one run: Temporal refused its input as over its "
                "payload limit (about 2 MB as the gateway encodes it).",
                code="request_too_large",
            ) from None
        raise
    if started.existing:
        log.info("create with key %r: %s again", key, response_id)
    else:
        mode = "stream" if call.stream else "background" if call.background else "foreground"
        gateway.metrics.run_started(tenant, mode)
    # As OpenAI's create: answered once the provider has accepted or refused the response
    # (its refusal raised here, with its status), or `queued` if it takes too long.
    reader = await runs.created(
        gateway.client, tenant, response_id, wait_seconds=gateway.create_wait_seconds
    )
    if call.stream:
        return await _stream(request, reader, starting_after=-1)
    if call.background:
        return web.json_response(response_object(reader.run))
    # Foreground: wait for the end; a client that leaves does not stop the run, only the wait.
    run = await streams.until_terminal(reader, request)
    if reader.refusal is not None:  # refused after the wait: still the create's answer
        raise reader.refusal
    return web.json_response(response_object(run))


async def retrieve(request: web.Request, *, stream: bool | None = None) -> web.StreamResponse:
    if stream is None:
        stream = request.query.get("stream", "").lower() in ("true", "1")
    if stream:
        # A run streamed here already: its shared reader is as fresh as a new one would be,
        # and the tenant's (its id names the tenant), so nothing to read to join it.
        gateway = request.app[GATEWAY]
        shared = gateway.followers.get(ids.workflow_id(tenant_of(request), _response_id(request)))
        reader = shared.reader if shared is not None else await _reader(request)
        if not reader.run.stream:
            raise APIError(
                400,
                "This response was created without stream=true and cannot be streamed.",
                param="stream",
            )
        return await _stream(request, reader, starting_after=starting_after(request))
    reader = await _reader(request)
    return web.json_response(response_object(reader.run))


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
    limit = page_limit(request)
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
    items = listed_input(reader.run.response_id, started.input)
    return web.json_response(
        page(items, limit=limit, order=order, after=request.query.get("after"))
    )


async def _settled(reader: runs.RunReader) -> Run:
    """The run once closed, or as it is after `CANCEL_WAIT_SECONDS`."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(CANCEL_WAIT_SECONDS):
            return await streams.until_terminal(reader)
    return reader.run


async def _stream(
    request: web.Request, reader: runs.RunReader, *, starting_after: int
) -> web.StreamResponse:
    gateway = request.app[GATEWAY]
    with gateway.metrics.stream(), gateway.followers.follow(reader) as shared:
        return await streams.stream(
            request,
            shared,
            starting_after=starting_after,
            keepalive_seconds=gateway.keepalive_seconds,
        )


async def watch_link(request: web.Request) -> web.StreamResponse:
    """A link to the run's page: `{"url", "expires_at"}`; the body may ask for a shorter
    life than the configured one (`{"expires_in": seconds}`)."""
    gateway = request.app[GATEWAY]
    raw = await bodies.read_capped(request, WATCH_LINK_BODY_BYTES)
    asked = await bodies.parse_json(raw) if raw.strip() else {}
    seconds = asked.get("expires_in") if isinstance(asked, dict) else None
    if not isinstance(asked, dict) or not (
        seconds is None or (type(seconds) is int and seconds > 0)
    ):
        raise APIError(
            400,
            'Invalid body: expected {"expires_in": <seconds, a positive integer>} or none.',
            param="expires_in",
            code="invalid_value",
        )
    reader = await _reader(request)  # 404 for a run that is not the tenant's
    response_id = reader.run.response_id
    token, expires_at = gateway.watch_links.mint(tenant_of(request), response_id, seconds=seconds)
    origin = gateway.public_url or f"{request.scheme}://{request.host}"
    return web.json_response(
        {
            "object": "watch_link",
            "response_id": response_id,
            "url": f"{origin}/runs/{response_id}?token={token}",
            "expires_at": expires_at,
        }
    )


async def watch_page(request: web.Request) -> web.StreamResponse:
    _response_id(request)
    page = watch.page()
    headers = {"Content-Security-Policy": page.csp}
    return web.Response(text=page.html, content_type="text/html", headers=headers)


async def watch_events(request: web.Request) -> web.StreamResponse:
    """The page's event stream: as `?stream=true` on the API, with the token."""
    return await retrieve(request, stream=True)


async def watch_response(request: web.Request) -> web.StreamResponse:
    """The page's Response now, with the token."""
    return await retrieve(request, stream=False)


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
            f"The model '{printable(name)}' does not exist or you do not have access to it.",
            param="model",
            code="model_not_found",
        )
    return web.json_response(_model(gateway, name))


def build_app(gateway: Gateway) -> web.Application:
    app = web.Application(middlewares=[middleware], client_max_size=gateway.max_body_bytes)
    app[GATEWAY] = gateway
    app.router.add_post("/v1/responses", create)
    app.router.add_get("/v1/responses/{response_id}", retrieve)
    app.router.add_post("/v1/responses/{response_id}/cancel", cancel)
    app.router.add_delete("/v1/responses/{response_id}", delete)
    app.router.add_get("/v1/responses/{response_id}/input_items", input_items)
    app.router.add_get("/v1/models", list_models)
    app.router.add_get("/v1/models/{model}", retrieve_model)
    app.router.add_post("/v1/responses/{response_id}/watch_link", watch_link)
    app.router.add_get("/runs/{response_id}", watch_page)
    app.router.add_get("/runs/{response_id}/events", watch_events)
    app.router.add_get("/runs/{response_id}/response", watch_response)
    app.on_response_prepare.append(secure)
    health.add_routes(app, gateway.client)
    return app
