"""The activities against the fake over HTTP (ActivityEnvironment), and the error translation."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx2
import openai
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from durable_responses.activities import (
    CreateResponseInput,
    ResponseRef,
    ResponsesActivities,
    retry_after,
    to_application_error,
)
from durable_responses.models import METADATA_WORKFLOW_KEY, ErrorType, ResponseParams


def _env(workflow_id: str = "wf-1", activity_id: str = "1") -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_id=workflow_id, activity_id=activity_id)
    return env


def _create(activities: ResponsesActivities, env: ActivityEnvironment | None = None, **params):
    params.setdefault("input", "Explain relativity.")
    return (env or _env()).run(
        activities.create_background_response,
        CreateResponseInput(params=ResponseParams(**params)),
    )


async def test_create_sends_metadata_and_a_stable_idempotency_key(fake, activities):
    fake.configure(honour_idempotency_key=True)  # a provider that honours it; OpenAI may not
    env = _env("wf-42", "7")
    first = await _create(activities, env, metadata={"team": "research"})
    again = await _create(activities, env, metadata={"team": "research"})  # a retried attempt
    other = await _create(activities, _env("wf-42", "8"))
    assert first.status == "queued" and first.model == "o3"  # the worker's default model
    assert first.id == again.id != other.id
    counts = fake.counts()
    assert (counts["creates"], counts["idempotent_replays"]) == (2, 1)
    assert fake.response(first.id).metadata == {"team": "research", METADATA_WORKFLOW_KEY: "wf-42"}


async def test_create_passes_options_through(fake, activities):
    created = await _create(
        activities,
        model="gpt-4.1",
        instructions="Be brief.",
        max_output_tokens=32,
        reasoning={"effort": "low"},
        params={"temperature": 0.5, "tools": []},
    )
    final = fake.wait_terminal(created.id)
    assert created.model == "gpt-4.1"
    assert final.status == "incomplete"  # 32 tokens is less than the fake's 120


async def test_retrieve_returns_a_slim_snapshot(fake, activities):
    created = await _create(activities, model="o3")
    fake.wait_terminal(created.id)
    snapshot = await ActivityEnvironment().run(
        activities.retrieve_response, ResponseRef(response_id=created.id)
    )
    record = fake.response(created.id)
    assert snapshot.status == "completed" and snapshot.output_text == record.text
    assert snapshot.reasoning_summary == record.reasoning_summary != ""
    assert snapshot.usage is not None and snapshot.usage.reasoning_tokens > 0
    assert snapshot.completed_at is not None


async def test_cancel_running_and_already_finished(fake, activities):
    fake.configure(tokens=5000, tokens_per_second=100)
    running = await _create(activities)
    cancelled = await ActivityEnvironment().run(
        activities.cancel_response, ResponseRef(response_id=running.id)
    )
    assert cancelled.status == fake.response(running.id).status == "cancelled"
    fake.configure(tokens=5, tokens_per_second=1000)
    done = await _create(activities, _env(activity_id="2"), input="short")
    fake.wait_terminal(done.id)
    left_alone = await ActivityEnvironment().run(
        activities.cancel_response, ResponseRef(response_id=done.id)
    )
    assert left_alone.status == "completed"


def test_activities_refuse_a_client_with_its_own_retries():
    with pytest.raises(ValueError, match="max_retries=0"):
        ResponsesActivities(openai.AsyncOpenAI(api_key="k", base_url="http://127.0.0.1:9"))


@pytest.mark.parametrize(
    ("rule", "error_type", "retryable", "delay"),
    [
        ({"status": 429, "retry_after": 2}, ErrorType.RATE_LIMITED, True, 2.0),
        ({"status": 429, "retry_after_ms": 1500}, ErrorType.RATE_LIMITED, True, 1.5),
        ({"status": 429, "code": "insufficient_quota"}, ErrorType.QUOTA_EXCEEDED, False, None),
        ({"status": 500}, ErrorType.SERVER_ERROR, True, None),
        ({"status": 503, "retry_after": 1}, ErrorType.SERVER_ERROR, True, 1.0),
        ({"status": 408}, ErrorType.REQUEST_TIMEOUT, True, None),
        ({"status": 409}, ErrorType.CONFLICT, True, None),
        ({"status": 400, "message": "Invalid 'tools[0]'"}, ErrorType.BAD_REQUEST, False, None),
        ({"status": 401}, ErrorType.AUTHENTICATION, False, None),
        ({"status": 403}, ErrorType.PERMISSION_DENIED, False, None),
        ({"status": 404}, ErrorType.NOT_FOUND, False, None),
        ({"status": 422}, ErrorType.UNPROCESSABLE, False, None),
    ],
)
async def test_api_errors_map_to_typed_application_errors(
    fake, activities, rule, error_type, retryable, delay
):
    fake.add_fault(route="create", kind="error", times=1, **rule)
    with pytest.raises(ApplicationError) as err:
        await _create(activities)
    error = err.value
    assert error.type == error_type
    assert error.non_retryable is (not retryable)
    expected_delay = None if delay is None else timedelta(seconds=delay)
    assert error.next_retry_delay == expected_delay
    assert error.message.startswith(f"OpenAI {rule['status']}: ")
    if "message" in rule:
        assert rule["message"] in error.message  # the API's own words are kept
    assert error.details[0]["status_code"] == rule["status"]


async def test_connection_reset_is_retryable(fake, activities):
    fake.add_fault(route="retrieve", kind="reset", times=1)
    with pytest.raises(ApplicationError) as err:
        await ActivityEnvironment().run(
            activities.retrieve_response, ResponseRef(response_id="resp_x")
        )
    assert err.value.type == ErrorType.CONNECTION_ERROR and not err.value.non_retryable


def test_timeouts_and_client_errors():
    request = httpx2.Request("GET", "http://x")
    timeout = to_application_error(openai.APITimeoutError(request=request))
    assert (timeout.type, timeout.non_retryable) == (ErrorType.TIMEOUT, False)
    local = to_application_error(openai.OpenAIError("Missing credentials"))
    assert (local.type, local.non_retryable) == (ErrorType.API_ERROR, True)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after": "3"}, 3.0),
        ({"retry-after-ms": "100", "retry-after": "9"}, 0.1),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "-4"}, None),
        ({"retry-after": "99999"}, 600.0),  # capped
        ({}, None),
    ],
)
def test_retry_after_parsing(headers, seconds):
    expected = None if seconds is None else timedelta(seconds=seconds)
    assert retry_after(headers) == expected


def test_retry_after_http_date():
    future = datetime.now(UTC) + timedelta(seconds=30)
    delay = retry_after({"retry-after": format_datetime(future, usegmt=True)})
    assert delay is not None and timedelta(seconds=25) < delay <= timedelta(seconds=30)
