"""The command-line foundation every console script builds on: settings, logging, errors.

Each command has one settings model, a `CommandSettings`: each field is a flag and exactly
one environment variable (`VARIABLES`, else `DURABLE_RESPONSES_<FIELD>`), a flag wins over its
variable, and `--help` shows both with the default. `TemporalSettings` adds the connection
every client of the project shares (`connection.py`: envconfig, profiles, the codec keys).

`run` is every `main`: it parses, sets up logging (`--log-format text|json`, the Temporal
core's logs forwarded into Python logging, httpx quiet unless `--log-level DEBUG`), runs the
command and turns an expected failure into one line with a hint. Exit codes: 0 done,
1 failed, 2 bad usage (argparse), 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from importlib import metadata
from typing import Any, ClassVar, Literal, Self, TypeVar

from pydantic import Field, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    CliSettingsSource,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from temporalio.client import Client
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

from durable_responses import connection

PREFIX = "DURABLE_RESPONSES_"
DEV_HINT = "start one with `durable-responses-worker --dev`"
EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130

SHARED_VARIABLES = {
    "address": "TEMPORAL_ADDRESS",
    "namespace": "TEMPORAL_NAMESPACE",
    "profile": "TEMPORAL_PROFILE",
    "otlp_endpoint": "OTEL_EXPORTER_OTLP_ENDPOINT",
    "log_level": "LOG_LEVEL",
}
"""Fields read from the variable the ecosystem already uses, in every command alike."""

QUIET_LOGGERS = ("httpx", "httpx2", "httpcore", "openai", "aiohttp.access")
"""One line per HTTP request (a poll every few seconds): shown only with `--log-level DEBUG`."""
CORE_LOGGER = "temporalio.core"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class CommandError(Exception):
    """An expected failure: one line (`message: hint`), exit 1, no traceback."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(f"{message.rstrip('.')}: {hint}" if hint else message)


def version() -> str:
    """The installed distribution's version."""
    try:
        return metadata.version("durable-responses")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


class _Variables(EnvSettingsSource):
    """Each field from its one variable (`CommandSettings.variable`); empty counts as unset."""

    def __init__(self, settings_cls: type[CommandSettings]) -> None:
        super().__init__(settings_cls, case_sensitive=True, env_prefix="", env_ignore_empty=True)
        self._command = settings_cls

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        if _positional(field):  # an argument of this one call, never from the environment
            return None, field_name, False
        name = self._command.variable(field_name)
        return self.env_vars.get(name), name, self.field_is_complex(field)


def _positional(field: FieldInfo) -> bool:
    return any(getattr(m, "__name__", "") == "_CliPositionalArg" for m in field.metadata)


