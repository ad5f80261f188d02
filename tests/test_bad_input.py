"""Malformed input through every door: the Python client, the Temporal CLI, the `text_after`
update and `durable-responses-follow`.

Each case must be refused with a typed error (an `ErrorType` the workflow fails with, a gRPC
status refusing the start, or a rejection naming its type) within `BOUND_SECONDS`, must leave
no workflow running and no workflow task failed. Looping workflow tasks show up as a RUNNING
workflow: the server records only the first of a row of failed attempts. Real dev server, one
worker for the module, the fake over HTTP. A case is one line of a table; a case that shows an
open bug outside the models is `xfail(strict=True)` with the bug in its reason.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from durable_responses.activities import ResponsesActivities
from durable_responses.fake_openai import FakeControl, FakeOpenAIServer
from durable_responses.models import (
    ACTIVE_STATUSES,
    METADATA_WORKFLOW_KEY,
    ErrorType,
    TextSlice,
)
from durable_responses.testing import find_binary
from tests.workers import ROOT, address_of, build_worker

BOUND_SECONDS = 2.0
"""Every malformed input is refused within this (wall time, measured around the call)."""
BLOB_LIMIT = 2 * 1024 * 1024
"""Temporal's payload limit (the server's `limit.blobSize.error` default, 2 MiB)."""

BG = "BackgroundResponseWorkflow"
ST = "StreamingResponseWorkflow"
INVALID = ErrorType.INVALID_REQUEST
"""Type of the rejection when the SDK cannot decode a `text_after` argument into a
`TextRequest` (pydantic's error, raised before the workflow's own validator runs)."""
LONG_RESPONSE = {"tokens": 5000, "tokens_per_second": 100}
"""Fifty seconds: an update's target is still streaming when the case runs."""
TARGET = {
    "input": "Tell a long story.",
    # Heartbeats (throttled to 80% of this) carry the cancel to the reader: stop it quickly.
    "streaming": {"heartbeat_timeout_seconds": 0.5},
    "poll": {"initial_interval_seconds": 0.2, "max_interval_seconds": 0.5},
}
"""The run an update or follower is aimed at."""


@dataclass(frozen=True)
class Noise:
    """Random text (base64 of random bytes: a compressing codec takes a quarter off at most):
    `chars` characters, or (None) as many as keep the start payload just under the limit."""

    chars: int | None = None


NEAR_LIMIT = Noise()


def request(**fields: Any) -> list[Any]:
    """A run's arguments: one request, a valid prompt plus `fields`."""
    return [{"input": "Say hi.", **fields}]


@dataclass(frozen=True)
class Start:
    """A workflow started from the Python client with `args` (raw JSON-able values)."""

    workflow: str
    args: list[Any]
    expect: str | RPCStatusCode
    """The `ErrorType` the workflow fails with, or the status that refuses the start."""
    fragment: str
    """Part of the error message: it names the problem."""
    fault: dict[str, Any] | None = None
    fake_config: dict[str, Any] | None = None
    bug: str | None = None


@dataclass(frozen=True)
class Cli:
    """`temporal workflow execute --type <workflow> ... <argv>`; a dict in `argv` is written
    to a file and replaced by its path (`--input-file`)."""

    workflow: str
    argv: tuple[Any, ...]
    expect: str | None
    """The `ErrorType` the workflow fails with; None: the CLI or server refuses the start."""
    fragment: str


@dataclass(frozen=True)
class Update:
    """A `text_after` update with `args`, from the Python client or the CLI (JSON each)."""

    args: list[Any]
    expect: str
    fragment: str
    cli: bool = False
    workflow: str = ST
    bug: str | None = None


@dataclass(frozen=True)
class Follow:
    """`durable-responses-follow <workflow id> <argv>`; `target` starts that workflow first."""

    argv: tuple[str, ...]
    fragment: str
    target: str | None = None
    bug: str | None = None


