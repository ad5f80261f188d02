"""The real Temporal CLI binary (pip-installed) drives the workflows: execute, query, cancel."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from durable_responses.models import ResponseRequest
from durable_responses.testing import find_binary
from tests.workers import address_of, build_worker


async def temporal(dev_env, *args: str) -> tuple[int, Any]:
    """Run `temporal <args> --address <dev server> -o json` without blocking the event loop
    (the worker under test runs on it)."""
    proc = await asyncio.create_subprocess_exec(
        find_binary("temporal"),
        *args,
        "--address",
        address_of(dev_env),
        "-o",
        "json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    text = out.decode()
    try:
        return proc.returncode or 0, json.loads(text)
    except json.JSONDecodeError:
        return proc.returncode or 0, text + err.decode()


async def test_cli_execute_prints_the_result(dev_env, fake, activities, task_queue):
    request = {"input": "Briefly explain relativity.", "poll": {"initial_interval_seconds": 0.2}}
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        code, out = await temporal(
            dev_env,
            "workflow",
            "execute",
            "--type",
            "BackgroundResponseWorkflow",
            "--task-queue",
            task_queue,
            "--workflow-id",
            f"cli-{uuid.uuid4()}",
            "--input",
            json.dumps(request),
        )
    assert code == 0, out
    assert isinstance(out, dict) and out["status"] == "COMPLETED"
    result = out["closeEvent"]["workflowExecutionCompletedEventAttributes"]["result"][0]
    assert result["status"] == "completed"
    assert result["output_text"] == fake.response(result["response_id"]).text != ""


async def test_cli_bad_input_fails_at_once_with_the_reason(dev_env, fake, activities, task_queue):
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        code, out = await temporal(
            dev_env,
            "workflow",
            "execute",
            "--type",
            "BackgroundResponseWorkflow",
            "--task-queue",
            task_queue,
            "--workflow-id",
            f"cli-bad-{uuid.uuid4()}",
            "--input",
            '{"input": "x", "params": {"background": false}}',
        )
    assert code != 0
    assert "set by the workflow" in json.dumps(out)
    assert fake.counts()["creates"] == 0


async def test_cli_query_progress_and_cancel_reach_the_fake(dev_env, fake, activities, task_queue):
    fake.configure(tokens=5000, tokens_per_second=100)  # fifty seconds: long enough to cancel
    workflow_id = f"cli-cancel-{uuid.uuid4()}"
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        code, started = await temporal(
            dev_env,
            "workflow",
            "start",
            "--type",
            "BackgroundResponseWorkflow",
            "--task-queue",
            task_queue,
            "--workflow-id",
            workflow_id,
            "--input",
            json.dumps(ResponseRequest(input="long").model_dump(exclude_defaults=True)),
        )
        assert code == 0, started
        progress: dict = {}
        async with asyncio.timeout(30):
            while not progress.get("polls"):
                await asyncio.sleep(0.2)
                code, out = await temporal(
                    dev_env, "workflow", "query", "--workflow-id", workflow_id, "--name", "progress"
                )
                assert code == 0 and isinstance(out, dict), out
                progress = out["queryResult"][0]
        assert progress["status"] in ("queued", "in_progress")
        response_id = progress["response_id"]
        code, out = await temporal(dev_env, "workflow", "cancel", "--workflow-id", workflow_id)
        assert code == 0, out
        handle = dev_env.client.get_workflow_handle(workflow_id)
        async with asyncio.timeout(30):
            while (await handle.describe()).status.name == "RUNNING":
                await asyncio.sleep(0.1)
        assert (await handle.describe()).status.name == "CANCELED"
    record = fake.response(response_id, events=False)
    assert record.status == "cancelled" and record.counts["cancels"] == 1


async def test_cli_follows_a_stream_with_query_and_update(dev_env, fake, activities, task_queue):
    fake.configure(tokens=200, tokens_per_second=100)
    workflow_id = f"cli-stream-{uuid.uuid4()}"
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        code, out = await temporal(
            dev_env,
            "workflow",
            "start",
            "--type",
            "StreamingResponseWorkflow",
            "--task-queue",
            task_queue,
            "--workflow-id",
            workflow_id,
            "--input",
            '{"input": "Three benefits of exercise."}',
        )
        assert code == 0, out
        text, offset, done = "", 0, False
        deadline = asyncio.get_running_loop().time() + 60
        while not done:
            assert asyncio.get_running_loop().time() < deadline, f"not done at offset {offset}"
            code, out = await temporal(
                dev_env,
                "workflow",
                "update",
                "execute",
                "--workflow-id",
                workflow_id,
                "--name",
                "text_after",
                "--input",
                json.dumps({"offset": offset, "wait_seconds": 5}),
            )
            assert code == 0, out
            piece = out["result"]
            assert piece["offset"] == offset
            text += piece["text"]
            offset, done = piece["next_offset"], piece["done"]
        code, out = await temporal(
            dev_env, "workflow", "query", "--workflow-id", workflow_id, "--name", "state"
        )
        assert code == 0, out
        state = out["queryResult"][0]
    assert state["done"] and state["text"] == text == fake.response(state["response_id"]).text
    assert state["text_length"] == len(text) and state["cursor"] > 0
