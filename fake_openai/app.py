"""HTTP layer: the `/v1/responses` routes, auth, faults and SSE (`/_fake`: control_api.py)."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from pydantic import ValidationError

from .catalogue import check_context, check_model
from .config import ServerSettings
from .control_api import add_control_routes
from .errors import APIErrorResponse, below_min, invalid_type, not_found
from .faults import FaultRule
from .input_items import answer as input_items_answer
from .jobs import Outcome, ResponseJob
from .params import parse_create
from .sse import drop, stream_events, stream_stop
from .state import STATE, FakeState
from .tiers import check_tier, flex_unavailable, served_tier, tier_settings
from .turns import plan_turn

MAX_BODY_BYTES = 64 * 1024 * 1024
"""What aiohttp reads at most (its default, 1 MiB, is below the API's limit); the API's own
limit is `ServerSettings.max_request_bytes`, checked by the create handler."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _Dropped(Exception):
    """The fault injector closed the connection; there is nothing left to answer."""


def _error_for(rule: FaultRule, model: str | None) -> APIErrorResponse:
    headers: dict[str, str] = {}
    if rule.retry_after is not None:
        headers["retry-after"] = f"{rule.retry_after:g}"
    if rule.retry_after_ms is not None:
        headers["retry-after-ms"] = str(rule.retry_after_ms)
    status = rule.status
    if status == 429:
        headers.setdefault("x-ratelimit-limit-requests", "500")
        headers.setdefault("x-ratelimit-remaining-requests", "0")
        wait = rule.retry_after_ms or int((rule.retry_after or 0.12) * 1000)
        message = rule.message or (
            f"Rate limit reached for {model or 'o3'} in organization org-fake on requests per "
            f"min (RPM): Limit 500, Used 500, Requested 1. Please try again in {wait}ms."
        )
        return APIErrorResponse(
            429,
            message,
            type_="requests" if rule.code != "insufficient_quota" else "insufficient_quota",
            code=rule.code or "rate_limit_exceeded",
            headers=headers,
        )
    if status >= 500:
        message = rule.message or (
            "The engine is currently overloaded, please try again later."
            if status == 503
            else "The server had an error while processing your request. Sorry about that!"
        )
        return APIErrorResponse(
            status, message, type_="server_error", code=rule.code, headers=headers
        )
    return APIErrorResponse(
        status, rule.message or f"Injected error {status}.", code=rule.code, headers=headers
    )


async def _apply_common_fault(
    request: web.Request, rule: FaultRule | None, model: str | None
) -> None:
    """Carry out the faults every route shares: error, reset, delay."""
    if rule is None:
        return
    if rule.kind == "error":
        raise _error_for(rule, model)
    if rule.kind == "reset":
        drop(request, reset=True)
        raise _Dropped
    if rule.kind == "delay":
        await asyncio.sleep(rule.seconds)


# ---- /v1 -----------------------------------------------------------------------------------------


def _job(state: FakeState, response_id: str) -> ResponseJob:
    job = state.store.visible(response_id)
    if job is None:
        raise not_found(response_id)
    return job


async def create_response(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    arrived = time.monotonic()
    raw = await request.read()
    limit = state.settings.max_request_bytes
    if len(raw) > limit:
        raise APIErrorResponse(
            413, f"Maximum content size limit ({limit}) exceeded ({len(raw)} bytes read)"
        )
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise APIErrorResponse(
            400,
            "We could not parse the JSON body of your request. (HINT: This likely means you "
            "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but "
            "what was sent was not valid JSON. If you have trouble figuring out how to fix this, "
            "please contact us through our help center at help.openai.com.)",
        ) from None
    params = parse_create(body, reject_unknown=state.settings.reject_unknown_parameters)
    check_model(params.model, state.settings.models)
    check_context(params.model, params.input, params.instructions)
    check_tier(params)
    if (
        params.previous_response_id is not None
        and state.store.visible(params.previous_response_id) is None
    ):
        raise APIErrorResponse(
            404,
            f"Previous response with id '{params.previous_response_id}' not found.",
            param="previous_response_id",
        )
    sent_key = request.headers.get("Idempotency-Key")
    key = sent_key if state.settings.honour_idempotency_key else None
    existing = state.store.jobs.get(state.store.by_idempotency_key.get(key or "", ""))
    if key and existing is not None:
        # Same key, same response: no second job. (The real API does not promise this.)
        existing.counts["idempotent_replays"] += 1
        state.store.counts["idempotent_replays"] += 1
        return await _answer_create(request, existing, stop=None)
    try:
        settings = state.settings.generation.overrides(params.metadata)
    except ValidationError as err:
        raise APIErrorResponse(400, f"Invalid fake_* metadata: {err}", param="metadata") from None
    settings = tier_settings(settings, params)
    turn = plan_turn(params, settings, state.store.history(params.previous_response_id))
    flex = served_tier(params.service_tier) == "flex"
    if flex and state.flex_unavailable():
        state.store.counts["flex_unavailable"] += 1
        raise flex_unavailable()

    tags = {"create"} | ({"stream"} if params.stream else set())
    kinds = {"error", "reset", "delay", "fail", "incomplete"} | (
        {"cut", "error_event"} if params.stream else set()
    )
    rule = state.faults.pick(tags, None, kinds | ({"unavailable"} if flex else set()))
    if rule is not None and rule.kind == "unavailable":
        state.store.counts["flex_unavailable"] += 1
        raise flex_unavailable()
    after_accept = rule is not None and rule.kind in {"reset", "delay"} and rule.when == "after"
    if not after_accept:
        await _apply_common_fault(request, rule, params.model)
    outcome = Outcome()
    if rule is not None and rule.kind == "fail":
        outcome = Outcome(
            kind="fail",
            after_tokens=rule.after_tokens,
            code=rule.code or "server_error",
            message=rule.message or Outcome.message,
        )
    elif rule is not None and rule.kind == "incomplete":
        outcome = Outcome(kind="incomplete", after_tokens=rule.after_tokens, reason=rule.reason)
    job = ResponseJob(params, settings, outcome, state.settings.stream_retention_seconds, turn)
    job.create_seconds = time.monotonic() - arrived
    job.idempotency_key = sent_key
    job.on_terminal = state.webhooks.notify
    state.store.add(job, key)
    job.start()
    # From here the job exists: a client that does not hear of it is the duplicate-create
    # window. Each way it can miss the answer is counted, so a harness can tell them apart.
    if rule is not None and rule.kind == "reset":
        job.counts["reset_after_accept"] += 1
        state.store.counts["resets_after_accept"] += 1
        drop(request, reset=True)
        raise _Dropped
    if after_accept and rule is not None and rule.kind == "delay":  # a slow answer
        await asyncio.sleep(rule.seconds)
    if request.transport is None:
        # The client gave up (its timeout) or died while this create was in flight.
        job.counts["client_left_before_answer"] += 1
        state.store.counts["clients_left_before_answer"] += 1
        raise _Dropped
    return await _answer_create(request, job, stop=stream_stop(rule))


async def _answer_create(
    request: web.Request, job: ResponseJob, *, stop: FaultRule | None
) -> web.StreamResponse:
    job.answered_at = time.time()
    if job.params.stream:
        if job.params.background:
            job.counts["stream_opens"] += 1
            request.app[STATE].store.counts["stream_opens"] += 1
        return await stream_events(
            request, job, 0, stop=stop, obfuscation=job.params.include_obfuscation
        )
    if not job.params.background:
        await job.wait_terminal()
    return web.json_response(job.snapshot())


def _bool_query(request: web.Request, name: str) -> bool | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    if raw.lower() in {"true", "1"}:
        return True
    if raw.lower() in {"false", "0"}:
        return False
    raise invalid_type(name, "a boolean", raw)


async def retrieve_response(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    response_id = request.match_info["response_id"]
    stream = bool(_bool_query(request, "stream"))
    obfuscation = _bool_query(request, "include_obfuscation")
    starting_after: int | None = None
    raw_after = request.query.get("starting_after")
    if raw_after is not None:
        try:
            starting_after = int(raw_after)
        except ValueError:
            raise invalid_type("starting_after", "an integer", raw_after) from None
        if starting_after < 0:
            raise below_min("starting_after", 0, starting_after)
    if not stream:
        rule = state.faults.pick({"retrieve"}, response_id, {"error", "reset", "delay"})
        await _apply_common_fault(request, rule, None)
        job = _job(state, response_id)
        job.counts["retrieves"] += 1
        state.store.counts["retrieves"] += 1
        body = job.read(state.settings.retrieve_lag_seconds)
        if body is job.before_finish:
            state.store.counts["lagging_reads"] += 1
        return web.json_response(body)

    rule = state.faults.pick(
        {"stream"}, response_id, {"error", "reset", "delay", "cut", "error_event", "expire"}
    )
    await _apply_common_fault(request, rule, None)
    job = _job(state, response_id)
    if not job.params.background:
        raise APIErrorResponse(
            400,
            "Only responses created with background=true can be streamed after creation.",
            param="stream",
        )
    if (rule is not None and rule.kind == "expire") or job.stream_expired():
        minutes = job.retention_seconds / 60
        age = (
            f"{minutes:g} minute{'s' if minutes != 1 else ''}"
            if job.retention_seconds >= 60
            else f"{job.retention_seconds:g} seconds"
        )
        raise APIErrorResponse(
            400,
            f"Response '{job.id}' can no longer be streamed because it is more than {age} old.",
            param="stream",
        )
    job.counts["stream_opens"] += 1
    state.store.counts["stream_opens"] += 1
    start = 0 if starting_after is None else starting_after + 1
    return await stream_events(
        request,
        job,
        start,
        stop=stream_stop(rule),
        obfuscation=job.params.include_obfuscation if obfuscation is None else obfuscation,
    )


async def list_input_items(request: web.Request) -> web.StreamResponse:
    job = _job(request.app[STATE], request.match_info["response_id"])
    return input_items_answer(job.id, job.params.input, request.query)


async def cancel_response(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    response_id = request.match_info["response_id"]
    rule = state.faults.pick({"cancel"}, response_id, {"error", "reset", "delay"})
    await _apply_common_fault(request, rule, None)
    job = _job(state, response_id)
    job.counts["cancels"] += 1
    state.store.counts["cancels"] += 1
    if not job.params.background:
        raise APIErrorResponse(
            400, "Only responses created with background=true can be cancelled.", param=None
        )
    if job.status in {"completed", "failed", "incomplete"}:
        raise APIErrorResponse(
            400, f"Cannot cancel a response with status '{job.status}'.", param=None
        )
    if job.status != "cancelled":
        job.cancel()
    return web.json_response(job.snapshot())


async def delete_response(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    response_id = request.match_info["response_id"]
    rule = state.faults.pick({"delete"}, response_id, {"error", "reset", "delay"})
    await _apply_common_fault(request, rule, None)
    job = _job(state, response_id)
    if not job.terminal:
        job.cancel()
    job.deleted = True
    state.store.counts["deletes"] += 1
    return web.json_response({"id": job.id, "object": "response.deleted", "deleted": True})


# ---- app -----------------------------------------------------------------------------------------


def _authorized(request: web.Request, api_key: str | None) -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise APIErrorResponse(
            401,
            "You didn't provide an API key. You need to provide your API key in an Authorization "
            "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        )
    if api_key is not None and token != api_key:
        shown = f"{token[:3]}*****{token[-4:]}" if len(token) > 8 else "*****"
        raise APIErrorResponse(
            401,
            f"Incorrect API key provided: {shown}. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            code="invalid_api_key",
        )


@web.middleware
async def _middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE]
    try:
        if request.path.startswith("/v1/"):
            state.requests.append((time.time(), request.method, request.path))
            _authorized(request, state.settings.api_key)
        return await handler(request)
    except APIErrorResponse as err:
        return web.json_response(err.body(), status=err.status, headers=err.headers)
    except _Dropped:
        return web.Response(status=204)
    except web.HTTPNotFound:
        return web.json_response(
            APIErrorResponse(404, f"Invalid URL ({request.method} {request.path})").body(),
            status=404,
        )
    except web.HTTPMethodNotAllowed:
        return web.json_response(
            APIErrorResponse(405, f"Method not allowed ({request.method} {request.path})").body(),
            status=405,
        )


async def _request_id(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("x-request-id", f"req_{secrets.token_hex(16)}")


def build_app(settings: ServerSettings | None = None) -> web.Application:
    """The aiohttp application of one fake server."""
    app = web.Application(middlewares=[_middleware], client_max_size=MAX_BODY_BYTES)
    app[STATE] = FakeState(settings or ServerSettings())
    app.on_response_prepare.append(_request_id)
    app.router.add_post("/v1/responses", create_response)
    app.router.add_get("/v1/responses/{response_id}", retrieve_response)
    app.router.add_post("/v1/responses/{response_id}/cancel", cancel_response)
    app.router.add_get("/v1/responses/{response_id}/input_items", list_input_items)
    app.router.add_delete("/v1/responses/{response_id}", delete_response)
    add_control_routes(app)

    async def _stop_jobs(app: web.Application) -> None:
        app[STATE].store.clear()

    async def _stop_webhooks(app: web.Application) -> None:
        await app[STATE].webhooks.close()

    app.on_shutdown.append(_stop_jobs)
    app.on_cleanup.append(_stop_webhooks)
    return app


__all__ = ["STATE", "FakeState", "build_app"]
