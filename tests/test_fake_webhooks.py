"""The fake's webhooks, completion windows and flex tier, checked as a client of OpenAI sees them:
events verified by the SDK's own `client.webhooks`, errors as the SDK raises them."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import openai
import pytest
from aiohttp import web

from durable_responses.fake_openai import FakeControl, FaultRule, ServerSettings
from durable_responses.fake_openai.faults import WEBHOOK_KINDS, FaultInjector
from durable_responses.fake_openai.webhooks import sign


@dataclass
class Delivery:
    """One POST the receiver got."""

    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A webhook endpoint on a free loopback port, on its own thread and loop (so sync tests
    can block while it answers): records every POST and answers from a script."""

    answers: list[int | float] = field(default_factory=list)
    """Answers in order, then 200s: an int is a status, a float seconds to stall, then 200."""
    deliveries: list[Delivery] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    def start(self) -> Receiver:
        self._thread.start()
        self.url = asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(5)
        return self

    async def _serve(self) -> str:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{self._runner.addresses[0][1]}/hook"

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.deliveries.append(Delivery(dict(request.headers), body, time.time()))
        answer = self.answers.pop(0) if self.answers else 200
        if isinstance(answer, float):
            await asyncio.sleep(answer)
            answer = 200
        return web.Response(status=answer)

    def wait(self, count: int, timeout: float = 10.0) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        while len(self.deliveries) < count:
            assert time.monotonic() < deadline, f"{len(self.deliveries)} of {count} deliveries"
            time.sleep(0.02)
        return self.deliveries

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


@dataclass
class Hook:
    receiver: Receiver
    secret: str
    sdk: openai.OpenAI

    def verify(self, delivery: Delivery) -> object:
        """What a receiver written with the SDK does: verify, then unwrap."""
        self.sdk.webhooks.verify_signature(delivery.body, delivery.headers, secret=self.secret)
        return self.sdk.webhooks.unwrap(delivery.body, delivery.headers, secret=self.secret)


@pytest.fixture
def hook(fake: FakeControl) -> Iterator[Hook]:
    """A receiver the fake sends its webhooks to, with the secret the fake made up."""
    receiver = Receiver().start()
    config = fake.configure(webhook_url=receiver.url)
    sdk = openai.OpenAI(api_key="x")
    yield Hook(receiver, config["webhook_secret"], sdk)
    sdk.close()
    receiver.stop()


@pytest.fixture(autouse=True)
def short_answers(fake: FakeControl) -> None:
    """20-token answers: most tests here wait for a response to end (conftest resets it)."""
    fake.configure(tokens=20)


def _message(error: openai.APIStatusError) -> str:
    """The API's own message (the SDK's `message` prefixes the status)."""
    assert isinstance(error.body, dict)
    return str(error.body["message"])


def _terminal(fake: FakeControl, response_id: str) -> float:
    record = fake.wait_terminal(response_id)
    assert record.finished_at is not None
    return record.finished_at


# ---- webhooks -----------------------------------------------------------------------------------


def test_completed_background_response_delivers_one_signed_event(fake, openai_sync, hook):
    created = openai_sync.responses.create(model="o3", input="x", background=True)
    finished = _terminal(fake, created.id)
    [delivery] = hook.receiver.wait(1)
    event = hook.verify(delivery)
    assert (event.type, event.data.id, event.object) == ("response.completed", created.id, "event")
    assert event.created_at == int(finished)  # when it completed, not when it was sent
    body = delivery.json()
    assert list(body) == ["id", "object", "type", "created_at", "data"]
    assert body["id"].startswith("evt_") and body["data"] == {"id": created.id}
    headers = {k.lower(): v for k, v in delivery.headers.items()}
    assert headers["webhook-id"].startswith("wh_")
    assert headers["webhook-signature"].startswith("v1,")
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)"
    [attempt] = fake.webhooks()
    assert (attempt.event_id, attempt.webhook_id) == (body["id"], headers["webhook-id"])
    assert (attempt.response_id, attempt.attempt, attempt.status, attempt.ok) == (
        created.id,
        1,
        200,
        True,
    )
    assert attempt.timestamp == int(headers["webhook-timestamp"]) == int(attempt.sent_at)
    counts = fake.counts()
    assert (counts["webhooks_sent"], counts["webhooks_failed"]) == (1, 0)


