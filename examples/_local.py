"""Where the examples run: the Temporal server and OpenAI of your environment, or, where none
is set up, an in-memory dev server and the fake, so `python -m examples.<name>` works on a
fresh machine.

- OpenAI: `OPENAI_API_KEY` (and `OPENAI_BASE_URL`) if set, else the fake Responses API.
- Temporal: `TEMPORAL_ADDRESS`, a profile or `localhost:7233` (`worker.py --dev`) if it
  answers, else a dev server from the pip-installed CLI, for this run only.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import AsyncIterator

from openai import AsyncOpenAI
from temporalio.client import Client

from durable_responses import DurableResponsesPlugin, connection
from durable_responses.fake_openai import FakeOpenAIServer, ServerSettings
from durable_responses.testing import dev_server


@contextlib.asynccontextmanager
async def example_client(
    fake: ServerSettings | None = None,
) -> AsyncIterator[tuple[Client, FakeOpenAIServer | None]]:
    """A client with `DurableResponsesPlugin` (so workers built on it run our workflows), and
    the fake it talks to if it talks to one (`fake` sets it up)."""
    async with contextlib.AsyncExitStack() as stack:
        server: FakeOpenAIServer | None = None
        if os.environ.get("OPENAI_API_KEY"):
            plugin = DurableResponsesPlugin()
        else:
            # As in the test suite, the fake ignores `Idempotency-Key` (OpenAI does not
            # document honouring it): a duplicate create shows instead of being hidden.
            settings = fake or ServerSettings(honour_idempotency_key=False)
            server = stack.enter_context(FakeOpenAIServer(settings))
            print(
                f"[no OPENAI_API_KEY: the fake Responses API at {server.base_url}]", file=sys.stderr
            )
            api = AsyncOpenAI(base_url=server.base_url, api_key="sk-fake", max_retries=0)
            stack.push_async_callback(api.close)
            plugin = DurableResponsesPlugin(openai_client=api)
        try:
            client = await Client.connect(**connection.connect_config(), plugins=[plugin])
        except RuntimeError:
            if os.environ.get("TEMPORAL_ADDRESS"):
                raise  # the server asked for is down: say so rather than start another
            print(
                "[no Temporal server at localhost:7233: a dev server for this run]", file=sys.stderr
            )
            env = await stack.enter_async_context(
                dev_server(port=None, ui_port=None, db=None, plugins=[plugin])
            )
            client = env.client
        yield client, server
