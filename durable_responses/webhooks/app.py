"""The receiver: verify each delivery, find the workflow that owns its response, signal it.

It answers fast and every retry of OpenAI's is harmless: a delivery seen before (the same
`webhook-id`) is acknowledged without a second signal, and a second signal would change
nothing anyway (the workflow retrieves once and ignores the rest). Bad signatures and stale
timestamps get 400 and signal nothing; a response no workflow owns gets 200 and a log line;
a Temporal server out of reach gets 503, so OpenAI delivers it again later.

`GET /webhooks/stats` answers loopback callers only, or a caller with the bearer token in
`DURABLE_RESPONSES_WEBHOOKS_STATS_TOKEN`: its counts say how busy an account is. `GET /livez`
and `GET /readyz` (Temporal reachable) as the gateway's.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import os
from collections import Counter, OrderedDict
from typing import Any

import openai
from aiohttp import web
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from durable_responses import health
from durable_responses.models.webhooks import RESPONSE_EVENTS, WEBHOOK_SIGNAL

from .owners import OwnerLookup
from .verify import Rejected, Verifier, parse_secrets

log = logging.getLogger("durable_responses.webhooks")

DEFAULT_PATH = "/webhooks/openai"
STATS_TOKEN_VARIABLE = "DURABLE_RESPONSES_WEBHOOKS_STATS_TOKEN"
REMEMBERED_DELIVERIES = 100_000
"""`webhook-id`s kept to acknowledge a redelivery without signalling again."""

RECEIVER: web.AppKey[Receiver] = web.AppKey("receiver")


class Receiver:
    """What the endpoint does with one delivery; `counts` says what it did with all of them."""

    def __init__(self, client: Client, verifier: Verifier, lookup: OwnerLookup) -> None:
        self.client = client
        self._verifier = verifier
        self.lookup = lookup
        self._seen: OrderedDict[str, None] = OrderedDict()
        self.counts: Counter[str] = Counter()

    async def deliver(self, body: bytes, headers: Any) -> tuple[int, dict[str, Any]]:
        """The status and body to answer a delivery with."""
        self.counts["received"] += 1
        try:
            event = self._verifier.verify(body, headers)
        except Rejected as err:
            self.counts[f"rejected_{err.reason}"] += 1
            log.warning("webhook rejected (%s): %s", err.reason, err)
            return 400, {"error": err.reason, "message": str(err)}
        if event.webhook_id in self._seen:
            self.counts["duplicates"] += 1
            return 200, {"duplicate": True}
        if event.type not in RESPONSE_EVENTS:
            self.counts["ignored"] += 1
            self._remember(event.webhook_id)
            return 200, {"ignored": event.type}
        try:
            owner = await self.lookup.owner(event.response_id)
            if owner is None:
                self.counts["unknown"] += 1
                log.info("%s for %s: no workflow owns it", event.type, event.response_id)
                self._remember(event.webhook_id)
                return 200, {"unknown": event.response_id}
            await self.client.get_workflow_handle(owner).signal(WEBHOOK_SIGNAL, event)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:  # the run has ended already
                self.counts["late"] += 1
                self._remember(event.webhook_id)
                return 200, {"late": event.response_id}
            self.counts["errors"] += 1
            log.warning("cannot signal for %s yet: %s", event.response_id, err)
            return 503, {"error": "temporal", "message": str(err)}
        except openai.APIError as err:
            self.counts["errors"] += 1
            log.warning("cannot look up the owner of %s yet: %s", event.response_id, err)
            return 503, {"error": "openai", "message": str(err)}
        self.counts["signalled"] += 1
        self._remember(event.webhook_id)
        log.info("%s for %s: signalled %s", event.type, event.response_id, owner)
        return 200, {"signalled": owner}

    def _remember(self, webhook_id: str) -> None:
        self._seen[webhook_id] = None
        if len(self._seen) > REMEMBERED_DELIVERIES:
            self._seen.popitem(last=False)


async def _delivery(request: web.Request) -> web.Response:
    status, body = await request.app[RECEIVER].deliver(await request.read(), request.headers)
    return web.json_response(body, status=status)


def _may_read_stats(request: web.Request) -> bool:
    """A loopback caller, or one with the stats token (compared in constant time)."""
    token = os.environ.get(STATS_TOKEN_VARIABLE)
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        with contextlib.suppress(UnicodeEncodeError):
            if hmac.compare_digest(given.encode(), token.encode()):
                return True
    try:
        return ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:  # a Unix socket, or no peer at all
        return False


async def _stats(request: web.Request) -> web.Response:
    if not _may_read_stats(request):
        return web.json_response(
            {
                "error": "forbidden",
                "message": f"stats are for loopback callers or {STATS_TOKEN_VARIABLE}'s bearer",
            },
            status=403,
        )
    receiver = request.app[RECEIVER]
    counts = dict(receiver.counts)
    counts["owner_by_visibility"] = receiver.lookup.by_visibility
    counts["owner_by_metadata"] = receiver.lookup.by_metadata
    return web.json_response(counts)


def build_app(receiver: Receiver, path: str = DEFAULT_PATH) -> web.Application:
    """The endpoint (`POST path`), `GET /webhooks/stats`, `/livez`, `/readyz` and `/healthz`."""
    app = web.Application()
    app[RECEIVER] = receiver
    app.router.add_post(path, _delivery)
    app.router.add_get("/webhooks/stats", _stats)
    health.add_routes(app, receiver.client)
    return app


async def start(
    client: Client,
    secrets: list[str],
    *,
    host: str = "127.0.0.1",
    port: int = 8788,
    path: str = DEFAULT_PATH,
    tolerance_seconds: int = 300,
    openai_client: openai.AsyncOpenAI | None = None,
) -> tuple[web.AppRunner, Receiver, str]:
    """Serve the receiver; its runner (to `cleanup()`), the receiver, and its URL."""
    receiver = Receiver(
        client, Verifier(secrets, tolerance_seconds), OwnerLookup(client, openai_client)
    )
    runner = web.AppRunner(build_app(receiver, path), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    bound = runner.addresses[0][1]
    return runner, receiver, f"http://{host}:{bound}{path}"


async def serve_beside(
    stack: contextlib.AsyncExitStack, client: Client, host: str, port: int
) -> str:
    """Serve the receiver in this process until `stack` closes (`worker --webhook-port`);
    the secret(s) from `OPENAI_WEBHOOK_SECRET`, a key (for the owner lookup's fallback) from
    `OPENAI_API_KEY`."""
    api = None
    if os.environ.get("OPENAI_API_KEY"):
        api = openai.AsyncOpenAI(max_retries=0, base_url=os.environ.get("OPENAI_BASE_URL") or None)
    runner, _, url = await start(
        client,
        parse_secrets(os.environ.get("OPENAI_WEBHOOK_SECRET")),
        host=host,
        port=port,
        openai_client=api,
    )
    stack.push_async_callback(runner.cleanup)
    log.info("receiving OpenAI webhooks at %s", url)
    return url
