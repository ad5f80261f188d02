"""Fault injection and bad input: each fault is what the real API would do, as the SDK sees it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import openai
import pytest

from durable_responses.fake_openai import (
    FakeOpenAIServer,
    FaultRule,
    GenerationSettings,
    ServerSettings,
)


@pytest.mark.parametrize(
    ("rule", "exception"),
    [
        ({"kind": "error", "status": 429, "retry_after": 2}, openai.RateLimitError),
        ({"kind": "error", "status": 500}, openai.InternalServerError),
        ({"kind": "error", "status": 503}, openai.InternalServerError),
        ({"kind": "error", "status": 400, "message": "bad"}, openai.BadRequestError),
        ({"kind": "error", "status": 404}, openai.NotFoundError),
        ({"kind": "reset"}, openai.APIConnectionError),
    ],
)
def test_create_faults_raise_the_sdk_exception(fake, openai_sync, rule, exception):
    fake.add_fault(route="create", times=1, **rule)
    with pytest.raises(exception) as err:
        openai_sync.responses.create(model="o3", input="x", background=True)
    if isinstance(err.value, openai.APIStatusError):
        assert err.value.status_code == rule["status"]
        assert err.value.message and err.value.type  # the API's envelope
    # `times=1`: the next request goes through, and a failed create made no response
    assert openai_sync.responses.create(model="o3", input="x", background=True).status == "queued"
    assert fake.counts()["creates"] == 1


def test_rate_limit_carries_retry_after_headers(fake, openai_sync):
    fake.add_fault(route="retrieve", kind="error", status=429, retry_after=1.5, retry_after_ms=1500)
    created = openai_sync.responses.create(model="o3", input="x", background=True)
    with pytest.raises(openai.RateLimitError) as err:
        openai_sync.responses.retrieve(created.id)
    headers = err.value.response.headers
    assert (headers["retry-after"], headers["retry-after-ms"]) == ("1.5", "1500")
    assert err.value.code == "rate_limit_exceeded"
    assert err.value.request_id and err.value.request_id.startswith("req_")


def test_reset_after_create_leaves_an_orphan_response(fake, openai_sync):
    """The duplicate-create window: the job exists but the client never hears of it."""
    fake.add_fault(route="create", kind="reset", when="after", times=1)
    with pytest.raises(openai.APIConnectionError):
        openai_sync.responses.create(model="o3", input="x", background=True)
    assert fake.counts()["creates"] == 1
    [dropped] = fake.responses()  # flagged, so a harness can tell why a duplicate exists
    assert dropped.counts["reset_after_accept"] == 1
    assert fake.counts()["resets_after_accept"] == 1


def test_create_accepted_after_the_client_timed_out_is_flagged(fake, openai_sync):
    """The create-call-timeout window: the client gave up, then the provider accepted."""
    fake.add_fault(route="create", kind="delay", seconds=0.6, times=1)
    with pytest.raises(openai.APITimeoutError):
        openai_sync.responses.create(model="o3", input="x", background=True, timeout=0.2)
    [late] = _wait_for_responses(fake, 1)
    assert late.counts["client_left_before_answer"] == 1 and late.answered_at is None
    assert late.create_seconds >= 0.6
    answered = openai_sync.responses.create(model="o3", input="y", background=True)
    record = fake.response(answered.id, events=False)
    assert "client_left_before_answer" not in record.counts and record.create_seconds < 0.6
    assert record.answered_at is not None and record.answered_at >= record.accepted_at


def test_delay_after_accept_answers_late_while_the_response_runs(fake, openai_sync):
    """A slow answer widens the window between the provider accepting and the client knowing."""
    fake.add_fault(route="create", kind="delay", when="after", seconds=0.6, times=2)
    with pytest.raises(openai.APITimeoutError):
        openai_sync.responses.create(model="o3", input="x", background=True, timeout=0.3)
    [unheard] = _wait_for_responses(fake, 1)
    assert unheard.create_seconds < 0.3  # accepted at once, then the answer was held back
    time.sleep(0.5)
    unheard = fake.response(unheard.id, events=False)
    assert unheard.counts["client_left_before_answer"] == 1 and unheard.answered_at is None
    late = openai_sync.responses.create(model="o3", input="y", background=True, timeout=5)
    record = fake.response(late.id, events=False)
    assert record.answered_at is not None and record.answered_at - record.accepted_at >= 0.6


def _wait_for_responses(fake, count: int, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while len(records := fake.responses()) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return records


def test_stream_cut_mid_body_is_a_connection_error_and_resumable(fake, openai_sync):
    fake.add_fault(route="stream", kind="cut", after_events=7, times=1)
    stream = openai_sync.responses.create(
        model="gpt-4.1", input="cut", background=True, stream=True
    )
    seen = []
    with pytest.raises(openai.APIConnectionError):
        for event in stream:
            seen.append(event)
    assert len(seen) == 7 and all(e.type != "response.completed" for e in seen)
    rest = list(openai_sync.responses.retrieve(seen[0].response.id, stream=True, starting_after=6))
    text = "".join(e.delta for e in seen + rest if e.type == "response.output_text.delta")
    assert text == fake.wait_terminal(seen[0].response.id).text
    assert rest[-1].type == "response.completed"


def test_resume_faults(fake, openai_sync):
    created = openai_sync.responses.create(model="gpt-4.1", input="r", background=True)
    fake.add_fault(route="stream", kind="error", status=502, times=1)
    fake.add_fault(route="stream", kind="reset", times=1)
    fake.add_fault(route="stream", kind="expire", times=1)
    with pytest.raises(openai.InternalServerError):
        list(openai_sync.responses.retrieve(created.id, stream=True, starting_after=0))
    with pytest.raises(openai.APIConnectionError):
        list(openai_sync.responses.retrieve(created.id, stream=True, starting_after=0))
    with pytest.raises(openai.BadRequestError, match="can no longer be streamed"):
        list(openai_sync.responses.retrieve(created.id, stream=True, starting_after=0))
    assert list(openai_sync.responses.retrieve(created.id, stream=True, starting_after=0))


def test_fail_fault_ends_response_failed_with_code(fake, openai_sync):
    fake.add_fault(route="create", kind="fail", code="server_error", message="boom", after_tokens=5)
    events = list(
        openai_sync.responses.create(model="gpt-4.1", input="f", background=True, stream=True)
    )
    assert events[-1].type == "response.failed"
    failed = openai_sync.responses.retrieve(events[0].response.id)
    assert failed.status == "failed" and failed.completed_at is None
    assert failed.error is not None and (failed.error.code, failed.error.message) == (
        "server_error",
        "boom",
    )
    assert len(failed.output_text.split()) == 5


def test_incomplete_fault(fake, openai_sync):
    fake.add_fault(route="create", kind="incomplete", reason="content_filter", after_tokens=3)
    created = openai_sync.responses.create(model="gpt-4.1", input="i", background=True)
    record = fake.wait_terminal(created.id)
    final = openai_sync.responses.retrieve(created.id)
    assert record.status == final.status == "incomplete"
    assert final.incomplete_details is not None
    assert final.incomplete_details.reason == "content_filter"
    assert final.error is None


def test_delay_fault_slows_the_answer_past_the_client_timeout(fake, openai_sync):
    fake.add_fault(route="retrieve", kind="delay", seconds=1.0, times=1)
    created = openai_sync.responses.create(model="o3", input="x", background=True)
    with pytest.raises(openai.APITimeoutError):
        openai_sync.responses.retrieve(created.id, timeout=0.2)
    assert openai_sync.responses.retrieve(created.id, timeout=5).id == created.id


def test_skip_and_times_script_faults(fake, openai_sync):
    fake.add_fault(route="retrieve", kind="error", status=500, skip=1, times=2)
    created = openai_sync.responses.create(model="o3", input="x", background=True)
    outcomes = []
    for _ in range(5):
        try:
            openai_sync.responses.retrieve(created.id)
            outcomes.append("ok")
        except openai.InternalServerError:
            outcomes.append("500")
    assert outcomes == ["ok", "500", "500", "ok", "ok"]
    assert fake.faults()[0]["fired"] == 2


def _pattern(seed: int) -> list[str]:
    rule = FaultRule(route="retrieve", kind="error", status=500, probability=0.5)
    settings = ServerSettings(
        fault_seed=seed, faults=[rule], generation=GenerationSettings(tokens=5, queued_seconds=0)
    )
    with FakeOpenAIServer(settings) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        created = client.responses.create(model="o3", input="x", background=True)
        pattern = []
        for _ in range(24):
            try:
                client.responses.retrieve(created.id)
                pattern.append(".")
            except openai.InternalServerError:
                pattern.append("X")
        return pattern


def test_probabilistic_faults_are_deterministic_given_a_seed():
    first, again, other = _pattern(1), _pattern(1), _pattern(2)
    assert first == again
    assert first != other
    assert 0 < first.count("X") < 24


def test_fault_spec_cli_form():
    rule = FaultRule.parse_spec("route=create,kind=error,status=429,retry_after=1,times=2")
    assert (rule.route, rule.kind, rule.status, rule.retry_after, rule.times) == (
        "create",
        "error",
        429,
        1.0,
        2,
    )
    with pytest.raises(ValueError):
        FaultRule.parse_spec("route=create,kind=explode")


def _raw(fake_url: str, method: str, path: str, body: bytes | None = None):
    request = urllib.request.Request(
        f"{fake_url}{path}",
        data=body,
        method=method,
        headers={"Authorization": "Bearer k", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "param"),
    [
        ("POST", "/v1/responses", b"{not json", 400, None),
        ("POST", "/v1/responses", b"[1, 2]", 400, None),
        ("POST", "/v1/responses", b'{"input": "x"}', 400, "model"),
        ("POST", "/v1/responses", b'{"model": "o3"}', 400, "input"),
        ("POST", "/v1/responses", b'{"model": 3, "input": "x"}', 400, "model"),
        ("POST", "/v1/responses", b'{"model": "o3", "input": 5}', 400, "input"),
        (
            "POST",
            "/v1/responses",
            b'{"model": "o3", "input": "x", "background": "yes"}',
            400,
            "background",
        ),
        (
            "POST",
            "/v1/responses",
            b'{"model": "o3", "input": "x", "max_output_tokens": "9"}',
            400,
            "max_output_tokens",
        ),
        (
            "POST",
            "/v1/responses",
            b'{"model": "o3", "input": "x", "max_output_tokens": 4}',
            400,
            "max_output_tokens",
        ),
        (
            "POST",
            "/v1/responses",
            b'{"model": "o3", "input": "x", "metadata": {"k": 1}}',
            400,
            "metadata.k",
        ),
        (
            "POST",
            "/v1/responses",
            b'{"model": "o3", "input": "x", "reasoning": {"effort": "huge"}}',
            400,
            "reasoning.effort",
        ),
        (
            "POST",
            "/v1/responses",
            b'{"model": "o3", "input": "x", "previous_response_id": "resp_gone"}',
            404,
            "previous_response_id",
        ),
        ("GET", "/v1/responses/resp_unknown", None, 404, "response_id"),
        ("GET", "/v1/responses/resp_unknown?stream=true", None, 404, "response_id"),
        ("POST", "/v1/responses/resp_unknown/cancel", b"{}", 404, "response_id"),
        ("DELETE", "/v1/responses/resp_unknown", None, 404, "response_id"),
        ("GET", "/v1/nothing-here", None, 404, None),
    ],
)
def test_bad_input_gets_the_api_error_envelope(
    fake, fake_server, method, path, body, status, param
):
    got_status, answer = _raw(fake_server.url, method, path, body)
    assert got_status == status
    assert set(answer["error"]) == {"message", "type", "param", "code"}
    assert answer["error"]["param"] == param
    assert answer["error"]["message"]


@pytest.mark.parametrize("starting_after", ["-1", "abc"])
def test_bad_starting_after_is_400(fake, fake_server, openai_sync, starting_after):
    created = openai_sync.responses.create(model="o3", input="x", background=True)
    status, answer = _raw(
        fake_server.url,
        "GET",
        f"/v1/responses/{created.id}?stream=true&starting_after={starting_after}",
    )
    assert status == 400 and answer["error"]["param"] == "starting_after"
    with pytest.raises(openai.BadRequestError):
        list(openai_sync.responses.retrieve(created.id, stream=True, starting_after=-1))


def test_unknown_parameters_are_refused_as_the_api_refuses_them(fake, fake_server):
    body = b'{"model": "o3", "input": "x", "background": true, "some_new_param": {"a": 1}}'
    status, answer = _raw(fake_server.url, "POST", "/v1/responses", body)
    assert status == 400
    assert answer["error"]["code"] == "unknown_parameter"
    assert answer["error"]["param"] == "some_new_param"
    assert answer["error"]["message"] == "Unknown parameter: 'some_new_param'."
    # A parameter newer than the installed SDK: the fake can be told to let it through.
    fake.configure(reject_unknown_parameters=False)
    status, answer = _raw(fake_server.url, "POST", "/v1/responses", body)
    assert status == 200 and answer["status"] == "queued"


def test_background_work_survives_stream_cut_and_time(fake, openai_sync):
    fake.add_fault(route="stream", kind="cut", after_events=2)
    stream = openai_sync.responses.create(model="gpt-4.1", input="z", background=True, stream=True)
    with pytest.raises(openai.APIConnectionError):
        list(stream)
    time.sleep(0.1)
    records = fake.responses()
    assert len(records) == 1
    assert fake.wait_terminal(records[0].id).status == "completed"


def test_faults_from_cli_flags_and_environment():
    env = {**os.environ, "FAKE_OPENAI_FAULTS": "route=retrieve,kind=error,status=503,times=1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "durable_responses.fake_openai",
            "--port",
            "0",
            "--fault",
            "route=create,kind=error,status=429,retry_after=2,times=1",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().split()[3]
        client = openai.OpenAI(base_url=base_url, api_key="k", max_retries=0)
        with pytest.raises(openai.RateLimitError):
            client.responses.create(model="o3", input="x", background=True)
        created = client.responses.create(model="o3", input="x", background=True)
        with pytest.raises(openai.InternalServerError):
            client.responses.retrieve(created.id)
        assert client.responses.retrieve(created.id).id == created.id
    finally:
        proc.terminate()
        proc.wait(timeout=10)