def test_cancelled_background_response_delivers_one_cancelled_event(fake, openai_sync, hook):
    created = openai_sync.responses.create(
        model="o3", input="x", background=True, metadata={"fake_queued_seconds": "5"}
    )
    openai_sync.responses.cancel(created.id)
    openai_sync.responses.cancel(created.id)  # answered again, ends nothing twice
    [delivery] = hook.receiver.wait(1)
    event = hook.verify(delivery)
    assert (event.type, event.data.id) == ("response.cancelled", created.id)
    time.sleep(0.2)
    assert len(hook.receiver.deliveries) == 1


@pytest.mark.parametrize(
    ("fault", "event_type"),
    [
        ({"kind": "fail", "after_tokens": 5}, "response.failed"),
        ({"kind": "incomplete", "after_tokens": 5}, "response.incomplete"),
    ],
)
def test_failed_and_incomplete_responses_deliver_their_event(
    fake, openai_sync, hook, fault, event_type
):
    fake.add_fault(route="create", times=1, **fault)
    created = openai_sync.responses.create(model="gpt-4.1", input="x", background=True)
    [delivery] = hook.receiver.wait(1)
    assert hook.verify(delivery).type == event_type
    assert fake.response(created.id, events=False).status == event_type.split(".")[1]


def test_foreground_responses_deliver_no_event(fake, openai_sync, hook):
    foreground = openai_sync.responses.create(model="gpt-4.1", input="x")
    with openai_sync.responses.create(model="gpt-4.1", input="x", stream=True) as stream:
        streamed = next(e for e in stream if e.type == "response.completed").response
    background = openai_sync.responses.create(model="gpt-4.1", input="x", background=True)
    [delivery] = hook.receiver.wait(1)  # the background one: sent after the others ended
    assert hook.verify(delivery).data.id == background.id
    sent_for = {a.response_id for a in fake.webhooks()}
    assert sent_for == {background.id} and not sent_for & {foreground.id, streamed.id}


def test_failed_deliveries_are_retried_with_the_same_id_and_fresh_timestamps(
    fake, openai_sync, hook
):
    fake.configure(webhook_retry_seconds=0.5)
    hook.receiver.answers = [500, 500]
    created = openai_sync.responses.create(model="gpt-4.1", input="x", background=True)
    deliveries = hook.receiver.wait(3)
    time.sleep(0.1)
    assert len(deliveries) == 3
    for delivery in deliveries:
        hook.verify(delivery)  # each attempt signs its own timestamp
    assert len({d.headers["webhook-id"] for d in deliveries}) == 1
    assert len({d.body for d in deliveries}) == 1
    stamps = [int(d.headers["webhook-timestamp"]) for d in deliveries]
    assert stamps == sorted(stamps) and stamps[2] > stamps[0]  # 1.5 s apart
    attempts = fake.webhooks()
    assert [(a.attempt, a.status, a.ok) for a in attempts] == [
        (1, 500, False),
        (2, 500, False),
        (3, 200, True),
    ]
    assert {a.response_id for a in attempts} == {created.id}
    gaps = [b.sent_at - a.sent_at for a, b in itertools.pairwise(attempts)]
    assert 0.45 < gaps[0] < 1.0 and 0.95 < gaps[1] < 1.8  # 0.5 s, doubling
    counts = fake.counts()
    assert (counts["webhooks_sent"], counts["webhooks_failed"]) == (3, 2)


@pytest.mark.parametrize("receiver_fault", ["slow", "unreachable"])
def test_unanswered_deliveries_are_retried_up_to_max_attempts(
    fake, openai_sync, hook, receiver_fault
):
    fake.configure(webhook_timeout_seconds=0.2, webhook_retry_seconds=0.05, webhook_max_attempts=3)
    if receiver_fault == "slow":
        hook.receiver.answers = [0.5, 0.5, 0.5]
    else:
        fake.configure(webhook_url="http://127.0.0.1:9/hook")  # discard port: refused
    openai_sync.responses.create(model="gpt-4.1", input="x", background=True)
    deadline = time.monotonic() + 10
    while len(fake.webhooks()) < 3:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.3)
    attempts = fake.webhooks()
    assert [a.attempt for a in attempts] == [1, 2, 3]  # then given up
    assert all(a.status is None and not a.ok for a in attempts)
    if receiver_fault == "slow":
        assert {a.error for a in attempts} == {"timeout"}
    else:
        assert all(a.error and "Connect" in a.error for a in attempts)
    assert fake.counts()["webhooks_failed"] == 3


