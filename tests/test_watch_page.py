"""The gateway's watch page (`GET /runs/{id}?token=...`) in a real headless Chromium, and
the watch links that open it.

A link is minted with the tenant's key (`POST /v1/responses/{id}/watch_link`); its token opens
that one run's page, events and Response, for reading, until it expires; the key itself is
refused in any URL. Every answer carries the security headers, the page a CSP that runs only
its own script (so the page working at all in Chromium proves the CSP's hashes).

Following a streamed run while the gateway process is SIGKILLed and started again on the same
port, the page must end with the provider's exact text, status `completed`, the reasoning
summary and a progress line per output item, and no reading of its text along the way may be
anything but a prefix of the final text (nothing shown twice, nothing replaced). Two ways a
restart looks to a browser: the port refuses connections until the gateway is back (the
browser's own `EventSource` reconnect, with `Last-Event-ID`), or a proxy in front answers 502
meanwhile, which closes an `EventSource` for good: the page must reconnect by itself from
the last event it showed (`starting_after`), and survive a plain restart after that.

The page renders the model's markdown with its own small renderer (elements and text nodes,
never HTML): a run whose text holds HTML and `javascript:` links shows them as text, and its
`url_citation` annotations become links. `WATCH_PAGE_SCREENSHOT=docs/img/watch-page.png pytest
-n 0 tests/test_watch_page.py -k screenshot` saves a deep-research run's page for the docs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import openai
import pytest
from aiohttp import web
from openai.types.responses import ResponseCreatedEvent

from durable_responses.fake_openai import FakeControl
from durable_responses.gateway import Tenants, start
from durable_responses.gateway.watch import WatchLinks
from tests.browser import Browser, Page, find_chromium
from tests.gateways import (
    KEY,
    KEYS,
    OTHER_KEY,
    WATCH_SECRET,
    Stack,
    gateway_stack,
    gateway_upstream,
)
from tests.workers import build_worker

READ_EVERY = 0.05
"""Seconds between two readings of the page: fast enough to catch text shown twice."""
WAIT_SECONDS = 20.0

STATE = """(() => {
  const $ = (id) => document.getElementById(id);
  return {
    text: window.shown.text,
    status: $("status").textContent,
    reasoning: window.shown.reasoning,
    items: [...document.querySelectorAll("#items li")].map((li) => li.textContent),
    connection: $("connection").textContent,
    live: $("live").dataset.state,
    done: document.body.dataset.done === "true",
  };
})()"""
"""The page's state: its text and reasoning as the run sent them (the markdown it renders)."""


@dataclass(frozen=True)
class Reading:
    """What the page showed at one moment."""

    text: str
    status: str
    reasoning: str
    items: list[str]
    connection: str
    live: str
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
        streams = [n for n, asked in enumerate(self.asked) if "/events?" in asked]
        return bool(streams) and any("/events?" not in a for a in self.asked[streams[0] :])

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