class CommandSettings(BaseSettings):
    """Base of every command's settings: logging, and the rules above."""

    model_config = SettingsConfigDict(
        cli_kebab_case=True,
        cli_implicit_flags=True,
        cli_hide_none_type=True,
        cli_exit_on_error=True,
        extra="ignore",
    )
    PREFIX: ClassVar[str] = PREFIX
    VARIABLES: ClassVar[dict[str, str]] = {}
    """Field → variable where it is not `PREFIX + FIELD` (names users already set)."""
    ENVIRONMENT: ClassVar[dict[str, str]] = {}
    """Variables read beside the fields (by the SDKs, the codec): listed in `--help`."""

    log_level: str = Field(
        default="INFO", description="Python log level (DEBUG also logs each HTTP request)"
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="log lines as text, or one JSON object per line"
    )

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.upper() not in logging.getLevelNamesMapping():
            raise ValueError(f"{value!r} is not a log level (DEBUG, INFO, WARNING, ERROR)")
        return value.upper()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        for name, field in cls.model_fields.items():
            if _positional(field):
                continue
            # `--help` names each flag's variable: the one model documents both.
            tag = f"[env {cls.variable(name)}]"
            if tag not in (field.description or ""):
                field.description = f"{field.description or ''} {tag}".strip()

    @classmethod
    def variable(cls, field: str) -> str:
        """The one environment variable of `field`."""
        return cls.VARIABLES.get(field) or SHARED_VARIABLES.get(field) or cls.PREFIX + field.upper()

    @classmethod
    def environment(cls) -> dict[str, str]:
        """Each field's environment variable and description."""
        return {
            cls.variable(name): (field.description or "").split(" [env ")[0]
            for name, field in cls.model_fields.items()
            if not _positional(field)
        }

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Flags (pydantic-settings puts the CLI first), then each field's one variable.
        assert issubclass(settings_cls, CommandSettings)
        return (init_settings, _Variables(settings_cls))

    @classmethod
    def prog(cls) -> str:
        return str(cls.model_config.get("cli_prog_name") or "durable-responses")

    @classmethod
    def parser(cls) -> argparse.ArgumentParser:
        """The root parser: description, `--version`, and the variables read beside flags."""
        extra = "\n".join(f"  {name:<34} {text}" for name, text in cls.ENVIRONMENT.items())
        epilog = (f"environment variables besides the flags':\n{extra}\n\n" if extra else "") + (
            "exit codes: 0 done, 1 failed, 2 bad usage, 130 interrupted"
        )
        parser = argparse.ArgumentParser(
            prog=cls.prog(),
            description=(cls.__doc__ or "").strip(),
            epilog=epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
        return parser

    @classmethod
    def from_args(cls, argv: Sequence[str]) -> Self:
        """Flags from `argv`, then each field's variable, then defaults."""
        source: CliSettingsSource[Self] = CliSettingsSource(cls, root_parser=cls.parser())
        return cls(_cli_settings_source=source(args=list(argv)))

    def args(self) -> list[str]:
        """Flags that give these settings again to the same command in the same environment
        (`from_args(s.args()) == s`): each field not at its default, or whose variable is set
        (the flag wins over it); a bool as `--flag`/`--no-flag`."""
        argv: list[str] = []
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if _positional(field) or value is None:
                continue
            if value == field.default and not os.environ.get(self.variable(name)):
                continue
            flag = "--" + name.replace("_", "-")
            if isinstance(value, bool):
                argv.append(flag if value else f"--no-{flag[2:]}")
            else:
                argv.append(f"{flag}={value}")
        return argv

    @staticmethod
    def explain(err: ValidationError) -> str:
        """One line for all bad settings, each named as argparse names a flag."""
        return "; ".join(
            (
                f"argument --{'.'.join(str(p) for p in e['loc']).replace('_', '-')}: "
                if e["loc"]
                else ""
            )
            + e["msg"].removeprefix("Value error, ")
            for e in err.errors(include_url=False)
        )


class TemporalSettings(CommandSettings):
    """Settings of a command that talks to Temporal."""

    ENVIRONMENT: ClassVar[dict[str, str]] = {
        **connection.ENVIRONMENT,
        **connection.PAYLOAD_ENVIRONMENT,
    }

    address: str | None = Field(
        default=None,
        description="Temporal host:port; unset: the envconfig profile, else localhost:7233",
    )
    namespace: str | None = Field(
        default=None,
        description="Temporal namespace; unset: the envconfig profile, else `default`",
    )
    profile: str | None = Field(
        default=None, description="envconfig profile of the TOML file TEMPORAL_CONFIG_FILE"
    )

    def target(self) -> str:
        """The host:port a client connects to (flag, variable, profile, default)."""
        config = connection.connect_config(
            address=self.address, namespace=self.namespace, profile=self.profile
        )
        return config["target_host"]


def host_port(address: str) -> tuple[str, int]:
    """`host:port` split; a bare host (`--address localhost`) gets Temporal's port, 7233."""
    host, _, port = address.rpartition(":")
    if host and port.isdigit():
        return host, int(port)
    return address, int(connection.DEFAULT_ADDRESS.rsplit(":", 1)[1])


async def connect(settings: TemporalSettings, **options: Any) -> Client:
    """`connection.connect` with the settings; no server is a `CommandError` with a hint."""
    target = settings.target()
    try:
        return await connection.connect(
            address=settings.address,
            namespace=settings.namespace,
            profile=settings.profile,
            **options,
        )
    except RuntimeError as err:
        if "Failed client connect" not in str(err):
            raise
        raise no_server(target, err) from None


def no_server(target: str, err: BaseException | None = None) -> CommandError:
    """The one-line error for a Temporal server that does not answer at `target`."""
    reason = re.search(r'message: "([^"]+)"', str(err or ""))
    where = f"no Temporal server at {target}" + (f" ({reason.group(1)})" if reason else "")
    local = target.split(":")[0] in ("localhost", "127.0.0.1", "::1", "[::1]")
    return CommandError(
        where,
        DEV_HINT if local else "check TEMPORAL_ADDRESS (or the profile), TLS and the API key",
    )


def setup_logging(settings: CommandSettings) -> None:
    """Python logging as the settings ask, the Temporal core's logs in it, HTTP quiet."""
    handler = logging.StreamHandler(sys.stderr)
    formatter = JsonFormatter() if settings.log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    logging.basicConfig(level=settings.log_level, handlers=[handler], force=True)
    debug = logging.getLogger().isEnabledFor(logging.DEBUG)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if debug else logging.WARNING)
    Runtime.set_default(Runtime(telemetry=telemetry_config(debug)), error_if_already_set=False)