def test_drop_fault_loses_the_event(fake, openai_sync, hook):
    fake.add_fault(route="webhook", kind="drop", times=1)
    lost = openai_sync.responses.create(model="gpt-4.1", input="x", background=True)
    _terminal(fake, lost.id)
    kept = openai_sync.responses.create(model="gpt-4.1", input="x", background=True)
    [delivery] = hook.receiver.wait(1)
    assert hook.verify(delivery).data.id == kept.id
    assert {a.response_id for a in fake.webhooks()} == {kept.id}  # no attempt for the lost one
    counts = fake.counts()
    assert (counts["webhooks_dropped"], counts["webhooks_sent"]) == (1, 1)


def test_duplicate_fault_delivers_the_same_event_twice(fake, openai_sync, hook):
    fake.add_fault(route="webhook", kind="duplicate")
    openai_sync.responses.create(model="gpt-4.1", input="x", background=True)
    first, second = hook.receiver.wait(2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body
    hook.verify(first), hook.verify(second)
    assert [(a.delivery, a.attempt) for a in fake.webhooks()] == [(1, 1), (2, 1)]


def test_delay_fault_sends_the_event_late(fake, openai_sync, hook):
    fake.add_fault(route="webhook", kind="delay", seconds=0.6)
    created = openai_sync.responses.create(model="gpt-4.1", input="x", background=True)
    finished = _terminal(fake, created.id)
    [delivery] = hook.receiver.wait(1)
    assert delivery.at - finished >= 0.55


def test_webhook_rules_are_checked_and_any_leaves_webhooks_alone():
    with pytest.raises(ValueError, match="route 'webhook' takes kind"):
        FaultRule(route="webhook", kind="error")
    with pytest.raises(ValueError, match="is for route 'webhook'"):
        FaultRule(route="any", kind="duplicate")
    with pytest.raises(ValueError, match="is for route 'create'"):
        FaultRule(route="retrieve", kind="unavailable")
    faults = FaultInjector()
    faults.add(FaultRule(route="any", kind="delay"))
    assert faults.pick({"webhook"}, None, set(WEBHOOK_KINDS)) is None
    faults.add(FaultRule(route="webhook", kind="delay"))
    assert faults.pick({"webhook"}, None, set(WEBHOOK_KINDS)) is not None


def test_signature_matches_the_sdk_test_vector():
    """The Standard Webhooks vector of the notes (verified with the installed SDK)."""
    body = (
        b'{"id":"evt_685343a1381c819085d44c354e1b330e","object":"event",'
        b'"type":"response.completed","created_at":1750287018,"data":{"id":"resp_abc123"}}'
    )
    signature = sign(
        "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        "wh_685342e6c53c8190a1be43f081506c52",
        1750287078,
        body,
    )
    assert signature == "v1,TAoRVPJDFiuNeyiLSpVEhn6A2jnFGEZonRFLH23WtUk="


def test_secret_is_made_up_when_unset_kept_when_set_and_checked(fake, hook):
    made_up = fake.config()["webhook_secret"]
    assert made_up == hook.secret and made_up.startswith("whsec_")
    assert len(base64.b64decode(made_up[6:])) == 32
    chosen = "whsec_" + base64.b64encode(b"k" * 24).decode()
    assert fake.configure(webhook_secret=chosen)["webhook_secret"] == chosen
    for bad in ("plain-secret", "whsec_", "whsec_%%%"):
        with pytest.raises(RuntimeError, match="webhook_secret"):
            fake.configure(webhook_secret=bad)
    with pytest.raises(ValueError, match="webhook_secret"):
        ServerSettings(webhook_secret="nope")


def test_reset_forgets_attempts_and_counts(fake, openai_sync, hook):
    openai_sync.responses.create(model="gpt-4.1", input="x", background=True)
    hook.receiver.wait(1)
    assert len(fake.webhooks()) == 1
    fake.reset()
    assert fake.webhooks() == [] and fake.counts()["webhooks_sent"] == 0


# ---- completion windows -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("window", "metadata", "queued"),
    [
        ("2h", {"fake_window_2h_seconds": "1.0"}, 0.5),
        ("8h", {"fake_window_8h_seconds": "1.6", "fake_window_fraction": "0.75"}, 1.2),
    ],
)
def test_discounted_window_stays_queued_for_its_scaled_part(
    fake, openai_sync, window, metadata, queued
):
    options = {"completion_window": window, "continuation_id": "run-7"}
    created = openai_sync.responses.create(
        model="o3",
        input="x",
        background=True,
        metadata=metadata,
        extra_body={"background_options": options},
    )
    time.sleep(queued * 0.6)
    snapshot = openai_sync.responses.retrieve(created.id)
    assert snapshot.status == "queued"
    record = fake.wait_terminal(created.id)
    assert record.status == "completed" and record.started_at is not None
    assert queued - 0.02 <= record.started_at - record.accepted_at <= queued + 0.3
    assert record.response["background_options"] == options
    assert record.response["service_tier"] == "default"


