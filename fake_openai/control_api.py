"""The `/_fake` control API: introspection, faults, webhooks, configuration, reset (no auth)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from .config import RUNTIME_FIELDS, GenerationSettings, ServerSettings
from .errors import APIErrorResponse, not_found
from .faults import FaultRule
from .jobs import ResponseJob
from .state import STATE


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
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "create_seconds": job.create_seconds,
        "answered_at": job.answered_at,
        "idempotency_key": job.idempotency_key,
        "counts": dict(job.counts),
        "metadata": dict(job.params.metadata),
        "output": job.output(),
        "response": job.snapshot(),
        "request": job.params.body,
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
        "lagging_reads": 0,
        "stream_opens": 0,
        "cancels": 0,
        "deletes": 0,
        "flex_unavailable": 0,
        "webhooks_sent": 0,
        "webhooks_failed": 0,
        "webhooks_dropped": 0,
    }
    counts.update(state.store.counts)
    counts.update(state.webhooks.counts)
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
    events = request.query.get("events", "true").lower() not in {"false", "0"}
    return web.json_response(_record(job, events=events))


async def control_requests(request: web.Request) -> web.StreamResponse:
    return web.json_response(
        [
            {"at": at, "method": method, "path": path}
            for at, method, path in request.app[STATE].requests
        ]
    )


async def control_webhooks(request: web.Request) -> web.StreamResponse:
    attempts = request.app[STATE].webhooks.attempts
    return web.json_response([attempt.model_dump(mode="json") for attempt in attempts])


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
                state.update_settings({name: getattr(checked, name) for name in server})
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


def add_control_routes(app: web.Application) -> None:
    app.router.add_get("/_fake/health", control_health)
    app.router.add_get("/_fake/stats", control_stats)
    app.router.add_get("/_fake/requests", control_requests)
    app.router.add_get("/_fake/webhooks", control_webhooks)
    app.router.add_get("/_fake/responses", control_responses)
    app.router.add_get("/_fake/responses/{response_id}", control_response)
    app.router.add_post("/_fake/reset", control_reset)
    app.router.add_route("*", "/_fake/faults", control_faults)
    app.router.add_route("*", "/_fake/config", control_config)
