"""Every output item survives, through both workflows, real workers and a dev server: function
calls, web searches with their citations, approval requests, code runs, images, encrypted
reasoning, refusals. Each result is compared item by item (and character by character for
text) with the fake's canonical response, and rebuilt into the SDK's own `Response`."""

from __future__ import annotations

import asyncio
import sys
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from openai.types.responses import Response
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError

from durable_responses.fake_openai import FakeControl
from durable_responses.follow import follow
from durable_responses.models import ErrorType, PollPolicy, ResponseRequest, StreamPolicy
from durable_responses.workflows import BackgroundResponseWorkflow, StreamingResponseWorkflow
from tests.workers import ROOT, address_of, build_worker, wait_until, worker_process

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"enum": ["C", "F"]}},
        "required": ["city", "unit"],
        "additionalProperties": False,
    },
    "strict": True,
}
TIME = {
    "type": "function",
    "name": "get_time",
    "parameters": {
        "type": "object",
        "properties": {"zone": {"type": "string"}},
        "required": ["zone"],
        "additionalProperties": False,
    },
    "strict": True,
}
MCP = {
    "type": "mcp",
    "server_label": "deepwiki",
    "server_url": "https://mcp.deepwiki.com/mcp",
    "require_approval": "always",
}


@dataclass(frozen=True)
class Scenario:
    """A request and what its result must say of itself."""

    fields: dict[str, Any]
    kind: str
    types: set[str] = field(default_factory=set)
    """Item types the output must hold."""


SCENARIOS = {
    "function-call": Scenario(
        {"model": "gpt-4.1", "tools": [WEATHER]}, "function_calls", {"function_call"}
    ),
    "parallel-calls": Scenario(
        {"model": "gpt-4.1", "tools": [WEATHER, TIME]}, "function_calls", {"function_call"}
    ),
    "web-search": Scenario(
        {"model": "gpt-4.1", "tools": [{"type": "web_search"}]},
        "text",
        {"web_search_call", "message"},
    ),
    "deep-research": Scenario(
        {
            "model": "o3-deep-research",
            "tools": [{"type": "web_search_preview"}],
            "include": ["web_search_call.action.sources"],
            "metadata": {"fake_searches": "5"},
        },
        "text",
        {"reasoning", "web_search_call", "message"},
    ),
    "mcp-approval": Scenario(
        {"model": "gpt-4.1", "tools": [MCP]},
        "approval_requests",
        {"mcp_list_tools", "mcp_approval_request"},
    ),
    "code-interpreter": Scenario(
        {
            "model": "gpt-4.1",
            "tools": [{"type": "code_interpreter", "container": {"type": "auto"}}],
            "include": ["code_interpreter_call.outputs"],
        },
        "text",
        {"code_interpreter_call", "message"},
    ),
    "file-search": Scenario(
        {
            "model": "gpt-4.1",
            "tools": [{"type": "file_search", "vector_store_ids": ["vs_1"]}],
            "include": ["file_search_call.results"],
        },
        "text",
        {"file_search_call", "message"},
    ),
    "image": Scenario(
        {"model": "gpt-4.1", "tools": [{"type": "image_generation"}]},
        "text",
        {"image_generation_call", "message"},
    ),
    "encrypted-reasoning": Scenario(
        {"model": "o3", "include": ["reasoning.encrypted_content"]},
        "text",
        {"reasoning", "message"},
    ),
    "refusal": Scenario(
        {"model": "gpt-4.1", "metadata": {"fake_refusal": "true"}}, "refusal", {"message"}
    ),
}

FAST = {"tokens": 60, "tokens_per_second": 600, "item_seconds": 0.02, "queued_seconds": 0.02}
QUICK_POLL = PollPolicy(initial_interval_seconds=0.2, max_interval_seconds=0.5)


def _request(scenario: Scenario, prompt: str) -> ResponseRequest:
    return ResponseRequest.model_validate({"input": prompt, "poll": QUICK_POLL, **scenario.fields})


