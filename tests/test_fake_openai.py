"""The fake Responses API, through the unmodified OpenAI SDK over real HTTP (sync and async)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import openai
import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from durable_responses.fake_openai import (
    FakeControl,
    FakeOpenAIServer,
    GenerationSettings,
    ServerSettings,
)
from durable_responses.fake_openai import __main__ as fake_cli

EVENT: TypeAdapter[ResponseStreamEvent] = TypeAdapter(ResponseStreamEvent)
TERMINAL_EVENTS = {"response.completed", "response.incomplete", "response.failed"}


def _poll_sync(client: openai.OpenAI, response_id: str, timeout: float = 30) -> Response:
    deadline = time.monotonic() + timeout
    while True:
        response = client.responses.retrieve(response_id)
        if response.status not in ("queued", "in_progress"):
            return response
        assert time.monotonic() < deadline, f"{response_id} still {response.status}"
        time.sleep(0.05)


def _text(events: list[ResponseStreamEvent]) -> str:
    return "".join(e.delta for e in events if e.type == "response.output_text.delta")


def test_background_create_then_poll_returns_canonical_text(fake, openai_sync):
    created = openai_sync.responses.create(model="o3", input="Explain relativity.", background=True)
    assert (created.status, created.background, created.output) == ("queued", True, [])
    final = _poll_sync(openai_sync, created.id)
    assert final.status == "completed"
    record = fake.response(created.id)
    assert final.output_text == record.text == record.planned_text
    assert len(final.output_text) > 200
    assert final.usage is not None and final.usage.output_tokens > 0
    assert final.completed_at is not None and final.error is None


async def test_async_background_poll(fake, openai_async):
    created = await openai_async.responses.create(model="gpt-4.1", input="hi", background=True)
    seen = [created.status]
    deadline = time.monotonic() + 30
    while seen[-1] in ("queued", "in_progress"):
        assert time.monotonic() < deadline, f"still {seen[-1]}"
        await asyncio.sleep(0.02)
        snapshot = await openai_async.responses.retrieve(created.id)
        seen.append(snapshot.status)
        Response.model_validate(snapshot.to_dict())  # every required field present
    order = ["queued", "in_progress", "completed"]
    assert [s for i, s in enumerate(seen) if i == 0 or s != seen[i - 1]] == order
    assert snapshot.output_text == fake.response(created.id).text


def test_running_snapshot_has_partial_output(fake, openai_sync):
    fake.configure(tokens=300, tokens_per_second=100)
    created = openai_sync.responses.create(model="gpt-4.1", input="long", background=True)
    deadline = time.monotonic() + 30
    while (snap := openai_sync.responses.retrieve(created.id)).output_text == "":
        assert time.monotonic() < deadline, "no text after 30 s"
        time.sleep(0.02)
    assert snap.status == "in_progress"
    assert fake.response(created.id).planned_text.startswith(snap.output_text)
    assert snap.completed_at is None and snap.usage is None


@pytest.mark.parametrize("k", [1, 5, 40])
def test_stream_interrupted_and_resumed_with_cursor_has_no_gap_or_duplicate(fake, openai_sync, k):
    stream = openai_sync.responses.create(
        model="o3-mini", input="Three benefits of exercise.", background=True, stream=True
    )
    head = [event for _, event in zip(range(k), stream, strict=False)]
    stream.close()  # the interruption
    response_id = head[0].response.id
    tail = list(
        openai_sync.responses.retrieve(
            response_id, stream=True, starting_after=head[-1].sequence_number
        )
    )
    record = fake.wait_terminal(response_id)
    events = head + tail
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert _text(events) == record.text
    assert tail[-1].type == "response.completed"


def test_stream_without_cursor_replays_whole_log_identically(fake, openai_sync):
    stream = openai_sync.responses.create(model="gpt-4.1", input="x", background=True, stream=True)
    first = [e.to_dict() for e in stream]
    response_id = first[0]["response"]["id"]
    replay = [e.to_dict() for e in openai_sync.responses.retrieve(response_id, stream=True)]
    assert replay == first
    assert [e["sequence_number"] for e in fake.response(response_id).events] == list(
        range(len(first))
    )


def test_sdk_stream_helper_resumes_from_starting_after(fake, openai_sync):
    created = openai_sync.responses.create(model="gpt-4.1", input="y", background=True)
    record = fake.wait_terminal(created.id)
    cut = 12
    with openai_sync.responses.stream(response_id=created.id, starting_after=cut) as stream:
        events = list(stream)
        final = stream.get_final_response()
    assert events[0].sequence_number == cut + 1
    already = _text([EVENT.validate_python(e) for e in record.events[: cut + 1]])
    assert already + _text(events) == record.text
    assert final.output_text == record.text


async def test_async_sdk_stream_helper(fake, openai_async):
    created = await openai_async.responses.create(model="gpt-4.1", input="z", background=True)
    async with openai_async.responses.stream(response_id=created.id, starting_after=3) as stream:
        text = "".join([e.delta async for e in stream if e.type == "response.output_text.delta"])
    assert text == fake.response(created.id).text


def test_event_order_and_schema(fake, openai_sync):
    events = list(
        openai_sync.responses.create(model="gpt-4.1", input="order", background=True, stream=True)
    )
    types = [e.type for e in events]
    for e in events:  # every object carries what the SDK's models require
        EVENT.validate_python(e.to_dict())
    head = [
        "response.created",
        "response.queued",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert types[:5] == head
    deltas = [t for t in types[5:-4]]
    assert set(deltas) == {"response.output_text.delta"}
    assert types[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert sum(t in TERMINAL_EVENTS for t in types) == 1
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[0].response.status == "queued" and events[2].response.status == "in_progress"
    done = events[-1].response
    assert done.status == "completed" and done.completed_at is not None
    assert done.output_text == _text(events)


@pytest.mark.parametrize(
    ("model", "reasoning"),
    [("o3", True), ("o4-mini", True), ("my-reasoner", True), ("gpt-4.1", False)],
)
def test_reasoning_models_emit_summary_before_answer(fake, openai_sync, model, reasoning):
    fake.configure(models=["my-reasoner"])  # not in the catalogue
    events = list(
        openai_sync.responses.create(model=model, input="r", background=True, stream=True)
    )
    types = [e.type for e in events]
    has_summary = "response.reasoning_summary_text.delta" in types
    assert has_summary is reasoning
    if reasoning:
        assert types.index("response.reasoning_summary_text.done") < types.index(
            "response.output_text.delta"
        )
        summary = "".join(
            e.delta for e in events if e.type == "response.reasoning_summary_text.delta"
        )
        assert summary == fake.response(events[0].response.id).reasoning_summary
        assert events[-1].response.output[0].type == "reasoning"


def test_max_output_tokens_ends_incomplete(fake, openai_sync):
    created = openai_sync.responses.create(
        model="gpt-4.1", input="i", background=True, max_output_tokens=20
    )
    final = _poll_sync(openai_sync, created.id)
    assert final.status == "incomplete"
    assert final.incomplete_details is not None
    assert final.incomplete_details.reason == "max_output_tokens"
    assert final.completed_at is None and final.error is None
    assert fake.response(created.id).planned_text.startswith(final.output_text)


def test_cancel_mid_run_sticks_and_ends_open_stream(fake, openai_sync):
    fake.configure(tokens=2000, tokens_per_second=200)
    stream = openai_sync.responses.create(model="gpt-4.1", input="c", background=True, stream=True)
    events = []
    for event in stream:
        events.append(event)
        if event.type == "response.output_text.delta":
            cancelled = openai_sync.responses.cancel(events[0].response.id)
            assert cancelled.status == "cancelled"
    assert events[-1].type == "response.failed"
    assert events[-1].response.status == "cancelled"
    response_id = events[0].response.id
    time.sleep(0.3)
    assert openai_sync.responses.retrieve(response_id).status == "cancelled"
    # cancelling again answers the same cancelled response
    assert openai_sync.responses.cancel(response_id).status == "cancelled"
    assert fake.response(response_id).status == "cancelled"


def test_cancel_rules(fake, openai_sync):
    done = openai_sync.responses.create(model="gpt-4.1", input="d", background=True)
    fake.wait_terminal(done.id)
    with pytest.raises(openai.BadRequestError, match="status 'completed'"):
        openai_sync.responses.cancel(done.id)
    foreground = openai_sync.responses.create(model="gpt-4.1", input="f")
    assert foreground.status == "completed" and foreground.background is False
    with pytest.raises(openai.BadRequestError, match="background=true"):
        openai_sync.responses.cancel(foreground.id)
    with pytest.raises(openai.NotFoundError):
        openai_sync.responses.cancel("resp_unknown")


@pytest.mark.parametrize(
    ("model", "extra", "known"),
    [
        ("o3", [], True),
        ("o3-2025-04-16", [], True),
        ("ft:gpt-4.1-mini:acme::abc123", [], True),
        ("gpt-does-not-exist", [], False),
        ("o3-2025-04-16-extra", [], False),
        ("my-model", ["my-model"], True),
        ("my-model", ["*"], True),
    ],
)
def test_unknown_models_are_refused_as_the_api_refuses_them(fake, openai_sync, model, extra, known):
    fake.configure(models=extra)
    if known:
        created = openai_sync.responses.create(model=model, input="m", background=True)
        fake.wait_terminal(created.id)
        return
    with pytest.raises(openai.NotFoundError) as err:
        openai_sync.responses.create(model=model, input="m", background=True)
    assert err.value.code == "model_not_found"
    assert f"The model `{model}` does not exist" in err.value.message
    assert fake.counts()["creates"] == 0


def test_an_input_past_the_models_context_window_is_refused(fake, openai_sync):
    long_input = "word " * 180_000  # ~225k tokens at 4 characters a token
    with pytest.raises(openai.BadRequestError) as err:  # o3: 200k
        openai_sync.responses.create(model="o3", input=long_input, background=True)
    assert (err.value.code, err.value.param) == ("context_length_exceeded", "input")
    fits = openai_sync.responses.create(model="gpt-4.1", input=long_input, background=True)
    fake.wait_terminal(fits.id)  # gpt-4.1: 1M
    assert fake.counts()["creates"] == 1


def test_delete_then_not_found(fake, openai_sync):
    created = openai_sync.responses.create(model="gpt-4.1", input="del", background=True)
    openai_sync.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        openai_sync.responses.retrieve(created.id)


def test_store_false_is_not_retrievable_and_rejected_with_background(fake, openai_sync):
    unstored = openai_sync.responses.create(model="gpt-4.1", input="s", store=False)
    assert unstored.status == "completed"
    with pytest.raises(openai.NotFoundError):
        openai_sync.responses.retrieve(unstored.id)
    with pytest.raises(openai.BadRequestError) as err:
        openai_sync.responses.create(model="gpt-4.1", input="s", store=False, background=True)
    assert err.value.param == "store"


def test_starting_after_at_or_past_end_gives_empty_stream(fake, openai_sync):
    created = openai_sync.responses.create(model="gpt-4.1", input="e", background=True)
    record = fake.wait_terminal(created.id)
    for after in (record.event_count - 1, record.event_count + 10):
        assert (
            list(openai_sync.responses.retrieve(created.id, stream=True, starting_after=after))
            == []
        )


def test_stream_retention_window(openai_sync):
    settings = ServerSettings(
        stream_retention_seconds=0.5, generation=GenerationSettings(tokens=10, queued_seconds=0)
    )
    with FakeOpenAIServer(settings) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        created = client.responses.create(model="gpt-4.1", input="old", background=True)
        assert len(list(client.responses.retrieve(created.id, stream=True))) > 0
        time.sleep(0.7)
        with pytest.raises(openai.BadRequestError, match="can no longer be streamed because it is"):
            list(client.responses.retrieve(created.id, stream=True, starting_after=2))
        assert client.responses.retrieve(created.id).status == "completed"


def test_client_disconnect_never_stalls_background_work(fake, openai_sync):
    stream = openai_sync.responses.create(model="gpt-4.1", input="dc", background=True, stream=True)
    first = next(iter(stream))
    stream.response.close()
    record = fake.wait_terminal(first.response.id, timeout=10)
    assert record.status == "completed" and record.text == record.planned_text


def test_idempotency_key_returns_same_response(fake, openai_sync):
    fake.configure(honour_idempotency_key=True)  # the fake's own default; tests run without it
    headers = {"Idempotency-Key": "wf-1/run/1"}
    a = openai_sync.responses.create(model="o3", input="i", background=True, extra_headers=headers)
    b = openai_sync.responses.create(model="o3", input="i", background=True, extra_headers=headers)
    c = openai_sync.responses.create(model="o3", input="i", background=True)
    assert a.id == b.id != c.id
    counts = fake.counts()
    assert (counts["creates"], counts["idempotent_replays"]) == (2, 1)


def test_idempotency_key_can_be_ignored_at_run_time(fake, openai_sync):
    """OpenAI does not document honouring the header: the fake can ignore it too."""
    headers = {"Idempotency-Key": "wf-1/run/1"}
    assert fake.configure(honour_idempotency_key=True)["honour_idempotency_key"] is True
    assert fake.configure(honour_idempotency_key=False)["honour_idempotency_key"] is False
    a = openai_sync.responses.create(model="o3", input="i", background=True, extra_headers=headers)
    b = openai_sync.responses.create(model="o3", input="i", background=True, extra_headers=headers)
    assert a.id != b.id
    counts = fake.counts()
    assert (counts["creates"], counts["idempotent_replays"]) == (2, 0)
    # The key each create sent is kept, so a harness can tell retries of one call apart.
    assert {fake.response(r.id).idempotency_key for r in (a, b)} == {"wf-1/run/1"}


def test_cli_flag_ignores_the_idempotency_key():
    assert _cli_settings([]).honour_idempotency_key is True
    assert _cli_settings(["--ignore-idempotency-key"]).honour_idempotency_key is False


def _cli_settings(argv: list[str]) -> ServerSettings:
    return fake_cli._settings(fake_cli.parse_args(argv))


def test_text_is_deterministic_per_input_and_seed(fake, openai_sync):
    def text(**kw):
        r = openai_sync.responses.create(model="gpt-4.1", background=True, **kw)
        return fake.wait_terminal(r.id).text

    assert text(input="same") == text(input="same")
    assert text(input="same") != text(input="other")
    assert text(input="same") != text(input="same", metadata={"fake_seed": "7"})


def test_per_request_generation_overrides(fake, openai_sync):
    r = openai_sync.responses.create(
        model="gpt-4.1", input="m", background=True, metadata={"fake_tokens": "7"}
    )
    final = _poll_sync(openai_sync, r.id)
    assert len(fake.response(r.id).planned_text.split()) <= 7
    assert final.metadata == {"fake_tokens": "7"}


async def test_fifty_concurrent_background_streams(fake, openai_async):
    fake.configure(tokens=150, tokens_per_second=200)

    async def one(i: int) -> tuple[str, str]:
        stream = await openai_async.responses.create(
            model="gpt-4.1", input=f"prompt {i}", background=True, stream=True
        )
        events = [e async for e in stream]
        assert events[-1].type == "response.completed"
        return events[0].response.id, _text(events)

    results = await asyncio.gather(*(one(i) for i in range(50)))
    assert len({rid for rid, _ in results}) == 50
    for response_id, text in results:
        assert text == fake.response(response_id, events=False).text != ""


def test_auth_required(fake_server, openai_sync):
    request = urllib.request.Request(
        f"{fake_server.base_url}/responses", data=b'{"model": "o3", "input": "x"}', method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as raw:
        urllib.request.urlopen(request)
    assert raw.value.code == 401
    assert json.loads(raw.value.read())["error"]["type"] == "invalid_request_error"
    with pytest.raises(openai.AuthenticationError, match="didn't provide an API key"):
        openai_sync.responses.create(
            model="o3", input="x", extra_headers={"Authorization": "Basic abc"}
        )


def test_configured_api_key_is_enforced():
    with FakeOpenAIServer(ServerSettings(api_key="sk-right")) as server:
        wrong = openai.OpenAI(base_url=server.base_url, api_key="sk-wrong-key", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as err:
            wrong.responses.create(model="o3", input="x")
        assert err.value.code == "invalid_api_key"
        right = openai.OpenAI(base_url=server.base_url, api_key="sk-right", max_retries=0)
        assert right.responses.create(model="o3", input="x", background=True).status == "queued"


def test_cli_serves_on_a_free_port():
    proc = subprocess.Popen(
        [sys.executable, "-m", "durable_responses.fake_openai", "--port", "0", "--tokens", "5"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("fake_openai listening on http://127.0.0.1:")
        base_url = line.split()[3]
        client = openai.OpenAI(base_url=base_url, api_key="k", max_retries=0)
        final = client.responses.create(model="gpt-4.1", input="cli")
        assert final.status == "completed" and final.output_text
        control = FakeControl(base_url.removesuffix("/v1"))
        assert control.counts()["creates"] == 1
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_control_api_reset_and_config(fake, openai_sync):
    openai_sync.responses.create(model="o3", input="x", background=True)
    assert len(fake.responses()) == 1
    fake.reset()
    assert fake.responses() == [] and fake.counts()["creates"] == 0
    config = fake.configure(tokens=9)
    assert config["generation"]["tokens"] == 9
    with urllib.request.urlopen(f"{fake.url}/_fake/health") as answer:
        assert json.loads(answer.read()) == {"ok": True}
