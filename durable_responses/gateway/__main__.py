"""`durable-responses-gateway`: OpenAI's Responses API over durable workflows.

    DURABLE_RESPONSES_GATEWAY_KEYS=acme:<sha256 of a key> durable-responses-gateway --port 8000
    durable-responses-gateway hash-key < key.txt  # the sha256 to configure for a key
    durable-responses-gateway hash-key            # asks for it, without echo, on a terminal

The key is read from standard input, never from the command line, where `ps` shows it.

Temporal from `TEMPORAL_ADDRESS` or a profile (`connection.py`), with the workers' codec keys
if payloads are encrypted. No OpenAI key: the workers call OpenAI.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from collections.abc import Sequence
from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from durable_responses import cli, telemetry
from durable_responses.models import TASK_QUEUE

from .auth import KEYS_FILE_VARIABLE, KEYS_VARIABLE, Tenants, hash_key
from .bodies import MAX_BODY_BYTES
from .limits import TenantLimits
from .runs import CREATE_WAIT_SECONDS, MAX_CREATE_WAIT_SECONDS
from .server import start
from .watch import LINK_SECONDS, MAX_LINK_SECONDS, WatchLinks

log = logging.getLogger("durable_responses.gateway")
WATCH_SECRET_VARIABLE = "DURABLE_RESPONSES_GATEWAY_WATCH_SECRET"


class GatewaySettings(cli.TemporalSettings):
    """Serve OpenAI's Responses API over durable workflows (`hash-key`: print the SHA-256 of
    a key read from standard input, for the keys)."""

    model_config = SettingsConfigDict(cli_prog_name="durable-responses-gateway")
    VARIABLES: ClassVar[dict[str, str]] = {
        "host": "DURABLE_RESPONSES_GATEWAY_HOST",
        "port": "DURABLE_RESPONSES_GATEWAY_PORT",
        "max_body_bytes": "DURABLE_RESPONSES_GATEWAY_MAX_BODY_BYTES",
        "models": "DURABLE_RESPONSES_GATEWAY_MODELS",
        "tenant_requests_per_second": "DURABLE_RESPONSES_GATEWAY_TENANT_RPS",
        "tenant_runs_in_flight": "DURABLE_RESPONSES_GATEWAY_TENANT_RUNS",
        "watch_secret": WATCH_SECRET_VARIABLE,
        "watch_link_seconds": "DURABLE_RESPONSES_GATEWAY_WATCH_LINK_SECONDS",
        "public_url": "DURABLE_RESPONSES_GATEWAY_PUBLIC_URL",
        "metrics_port": "DURABLE_RESPONSES_GATEWAY_METRICS_PORT",
        "metrics_host": "DURABLE_RESPONSES_GATEWAY_METRICS_HOST",
        "create_wait_seconds": "DURABLE_RESPONSES_GATEWAY_CREATE_WAIT_SECONDS",
    }
    ENVIRONMENT: ClassVar[dict[str, str]] = {
        **cli.TemporalSettings.ENVIRONMENT,
        KEYS_VARIABLE: "client keys as `tenant:<sha256 of the key>`, comma/newline separated",
        KEYS_FILE_VARIABLE: f"file of the keys (mode 600), instead of {KEYS_VARIABLE}",
    }

    host: str = Field(default="127.0.0.1", description="address the gateway binds")
    port: int = Field(default=8000, ge=0, le=65535, description="port the gateway binds")
    task_queue: str = Field(default=TASK_QUEUE, description="task queue of the workers")
    max_body_bytes: int = Field(
        default=MAX_BODY_BYTES, gt=0, description="largest create body taken, 413 past it"
    )
    models: str = Field(
        default="",
        description="models GET /v1/models lists, comma-separated (the operator's choice: "
        "the gateway does not ask the provider)",
    )
    create_wait_seconds: float = Field(
        default=CREATE_WAIT_SECONDS,
        ge=0,
        le=MAX_CREATE_WAIT_SECONDS,
        description="how long a create waits for the provider to accept its response before "
        "it answers `queued` anyway (a slow or retried provider)",
    )
    tenant_requests_per_second: float = Field(
        default=0,
        ge=0,
        description="requests a tenant may send per second to this replica, 429 past it "
        "(0: no limit)",
    )
    tenant_runs_in_flight: int = Field(
        default=0, ge=0, description="runs a tenant may have running at once, 429 past it (0: none)"
    )
    watch_secret: SecretStr | None = Field(
        default=None,
        description="secret that signs watch links (32+ characters; several comma-separated: "
        "the first signs, all verify, for rotation); the same on every replica. Set it in the "
        "variable: ps shows flags. Unset: a secret per process, so links stop working at a "
        "restart and on other replicas",
    )
    watch_link_seconds: int = Field(
        default=LINK_SECONDS,
        gt=0,
        le=MAX_LINK_SECONDS,
        description="how long a watch link opens its run's page",
    )
    public_url: str | None = Field(
        default=None,
        description="the gateway's origin as browsers reach it, for watch links (e.g. "
        "https://gateway.example.com behind a proxy); unset: the request's Host",
    )

    metrics_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="serve Prometheus metrics (requests, latency, open streams, runs started, "
        "and the Temporal client's) on this port (0: off)",
    )
    metrics_host: str = Field(
        default="127.0.0.1",
        description="address the metrics endpoint binds (0.0.0.0: all interfaces, in a container)",
    )


async def serve(settings: GatewaySettings) -> int:
    """The keys, Temporal, then serve until SIGINT/SIGTERM."""
    tenants = Tenants.from_env()  # before connecting: a bad key is the first thing to fix
    links = _watch_links(settings)  # a malformed secret, too, before connecting
    debug = settings.log_level == "DEBUG"
    runtime = telemetry.metrics_runtime(
        settings.metrics_port, settings.metrics_host, cli.core_logging(debug)
    )
    client = await cli.connect(settings, runtime=runtime)
    if settings.watch_secret is None:  # after connecting: no server is the one line to read
        log.warning(
            "no %s: watch links are signed with a secret of this process, so they stop "
            "working when it restarts and other replicas refuse them",
            WATCH_SECRET_VARIABLE,
        )
    runner, url = await start(
        client,
        tenants,
        host=settings.host,
        port=settings.port,
        task_queue=settings.task_queue,
        max_body_bytes=settings.max_body_bytes,
        models=[name.strip() for name in settings.models.split(",") if name.strip()],
        limits=TenantLimits(
            requests_per_second=settings.tenant_requests_per_second,
            runs_in_flight=settings.tenant_runs_in_flight,
        ),
        create_wait_seconds=settings.create_wait_seconds,
        watch_links=links,
        public_url=settings.public_url,
    )
    log.info("gateway at %s (runs on task queue %r)", url, settings.task_queue)
    print(f"gateway at {url}", flush=True)
    try:
        return await cli.until_signalled()
    finally:
        await runner.cleanup()


def _watch_links(settings: GatewaySettings) -> WatchLinks:
    seconds = settings.watch_link_seconds
    if settings.watch_secret is None:
        return WatchLinks.ephemeral(seconds=seconds)
    return WatchLinks.parse(settings.watch_secret.get_secret_value(), seconds=seconds)


def _hash_key(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="durable-responses-gateway hash-key",
        description="Print the SHA-256 of a gateway key read from standard input (a terminal "
        "asks for it without echo), for a `tenant:<sha256>` entry of the keys. The key is "
        "never an argument: `ps` would show it.",
    )
    _, extra = parser.parse_known_args(argv)
    if extra:  # not echoed: it may be the key itself, typed the old way
        sys.exit(
            "durable-responses-gateway hash-key: the key goes on standard input, not on the "
            "command line (ps shows it there)"
        )
    if sys.stdin.isatty():
        key = getpass.getpass("gateway key: ")
    else:
        key = sys.stdin.readline().rstrip("\r\n")
    if not key.strip():
        sys.exit("durable-responses-gateway hash-key: no key on standard input")
    print(hash_key(key.strip()))


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of `durable-responses-gateway`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["hash-key"]:
        _hash_key(argv[1:])
        return
    # OSError, ValueError: a keys file others can read, a malformed key entry, no keys.
    cli.run(GatewaySettings, serve, argv, expected=(ValueError,))


if __name__ == "__main__":
    main()