async def _watch_link(base_url: str, response_id: str, key: str = KEY, **body: Any) -> Any:
    """`POST /v1/responses/{id}/watch_link` with `key`: the answer's status and JSON."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{base_url}/responses/{response_id}/watch_link",
            headers={"Authorization": f"Bearer {key}"},
            json=body or None,
        ) as answer,
    ):
        return answer.status, await answer.json()


async def _link(base_url: str, response_id: str) -> str:
    status, minted = await _watch_link(base_url, response_id)
    assert status == 200, minted
    return str(minted["url"])


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
    link = await _link(stack.url, response_id)
    assert link.startswith(f"{origin}/runs/{response_id}?token=")
    page = await browser.open(link)
    watch = Watch(page)
    try:
        before = await watch.until("some text", lambda r: len(r.text) > 0)
        assert _in_progress(fake), "the run ended before the gateway was killed"
        assert before.live == "live"
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
    # The summary's markdown rendered: `**Planning**` in bold, no asterisks left.
    rendered = await page.evaluate(
        "[document.querySelector('#reasoning strong')?.textContent,"
        " document.getElementById('reasoning').textContent]"
    )
    assert rendered[0] == "Planning" and "**" not in rendered[1]
    assert final.live == "done"
    assert final.items == [_shown(item) for item in record.output]
    assert sum(line.startswith("searching: ") for line in final.items) == 3
    assert any(r.connection for r in watch.readings)  # it told the user while it was down
    assert final.connection == ""


# ---- Watch links: a run-scoped, read-only, expiring token; never the key in a URL ---------------


@dataclass
class Local:
    """A gateway and a worker in this process, on the shared fake."""

    origin: str
    url: str
    links: WatchLinks

    async def get(self, path: str, **headers: str) -> tuple[int, dict[str, str], Any]:
        """GET `path`: status, headers, and the JSON body (None for an event stream, left
        once its headers are in)."""
        async with (
            aiohttp.ClientSession() as http,
            http.get(self.origin + path, headers=headers) as a,
        ):
            if a.content_type == "text/event-stream":
                return a.status, dict(a.headers), None
            body = await a.json() if a.content_type == "application/json" else await a.text()
            return a.status, dict(a.headers), body

    async def create(self, *, stream: bool) -> str:
        body = {"model": "o3", "input": "Hi.", "background": True, "stream": stream}
        headers = {"Authorization": f"Bearer {KEY}"}
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{self.url}/responses", json=body, headers=headers) as answer,
        ):
            assert answer.status == 200, await answer.text()
            if not stream:
                return str((await answer.json())["id"])
            async for line in answer.content:  # the first event says the id; then leave
                if line.startswith(b"data: "):
                    return str(json.loads(line[6:])["response"]["id"])
        raise AssertionError("no event")


@pytest.fixture
async def local(dev_env, task_queue, activities, fake) -> AsyncIterator[Local]:
    links = WatchLinks([WATCH_SECRET])
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        runner, url = await start(
            dev_env.client, Tenants.parse(KEYS), port=0, task_queue=task_queue, watch_links=links
        )
        yield Local(url.removesuffix("/v1"), url, links)
        await runner.cleanup()


def _token(url: str) -> str:
    return url.split("?token=", 1)[1]


async def test_a_watch_link_opens_its_own_run_for_reading_only_until_it_expires(local: Local):
    run_a, run_b = await local.create(stream=True), await local.create(stream=True)
    status, minted = await _watch_link(local.url, run_a)
    assert status == 200 and minted["object"] == "watch_link"
    assert minted["url"] == f"{local.origin}/runs/{run_a}?token={_token(minted['url'])}"
    assert 0 < minted["expires_at"] - time.time() <= 3600
    token = _token(minted["url"])

    # Its own run: the page, its events, its Response.
    for path in ("", "/events", "/response"):
        got, _, _ = await local.get(f"/runs/{run_a}{path}?token={token}")
        assert got == 200, path
    # Not another run, not the API (neither as a bearer key nor in the query).
    refusals = [
        await local.get(f"/runs/{run_b}?token={token}"),
        await local.get(f"/runs/{run_b}/events?token={token}"),
        await local.get(f"/runs/{run_b}/response?token={token}"),
        await local.get(f"/v1/responses/{run_a}?token={token}"),
        await local.get(f"/v1/responses/{run_a}", Authorization=f"Bearer {token}"),
        await local.get(f"/runs/{run_a}/response?token={token[:-2]}"),  # tampered
        await local.get(f"/runs/{run_a}/response"),  # none
    ]
    for got, _, body in refusals:
        assert got == 401, body
        assert body["error"]["code"] in ("invalid_watch_token", "invalid_api_key"), body
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{local.url}/responses/{run_a}/cancel", headers={"Authorization": f"Bearer {token}"}
        ) as cancel,
    ):
        assert cancel.status == 401

    # Expired, or signed with another secret: refused.
    old, _ = local.links.mint("acme", run_a, now=time.time() - 3601)
    got, _, body = await local.get(f"/runs/{run_a}?token={old}")
    assert got == 401 and body["error"]["code"] == "watch_link_expired"
    assert "watch_link" in body["error"]["message"]
    forged, _ = WatchLinks(["another-secret-" + "x" * 32]).mint("acme", run_a)
    got, _, body = await local.get(f"/runs/{run_a}?token={forged}")
    assert got == 401 and body["error"]["code"] == "invalid_watch_token"

    # A shorter life on request; another tenant's key mints nothing for this run.
    status, short = await _watch_link(local.url, run_a, expires_in=60)
    assert status == 200 and short["expires_at"] - time.time() <= 60
    status, body = await _watch_link(local.url, run_a, expires_in=0)
    assert status == 400 and body["error"]["param"] == "expires_in"
    status, body = await _watch_link(local.url, run_a, key=OTHER_KEY)
    assert status == 404


async def test_the_api_key_is_refused_in_any_url_with_a_hint_to_mint_a_link(
    local: Local, browser: Browser
):
    run = await local.create(stream=True)
    for path in (
        f"/runs/{run}?key={KEY}",
        f"/runs/{run}/events?key={KEY}",
        f"/v1/responses/{run}?key={KEY}",
        f"/v1/responses/{run}?stream=true&key={KEY}",
    ):
        got, _, body = await local.get(path)
        assert got == 401, path
        assert body["error"]["code"] == "key_in_url"
        assert f"POST /v1/responses/{run}/watch_link" in body["error"]["message"]
    # Even beside a good header: a key that was in a URL is one to rotate, not to use.
    got, _, _ = await local.get(f"/v1/responses/{run}?key={KEY}", Authorization=f"Bearer {KEY}")
    assert got == 401

    page = await browser.open(f"{local.origin}/runs/{run}?key={KEY}")
    shown = await page.evaluate("document.body.innerText")
    assert "watch_link" in shown and "key_in_url" in shown
    assert await page.evaluate("document.getElementById('text')") is None  # no page, no run


async def test_every_answer_with_run_data_carries_the_security_headers(local: Local):
    streamed, polled = await local.create(stream=True), await local.create(stream=False)
    token = _token(await _link(local.url, streamed))
    bearer = {"Authorization": f"Bearer {KEY}"}
    answers = {
        "page": await local.get(f"/runs/{streamed}?token={token}"),
        "events": await local.get(f"/runs/{streamed}/events?token={token}"),
        "response": await local.get(f"/runs/{streamed}/response?token={token}"),
        "api": await local.get(f"/v1/responses/{polled}", **bearer),
        "api_stream": await local.get(f"/v1/responses/{streamed}?stream=true", **bearer),
        "refused": await local.get(f"/runs/{streamed}?token=nope"),
    }
    for name, (status, headers, _) in answers.items():
        assert status == (401 if name == "refused" else 200), name
        assert headers["X-Content-Type-Options"] == "nosniff", name
        assert headers["Referrer-Policy"] == "no-referrer", name
        assert headers["Cache-Control"] == "no-store", name
        csp = [d.strip() for d in headers["Content-Security-Policy"].split(";")]
        assert "frame-ancestors 'none'" in csp, name
        assert "unsafe-inline" not in headers["Content-Security-Policy"], name
        if name != "page":
            assert "default-src 'none'" in csp, name
    page_csp = answers["page"][1]["Content-Security-Policy"]
    (script,) = [d for d in page_csp.split("; ") if d.startswith("script-src ")]
    assert script.startswith("script-src 'sha256-") and " " not in script.removeprefix(
        "script-src "
    )
    assert "connect-src 'self'" in page_csp and "default-src 'none'" in page_csp


INJECTED = "<img src=x onerror=pwned=1> [go](javascript:pwned=2)"
"""What the tool says, and so what the fake's answer quotes (up to 60 characters): HTML and a
`javascript:` link. The CSP would stop the handler anyway: the test counts elements too."""


async def _deep_research_watched(
    browser: Browser, stack: Stack, fake: FakeControl, input_: list[dict[str, Any]]
) -> tuple[Page, Any]:
    """A deep-research run (searches, then a cited answer) watched to its end: the page, and
    the provider's record of the run, whose text the page must have shown exactly."""
    async with openai.AsyncOpenAI(base_url=stack.url, api_key=KEY, max_retries=0) as client:
        stream = await client.responses.create(
            model="o3-deep-research",
            input=input_,  # type: ignore[arg-type]
            tools=[{"type": "web_search_preview"}],  # deep research: searches, citations
            background=True,
            stream=True,
        )
        async with stream:
            async for event in stream:
                response_id = event.response.id  # type: ignore[union-attr]
                break
    page = await browser.open(await _link(stack.url, response_id))
    watch = Watch(page)
    try:
        final = await watch.until("the end of the run", lambda r: r.done)
    finally:
        await watch.stop()
    (upstream,) = gateway_upstream(fake)
    record = fake.response(upstream.id, events=False)
    assert final.status == "completed" and final.text == record.text
    return page, record