def test_default_windows_are_two_and_eight_seconds_started_half_way(fake, openai_sync):
    """The defaults (2 s and 8 s windows, half way) without waiting for the 8h one."""
    created = openai_sync.responses.create(
        model="gpt-4.1",
        input="x",
        background=True,
        extra_body={"background_options": {"completion_window": "2h"}},
    )
    started = fake.wait_terminal(created.id).started_at
    assert started is not None
    assert 0.98 <= started - fake.response(created.id).accepted_at <= 1.3
    assert fake.config()["generation"]["window_8h_seconds"] == 8.0


@pytest.mark.parametrize(
    ("create", "message"),
    [
        (
            {"background": True, "stream": True},
            "The '2h' completion window requires background=true and stream=false.",
        ),
        ({}, "The '2h' completion window requires background=true and stream=false."),
        (
            {"background": True, "service_tier": "flex"},
            "The '2h' completion window is not available with service_tier 'flex'.",
        ),
        (
            {"background": True, "service_tier": "priority"},
            "The '2h' completion window is not available with service_tier 'priority'.",
        ),
    ],
)
def test_discounted_window_needs_background_polling_on_the_standard_tier(
    fake, openai_sync, create, message
):
    with pytest.raises(openai.BadRequestError) as err:
        openai_sync.responses.create(
            model="o3",
            input="x",
            extra_body={"background_options": {"completion_window": "2h"}},
            **create,
        )
    assert err.value.param == "background_options.completion_window"
    assert err.value.type == "invalid_request_error"
    assert _message(err.value) == message
    assert fake.counts()["creates"] == 0


@pytest.mark.parametrize(
    ("options", "param"),
    [
        ({"completion_window": "1h"}, "background_options.completion_window"),
        ({"continuation_id": 7}, "background_options.continuation_id"),
        ({"priority": "high"}, "background_options.priority"),
    ],
)
def test_bad_background_options_are_refused(fake, openai_sync, options, param):
    with pytest.raises(openai.BadRequestError) as err:
        openai_sync.responses.create(
            model="o3", input="x", background=True, extra_body={"background_options": options}
        )
    assert err.value.param == param


# ---- flex ---------------------------------------------------------------------------------------


def _flex_refused(openai_sync) -> openai.RateLimitError:
    with pytest.raises(openai.RateLimitError) as err:
        openai_sync.responses.create(model="o3", input="x", service_tier="flex", background=True)
    return err.value


def test_flex_is_unavailable_for_a_while_then_created(fake, openai_sync):
    fake.configure(flex_unavailable_seconds=0.8)
    set_at = time.monotonic()
    refused = _flex_refused(openai_sync)
    assert refused.status_code == 429 and refused.code == "resource_unavailable"
    assert refused.response.json() == {
        "error": {
            "message": "Resource Unavailable: flex processing capacity is temporarily "
            "unavailable. Please try again later.",
            "type": "rate_limit_error",
            "param": None,
            "code": "resource_unavailable",
        }
    }
    for tier in (None, "auto", "default"):  # never refused for want of flex capacity
        kw = {} if tier is None else {"service_tier": tier}
        created = openai_sync.responses.create(model="o3", input="x", background=True, **kw)
        assert created.service_tier == "default"
    assert fake.counts()["creates"] == 3 and fake.counts()["flex_unavailable"] == 1
    time.sleep(max(0.0, 0.85 - (time.monotonic() - set_at)))
    created = openai_sync.responses.create(
        model="o3", input="x", service_tier="flex", background=True
    )
    final = fake.wait_terminal(created.id)
    assert final.response["service_tier"] == "flex"
    for record in fake.responses():
        fake.wait_terminal(record.id)


