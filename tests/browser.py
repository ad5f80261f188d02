"""A real headless Chromium for page tests, driven over the DevTools protocol with `aiohttp`
(no browser-automation dependency): open a page, read its DOM with JavaScript, and leave no
process behind."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--no-sandbox",  # containers and CI run as root, where the sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",  # a free port, written to DevToolsActivePort
)
STARTUP_SECONDS = 30.0


def find_chromium() -> str | None:
    """A Chromium binary: `$CHROMIUM`, else the first of `NAMES` on the PATH."""
    given = os.environ.get("CHROMIUM")
    if given:
        return shutil.which(given)
    return next(filter(None, map(shutil.which, NAMES)), None)


class DevToolsError(RuntimeError):
    """A DevTools command's error, or a page script that threw."""


class Browser:
    """One headless Chromium process and one DevTools websocket to it: commands to a page go
    over the browser's socket in flat sessions (`Target.attachToTarget(flatten=True)`)."""

    def __init__(self, proc: subprocess.Popen[bytes], socket: aiohttp.ClientWebSocketResponse):
        self._proc = proc
        self._socket = socket
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read())

    @classmethod
    @contextlib.asynccontextmanager
    async def launch(cls, binary: str) -> AsyncIterator[Browser]:
        """Chromium with a throwaway profile; killed, with every child, on the way out."""
        with tempfile.TemporaryDirectory(prefix="chromium-", ignore_cleanup_errors=True) as tmp:
            profile = Path(tmp, "profile")
            with Path(tmp, "stderr.log").open("wb") as log:
                proc = subprocess.Popen(
                    [binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                    start_new_session=True,  # one process group: its helpers die with it
                )
            try:
                endpoint = await _endpoint(proc, profile / "DevToolsActivePort", log.name)
                async with (
                    aiohttp.ClientSession() as http,
                    http.ws_connect(endpoint, max_msg_size=0) as socket,
                ):
                    browser = cls(proc, socket)
                    try:
                        yield browser
                    finally:
                        await browser._close()
            finally:
                _kill_group(proc)

    async def open(self, url: str) -> Page:
        """A new tab showing `url`, loaded (its scripts run on: streams, timers)."""
        target = await self.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )
        page = Page(self, attached["sessionId"])
        navigated = await page.send("Page.navigate", {"url": url})
        if navigated.get("errorText"):
            raise DevToolsError(f"{url}: {navigated['errorText']}")
        async with asyncio.timeout(STARTUP_SECONDS):
            while await page.evaluate("document.readyState") != "complete":
                await asyncio.sleep(0.05)
        return page

    async def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        """One DevTools command and its result."""
        command_id = next(self._ids)
        message: dict[str, Any] = {"id": command_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        answer = self._waiting[command_id] = asyncio.get_running_loop().create_future()
        await self._socket.send_json(message)
        return await answer

    async def _read(self) -> None:
        """Hand each command's answer to its caller; events are not needed here."""
        try:
            async for message in self._socket:
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                data = message.json()
                answer = self._waiting.pop(data.get("id", -1), None)
                if answer is None or answer.done():
                    continue
                if "error" in data:
                    answer.set_exception(DevToolsError(str(data["error"])))
                else:
                    answer.set_result(data.get("result", {}))
        finally:
            for answer in self._waiting.values():
                if not answer.done():
                    answer.set_exception(DevToolsError("the browser closed its DevTools socket"))

    async def _close(self) -> None:
        with contextlib.suppress(DevToolsError, ConnectionError, TimeoutError):
            async with asyncio.timeout(5):
                await self.send("Browser.close")
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        await asyncio.to_thread(_wait, self._proc, 5.0)


class Page:
    """One tab of a `Browser`."""

    def __init__(self, browser: Browser, session: str) -> None:
        self._browser = browser
        self._session = session

    async def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self._browser.send(method, params, self._session)

    async def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page (a promise is awaited)."""
        result = await self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise DevToolsError(details.get("exception", {}).get("description") or str(details))
        return result["result"].get("value")

    async def screenshot(self, width: int = 1000) -> bytes:
        """A PNG of the whole page laid out `width` CSS pixels wide."""
        metrics = {"width": width, "height": 800, "deviceScaleFactor": 1, "mobile": False}
        await self.send("Emulation.setDeviceMetricsOverride", metrics)
        height = await self.evaluate("document.documentElement.scrollHeight")
        await self.send("Emulation.setDeviceMetricsOverride", {**metrics, "height": height})
        shot = await self.send("Page.captureScreenshot", {"format": "png"})
        return base64.b64decode(shot["data"])


async def _endpoint(proc: subprocess.Popen[bytes], active_port: Path, log: str) -> str:
    """The browser's DevTools websocket URL, from the port file Chromium writes when ready."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        with contextlib.suppress(FileNotFoundError, ValueError):
            port, path = active_port.read_text().split()[:2]
            return f"ws://127.0.0.1:{int(port)}{path}"
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"Chromium did not start:\n{Path(log).read_text(errors='replace')}")
        await asyncio.sleep(0.05)


def _wait(proc: subprocess.Popen[bytes], timeout: float) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL Chromium's process group (renderers, zygotes, utilities) and wait until the
    group is gone: its orphans are init's to reap, a moment later."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    _wait(proc, 10.0)
    deadline = time.monotonic() + 10.0
    with contextlib.suppress(ProcessLookupError):
        while time.monotonic() < deadline:
            os.killpg(proc.pid, 0)  # ProcessLookupError once no process is left in it
            time.sleep(0.05)
