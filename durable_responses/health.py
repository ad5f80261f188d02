"""Liveness and readiness, for the gateway, the webhook receiver and the worker.

`/livez` says the process answers (restart it if not); `/readyz` says it can serve, that is,
Temporal answers its health check (route no traffic to it if not), and whatever else the
process needs (a worker: its workers polling). The check is Temporal's
gRPC health check with a short timeout, shared by the requests that arrive together and kept
for a moment, so a load balancer probing every replica often costs Temporal little, and a
Temporal that goes down turns `/readyz` to 503 within a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

from aiohttp import web
from temporalio.client import Client

log = logging.getLogger("durable_responses.health")

CHECK_TIMEOUT_SECONDS = 0.5
"""How long the health check may take before Temporal counts as unreachable."""
CACHE_SECONDS = 0.4
"""How long a check's answer is reused."""


Check = Callable[[], str | None]
"""What else readiness needs: why the process is not ready, or None."""


class Readiness:
    """Whether Temporal is reachable (checked at most every `CACHE_SECONDS`) and `also`
    finds nothing missing (checked every time: it is the process's own state)."""

    def __init__(self, client: Client, also: Check | None = None) -> None:
        self._client = client
        self._also = also
        self._checked_at = -float("inf")
        self._ready = False
        self._detail = "not checked yet"
        self._check: asyncio.Task[None] | None = None

    async def ready(self) -> tuple[bool, str]:
        """(ready, why not) as of at most `CACHE_SECONDS` ago."""
        if time.monotonic() - self._checked_at > CACHE_SECONDS:
            if self._check is None or self._check.done():
                self._check = asyncio.create_task(self._run())
            await asyncio.shield(self._check)
        missing = self._also() if self._also is not None else None
        if self._ready and missing:
            return False, missing
        return self._ready, self._detail

    async def _run(self) -> None:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                healthy = await self._client.service_client.check_health(
                    timeout=timedelta(seconds=CHECK_TIMEOUT_SECONDS)
                )
            self._ready, self._detail = healthy, "" if healthy else "Temporal is not serving"
        except Exception as err:  # unreachable, timed out: not ready, whatever the cause
            self._ready, self._detail = False, f"Temporal unreachable: {type(err).__name__}"
        self._checked_at = time.monotonic()


async def livez(request: web.Request) -> web.StreamResponse:
    return web.json_response({"ok": True})


def readyz(readiness: Readiness) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The `/readyz` handler: 200 while Temporal is reachable, 503 while it is not."""

    async def handler(request: web.Request) -> web.StreamResponse:
        ready, detail = await readiness.ready()
        if ready:
            return web.json_response({"ok": True})
        return web.json_response({"ok": False, "error": detail}, status=503)

    return handler


def add_routes(app: web.Application, client: Client, also: Check | None = None) -> None:
    """`GET /livez`, `GET /readyz`, and `GET /healthz` (liveness, as before)."""
    app.router.add_get("/livez", livez)
    app.router.add_get("/healthz", livez)
    app.router.add_get("/readyz", readyz(Readiness(client, also)))


async def serve_beside(
    stack: contextlib.AsyncExitStack, client: Client, host: str, port: int, also: Check
) -> str:
    """Serve `/livez` and `/readyz` alone on `host:port` until `stack` closes (the worker's
    `--health-port`); the base URL."""
    app = web.Application()
    add_routes(app, client, also)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1)
    await runner.setup()
    await web.TCPSite(runner, host, port, reuse_address=True).start()
    stack.push_async_callback(runner.cleanup)
    url = f"http://{host}:{runner.addresses[0][1]}"
    log.info("liveness and readiness at %s/livez, %s/readyz", url, url)
    return url