def test_unavailable_fault_refuses_flex_creates_only(fake, openai_sync):
    fake.add_fault(route="create", kind="unavailable", times=1)
    plain = openai_sync.responses.create(model="o3", input="x", background=True)
    assert _flex_refused(openai_sync).code == "resource_unavailable"
    flex = openai_sync.responses.create(model="o3", input="x", service_tier="flex", background=True)
    [rule] = fake.faults()
    assert (rule["matched"], rule["fired"]) == (2, 1)  # the standard create did not match
    for created in (plain, flex):
        fake.wait_terminal(created.id)


def test_flex_is_slower_by_its_slowdown(fake, openai_sync):
    def timed(**kw: object) -> tuple[float, float, str]:
        created = openai_sync.responses.create(
            model="gpt-5-mini",
            input="same question",
            background=True,
            metadata={"fake_tokens": "60", "fake_flex_slowdown": "3"},
            **kw,
        )
        r = fake.wait_terminal(created.id)
        assert r.started_at is not None and r.finished_at is not None
        return r.started_at - r.accepted_at, r.finished_at - r.started_at, r.text

    queued, writing, text = timed()
    flex_queued, flex_writing, flex_text = timed(service_tier="flex")
    assert flex_text == text  # slower, not different
    assert flex_queued >= 3 * 0.05 - 0.01 and flex_queued > 2 * queued
    assert flex_writing >= 3 * 60 / 300 - 0.02 and flex_writing > 2 * writing


@pytest.mark.parametrize(
    ("model", "accepted"),
    [
        ("o3", True),
        ("o4-mini-2025-04-16", True),
        ("gpt-5", True),
        ("gpt-5-nano", True),
        ("gpt-5.2", True),
        ("gpt-4.1", False),
        ("gpt-4o", False),
        ("o3-deep-research", False),
    ],
)
def test_flex_is_for_the_models_openai_lists(fake, openai_sync, model, accepted):
    create = {
        "model": model,
        "input": "x",
        "service_tier": "flex",
        "metadata": {"fake_tokens": "5", "fake_reasoning_tokens": "2"},
    }
    if model.endswith("deep-research"):
        create["tools"] = [{"type": "web_search_preview"}]
    if accepted:
        assert openai_sync.responses.create(**create).service_tier == "flex"
        return
    with pytest.raises(openai.BadRequestError) as err:
        openai_sync.responses.create(**create)
    assert err.value.param == "service_tier"
    assert _message(err.value) == f"Flex processing is not available for model '{model}'."


def test_retrieve_lags_the_webhook_by_the_configured_seconds(fake, openai_sync, hook):
    """Eventual consistency: the event says completed, a read for `retrieve_lag_seconds` after
    it still says in_progress (the snapshot from just before the end), then completed."""
    fake.configure(retrieve_lag_seconds=1.5)
    created = openai_sync.responses.create(model="gpt-4.1", input="x", background=True)
    [delivery] = hook.receiver.wait(1)
    assert hook.verify(delivery).type == "response.completed"
    stale = openai_sync.responses.retrieve(created.id)
    assert stale.status == "in_progress" and stale.usage is None
    finished = fake.response(created.id, events=False).finished_at
    assert finished is not None and delivery.at - finished < 1.0
    deadline = time.monotonic() + 10
    while (current := openai_sync.responses.retrieve(created.id)).status != "completed":
        assert time.monotonic() < deadline, "the read never caught up"
        time.sleep(0.1)
    assert time.time() >= finished + 1.5
    assert current.output_text == fake.response(created.id).text
    assert fake.counts()["lagging_reads"] >= 1


def test_retrieve_lag_from_the_cli_and_the_environment(monkeypatch):
    from durable_responses.fake_openai import __main__ as fake_cli

    assert fake_cli._settings(fake_cli.parse_args([])).retrieve_lag_seconds == 0
    assert (
        fake_cli._settings(fake_cli.parse_args(["--retrieve-lag", "5"])).retrieve_lag_seconds == 5
    )
    monkeypatch.setenv("FAKE_OPENAI_RETRIEVE_LAG", "2.5")
    assert fake_cli._settings(fake_cli.parse_args([])).retrieve_lag_seconds == 2.5