STARTS: dict[str, Start] = {
    # wrong types
    "type/input-list-of-strings": Start(BG, [{"input": ["hi"]}], INVALID, "input"),
    "type/instructions-number": Start(ST, request(instructions=42), INVALID, "instructions"),
    "type/max-output-tokens-string": Start(
        BG, request(max_output_tokens="many"), INVALID, "max_output_tokens"
    ),
    "type/metadata-value-number": Start(ST, request(metadata={"run": 1}), INVALID, "metadata.run"),
    "type/params-string": Start(BG, request(params="temperature=0"), INVALID, "params"),
    "type/reasoning-effort": Start(
        ST, request(reasoning={"effort": "extreme"}), INVALID, "reasoning.effort"
    ),
    "type/model-empty": Start(BG, request(model=""), INVALID, "model"),
    "type/deadline-string": Start(ST, request(deadline_seconds="soon"), INVALID, "deadline"),
    # unknown fields: at the top level they go to the API, which refuses them by name (new
    # API parameters are not ours to refuse); inside our own models they are refused here.
    "unknown/top-level": Start(ST, request(modle="o3"), ErrorType.BAD_REQUEST, "modle"),
    "unknown/top-level-no-input": Start(BG, [{"prompt": "Say hi."}], INVALID, "input"),
    "unknown/poll": Start(BG, request(poll={"interval": 1}), INVALID, "poll.interval"),
    "unknown/streaming": Start(
        ST, request(streaming={"chunk_seconds": 1}), INVALID, "streaming.chunk_seconds"
    ),
    "unknown/reasoning": Start(
        BG, request(reasoning={"effort": "low", "sumary": "auto"}), INVALID, "reasoning.sumary"
    ),
    # parameters the workflow owns
    "reserved/store": Start(BG, request(params={"store": False}), INVALID, "store"),
    "reserved/background": Start(ST, request(params={"background": False}), INVALID, "background"),
    "reserved/stream": Start(ST, request(params={"stream": False}), INVALID, "stream"),
    "reserved/model-in-params": Start(
        BG, request(params={"model": "o3"}), INVALID, "top-level request fields"
    ),
    "reserved/previous-id-in-params": Start(
        ST, request(params={"previous_response_id": "resp_1"}), INVALID, "top-level"
    ),
    "reserved/metadata-workflow-key": Start(
        BG, request(metadata={METADATA_WORKFLOW_KEY: "not-me"}), INVALID, "set by the workflow"
    ),
    "reserved/metadata-16-pairs": Start(
        ST, request(metadata={f"k{i}": "v" for i in range(16)}), INVALID, "at most 15"
    ),
    # poll and streaming policies, deadlines
    "poll/zero-interval": Start(
        BG, request(poll={"initial_interval_seconds": 0}), INVALID, "initial_interval_seconds"
    ),
    "poll/backoff-below-one": Start(BG, request(poll={"backoff": 0.5}), INVALID, "poll.backoff"),
    "poll/inverted": Start(
        BG,
        request(poll={"initial_interval_seconds": 30, "max_interval_seconds": 1}),
        INVALID,
        "max_interval_seconds must be >=",
    ),
    "poll/zero-polls-per-run": Start(
        BG, request(poll={"max_polls_per_run": 0}), INVALID, "max_polls_per_run"
    ),
    "poll/empty-task-queue": Start(BG, request(poll={"task_queue": ""}), INVALID, "task_queue"),
    "poll/negative-queue-timeout": Start(
        BG, request(poll={"task_queue_timeout_seconds": -5}), INVALID, "task_queue_timeout"
    ),
    "poll/interval-past-timedelta": Start(
        BG,
        request(poll={"initial_interval_seconds": 1e15, "max_interval_seconds": 1e15}),
        INVALID,
        "initial_interval_seconds must be <=",
    ),
    "poll/queue-timeout-past-timedelta": Start(
        BG,
        request(poll={"task_queue": "polls", "task_queue_timeout_seconds": 1e15}),
        INVALID,
        "task_queue_timeout_seconds must be <=",
    ),
    "streaming/inverted": Start(
        ST,
        request(streaming={"first_chunk_seconds": 10, "max_chunk_seconds": 1}),
        INVALID,
        "max_chunk_seconds must be >=",
    ),
    "streaming/growth-below-one": Start(
        ST, request(streaming={"chunk_growth": 0.5}), INVALID, "streaming.chunk_growth"
    ),
    "streaming/zero-chunk-chars": Start(
        ST, request(streaming={"max_chunk_chars": 0}), INVALID, "max_chunk_chars"
    ),
    "streaming/zero-heartbeat": Start(
        ST, request(streaming={"heartbeat_timeout_seconds": 0}), INVALID, "heartbeat_timeout"
    ),
    "streaming/negative-carried-chars": Start(
        ST, request(streaming={"max_carried_chars": -1}), INVALID, "max_carried_chars"
    ),
    "streaming/heartbeat-past-timedelta": Start(
        ST,
        request(streaming={"heartbeat_timeout_seconds": 1e15}),
        INVALID,
        "heartbeat_timeout_seconds must be <=",
    ),
    "streaming/chunk-past-timedelta": Start(
        ST,
        request(streaming={"first_chunk_seconds": 1e15, "max_chunk_seconds": 1e15}),
        INVALID,
        "chunk_seconds must be <=",
    ),
    "deadline/zero": Start(ST, request(deadline_seconds=0), INVALID, "deadline_seconds"),
    # discounted completion windows: polled, standard tier only (as the API says)
    "window/8h-streamed": Start(
        ST, request(background_options={"completion_window": "8h"}), INVALID, "polled"
    ),
    "window/2h-flex": Start(
        BG,
        request(background_options={"completion_window": "2h"}, service_tier="flex"),
        INVALID,
        "standard tier",
    ),
    "window/unknown": Start(
        BG, request(background_options={"completion_window": "1h"}), INVALID, "completion_window"
    ),
    "deadline/past-datetime": Start(
        BG, request(deadline_seconds=1e12), INVALID, "deadline_seconds must be <="
    ),
    # refused upstream (the fake answers as the API does)
    "upstream/unknown-model-bg": Start(
        BG, request(model="gpt-does-not-exist"), ErrorType.NOT_FOUND, "gpt-does-not-exist"
    ),
    "upstream/unknown-model-st": Start(
        ST, request(model="gpt-does-not-exist"), ErrorType.NOT_FOUND, "gpt-does-not-exist"
    ),
    # Some API deployments answer an unknown model with 400, not 404: a model the fake knows,
    # refused that way.
    "upstream/model-not-found-as-a-400": Start(
        ST,
        request(model="gpt-4.1-nano"),
        ErrorType.BAD_REQUEST,
        "does not exist",
        fault={
            "route": "create",
            "kind": "error",
            "status": 400,
            "code": "model_not_found",
            "message": "The requested model 'gpt-4.1-nano' does not exist.",
        },
    ),
    "upstream/past-the-context-window": Start(
        ST, [{"input": Noise(900_000)}], ErrorType.BAD_REQUEST, "context window"
    ),
    "upstream/previous-response-missing-bg": Start(
        BG, request(previous_response_id="resp_missing"), ErrorType.NOT_FOUND, "resp_missing"
    ),
    "upstream/previous-response-missing-st": Start(
        ST, request(previous_response_id="resp_missing"), ErrorType.NOT_FOUND, "resp_missing"
    ),
    "upstream/metadata-value-too-long": Start(
        BG, request(metadata={"note": "v" * 600}), ErrorType.BAD_REQUEST, "metadata.note"
    ),
    "upstream/max-output-tokens-below-minimum": Start(
        ST, request(max_output_tokens=5), ErrorType.BAD_REQUEST, "max_output_tokens"
    ),
    "upstream/temperature-out-of-range": Start(
        BG, request(params={"temperature": 5}), ErrorType.BAD_REQUEST, "temperature"
    ),
    # huge inputs
    # The API's body limit (~25 MiB) is above Temporal's 2 MiB: only a compressing codec lets a
    # prompt reach it. A fake with a 1 MB limit stands in for that.
    "huge/above-the-api-body-limit": Start(
        ST,
        [{"input": Noise(1_100_000)}],
        ErrorType.API_ERROR,
        "413",
        fake_config={"max_request_bytes": 1_000_000},
    ),
    "huge/above-the-blob-limit": Start(
        BG,
        [{"input": Noise(3_000_000)}],
        RPCStatusCode.INVALID_ARGUMENT,
        "Blob data size exceeds limit",
    ),
    "huge/above-the-grpc-limit": Start(
        ST, [{"input": Noise(5_000_000)}], RPCStatusCode.RESOURCE_EXHAUSTED, "larger than max"
    ),
    "huge/at-the-blob-limit-bg": Start(BG, [{"input": NEAR_LIMIT}], INVALID, "payload limit"),
    "huge/at-the-blob-limit-st": Start(ST, [{"input": NEAR_LIMIT}], INVALID, "payload limit"),
}

