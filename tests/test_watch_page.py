"""The gateway's watch page (`GET /runs/{id}`) in a real headless Chromium, following a
streamed run while the gateway process is SIGKILLed and started again on the same port.

Each time the page must end with the provider's exact text, status `completed`, the reasoning
summary and a progress line per output item, and no reading of its text along the way may be
anything but a prefix of the final text (nothing shown twice, nothing replaced). Two ways a
restart looks to a browser: the port refuses connections until the gateway is back (the
browser's own `EventSource` reconnect, with `Last-Event-ID`), or a proxy in front answers 502
meanwhile, which closes an `EventSource` for good: the page must reconnect by itself from
the last event it showed (`starting_after`), and survive a plain restart after that.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import openai
import pytest
from aiohttp import web
from openai.types.responses import ResponseCreatedEvent

from durable_responses.fake_openai import FakeControl
from tests.browser import Browser, Page, find_chromium
from tests.gateways import KEY, Stack, gateway_stack, gateway_upstream

READ_EVERY = 0.05
"""Seconds between two readings of the page: fast enough to catch text shown twice."""
WAIT_SECONDS = 20.0

STATE = """(() => {
  const $ = (id) => document.getElementById(id);
  return {
    text: $("text").textContent,
    status: $("status").textContent,
    reasoning: $("reasoning").textContent,
    items: [...document.querySelectorAll("#items li")].map((li) => li.textContent),
    connection: $("connection").textContent,
    done: document.body.dataset.done === "true",
  };
})()"""


@dataclass(frozen=True)
class Reading:
    """What the page showed at one moment."""

    text: str
    status: str
    reasoning: str
    items: list[str]
    connection: str
    done: bool


class Watch:
    """Reads the page in the background until stopped, every reading kept."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.readings: list[Reading] = []
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            self.readings.append(Reading(**await self.page.evaluate(STATE)))
            await asyncio.sleep(READ_EVERY)

    async def until(self, what: str, holds: Callable[[Reading], bool]) -> Reading:
        """The first reading from now on for which `holds`; fails saying `what` it waited for."""
        seen = len(self.readings)
        try:
            async with asyncio.timeout(WAIT_SECONDS):
                while True:
                    for reading in self.readings[seen:]:
                        if holds(reading):
                            return reading
                    seen = len(self.readings)
                    if self._task.done():
                        self._task.result()  # the page or the browser broke: say how
                    await asyncio.sleep(READ_EVERY)
        except TimeoutError:
            last = self.readings[-1] if self.readings else None
            pytest.fail(f"the page never showed {what} in {WAIT_SECONDS}s; last: {last}")

    async def stop(self) -> None:
        """Stop reading; a reading that failed was reported by `until` already."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task


class BadGateway:
    """What a proxy answers while the gateway behind it is down: 502 to everything, on the
    gateway's port. Counts what it was asked, so a test knows the page went on asking."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.asked: list[str] = []
        self._runner: web.AppRunner | None = None

    def asked_again(self) -> bool:
        """Asked for the stream, then for something else: the page, not the EventSource."""
        streams = [n for n, asked in enumerate(self.asked) if "stream=true" in asked]
        return bool(streams) and any("stream=true" not in a for a in self.asked[streams[0] :])

    async def __aenter__(self) -> BadGateway:
        async def answer(request: web.Request) -> web.Response:
            self.asked.append(request.path_qs)
            return web.Response(
                status=502, text="<h1>502 Bad Gateway</h1>", content_type="text/html"
            )

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", answer)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    binary = find_chromium()
    if binary is None:
        pytest.skip("no Chromium found (Debian: apt-get install chromium; or set $CHROMIUM)")
    async with Browser.launch(binary) as running:
        yield running


@pytest.fixture
async def stack(dev_env, fake_server, task_queue) -> AsyncIterator[Stack]:
    async with gateway_stack(dev_env, fake_server.base_url, task_queue) as running:
        yield running


async def _start_streamed_run(stack: Stack) -> str:
    """Create a streamed background run through the gateway; its id (the stream is left at
    once: the run goes on without it)."""
    async with openai.AsyncOpenAI(base_url=stack.url, api_key=KEY, max_retries=0) as client:
        stream = await client.responses.create(
            model="o3",  # a reasoning model: a reasoning item with a summary first
            input="Solid-state batteries: where are they now?",
            tools=[{"type": "web_search"}],  # web_search_call items before the answer
            background=True,
            stream=True,
        )
        async with stream:
            async for event in stream:
                assert isinstance(event, ResponseCreatedEvent), event.type
                return event.response.id
    raise AssertionError("the gateway's stream ended without an event")


def _shown(item: dict[str, Any]) -> str:
    """The progress line the page shows for a finished output item."""
    if item["type"] == "web_search_call":
        return f"searching: {item['action']['query']}"
    return {"reasoning": "reasoning", "message": "answering"}[item["type"]]


def _in_progress(fake: FakeControl) -> bool:
    (upstream,) = gateway_upstream(fake)
    return upstream.status == "in_progress"


@pytest.mark.parametrize("while_down", ["refused", "bad_gateway"])
async def test_the_watch_page_shows_a_run_exactly_once_through_gateway_restarts(
    browser: Browser, stack: Stack, fake: FakeControl, while_down: str
) -> None:
    fake.configure(tokens=600, tokens_per_second=100)  # about 6 s of text
    response_id = await _start_streamed_run(stack)
    origin = stack.url.removesuffix("/v1")
    page = await browser.open(f"{origin}/runs/{response_id}?key={KEY}")
    watch = Watch(page)
    try:
        before = await watch.until("some text", lambda r: len(r.text) > 0)
        assert _in_progress(fake), "the run ended before the gateway was killed"
        if while_down == "refused":
            await stack.restart_gateway()
        else:
            stack.gateway.kill()
            async with BadGateway(urlsplit(stack.url).port or 0) as proxy:
                # The page's stream gets a 502 and closes; the page itself asks again.
                await watch.until("a 502 retried", lambda _: proxy.asked_again())
            await asyncio.to_thread(stack.gateway.start)
            # Reconnected by offset: now a plain restart, which the browser's own reconnect
            # goes through (its URL still says where the page reconnected from).
            again = len(before.text)
            before = await watch.until("more text", lambda r: len(r.text) > again)
            assert _in_progress(fake), "the run ended before the second kill"
            await stack.restart_gateway()
        final = await watch.until("the end of the run", lambda r: r.done)
    finally:
        await watch.stop()

    (upstream,) = gateway_upstream(fake)
    record = fake.response(upstream.id, events=False)
    assert final.status == "completed" and record.status == "completed"
    assert final.text == record.text
    assert 0 < len(before.text) < len(final.text)  # the kill came mid-text
    assert all(final.text.startswith(r.text) for r in watch.readings)
    assert final.reasoning == record.reasoning_summary != ""
    assert final.items == [_shown(item) for item in record.output]
    assert sum(line.startswith("searching: ") for line in final.items) == 3
    assert any(r.connection for r in watch.readings)  # it told the user while it was down
    assert final.connection == ""
