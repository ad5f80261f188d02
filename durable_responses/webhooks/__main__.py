"""`durable-responses-webhooks`: the webhook receiver as a service of its own.

    OPENAI_WEBHOOK_SECRET=whsec_... durable-responses-webhooks --port 8788

Temporal from `TEMPORAL_ADDRESS` or a profile (`connection.py`), as every client of the
project; `OPENAI_API_KEY`, if set, lets it find the owner of a response that finished before
visibility listed it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import ClassVar

import openai
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from durable_responses import cli

from .app import DEFAULT_PATH, STATS_TOKEN_VARIABLE, start
from .verify import DEFAULT_TOLERANCE_SECONDS, parse_secrets

SECRET_VARIABLE = "OPENAI_WEBHOOK_SECRET"


class WebhooksSettings(cli.TemporalSettings):
    """Receive OpenAI webhooks and wake the workflows whose responses ended."""

    model_config = SettingsConfigDict(cli_prog_name="durable-responses-webhooks")
    VARIABLES: ClassVar[dict[str, str]] = {
        # The same two the worker's --webhook-host/--webhook-port read: one meaning each.
        "host": "DURABLE_RESPONSES_WEBHOOK_HOST",
        "port": "DURABLE_RESPONSES_WEBHOOK_PORT",
        "path": "DURABLE_RESPONSES_WEBHOOK_PATH",
        "tolerance": "DURABLE_RESPONSES_WEBHOOK_TOLERANCE",
    }
    ENVIRONMENT: ClassVar[dict[str, str]] = {
        **cli.TemporalSettings.ENVIRONMENT,
        SECRET_VARIABLE: "webhook signing secret(s), comma-separated while rotating",
        "OPENAI_API_KEY": "optional: finds the owner of a response visibility does not list yet",
        "OPENAI_BASE_URL": "OpenAI-compatible base URL; empty: the real API",
        STATS_TOKEN_VARIABLE: "bearer token of GET /stats from beyond loopback",
    }

    host: str = Field(
        default="127.0.0.1",
        description="address the receiver binds (0.0.0.0: all interfaces, in a container)",
    )
    port: int = Field(default=8788, ge=0, le=65535, description="port the receiver binds")
    path: str = Field(default=DEFAULT_PATH, description="path OpenAI posts to")
    tolerance: int = Field(
        default=DEFAULT_TOLERANCE_SECONDS,
        ge=0,
        description="seconds a delivery's timestamp may be off",
    )


async def serve(settings: WebhooksSettings) -> int:
    """Receive until SIGINT/SIGTERM."""
    secrets = parse_secrets(os.environ.get(SECRET_VARIABLE))
    client = await cli.connect(settings)
    api = (
        openai.AsyncOpenAI(max_retries=0, base_url=os.environ.get("OPENAI_BASE_URL") or None)
        if os.environ.get("OPENAI_API_KEY")
        else None
    )
    runner, _, url = await start(
        client,
        secrets,
        host=settings.host,
        port=settings.port,
        path=settings.path,
        tolerance_seconds=settings.tolerance,
        openai_client=api,
    )
    logging.getLogger("durable_responses.webhooks").info("receiving webhooks at %s", url)
    print(f"receiving webhooks at {url}", flush=True)
    try:
        return await cli.until_signalled()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of `durable-responses-webhooks`."""
    # ValueError: no or a malformed signing secret.
    cli.run(WebhooksSettings, serve, argv, expected=(ValueError,))


if __name__ == "__main__":
    main()