CLIS: dict[str, Cli] = {
    "null": Cli(BG, ("--input", "null"), INVALID, "expected a request argument"),
    "no-input": Cli(ST, (), INVALID, "expected a request argument"),
    "two-inputs": Cli(
        ST, ("--input", '{"input": "a"}', "--input", '{"input": "b"}'), INVALID, "got 2"
    ),
    "string": Cli(BG, ("--input", '"Say hi."'), INVALID, "valid dictionary"),
    "invalid-json": Cli(BG, ("--input", '{"input": "x",'), None, "not valid JSON"),
    "inverted-poll": Cli(
        BG,
        (
            "--input",
            '{"input": "x", "poll": {"initial_interval_seconds": 9, "max_interval_seconds": 1}}',
        ),
        INVALID,
        "max_interval_seconds must be >=",
    ),
    "reserved-store": Cli(
        ST, ("--input", '{"input": "x", "params": {"store": false}}'), INVALID, "store"
    ),
    "deadline-past-datetime": Cli(
        BG, ("--input", '{"input": "x", "deadline_seconds": 1e12}'), INVALID, "deadline_seconds"
    ),
    "previous-response-missing": Cli(
        ST,
        ("--input", '{"input": "x", "previous_response_id": "resp_missing"}'),
        ErrorType.NOT_FOUND,
        "resp_missing",
    ),
    "file-above-the-blob-limit": Cli(
        BG, ("--input-file", {"input": Noise(3_000_000)}), None, "Blob data size exceeds limit"
    ),
}

