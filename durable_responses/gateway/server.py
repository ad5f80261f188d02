"""Serving the gateway: in a process of yours (`start`), or until a signal (`serve`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence

from aiohttp import web
from temporalio.client import Client

from durable_responses.models import TASK_QUEUE

from .app import Gateway, build_app
from .auth import Tenants
from .bodies import MAX_BODY_BYTES
from .limits import TenantLimits
from .runs import CREATE_WAIT_SECONDS
from .streams import KEEPALIVE_SECONDS
from .watch import WatchLinks

log = logging.getLogger("durable_responses.gateway")


async def start(
    client: Client,
    tenants: Tenants,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    task_queue: str = TASK_QUEUE,
    max_body_bytes: int = MAX_BODY_BYTES,
    models: Sequence[str] = (),
    limits: TenantLimits | None = None,
    keepalive_seconds: float = KEEPALIVE_SECONDS,
    create_wait_seconds: float = CREATE_WAIT_SECONDS,
    watch_links: WatchLinks | None = None,
    public_url: str | None = None,
) -> tuple[web.AppRunner, str]:
    """Serve on `host:port` (0: any free port); the runner (to `cleanup()`) and the base URL
    clients take (`.../v1`). Without `watch_links`, links are signed with a secret of this
    process: they stop working when it restarts, and other replicas refuse them."""
    gateway = Gateway(
        client,
        tenants,
        task_queue,
        max_body_bytes=max_body_bytes,
        models=models,
        limits=limits,
        keepalive_seconds=keepalive_seconds,
        create_wait_seconds=create_wait_seconds,
        watch_links=watch_links,
        public_url=public_url,
    )
    app = build_app(gateway)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1)
    await runner.setup()
    await web.TCPSite(runner, host, port, reuse_address=True).start()
    bound = runner.addresses[0][1]
    return runner, f"http://{host}:{bound}/v1"


async def serve(
    client: Client,
    tenants: Tenants,
    *,
    host: str,
    port: int,
    task_queue: str,
    max_body_bytes: int = MAX_BODY_BYTES,
    models: Sequence[str] = (),
    limits: TenantLimits | None = None,
    create_wait_seconds: float = CREATE_WAIT_SECONDS,
    watch_links: WatchLinks | None = None,
    public_url: str | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM."""
    runner, url = await start(
        client,
        tenants,
        host=host,
        port=port,
        task_queue=task_queue,
        max_body_bytes=max_body_bytes,
        models=models,
        limits=limits,
        create_wait_seconds=create_wait_seconds,
        watch_links=watch_links,
        public_url=public_url,
    )
    log.info("gateway at %s (runs on task queue %r)", url, task_queue)
    print(f"gateway at {url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
