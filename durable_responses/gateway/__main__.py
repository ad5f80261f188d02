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
import asyncio
import getpass
import logging
import os
import sys
from collections.abc import Sequence

from durable_responses import connection
from durable_responses.models import TASK_QUEUE

from .auth import Tenants, hash_key
from .bodies import MAX_BODY_BYTES
from .limits import TenantLimits
from .server import serve


async def _serve(args: argparse.Namespace, tenants: Tenants) -> None:
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
        models=args.models,
        limits=TenantLimits(
            requests_per_second=args.tenant_requests_per_second,
            runs_in_flight=args.tenant_runs_in_flight,
        ),
    )


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
    parser.add_argument(
        "--models",
        type=lambda text: [name.strip() for name in text.split(",") if name.strip()],
        default=os.environ.get("DURABLE_RESPONSES_GATEWAY_MODELS", ""),
        help="models GET /v1/models lists, comma-separated (the operator's choice: the "
        "gateway does not ask the provider)",
    )
    parser.add_argument(
        "--tenant-requests-per-second",
        type=float,
        default=float(os.environ.get("DURABLE_RESPONSES_GATEWAY_TENANT_RPS", "0")),
        help="requests a tenant may send per second to this replica, 429 past it (0: no limit)",
    )
    parser.add_argument(
        "--tenant-runs-in-flight",
        type=int,
        default=int(os.environ.get("DURABLE_RESPONSES_GATEWAY_TENANT_RUNS", "0")),
        help="runs a tenant may have running at once, 429 past it (0: no limit)",
    )
    parser.add_argument("--address", default=None)
    parser.add_argument("--namespace", default=None)
    parser.add_argument("--profile", default=None)
    args = parser.parse_args(argv)
    try:
        tenants = Tenants.from_env()
    except (OSError, ValueError) as err:  # one line: what is wrong and how to fix it
        sys.exit(f"durable-responses-gateway: {err}")
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"))
    connection.exit_after(lambda: asyncio.run(_serve(args, tenants)))


if __name__ == "__main__":
    main()