def telemetry_config(debug: bool = False, **options: Any) -> TelemetryConfig:
    """Telemetry whose core logs go to the `temporalio.core` logger (no ANSI colours, one
    format), as every runtime of a command should be made."""
    return TelemetryConfig(logging=core_logging(debug), **options)


def core_logging(debug: bool = False) -> LoggingConfig:
    """The Temporal core's logs, forwarded into Python logging."""
    return LoggingConfig(
        filter=TelemetryFilter(core_level="INFO" if debug else "WARN", other_level="ERROR"),
        forwarding=LogForwardingConfig(logger=logging.getLogger(CORE_LOGGER)),
    )


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message (and the exception)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


PARENT_CHECK_SECONDS = 1.0
"""How often `until_signalled(parent=...)` looks for its parent process."""


class _Signals:
    """SIGINT and SIGTERM of one command, taken by its event loop before the command starts.

    Taken once, at the start, so that no signal can fall between two handlers, and so that the
    loop's wakeup descriptor is set before the command's first output: a Ctrl-C sent once a
    server says it is serving always stops it. (Handlers installed only when the command began
    to wait lost a SIGINT that came while it finished starting, under load, when the process
    had inherited SIGINT ignored.) While the command is still starting, a signal stops that, as
    `asyncio.run`'s own Ctrl-C does; once it waits in `until_signalled`, the signal ends the wait.
    """

    def __init__(self, task: asyncio.Task[Any]) -> None:
        self.task = task
        self.stop: asyncio.Future[int] = task.get_loop().create_future()
        self.waiting = False
        self.taken = False

    def take(self) -> None:
        try:
            for sig, code in ((signal.SIGINT, EXIT_INTERRUPTED), (signal.SIGTERM, 0)):
                self.task.get_loop().add_signal_handler(sig, self._on_signal, code)
        except NotImplementedError:  # Windows' loop: `asyncio.run`'s Ctrl-C cancels the command
            return
        self.taken = True

    def _on_signal(self, code: int) -> None:
        if self.stop.done():
            if not self.waiting:  # a second Ctrl-C while the first stops the start: now
                raise KeyboardInterrupt
            return
        self.stop.set_result(code)
        if not self.waiting:
            self.task.cancel()

    def release(self, ignore: bool = False) -> None:
        """Give the signals back (a second Ctrl-C then interrupts the shutdown), or ignore
        them from now on."""
        if not self.taken:
            return
        self.taken = False
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.task.get_loop().remove_signal_handler(sig)
            if ignore:
                signal.signal(sig, signal.SIG_IGN)


_signals: _Signals | None = None
"""The running command's (`run`); None outside one."""


