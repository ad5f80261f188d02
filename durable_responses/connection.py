"""How every client and worker of the project reaches Temporal: `temporalio.envconfig`.

The same code reaches a local dev server, the compose stack or Temporal Cloud; only the
environment (or a TOML profile) changes:

- `TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`: where (default `localhost:7233`, `default`);
- `TEMPORAL_API_KEY`: Temporal Cloud API key (turns TLS on);
- `TEMPORAL_TLS_CLIENT_CERT_PATH`, `TEMPORAL_TLS_CLIENT_KEY_PATH`: mTLS (Cloud or your own);
- `TEMPORAL_PROFILE`, `TEMPORAL_CONFIG_FILE`: a profile of a `temporal.toml` file (the
  Temporal CLI's `temporal config set` writes the same file).

Explicit arguments (the `--address`/`--namespace` flags) win over all of these.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import NoReturn

from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfig, ClientConnectConfig
from temporalio.runtime import Runtime

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


async def connect(
    *,
    address: str | None = None,
    namespace: str | None = None,
    profile: str | None = None,
    runtime: Runtime | None = None,
    interceptors: Sequence[Interceptor] = (),
) -> Client:
    """A client with the pydantic data converter every client and worker of the project uses."""
    config = connect_config(address=address, namespace=namespace, profile=profile)
    return await Client.connect(
        **config,
        data_converter=pydantic_data_converter,
        runtime=runtime,
        interceptors=interceptors,
    )
