"""`durable-responses-fake-openai`: serve the fake Responses API until interrupted."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any, ClassVar, Literal, Self

from pydantic import Field, PrivateAttr
from pydantic_settings import CliImplicitFlag, CliSuppress, SettingsConfigDict

from durable_responses import cli

from .config import GenerationSettings, ServerSettings
from .faults import FaultRule
from .server import start_site

_G = GenerationSettings()


def _repeatable(parser: argparse.ArgumentParser) -> None:
    """The two repeatable flags (a list of specs with commas in them is no settings field)."""
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME",
        help="also accept this model name (repeatable; '*' accepts any), besides "
        "FAKE_OPENAI_MODELS. Others than the built-in catalogue get 404 model_not_found, as "
        "from the API.",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help="a fault rule, e.g. 'route=create,kind=error,status=429,retry_after=1,times=2' "
        "(repeatable), besides FAKE_OPENAI_FAULTS",
    )


class FakeSettings(cli.CommandSettings):
    """A local, fault-injecting OpenAI Responses API (background mode, resumable streams)."""

    model_config = SettingsConfigDict(cli_prog_name="durable-responses-fake-openai")
    PREFIX: ClassVar[str] = "FAKE_OPENAI_"

    host: str = Field(default="127.0.0.1", description="listen address")
    port: int = Field(default=8787, ge=0, le=65535, description="0 picks a free port (printed)")
    api_key: str | None = Field(
        default=None, description="accept only this bearer token (default: any non-empty key)"
    )
    tokens: int = Field(default=_G.tokens, ge=0, description="answer tokens per response")
    tokens_per_second: float = Field(
        default=_G.tokens_per_second, gt=0, description="answer generation rate"
    )
    queued_seconds: float = Field(default=_G.queued_seconds, ge=0, description="time `queued`")
    reasoning_seconds: float = Field(
        default=_G.reasoning_seconds, ge=0, description="reasoning time before the answer"
    )
    reasoning_tokens: int = Field(
        default=_G.reasoning_tokens, ge=0, description="reasoning summary tokens"
    )
    reasoning: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="reasoning item with summary: by model name (auto), always, never",
    )
    seed: int = Field(default=0, description="seed of the generated text")
    item_seconds: float = Field(
        default=_G.item_seconds,
        ge=0,
        description="time each built-in tool item (search, code, image, MCP) takes",
    )
    searches: int = Field(
        default=_G.searches, ge=0, description="web searches before an answer with a search tool"
    )
    stream_retention: float = Field(
        default=300, ge=0, description="seconds after creation a stream may be resumed"
    )
    ignore_idempotency_key: CliImplicitFlag[bool] = Field(
        default=False,
        description="create a new response for every create, even one that repeats an "
        "Idempotency-Key (OpenAI does not document honouring the header)",
    )
    allow_unknown_parameters: CliImplicitFlag[bool] = Field(
        default=False,
        description="accept create body keys the installed SDK does not know (the API answers "
        "them with 400 unknown_parameter)",
    )
    webhook_url: str | None = Field(
        default=None, description="POST signed response.* events of background responses here"
    )
    webhook_secret: str | None = Field(
        default=None,
        description="the whsec_... signing secret (default: made up; GET /_fake/config shows it)",
    )
    retrieve_lag: float = Field(
        default=0,
        ge=0,
        description="for this long after a background response ends (and its webhook is sent), "
        "retrieve still shows it running: the provider's reads lag its webhooks",
    )
    fault_seed: int = Field(default=0, description="seed of probabilistic faults")
    models: CliSuppress[str] = Field(
        default="", description="model names also accepted, comma-separated (flag: --model)"
    )
    faults: CliSuppress[str] = Field(
        default="",
        description="fault rules, ';'-separated specs or a JSON array (flag: --fault)",
    )
    _flags: argparse.Namespace = PrivateAttr(default_factory=argparse.Namespace)

    @classmethod
    def parser(cls) -> argparse.ArgumentParser:
        parser = super().parser()
        _repeatable(parser)  # shown in --help; `from_args` takes their values out first
        return parser

    @classmethod
    def from_args(cls, argv: Sequence[str]) -> Self:
        repeatable = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
        _repeatable(repeatable)
        flags, rest = repeatable.parse_known_args(list(argv))
        settings = super().from_args(rest)
        settings._flags = flags
        return settings

    def fault_rules(self) -> list[FaultRule]:
        """`--fault` flags, then `FAKE_OPENAI_FAULTS`."""
        rules = [FaultRule.parse_spec(spec) for spec in getattr(self._flags, "fault", [])]
        text = self.faults.strip()
        if text.startswith("["):
            items: list[Any] = json.loads(text)
            rules += [FaultRule.model_validate(item) for item in items]
        elif text:
            rules += [FaultRule.parse_spec(s) for s in text.split(";") if s.strip()]
        return rules

    def model_names(self) -> list[str]:
        """`FAKE_OPENAI_MODELS`, then `--model` flags."""
        names = [m.strip() for m in self.models.split(",") if m.strip()]
        return names + list(getattr(self._flags, "model", []))


def parse_args(argv: Sequence[str] | None = None) -> FakeSettings:
    return FakeSettings.from_args([] if argv is None else argv)


def _settings(settings: FakeSettings) -> ServerSettings:
    return ServerSettings(
        api_key=settings.api_key,
        stream_retention_seconds=settings.stream_retention,
        honour_idempotency_key=not settings.ignore_idempotency_key,
        reject_unknown_parameters=not settings.allow_unknown_parameters,
        models=settings.model_names(),
        webhook_url=settings.webhook_url,
        webhook_secret=settings.webhook_secret,
        retrieve_lag_seconds=settings.retrieve_lag,
        fault_seed=settings.fault_seed,
        generation=GenerationSettings(
            tokens=settings.tokens,
            tokens_per_second=settings.tokens_per_second,
            queued_seconds=settings.queued_seconds,
            reasoning_seconds=settings.reasoning_seconds,
            reasoning_tokens=settings.reasoning_tokens,
            reasoning={"auto": None, "on": True, "off": False}[settings.reasoning],
            seed=settings.seed,
            item_seconds=settings.item_seconds,
            searches=settings.searches,
        ),
        faults=settings.fault_rules(),
    )


async def serve(settings: FakeSettings) -> int:
    """Serve until SIGINT/SIGTERM."""
    runner, url = await start_site(_settings(settings), settings.host, settings.port)
    print(f"fake_openai listening on {url}/v1 (control API: {url}/_fake)", flush=True)
    try:
        return await cli.until_signalled()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of `durable-responses-fake-openai`."""
    # ValueError: a malformed fault spec or FAKE_OPENAI_FAULTS.
    cli.run(FakeSettings, serve, argv, expected=(ValueError,))


if __name__ == "__main__":
    main()