UPDATES: dict[str, Update] = {
    "offset-negative": Update([{"offset": -1}], INVALID, "offset"),
    "offset-huge": Update([{"offset": 10**30}], INVALID, "past the text"),
    "offset-string": Update([{"offset": "ten"}], INVALID, "offset"),
    "offset-fraction": Update([{"offset": 1.5}], INVALID, "offset"),
    "wait-negative": Update([{"wait_seconds": -1}], INVALID, "wait_seconds"),
    "wait-above-300": Update([{"wait_seconds": 301}], INVALID, "wait_seconds"),
    "max-chars-zero": Update([{"max_chars": 0}], INVALID, "max_chars"),
    "unknown-field": Update([{"ofset": 5, "wait_seconds": 0}], INVALID, "ofset"),
    "string": Update(["from the start"], INVALID, "TextRequest"),
    "none": Update([None], INVALID, "text_after"),
    "two-arguments": Update([{"offset": 0}, {"offset": 1}], INVALID, "one"),
    # The SDK's own rejection of an update the workflow does not define.
    "background-workflow": Update([{"offset": 0}], "RuntimeError", "text_after", workflow=BG),
    "cli-offset-negative": Update([{"offset": -1}], INVALID, "offset", cli=True),
    "cli-offset-huge": Update([{"offset": 10**23}], INVALID, "past the text", cli=True),
    "cli-null": Update([None], INVALID, "argument", cli=True),
    "cli-no-input": Update([], INVALID, "argument", cli=True),
}

