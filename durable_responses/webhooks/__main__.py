"""`durable-responses-webhooks`: the webhook receiver as a service of its own.

    OPENAI_WEBHOOK_SECRET=whsec_... durable-responses-webhooks --port 8788

Temporal from `TEMPORAL_ADDRESS` or a profile (`connection.py`), as every client of the
project; `OPENAI_API_KEY`, if set, lets it find the owner of a response that finished before
visibility listed it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from collections.abc import Sequence

import openai

from durable_responses import connection

from .app import DEFAULT_PATH, start
from .verify import DEFAULT_TOLERANCE_SECONDS, parse_secrets

SECRET_VARIABLE = "OPENAI_WEBHOOK_SECRET"


async def serve(args: argparse.Namespace) -> None:
    client = await connection.connect(
        address=args.address, namespace=args.namespace, profile=args.profile
    )
    api = (
        openai.AsyncOpenAI(max_retries=0, base_url=os.environ.get("OPENAI_BASE_URL") or None)
        if os.environ.get("OPENAI_API_KEY")
        else None
    )
    runner, _, url = await start(
        client,
        parse_secrets(os.environ.get(SECRET_VARIABLE)),
        host=args.host,
        port=args.port,
        path=args.path,
        tolerance_seconds=args.tolerance,
        openai_client=api,
    )
    logging.getLogger("durable_responses.webhooks").info("receiving webhooks at %s", url)
    print(f"receiving webhooks at {url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of `durable-responses-webhooks`."""
    parser = argparse.ArgumentParser(
        prog="durable-responses-webhooks",
        description="Receive OpenAI webhooks and wake the workflows whose responses ended.",
    )
    parser.add_argument(
        "--host", default=os.environ.get("DURABLE_RESPONSES_WEBHOOK_HOST", "0.0.0.0")
    )
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("DURABLE_RESPONSES_WEBHOOK_PORT", "8788"))
    )
    parser.add_argument("--path", default=DEFAULT_PATH)
    parser.add_argument(
        "--tolerance",
        type=int,
        default=DEFAULT_TOLERANCE_SECONDS,
        help="seconds a delivery's timestamp may be off (default 300)",
    )
    parser.add_argument("--address", default=None)
    parser.add_argument("--namespace", default=None)
    parser.add_argument("--profile", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"))
    connection.exit_after(lambda: asyncio.run(serve(args)))


if __name__ == "__main__":
    main()