async def test_the_page_renders_markdown_safely_with_citations_as_links(
    browser: Browser, stack: Stack, fake: FakeControl
) -> None:
    fake.configure(tokens=140)
    page, record = await _deep_research_watched(
        browser,
        stack,
        fake,
        [
            {"role": "user", "content": "Solid-state batteries: where are they now?"},
            {"type": "function_call", "call_id": "c1", "name": "notes", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": INJECTED},
        ],
    )
    assert INJECTED in record.text  # the provider's text holds it: the page must not run it
    (message,) = [item for item in record.output if item["type"] == "message"]
    cited = [a for a in message["content"][0]["annotations"] if a["type"] == "url_citation"]
    assert len(cited) == 3
    shown = await page.evaluate(
        """(() => {
          const $ = (id) => document.getElementById(id);
          const links = (selector) => [...document.querySelectorAll(selector)].map(
            (a) => ({href: a.href, text: a.textContent, title: a.title}));
          return {
            text: $("text").textContent,
            images: document.querySelectorAll("img, script:not(:first-of-type)").length,
            scripts: document.scripts.length,
            pwned: window.pwned ?? null,
            citations: links("#text a.cite"),
            links: links("#text a"),
            listed: links("#sources a"),
            model: $("model").textContent,
            usage: $("usage").textContent,
            elapsed: $("elapsed").textContent,
            title: document.title,
          };
        })()"""
    )
    # Injected HTML stays text; the javascript: link is no link.
    assert shown["pwned"] is None and shown["images"] == 0 and shown["scripts"] == 1
    assert "<img src=x onerror=pwned=1>" in shown["text"]
    assert "[go](javascript:pwned=2)" in shown["text"]
    assert all(link["href"].startswith("https://") for link in shown["links"])
    # Citations: links built from the annotations, in the text and listed as sources.
    assert [c["href"] for c in shown["citations"]] == [a["url"] for a in cited]
    assert [c["title"] for c in shown["citations"]] == [a["title"] for a in cited]
    assert [s["href"] for s in shown["listed"]] == [a["url"] for a in cited]
    assert [s["text"] for s in shown["listed"]] == [a["title"] for a in cited]
    assert "](" not in shown["text"].replace("[go](javascript:", "")  # no raw markdown links
    # The model, usage and elapsed time; the title says what runs.
    usage = record.response["usage"]
    assert shown["model"] == "o3-deep-research"
    assert shown["title"] == "completed · o3-deep-research"
    assert shown["usage"].startswith(
        f"{usage['input_tokens']:,} in · {usage['output_tokens']:,} out"
    )
    assert shown["elapsed"].endswith(" s")


@pytest.mark.skipif(
    not os.environ.get("WATCH_PAGE_SCREENSHOT"), reason="set WATCH_PAGE_SCREENSHOT=<png path>"
)
async def test_screenshot_of_a_deep_research_run_for_the_docs(
    browser: Browser, stack: Stack, fake: FakeControl
) -> None:
    fake.configure(tokens=170, seed=7)
    question = "Solid-state batteries: where are they now?"
    page, _ = await _deep_research_watched(
        browser, stack, fake, [{"role": "user", "content": question}]
    )
    png = await page.screenshot()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    target = Path(os.environ["WATCH_PAGE_SCREENSHOT"])
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(png)