FOLLOWS: dict[str, Follow] = {
    "from-negative": Follow(("--from", "-1"), "argument --from"),
    "from-not-a-number": Follow(("--from", "abc"), "argument --from"),
    "poll-zero": Follow(("--poll", "0"), "argument --poll"),
    "poll-negative": Follow(("--poll", "-1"), "argument --poll"),
    "poll-infinite": Follow(("--poll", "inf"), "argument --poll"),
    "no-such-workflow": Follow((), "not found"),
    # A polling run is followed now (its progress): tests/test_cli_foundation.py.
    "unknown-flag": Follow(("--bogus",), "unrecognized arguments"),
}


FOLLOW_COMMAND = """
import sys
from durable_responses import follow
print("ready", flush=True)
sys.stdin.readline()
follow.main(sys.argv[1:])
"""
"""`durable-responses-follow` as a process that imports first and runs on a line of input:
the clock starts once it is ready, since the interpreter's start-up (a second, several on a
busy machine) is not the behaviour under test."""


def _params(table: dict[str, Any]) -> list[Any]:
    return [
        pytest.param(
            case,
            id=name,
            marks=[pytest.mark.xfail(strict=True, reason=case.bug)]
            if getattr(case, "bug", None)
            else [],
        )
        for name, case in table.items()
    ]


# ---- the harness -------------------------------------------------------------------------------


@dataclass
class Harness:
    """The module's client, worker task queue and API client (for cleaning up)."""

    client: Client
    address: str
    task_queue: str
    api: openai.AsyncOpenAI


@pytest.fixture(scope="module")
async def harness(dev_env, fake_server: FakeOpenAIServer) -> AsyncIterator[Harness]:
    """One worker for the whole module, on its own task queue, pointed at the shared fake."""
    api = openai.AsyncOpenAI(base_url=fake_server.base_url, api_key="sk-test", max_retries=0)
    activities = ResponsesActivities(api, heartbeat_every_seconds=0.2)
    task_queue = f"test-bad-input-{uuid.uuid4()}"
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        yield Harness(dev_env.client, address_of(dev_env), task_queue, api)


