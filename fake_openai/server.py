"""Running the fake: in the foreground (`durable-responses-fake-openai`) or in a thread."""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType

from aiohttp import web

from .app import STATE, FakeState, build_app
from .config import ServerSettings
from .control import FakeControl


async def start_site(settings: ServerSettings, host: str, port: int) -> tuple[web.AppRunner, str]:
    """Start serving on `host:port` (0 = any free port); return the runner and the base URL."""
    runner = web.AppRunner(build_app(settings), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    bound_port = runner.addresses[0][1]
    return runner, f"http://{host}:{bound_port}"


class FakeOpenAIServer:
    """A fake Responses API on its own thread and event loop, for tests, demos and `--dev`.

    Use as a context manager, or call `start()` / `stop()`. `base_url` is what the OpenAI SDK
    takes (`.../v1`); `control` talks to the `/_fake` API.
    """

    def __init__(
        self,
        settings: ServerSettings | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.settings = settings or ServerSettings()
        self.host = host
        self.port = port
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def control(self) -> FakeControl:
        return FakeControl(self.url)

    @property
    def state(self) -> FakeState:
        """The live server state (same process only); prefer `control` for portable code."""
        assert self._runner is not None
        return self._runner.app[STATE]

    def start(self) -> FakeOpenAIServer:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self._runner, self.url = loop.run_until_complete(
                    start_site(self.settings, self.host, self.port)
                )
            except BaseException as err:
                failure.append(err)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-openai", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
