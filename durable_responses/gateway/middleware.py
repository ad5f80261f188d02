"""The gateway's middleware, around every request: who asks (a key on the API, a run token on
the watch page), the tenant's request rate, errors shaped as OpenAI's, one access log line and
the request's metrics, and the security headers on every answer.

One access log line per request (`durable_responses.gateway.access`): tenant, method, route,
status, milliseconds, and an error's code and param; never a key, a query or a body.
Prometheus metrics of the same requests (`metrics.py`), on their own port.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web
from temporalio.service import RPCError, RPCStatusCode

from . import watch
from .errors import APIError, printable, unauthorized
from .metrics import UNMATCHED

if TYPE_CHECKING:
    from .app import Gateway

log = logging.getLogger("durable_responses.gateway")
access_log = logging.getLogger("durable_responses.gateway.access")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

GATEWAY: web.AppKey[Gateway] = web.AppKey("gateway")
"""The app's `Gateway` (`app.py`): what the checks of every request read."""
_TENANT: web.RequestKey[str] = web.RequestKey("tenant", str)
_ERROR: web.RequestKey[APIError] = web.RequestKey("error", APIError)
_BEGAN: web.RequestKey[float] = web.RequestKey("began", float)
_PREPARED: web.RequestKey[float] = web.RequestKey("prepared", float)


def tenant_of(request: web.Request) -> str:
    """Whose request this is, from its gateway key (401 without a known one)."""
    if _TENANT in request:
        return request[_TENANT]
    if "key" in request.query:  # refused even beside a good header: it must not be used
        raise watch.key_in_url(request.match_info.get("response_id"))
    tenant = request.app[GATEWAY].tenants.tenant(request.headers.get("Authorization"))
    if tenant is None:
        raise unauthorized()
    request[_TENANT] = tenant
    return tenant


def _watcher(request: web.Request) -> str:
    """Whose run a watch route shows, from its token (`?token=`), for this run only."""
    response_id = request.match_info.get("response_id")
    if "key" in request.query:
        raise watch.key_in_url(response_id)
    if response_id is None:  # no watch route: the handler answers 404
        return "-"
    gateway = request.app[GATEWAY]
    watcher = gateway.watch_links.verify(request.query.get("token", ""), response_id)
    if watcher.tenant not in gateway.tenants:
        raise unauthorized()
    request[_TENANT] = watcher.tenant
    return watcher.tenant


@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    began = request[_BEGAN] = time.perf_counter()
    status = 499  # the client left before the answer (nginx's code for it)
    try:
        answer = await _answer(request, handler)
        status = answer.status
        return answer
    except web.HTTPException as err:
        status = err.status
        raise
    finally:
        ended = time.perf_counter()
        _access(request, status, ended - began)
        resource = request.match_info.route.resource
        # Latency to the answer's headers: a stream's whole life would swamp the histogram.
        request.app[GATEWAY].metrics.request(
            request.method,
            resource.canonical if resource is not None else UNMATCHED,
            status,
            request.get(_PREPARED, ended) - began,
        )


def _access(request: web.Request, status: int, seconds: float) -> None:
    """The request's access line; a bad request's only line (its error's code and param),
    no traceback: it is the client's news, not the operator's."""
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else printable(request.path)
    error: APIError | None = request.get(_ERROR)
    access_log.info(
        "tenant=%s %s %s %s %.1fms%s",
        request.get(_TENANT, "-"),
        request.method,
        route,
        status,
        seconds * 1000,
        f" error={error.code or error.type}"
        + (f" param={printable(error.param)}" if error.param else "")
        if error is not None
        else "",
    )


async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        if request.path.startswith(("/v1/", "/runs/")):
            # Before the body is read or any route runs: a key on the API, a token on the page.
            tenant = tenant_of(request) if request.path.startswith("/v1/") else _watcher(request)
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


async def secure(request: web.Request, answer: web.StreamResponse) -> None:
    """Every answer gets `watch.SECURITY_HEADERS`, and a CSP unless it set its own (the page)."""
    request[_PREPARED] = time.perf_counter()
    answer.headers.update(watch.SECURITY_HEADERS)
    answer.headers.setdefault("Content-Security-Policy", watch.API_CSP)