def _noise(chars: int) -> str:
    return base64.b64encode(os.urandom(chars * 3 // 4 + 3)).decode()[:chars]


def _expand(value: Any, fill: int) -> Any:
    if isinstance(value, Noise):
        return _noise(fill if value.chars is None else value.chars)
    if isinstance(value, dict):
        return {key: _expand(item, fill) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_expand(item, fill) for item in value)
    return value


async def _arguments(client: Client, args: list[Any]) -> list[Any]:
    """`args` with their noise made; `NEAR_LIMIT` sized so the start payload, as this client
    encodes it, is 32 bytes under the blob limit."""
    if not _has_fill(args):
        return list(_expand(args, 0))
    probe = BLOB_LIMIT - 4096
    size = sum(p.ByteSize() for p in await client.data_converter.encode(_expand(args, probe)))
    return list(_expand(args, probe + BLOB_LIMIT - 32 - size))


def _has_fill(value: Any) -> bool:
    if isinstance(value, Noise):
        return value.chars is None
    if isinstance(value, dict):
        return any(_has_fill(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(_has_fill(item) for item in value)
    return False


async def _finish(
    proc: asyncio.subprocess.Process, started: float
) -> tuple[int | None, str, float]:
    """Wait for `proc` up to the bound (then kill it): exit code or None, output, wall time."""
    try:
        out, err = await asyncio.wait_for(proc.communicate(), BOUND_SECONDS + 1)
        code = proc.returncode
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        code = None
    return code, out.decode() + err.decode(), time.monotonic() - started


async def _run(*argv: str) -> tuple[int | None, str, float]:
    """Run a command; its exit code (None: killed once past the bound), output, wall time."""
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    return await _finish(proc, started)


async def _follow(*argv: str) -> tuple[int | None, str, float]:
    """Run `durable-responses-follow <argv>`; its exit code (None: killed once past the
    bound), output and wall time from the moment it was told to go."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        FOLLOW_COMMAND,
        *argv,
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    assert await asyncio.wait_for(proc.stdout.readline(), 60) == b"ready\n"
    started = time.monotonic()
    proc.stdin.write(b"go\n")
    await proc.stdin.drain()
    return await _finish(proc, started)


async def _failed_tasks(handle: WorkflowHandle[Any, Any]) -> int:
    kinds = [event.event_type async for event in handle.fetch_history_events()]
    return kinds.count(EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED)


async def _assert_settled(client: Client, workflow_id: str) -> None:
    """Nothing left running (or never started) and no workflow task failed on the way."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        description = await handle.describe()
    except RPCError as err:
        assert err.status == RPCStatusCode.NOT_FOUND, err
        return
    assert description.status != WorkflowExecutionStatus.RUNNING, f"{workflow_id} still running"
    assert await _failed_tasks(handle) == 0, f"{workflow_id}: a workflow task failed"


async def _clean_up(harness: Harness, fake: FakeControl, workflow_id: str) -> None:
    """What a failed case may leave: a stuck run (terminated) and its response upstream."""
    handle = harness.client.get_workflow_handle(workflow_id)
    try:
        if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
            await handle.terminate("tests/test_bad_input.py: left running")
    except RPCError:
        return
    for record in fake.responses():
        running = record.status in ACTIVE_STATUSES
        if running and record.metadata.get(METADATA_WORKFLOW_KEY) == workflow_id:
            await harness.api.responses.cancel(record.id)


async def _stop(harness: Harness, handle: WorkflowHandle[Any, Any]) -> None:
    """Cancel a target the case left running (and its response with it); it must close."""
    await handle.cancel()
    # A cancel waits for a create in flight (up to the reader's 30 s connect timeout, as a slow
    # first event from the API can take), then cancels what it created.
    async with asyncio.timeout(45):
        while (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
            await asyncio.sleep(0.05)
    await _assert_settled(harness.client, handle.id)


# ---- the cases ---------------------------------------------------------------------------------


@pytest.mark.parametrize("case", _params(STARTS))
async def test_bad_start_from_the_client_fails_typed_at_once(
    harness: Harness, fake: FakeControl, case: Start
) -> None:
    if case.fault is not None:
        fake.add_fault(**case.fault)
    if case.fake_config is not None:
        fake.configure(**case.fake_config)
    args = await _arguments(harness.client, case.args)
    workflow_id = f"bad-{uuid.uuid4()}"
    try:
        started = time.monotonic()
        with pytest.raises((WorkflowFailureError, RPCError)) as raised:
            handle = await harness.client.start_workflow(
                case.workflow, args=args, id=workflow_id, task_queue=harness.task_queue
            )
            try:
                await asyncio.wait_for(handle.result(), BOUND_SECONDS)
            except TimeoutError:
                pytest.fail(f"no outcome after {BOUND_SECONDS} s")
        elapsed = time.monotonic() - started
        error = raised.value
        if isinstance(case.expect, RPCStatusCode):
            assert isinstance(error, RPCError) and error.status == case.expect, error
            assert case.fragment in error.message
        else:
            assert isinstance(error, WorkflowFailureError), error
            cause = error.cause
            assert isinstance(cause, ApplicationError), cause
            assert (cause.type, cause.non_retryable) == (case.expect, True), cause
            assert case.fragment in cause.message
        assert elapsed < BOUND_SECONDS
        await _assert_settled(harness.client, workflow_id)
    finally:
        await _clean_up(harness, fake, workflow_id)


@pytest.mark.parametrize("case", _params(CLIS))
async def test_bad_start_from_the_cli_fails_typed_at_once(
    harness: Harness, fake: FakeControl, tmp_path: Path, case: Cli
) -> None:
    argv: list[str] = []
    for arg in case.argv:
        if isinstance(arg, dict):
            path = tmp_path / "input.json"
            path.write_text(json.dumps(_expand(arg, 0)))
            arg = str(path)
        argv.append(arg)
    workflow_id = f"bad-cli-{uuid.uuid4()}"
    try:
        code, output, elapsed = await _run(
            find_binary("temporal"),
            "workflow",
            "execute",
            "--type",
            case.workflow,
            "--task-queue",
            harness.task_queue,
            "--workflow-id",
            workflow_id,
            *argv,
            "--address",
            harness.address,
            "-o",
            "json",
        )
        assert code not in (0, None), output
        if case.expect is None:  # refused before a workflow existed
            assert case.fragment in output
        else:
            result = json.loads(output[: output.rindex("}") + 1])
            failure = result["closeEvent"]["workflowExecutionFailedEventAttributes"]["failure"]
            assert failure["applicationFailureInfo"]["type"] == case.expect, failure
            assert case.fragment in failure["message"]
        assert elapsed < BOUND_SECONDS
        await _assert_settled(harness.client, workflow_id)
    finally:
        await _clean_up(harness, fake, workflow_id)


@pytest.mark.parametrize("case", _params(UPDATES))
async def test_bad_text_after_is_rejected_typed_at_once(
    harness: Harness, fake: FakeControl, case: Update
) -> None:
    fake.configure(**LONG_RESPONSE)
    target = await harness.client.start_workflow(
        case.workflow,
        TARGET,
        id=f"bad-update-{uuid.uuid4()}",
        task_queue=harness.task_queue,
    )
    try:
        if case.cli:
            code, output, elapsed = await _run(
                find_binary("temporal"),
                "workflow",
                "update",
                "execute",
                "--workflow-id",
                target.id,
                "--name",
                "text_after",
                *(flag for arg in case.args for flag in ("--input", json.dumps(arg))),
                "--address",
                harness.address,
            )
            assert code not in (0, None), output
            typed = re.search(r"\(type: (\w+)", output)
            assert typed is not None and typed.group(1) == case.expect, output
            assert case.fragment in output
        else:
            started = time.monotonic()
            with pytest.raises(WorkflowUpdateFailedError) as raised:
                await target.execute_update("text_after", args=case.args, result_type=TextSlice)
            elapsed = time.monotonic() - started
            cause = raised.value.cause
            assert isinstance(cause, ApplicationError), cause
            assert cause.type == case.expect, cause
            assert case.fragment in cause.message
        assert elapsed < BOUND_SECONDS
        # Rejected, not accepted: nothing in history, the target carries on.
        kinds = [event.event_type async for event in target.fetch_history_events()]
        assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED not in kinds
        assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in kinds
        assert (await target.describe()).status == WorkflowExecutionStatus.RUNNING
        await _stop(harness, target)
    finally:
        await _clean_up(harness, fake, target.id)


@pytest.mark.parametrize("case", _params(FOLLOWS))
async def test_bad_follow_command_is_refused_at_once(
    harness: Harness, fake: FakeControl, case: Follow
) -> None:
    workflow_id = f"no-such-workflow-{uuid.uuid4()}"
    target: WorkflowHandle[Any, Any] | None = None
    if case.target is not None:
        fake.configure(**LONG_RESPONSE)
        target = await harness.client.start_workflow(
            case.target,
            TARGET,
            id=f"bad-follow-{uuid.uuid4()}",
            task_queue=harness.task_queue,
        )
        workflow_id = target.id
    try:
        code, output, elapsed = await _follow(workflow_id, *case.argv, "--address", harness.address)
        assert code not in (0, None), output
        assert case.fragment in output
        assert elapsed < BOUND_SECONDS
        if target is not None:
            assert await _failed_tasks(target) == 0
            await _stop(harness, target)
        else:
            await _assert_settled(harness.client, workflow_id)
    finally:
        await _clean_up(harness, fake, workflow_id)
