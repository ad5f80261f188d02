"""HTTP layer: the `/v1/responses` routes, auth, faults, SSE, and the `/_fake` control API."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import struct
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from .catalogue import check_context, check_model
from .config import RUNTIME_FIELDS, GenerationSettings, ServerSettings
from .errors import APIErrorResponse, below_min, invalid_type, not_found
from .faults import FaultInjector, FaultRule
from .jobs import JobStore, Outcome, ResponseJob
from .params import parse_create

MAX_BODY_BYTES = 64 * 1024 * 1024
"""What aiohttp reads at most (its default, 1 MiB, is below the API's limit); the API's own
limit is `ServerSettings.max_request_bytes`, checked by the create handler."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

STATE: web.AppKey[FakeState] = web.AppKey("state")
REQUEST_LOG_SIZE = 100_000


class FakeState:
    """Everything one server holds: settings, jobs, faults and counters."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.store = JobStore()
        self.faults = FaultInjector(seed=settings.fault_seed)
        for rule in settings.faults:
            self.faults.add(rule)
        self.requests: deque[tuple[float, str, str]] = deque(maxlen=REQUEST_LOG_SIZE)
        """(Unix time, method, path) of each API request as it arrived: rate-limit tests."""

    def reset(self) -> None:
        self.store.clear()
        self.faults.clear()
        self.requests.clear()


class _Dropped(Exception):
    """The fault injector closed the connection; there is nothing left to answer."""


def _drop(request: web.Request, *, reset: bool) -> None:
    transport = request.transport
    if transport is None:
        return
    if reset:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # SO_LINGER 0 makes close() send RST: a real "connection reset by peer".
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()


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
        _drop(request, reset=True)
        raise _Dropped
    if rule.kind == "delay":
        await asyncio.sleep(rule.seconds)


def _frame(event: dict[str, Any], obfuscation: bool) -> bytes:
    if not obfuscation and "obfuscation" in event:
        event = {k: v for k, v in event.items() if k != "obfuscation"}
    return f"event: {event['type']}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n".encode()


def _stream_stop(rule: FaultRule | None) -> FaultRule | None:
    return rule if rule is not None and rule.kind in ("cut", "error_event") else None


def _error_event(rule: FaultRule, sequence_number: int) -> dict[str, Any]:
    return {
        "type": "error",
        "code": rule.code or "server_error",
        "message": rule.message or "The server had an error while processing your request.",
        "param": None,
        "sequence_number": sequence_number,
    }


async def _sse(
    request: web.Request,
    job: ResponseJob,
    start: int,
    *,
    stop: FaultRule | None,
    obfuscation: bool,
) -> web.StreamResponse:
    """Replay the job's events from index `start`, then follow live until the terminal event;
    a `cut` or `error_event` rule in `stop` ends the stream early."""
    response = web.StreamResponse(
        status=200,
        headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"},
    )
    sent = 0
    try:
        # Inside the try: a client that left before the headers went out is no error either.
        await response.prepare(request)
        async for event in job.follow(start):
            if stop is not None and sent >= stop.after_events:
                if stop.kind == "error_event":
                    # As the API reports a failure mid-stream: an `error` event, then the end.
                    await response.write(_frame(_error_event(stop, start + sent), obfuscation))
                    await response.write_eof()
                    return response
                # A cut: close the TCP connection mid-body, no terminal event, no last chunk.
                _drop(request, reset=False)
                return response
            await response.write(_frame(event, obfuscation))
            sent += 1
        await response.write_eof()
    except (ConnectionError, RuntimeError):
        # The client went away; the job itself never depends on a connection.
        pass
    return response


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
    params = parse_create(body)
    check_model(params.model, state.settings.models)
    check_context(params.model, params.input, params.instructions)
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

    tags = {"create"} | ({"stream"} if params.stream else set())
    kinds = {"error", "reset", "delay", "fail", "incomplete"} | (
        {"cut", "error_event"} if params.stream else set()
    )
    rule = state.faults.pick(tags, None, kinds)
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
    try:
        settings = state.settings.generation.overrides(params.metadata)
    except ValidationError as err:
        raise APIErrorResponse(400, f"Invalid fake_* metadata: {err}", param="metadata") from None
    job = ResponseJob(params, settings, outcome, state.settings.stream_retention_seconds)
    job.create_seconds = time.monotonic() - arrived
    job.idempotency_key = sent_key
    state.store.add(job, key)
    job.start()
    # From here the job exists: a client that does not hear of it is the duplicate-create
    # window. Each way it can miss the answer is counted, so a harness can tell them apart.
    if rule is not None and rule.kind == "reset":
        job.counts["reset_after_accept"] += 1
        state.store.counts["resets_after_accept"] += 1
        _drop(request, reset=True)
        raise _Dropped
    if after_accept and rule is not None and rule.kind == "delay":  # a slow answer
        await asyncio.sleep(rule.seconds)
    if request.transport is None:
        # The client gave up (its timeout) or died while this create was in flight.
        job.counts["client_left_before_answer"] += 1
        state.store.counts["clients_left_before_answer"] += 1
        raise _Dropped
    return await _answer_create(request, job, stop=_stream_stop(rule))


async def _answer_create(
    request: web.Request, job: ResponseJob, *, stop: FaultRule | None
) -> web.StreamResponse:
    job.answered_at = time.time()
    if job.params.stream:
        if job.params.background:
            job.counts["stream_opens"] += 1
            request.app[STATE].store.counts["stream_opens"] += 1
        return await _sse(request, job, 0, stop=stop, obfuscation=job.params.include_obfuscation)
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
        return web.json_response(job.snapshot())

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
    return await _sse(
        request,
        job,
        start,
        stop=_stream_stop(rule),
        obfuscation=job.params.include_obfuscation if obfuscation is None else obfuscation,
    )


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


# ---- /_fake control API --------------------------------------------------------------------------


def _record(job: ResponseJob, *, events: bool) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": job.id,
        "status": job.status,
        "model": job.params.model,
        "background": job.params.background,
        "deleted": job.deleted,
        "text": job.text,
        "planned_text": job.planned_text,
        "reasoning_summary": job.summary,
        "event_count": len(job.events),
        "accepted_at": job.accepted_at,
        "create_seconds": job.create_seconds,
        "answered_at": job.answered_at,
        "idempotency_key": job.idempotency_key,
        "counts": dict(job.counts),
        "metadata": dict(job.params.metadata),
    }
    if events:
        record["events"] = job.events
    return record


async def control_health(request: web.Request) -> web.StreamResponse:
    return web.json_response({"ok": True})


async def control_stats(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    counts = {
        "creates": 0,
        "idempotent_replays": 0,
        "retrieves": 0,
        "stream_opens": 0,
        "cancels": 0,
        "deletes": 0,
    }
    counts.update(state.store.counts)
    return web.json_response(
        {
            "counts": {**counts, "faults_fired": state.faults.fired_total},
            "responses": {job.id: dict(job.counts) for job in state.store.jobs.values()},
        }
    )


async def control_responses(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    return web.json_response([_record(job, events=False) for job in state.store.jobs.values()])


async def control_response(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    job = state.store.jobs.get(request.match_info["response_id"])
    if job is None:
        raise not_found(request.match_info["response_id"])
    return web.json_response(_record(job, events=_bool_query(request, "events") is not False))


async def control_requests(request: web.Request) -> web.StreamResponse:
    return web.json_response(
        [
            {"at": at, "method": method, "path": path}
            for at, method, path in request.app[STATE].requests
        ]
    )


async def control_reset(request: web.Request) -> web.StreamResponse:
    request.app[STATE].reset()
    return web.json_response({"ok": True})


async def control_faults(request: web.Request) -> web.StreamResponse:
    faults = request.app[STATE].faults
    if request.method == "DELETE":
        faults.clear()
    elif request.method == "POST":
        body = await _control_json(request)
        items = body if isinstance(body, list) else [body]
        try:
            rules = [FaultRule.model_validate(item) for item in items]
        except ValidationError as err:
            raise APIErrorResponse(400, str(err)) from None
        for rule in rules:
            faults.add(rule)
    return web.json_response(faults.describe())


async def control_config(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    if request.method in {"PUT", "PATCH", "POST"}:
        body = await _control_json(request)
        if not isinstance(body, dict):
            raise APIErrorResponse(400, "Expected a JSON object.")
        try:
            server = {name: body.pop(name) for name in RUNTIME_FIELDS if name in body}
            if server:
                checked = ServerSettings.model_validate(server)
                state.settings = state.settings.model_copy(
                    update={name: getattr(checked, name) for name in server}
                )
            generation = GenerationSettings.model_validate(
                {**state.settings.generation.model_dump(), **body.get("generation", body)}
            )
        except ValidationError as err:
            raise APIErrorResponse(400, str(err)) from None
        state.settings = state.settings.model_copy(update={"generation": generation})
    return web.json_response(
        {
            **{name: getattr(state.settings, name) for name in RUNTIME_FIELDS},
            "generation": state.settings.generation.model_dump(),
        }
    )


async def _control_json(request: web.Request) -> Any:
    try:
        return await request.json()
    except json.JSONDecodeError:
        raise APIErrorResponse(400, "Invalid JSON body.") from None


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
    app.router.add_delete("/v1/responses/{response_id}", delete_response)
    app.router.add_get("/_fake/health", control_health)
    app.router.add_get("/_fake/stats", control_stats)
    app.router.add_get("/_fake/requests", control_requests)
    app.router.add_get("/_fake/responses", control_responses)
    app.router.add_get("/_fake/responses/{response_id}", control_response)
    app.router.add_post("/_fake/reset", control_reset)
    app.router.add_route("*", "/_fake/faults", control_faults)
    app.router.add_route("*", "/_fake/config", control_config)

    async def _stop_jobs(app: web.Application) -> None:
        app[STATE].store.clear()

    app.on_shutdown.append(_stop_jobs)
    return app


__all__ = ["STATE", "FakeState", "build_app"]
