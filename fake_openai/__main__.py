"""`durable-responses-fake-openai`: serve the fake Responses API until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys

from .config import GenerationSettings, ServerSettings
from .faults import FaultRule
from .server import start_site


def _settings(args: argparse.Namespace) -> ServerSettings:
    faults = [FaultRule.parse_spec(spec) for spec in args.fault]
    env_faults = os.environ.get("FAKE_OPENAI_FAULTS", "").strip()
    if env_faults:
        if env_faults.startswith("["):
            faults += [FaultRule.model_validate(item) for item in json.loads(env_faults)]
        else:
            faults += [FaultRule.parse_spec(s) for s in env_faults.split(";") if s.strip()]
    return ServerSettings(
        api_key=args.api_key,
        stream_retention_seconds=args.stream_retention,
        honour_idempotency_key=not args.ignore_idempotency_key,
        reject_unknown_parameters=not args.allow_unknown_parameters,
        models=args.model,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        retrieve_lag_seconds=args.retrieve_lag,
        fault_seed=args.fault_seed,
        generation=GenerationSettings(
            tokens=args.tokens,
            tokens_per_second=args.tokens_per_second,
            queued_seconds=args.queued_seconds,
            reasoning_seconds=args.reasoning_seconds,
            reasoning_tokens=args.reasoning_tokens,
            reasoning=args.reasoning,
            seed=args.seed,
            item_seconds=args.item_seconds,
            searches=args.searches,
        ),
        faults=faults,
    )


def _env(name: str, default: str) -> str:
    return os.environ.get(f"FAKE_OPENAI_{name}", default)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    g = GenerationSettings()
    parser = argparse.ArgumentParser(
        prog="durable-responses-fake-openai",
        description="A local, fault-injecting OpenAI Responses API (background mode, resumable "
        "streams). Every flag also reads FAKE_OPENAI_<FLAG> from the environment.",
    )
    parser.add_argument("--host", default=_env("HOST", "127.0.0.1"))
    parser.add_argument(
        "--port",
        type=int,
        default=int(_env("PORT", "8787")),
        help="0 picks a free port (the URL is printed).",
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get("FAKE_OPENAI_API_KEY"),
        help="Accept only this bearer token (default: any non-empty key).",
    )
    parser.add_argument("--tokens", type=int, default=int(_env("TOKENS", str(g.tokens))))
    parser.add_argument(
        "--tokens-per-second",
        type=float,
        default=float(_env("TOKENS_PER_SECOND", str(g.tokens_per_second))),
    )
    parser.add_argument(
        "--queued-seconds", type=float, default=float(_env("QUEUED_SECONDS", str(g.queued_seconds)))
    )
    parser.add_argument(
        "--reasoning-seconds",
        type=float,
        default=float(_env("REASONING_SECONDS", str(g.reasoning_seconds))),
    )
    parser.add_argument(
        "--reasoning-tokens",
        type=int,
        default=int(_env("REASONING_TOKENS", str(g.reasoning_tokens))),
    )
    parser.add_argument(
        "--reasoning",
        choices=["auto", "on", "off"],
        default=_env("REASONING", "auto"),
        help="Reasoning item with summary: by model name (auto), always, never.",
    )
    parser.add_argument(
        "--seed", type=int, default=int(_env("SEED", "0")), help="Seed of the generated text."
    )
    parser.add_argument(
        "--item-seconds",
        type=float,
        default=float(_env("ITEM_SECONDS", str(g.item_seconds))),
        help="Time each built-in tool item (search, code, image, MCP) takes.",
    )
    parser.add_argument(
        "--searches",
        type=int,
        default=int(_env("SEARCHES", str(g.searches))),
        help="Web searches before an answer that has a web search tool.",
    )
    parser.add_argument(
        "--stream-retention",
        type=float,
        default=float(_env("STREAM_RETENTION", "300")),
        help="Seconds after creation during which a stream may be resumed.",
    )
    parser.add_argument(
        "--ignore-idempotency-key",
        action="store_true",
        default=_env("IGNORE_IDEMPOTENCY_KEY", "").lower() in {"1", "true", "yes", "on"},
        help="Create a new response for every create, even one that repeats an "
        "Idempotency-Key (OpenAI does not document honouring the header).",
    )
    parser.add_argument(
        "--allow-unknown-parameters",
        action="store_true",
        default=_env("ALLOW_UNKNOWN_PARAMETERS", "").lower() in {"1", "true", "yes", "on"},
        help="Accept create body keys the installed SDK does not know (the API answers them "
        "with 400 unknown_parameter).",
    )
    parser.add_argument(
        "--model",
        action="append",
        default=[m.strip() for m in _env("MODELS", "").split(",") if m.strip()],
        metavar="NAME",
        help="Also accept this model name (repeatable; '*' accepts any; FAKE_OPENAI_MODELS "
        "takes a comma-separated list). Others than the built-in catalogue get 404 "
        "model_not_found, as from the API.",
    )
    parser.add_argument(
        "--webhook-url",
        default=os.environ.get("FAKE_OPENAI_WEBHOOK_URL"),
        help="POST signed response.* events of background responses here (default: none).",
    )
    parser.add_argument(
        "--webhook-secret",
        default=os.environ.get("FAKE_OPENAI_WEBHOOK_SECRET"),
        help="The whsec_... signing secret (default: one is made up; GET /_fake/config shows it).",
    )
    parser.add_argument(
        "--retrieve-lag",
        type=float,
        default=float(_env("RETRIEVE_LAG", "0")),
        metavar="SECONDS",
        help="For this long after a background response ends (and its webhook is sent), "
        "retrieve still shows it running: the provider's reads lag its webhooks.",
    )
    parser.add_argument(
        "--fault-seed",
        type=int,
        default=int(_env("FAULT_SEED", "0")),
        help="Seed of probabilistic faults.",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help="A fault rule, e.g. 'route=create,kind=error,status=429,"
        "retry_after=1,times=2' (repeatable; FAKE_OPENAI_FAULTS takes a "
        "';'-separated list or a JSON array).",
    )
    args = parser.parse_args(argv)
    args.reasoning = {"auto": None, "on": True, "off": False}[args.reasoning]
    return args


async def _serve(args: argparse.Namespace) -> None:
    runner, url = await start_site(_settings(args), args.host, args.port)
    print(f"fake_openai listening on {url}/v1 (control API: {url}/_fake)", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        asyncio.run(_serve(args))
    except OSError as err:
        sys.exit(f"fake_openai: cannot listen on {args.host}:{args.port}: {err}")


if __name__ == "__main__":
    main()
