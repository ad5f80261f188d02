"""`durable-responses-gateway`: OpenAI's Responses API over durable workflows.

    DURABLE_RESPONSES_GATEWAY_KEYS=acme:<sha256 of a key> durable-responses-gateway --port 8000
    durable-responses-gateway hash-key KEY        # the sha256 to configure for a key

Temporal from `TEMPORAL_ADDRESS` or a profile (`connection.py`), with the workers' codec keys
if payloads are encrypted. No OpenAI key: the workers call OpenAI.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence

from durable_responses import connection
from durable_responses.models import TASK_QUEUE

from .auth import Tenants, hash_key
from .bodies import MAX_BODY_BYTES
from .server import serve


async def _serve(args: argparse.Namespace) -> None:
    tenants = Tenants.from_env()
    client = await connection.connect(
        address=args.address, namespace=args.namespace, profile=args.profile
    )
    await serve(
        client,
        tenants,
        host=args.host,
        port=args.port,
        task_queue=args.task_queue,
        max_body_bytes=args.max_body_bytes,
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of `durable-responses-gateway`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["hash-key"]:
        if len(argv) != 2:
            sys.exit("usage: durable-responses-gateway hash-key KEY")
        print(hash_key(argv[1]))
        return
    parser = argparse.ArgumentParser(
        prog="durable-responses-gateway",
        description="Serve OpenAI's Responses API over durable workflows.",
    )
    parser.add_argument(
        "--host", default=os.environ.get("DURABLE_RESPONSES_GATEWAY_HOST", "127.0.0.1")
    )
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("DURABLE_RESPONSES_GATEWAY_PORT", "8000"))
    )
    parser.add_argument(
        "--task-queue", default=os.environ.get("DURABLE_RESPONSES_TASK_QUEUE", TASK_QUEUE)
    )
    parser.add_argument(
        "--max-body-bytes",
        type=int,
        default=int(os.environ.get("DURABLE_RESPONSES_GATEWAY_MAX_BODY_BYTES", MAX_BODY_BYTES)),
        help=f"largest create body taken, answered 413 past it (default {MAX_BODY_BYTES})",
    )
    parser.add_argument("--address", default=None)
    parser.add_argument("--namespace", default=None)
    parser.add_argument("--profile", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"))
    connection.exit_after(lambda: asyncio.run(_serve(args)))


if __name__ == "__main__":
    main()
