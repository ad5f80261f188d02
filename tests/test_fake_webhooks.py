"""The fake's completion windows and flex tier, checked as a client of OpenAI sees them:
errors as the SDK raises them, timings from the fake's records."""

from __future__ import annotations

import time

import openai
import pytest

from durable_responses.fake_openai import FakeControl


@pytest.fixture(autouse=True)
def short_answers(fake: FakeControl) -> None:
    """20-token answers: most tests here wait for a response to end (conftest resets it)."""
    fake.configure(tokens=20)


def _message(error: openai.APIStatusError) -> str:
    """The API's own message (the SDK's `message` prefixes the status)."""
    assert isinstance(error.body, dict)
    return str(error.body["message"])


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