async def until_signalled(parent: int | None = None) -> int:
    """Wait for SIGINT or SIGTERM; the exit code for it: 130 for Ctrl-C, 0 for a stop.

    With `parent` (a pid), also stop once this process's parent is no longer that process
    (it died, and this one was handed to init): exit code 1. Such a supervised process then
    ignores further signals: one stop may reach it twice (systemd signals the whole control
    group, and the supervisor forwards), and the second must not cut its shutdown short.
    """
    signals = _signals
    if signals is None:  # not a command's: take the signals now
        task = asyncio.current_task()
        assert task is not None
        signals = _Signals(task)
        signals.take()
    signals.waiting = True
    stop = signals.stop
    try:
        while parent is not None and not stop.done():
            if os.getppid() != parent:
                logging.getLogger(__name__).error("parent process %d is gone: stopping", parent)
                return EXIT_FAILED
            await asyncio.wait([stop], timeout=PARENT_CHECK_SECONDS)
        return await stop
    finally:
        signals.release(ignore=parent is not None)


async def _with_signals(command: Coroutine[Any, Any, int | None]) -> int | None:
    """`command` with its signals taken before it starts (`_Signals`)."""
    global _signals
    task = asyncio.current_task()
    assert task is not None
    signals = _signals = _Signals(task)
    signals.take()
    try:
        return await command
    except asyncio.CancelledError:
        if signals.stop.done() and not signals.waiting:  # a signal while it started
            return signals.stop.result()
        raise
    finally:
        _signals = None
        signals.release()  # where `until_signalled` has not (a no-op where it has)


SettingsT = TypeVar("SettingsT", bound=CommandSettings)


def run(
    settings_cls: type[SettingsT],
    command: Callable[[SettingsT], Coroutine[Any, Any, int | None]],
    argv: Sequence[str] | None = None,
    *,
    expected: tuple[type[Exception], ...] = (),
) -> None:
    """A command's `main`: parse, set up logging, run, exit with 0/1/2/130 (never returns).

    `expected`: the command's own failures that mean bad input or setup, not a bug (e.g.
    `ValueError` of a malformed key): one line, as `CommandError`, OS and connection errors.
    """
    connection.exit_after(lambda: sys.exit(_run(settings_cls, command, argv, expected)))


def _run(
    settings_cls: type[SettingsT],
    command: Callable[[SettingsT], Coroutine[Any, Any, int | None]],
    argv: Sequence[str] | None,
    also: tuple[type[Exception], ...],
) -> int:
    prog = settings_cls.prog().removeprefix("durable-responses-")  # errors say `reap: ...`
    try:
        settings = settings_cls.from_args(sys.argv[1:] if argv is None else argv)
    except ValidationError as err:
        return fail(prog, settings_cls.explain(err))
    setup_logging(settings)
    try:
        return asyncio.run(_with_signals(command(settings))) or 0
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as err:
        line = expected(err, also)
        if line is None:
            raise  # a bug: the traceback is the report
        return fail(prog, line)


def fail(prog: str, line: str) -> int:
    """Print `prog: line` to stderr; the failure's exit code."""
    print(f"{prog}: {line}", file=sys.stderr, flush=True)
    return EXIT_FAILED


def expected(err: BaseException, also: tuple[type[Exception], ...] = ()) -> str | None:
    """The one line for an expected failure; None for a bug (shown with its traceback)."""
    if isinstance(err, BaseExceptionGroup) and len(err.exceptions) == 1:
        return expected(err.exceptions[0], also)
    if isinstance(err, (CommandError, connection.ConnectionConfigError, *also)):
        return str(err)
    if isinstance(err, RuntimeError) and "Failed client connect" in str(err):
        target = re.search(r'"tcp connect error", ([^,)]+)', str(err))
        return str(no_server(target.group(1) if target else "the configured address", err))
    if isinstance(err, OSError):  # a port in use, a file missing or unreadable
        if err.strerror is None:
            return str(err)
        return err.strerror + (f": {err.filename}" if err.filename else "")
    openai = sys.modules.get("openai")
    if openai is not None and isinstance(err, openai.OpenAIError):
        return f"OpenAI: {err}"
    return None