def _assert_whole(result, fake: FakeControl, scenario: Scenario) -> None:
    """The result holds the provider's response whole: items, text, the Response itself."""
    record = fake.response(result.response_id, events=False)
    assert record.status == result.status == "completed"
    assert result.output_items() == record.output  # item by item, as the API sent them
    assert result.output_text == record.text  # character by character
    assert result.output_kind == scenario.kind
    assert scenario.types <= {item["type"] for item in record.output}
    rebuilt = result.to_response()
    assert rebuilt == Response.model_validate(record.response)
    assert rebuilt.output_text == record.text


@pytest.mark.parametrize("workflow", ["polling", "streaming"])
@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_every_item_type_comes_back_whole(
    dev_env, fake, activities, task_queue, name, workflow
):
    fake.configure(**FAST)
    scenario = SCENARIOS[name]
    run = BackgroundResponseWorkflow.run if workflow == "polling" else StreamingResponseWorkflow.run
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        result = await dev_env.client.execute_workflow(
            run,
            _request(scenario, f"Solid-state batteries? ({uuid.uuid4()})"),
            id=f"items-{name}-{uuid.uuid4()}",
            task_queue=task_queue,
        )
    _assert_whole(result, fake, scenario)
    if name == "deep-research":
        assert len(result.web_searches()) == 5 and len(result.citations()) == 5
        assert all(search.query for search in result.web_searches())
    if name.endswith("calls") or name == "function-call":
        calls = result.function_calls()
        assert [c.name for c in calls] == [t["name"] for t in scenario.fields["tools"]]
        assert all(c.parsed_arguments() for c in calls)  # JSON that the schema accepts
    if name == "mcp-approval":
        (request,) = result.approval_requests()
        assert (request.server_label, request.name) == ("deepwiki", "ask_question")


@pytest.mark.parametrize(
    ("name", "recorded"), [("parallel-calls", 1), ("deep-research", 3), ("mcp-approval", 0)]
)
async def test_sigkill_mid_stream_loses_and_repeats_no_item(
    dev_env, fake, fake_server, task_queue, name, recorded
):
    """A worker killed while the items stream, once `recorded` items are in (the reasoning
    before the calls; a few searches; none, while the MCP server's tools are listed): the
    result equals the provider's, item by item, and one response was created."""
    fake.configure(
        tokens=30, tokens_per_second=10, item_seconds=0.5, queued_seconds=0.05, reasoning_seconds=1
    )
    scenario = SCENARIOS[name]
    scenario = Scenario({**scenario.fields, "model": "o3"}, scenario.kind, scenario.types)
    if name == "deep-research":
        scenario.fields["model"] = "o3-deep-research"
    address = address_of(dev_env)
    workers = [
        await asyncio.to_thread(worker_process(address, task_queue, fake_server.base_url).start)
    ]
    try:
        handle = await dev_env.client.start_workflow(
            StreamingResponseWorkflow.run,
            _request(scenario, f"Dig in ({uuid.uuid4()})").model_copy(
                update={"streaming": StreamPolicy(first_batch_seconds=0.2, max_batch_seconds=0.5)}
            ),
            id=f"items-kill-{name}-{uuid.uuid4()}",
            task_queue=task_queue,
        )

        async def items_are_recorded() -> bool:
            progress = await handle.query(StreamingResponseWorkflow.progress)
            return progress.response_id is not None and progress.items >= recorded

        await wait_until(items_are_recorded, timeout=60)
        workers[0].kill()  # mid-stream: the next items are still being written
        workers.append(
            await asyncio.to_thread(worker_process(address, task_queue, fake_server.base_url).start)
        )
        result = await asyncio.wait_for(handle.result(), timeout=90)
    finally:
        for worker in workers:
            worker.kill()
    _assert_whole(result, fake, scenario)
    assert result.resumes >= 1
    created = [r for r in fake.responses() if r.metadata.get("temporal_workflow_id") == handle.id]
    assert len(created) == 1


