"""How every client and worker of the project reaches Temporal: `temporalio.envconfig`.

The same code reaches a local dev server, the compose stack or Temporal Cloud; only the
environment (or a TOML profile) changes:

- `TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`: where (default `localhost:7233`, `default`);
- `TEMPORAL_API_KEY`: Temporal Cloud API key (turns TLS on);
- `TEMPORAL_TLS_CLIENT_CERT_PATH`, `TEMPORAL_TLS_CLIENT_KEY_PATH`: mTLS (Cloud or your own);
- `TEMPORAL_PROFILE`, `TEMPORAL_CONFIG_FILE`: a profile of a `temporal.toml` file (the
  Temporal CLI's `temporal config set` writes the same file).

Explicit arguments (the `--address`/`--namespace` flags) win over all of these.

Payloads: with `DURABLE_RESPONSES_CODEC_KEYS` (or `..._KEYS_FILE`) set, every client and worker
of the project compresses and encrypts what it writes to Temporal (`codec.py`);
`DURABLE_RESPONSES_COMPRESSION=on|off` switches compression alone.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import NoReturn

from temporalio.client import Client, Interceptor
from temporalio.converter import DataConverter, PayloadCodec
from temporalio.envconfig import ClientConfig, ClientConnectConfig
from temporalio.runtime import Runtime

from durable_responses import codec

DEFAULT_ADDRESS = "localhost:7233"

ENVIRONMENT = {
    "TEMPORAL_ADDRESS": "Temporal frontend host:port (default localhost:7233)",
    "TEMPORAL_NAMESPACE": "Temporal namespace (default `default`)",
    "TEMPORAL_API_KEY": "Temporal Cloud API key; turns TLS on",
    "TEMPORAL_TLS": "`true` for TLS without client certificates",
    "TEMPORAL_TLS_CLIENT_CERT_PATH": "mTLS client certificate (PEM)",
    "TEMPORAL_TLS_CLIENT_KEY_PATH": "mTLS client key (PEM)",
    "TEMPORAL_TLS_SERVER_CA_CERT_PATH": "CA of a server with a private certificate",
    "TEMPORAL_TLS_SERVER_NAME": "TLS server name, when it differs from the address",
    "TEMPORAL_PROFILE": "profile to load from the TOML config file (default `default`)",
    "TEMPORAL_CONFIG_FILE": "TOML config file (default ~/.config/temporalio/temporal.toml)",
}
"""The `temporalio.envconfig` variables this project documents and tests."""

COMPRESSION_VARIABLE = "DURABLE_RESPONSES_COMPRESSION"

PAYLOAD_ENVIRONMENT = {
    **codec.ENVIRONMENT,
    COMPRESSION_VARIABLE: "`on`/`off`: zlib above 1 KiB (default: on with keys)",
}
"""The payload codec variables every client and worker of the project reads."""


class ConnectionConfigError(ValueError):
    """The TOML profile or `TEMPORAL_*` variables cannot be used."""


def connect_config(
    *,
    address: str | None = None,
    namespace: str | None = None,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> ClientConnectConfig:
    """`Client.connect` keyword arguments from the environment / TOML profile, then overrides.

    `environ` replaces the process environment (tests); a missing config file is not an error.
    """
    try:
        config = ClientConfig.load_client_connect_config(
            profile=profile,
            override_env_vars=dict(environ) if environ is not None else None,
        )
    except Exception as err:  # the bridge's ConfigError: bad TOML, unknown profile, bad path
        raise ConnectionConfigError(f"Temporal connection config: {err}") from err
    if address:
        config["target_host"] = address
    if namespace:
        config["namespace"] = namespace
    config.setdefault("target_host", DEFAULT_ADDRESS)
    config.setdefault("namespace", "default")
    return config


def exit_after(main: Callable[[], object]) -> NoReturn:
    """Run a command's `main`, then end the process without CPython's finalization.

    Temporal's Rust runtime keeps native threads that may still take and release the GIL while
    the interpreter finalizes, which aborts a process that had already finished its work
    ("Fatal Python error: PyGILState_Release", exit -6; temporalio/sdk-python#300). Seen once
    on a worker's clean SIGTERM shutdown. Output is flushed first; the exit code is `main`'s.
    """
    code: int
    try:
        main()
        code = 0
    except SystemExit as done:
        if isinstance(done.code, str):
            print(done.code, file=sys.stderr)
            code = 1
        else:
            code = done.code or 0
    except KeyboardInterrupt:
        code = 130
    except BaseException:
        traceback.print_exc()
        code = 1
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def payload_codec(environ: Mapping[str, str] | None = None) -> PayloadCodec | None:
    """The codec chain the environment asks for: compression, then encryption with the key
    ring; None (plain JSON payloads) when neither is set. Raises `ConnectionConfigError`."""
    environ = os.environ if environ is None else environ
    try:
        keys = codec.KeyRing.from_env(environ)
    except (OSError, ValueError) as err:
        raise ConnectionConfigError(f"payload encryption keys: {err}") from None
    switch = (environ.get(COMPRESSION_VARIABLE) or "").strip().lower()
    if switch not in ("", "on", "off"):
        raise ConnectionConfigError(f"{COMPRESSION_VARIABLE}={switch!r}: use on or off")
    compress = switch == "on" or (switch == "" and keys is not None)
    return codec.codec_chain(keys, compress=compress)


def data_converter(environ: Mapping[str, str] | None = None) -> DataConverter:
    """The pydantic data converter with the environment's codec chain (see `payload_codec`)."""
    return codec.data_converter(payload_codec(environ))


async def connect(
    *,
    address: str | None = None,
    namespace: str | None = None,
    profile: str | None = None,
    runtime: Runtime | None = None,
    interceptors: Sequence[Interceptor] = (),
) -> Client:
    """A client with the data converter every client and worker of the project uses: pydantic,
    and the environment's codec chain."""
    config = connect_config(address=address, namespace=namespace, profile=profile)
    return await Client.connect(
        **config,
        data_converter=data_converter(),
        runtime=runtime,
        interceptors=interceptors,
    )
