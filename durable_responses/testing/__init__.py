"""Testing kit for durable-responses and for the pipelines that embed it.

- Unit tests under time skipping, in milliseconds: `time_skipping_env` (Temporal's
  time-skipping test server from the pip-installed binary, with our plugin) and
  `ScriptedProvider` (our activities answering from a script on the workflow clock:
  `reply`, `failed`, `incomplete`, `refused`, `rate_limited`, and output `items`).
- End-to-end tests against real parts: `dev_server` (a real Temporal dev server from the
  pip-installed CLI), `WorkerProcess` and `GatewayProcess` (our worker and gateway as child
  processes you can SIGKILL), next to `durable_responses.fake_openai` (the local Responses API).
- `find_binary`: the pip-installed `temporal` CLI and `temporal-test-server`.

No production code imports this package.
"""

from __future__ import annotations

from . import items
from ._environments import skip_until, time_skipping_env
from ._processes import GatewayProcess, WorkerProcess
from ._replies import (
    SCRIPT_EXHAUSTED,
    SCRIPT_UNSUPPORTED,
    ProviderError,
    Reply,
    Script,
    echo,
    failed,
    incomplete,
    polls_for,
    rate_limited,
    refused,
    reply,
)
from ._scripted import ScriptedProvider
from ._servers import DEV_DB, STARTUP_TIMEOUT, dev_server, find_binary
from ._upstream import ScriptedResponse

__all__ = [
    "DEV_DB",
    "SCRIPT_EXHAUSTED",
    "SCRIPT_UNSUPPORTED",
    "STARTUP_TIMEOUT",
    "GatewayProcess",
    "ProviderError",
    "Reply",
    "Script",
    "ScriptedProvider",
    "ScriptedResponse",
    "WorkerProcess",
    "dev_server",
    "echo",
    "failed",
    "find_binary",
    "incomplete",
    "items",
    "polls_for",
    "rate_limited",
    "refused",
    "reply",
    "skip_until",
    "time_skipping_env",
]