async def test_followers_and_progress_show_items_as_they_happen(
    dev_env, fake, activities, task_queue
):
    fake.configure(tokens=80, tokens_per_second=200, item_seconds=0.4)
    scenario = SCENARIOS["deep-research"]
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        # Durable polls from the first: polls inside the create (the default's first 10 s)
        # reach the workflow's progress only when the create answers.
        request = _request(scenario, "Survey solid-state batteries.")
        request.poll = request.poll.model_copy(update={"first_polls_seconds": 0})
        polled = await dev_env.client.start_workflow(
            BackgroundResponseWorkflow.run,
            request,
            id=f"items-progress-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        streamed = await dev_env.client.start_workflow(
            StreamingResponseWorkflow.run,
            _request(scenario, "Survey sodium batteries."),
            id=f"items-follow-{uuid.uuid4()}",
            task_queue=task_queue,
        )

        async def polls_see_searches() -> bool:
            progress = await polled.query(BackgroundResponseWorkflow.progress)
            return progress.items > 0 and (progress.activity or "").startswith("search")

        watching = asyncio.ensure_future(_watch(streamed))
        await wait_until(polls_see_searches, timeout=30)
        text, notes, activities_seen = await watching
        result = await streamed.result()
        await polled.result()
    assert text == result.output_text == fake.response(result.response_id).text
    searches = [n for n in notes if n.type == "web_search_call"]
    assert [n.index for n in notes] == list(range(len(result.output)))  # each item once
    assert len(searches) == 5 and all(n.summary.startswith("searching: ") for n in searches)
    assert any(a.startswith("search") for a in activities_seen)  # live, before it was recorded


async def _watch(handle):
    text, notes, seen = "", [], []
    async for piece in follow(handle, poll_seconds=0.1, items_from=0):
        assert piece.offset == len(text)
        text += piece.text
        notes += piece.items
        if piece.activity:
            seen.append(piece.activity)
    return text, notes, seen


async def test_the_cli_prints_items_to_stderr_and_only_the_text_to_stdout(
    dev_env, fake, activities, task_queue
):
    fake.configure(tokens=60, tokens_per_second=200, item_seconds=0.1)
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        handle = await dev_env.client.start_workflow(
            StreamingResponseWorkflow.run,
            _request(SCENARIOS["deep-research"], "Survey flow batteries."),
            id=f"items-cli-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "durable_responses.follow", handle.id,
            "--address", address_of(dev_env), cwd=ROOT,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
        result = await handle.result()
    assert proc.returncode == 0, err.decode()
    assert out.decode() == result.output_text  # stdout: the text, exactly
    assert err.decode().count("[searching: ") == 5


async def test_what_the_api_takes_reaches_it_unchanged(dev_env, fake, activities, task_queue):
    request = ResponseRequest.model_validate(
        {
            "input": "x",
            "model": "o3",
            "reasoning": {"effort": "max", "mode": "pro"},
            "prompt_cache_key": "pipeline-7",  # not declared by ResponseRequest
            "safety_identifier": "user-42",
            "include": ["reasoning.encrypted_content"],
            "service_tier": "default",
            "background_options": {"completion_window": "soonest", "continuation_id": "run-1"},
        }
    )
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        result = await dev_env.client.execute_workflow(
            BackgroundResponseWorkflow.run,
            request,
            id=f"items-params-{uuid.uuid4()}",
            task_queue=task_queue,
        )
    sent = fake.response(result.response_id, events=False).request
    assert sent["reasoning"] == {"effort": "max", "mode": "pro"}
    assert (sent["prompt_cache_key"], sent["safety_identifier"]) == ("pipeline-7", "user-42")
    assert sent["include"] == ["reasoning.encrypted_content"]
    assert sent["background_options"] == {
        "completion_window": "soonest",
        "continuation_id": "run-1",
    }


@pytest.mark.parametrize("workflow", ["polling", "streaming"])
async def test_a_field_the_api_does_not_know_fails_typed_with_its_name(
    dev_env, fake, activities, task_queue, workflow
):
    run = BackgroundResponseWorkflow.run if workflow == "polling" else StreamingResponseWorkflow.run
    request = ResponseRequest.model_validate({"input": "x", "modle": "o3"})
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        with pytest.raises(WorkflowFailureError) as failure:
            await dev_env.client.execute_workflow(
                run, request, id=f"items-typo-{uuid.uuid4()}", task_queue=task_queue
            )
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == ErrorType.BAD_REQUEST
    assert "modle" in cause.message
