"""The one-command tour: `python demo.py` (installed: `durable-responses-demo`).

With no configuration it starts an embedded Temporal dev server (the pip-installed CLI), the
local fake Responses API and a worker as a separate process, then runs both scenarios:

1. Polling: a background response polled with durable sleeps until it completes.
2. Streaming with resumption: text printed as it arrives; the worker is killed with SIGKILL
   mid-stream, a new worker starts, and the same workflow resumes from the stream cursor it
   recorded. The text is then checked against the provider's: no gap, no duplicate, one create.

With `--real` it uses the real API (OPENAI_API_KEY, a cheap model, no crash unless --crash);
a key in the shell alone never switches it. While an activity retries (the API down, a bad
key) it prints the last failure. Exits 0 on success, 1 if a check fails or something could
not start, 2 for bad flags, 130 on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import textwrap
import time
import uuid
from collections.abc import Sequence
from typing import ClassVar

from pydantic import Field, model_validator
from pydantic_settings import CliImplicitFlag, SettingsConfigDict
from temporalio.client import Client

from durable_responses import cli
from durable_responses.fake_openai import FakeOpenAIServer, GenerationSettings, ServerSettings
from durable_responses.models import (
    PollPolicy,
    Progress,
    ResponseRequest,
    ResponseResult,
    StreamPolicy,
)
from durable_responses.run import RunHandle
from durable_responses.testing import WorkerProcess, dev_server

POLL_PROMPT = "In two sentences, what does the theory of relativity say?"
STREAM_PROMPT = "Name three benefits of regular exercise, briefly."
REAL_MODEL = "gpt-4.1-mini"
KILL_AFTER_CHARS = 200
# Several seconds a response, long enough to interrupt, short enough for a one-minute tour.
DEMO_GENERATION = GenerationSettings(tokens=360, tokens_per_second=60, queued_seconds=0.5)


class DemoFailed(cli.CommandError):
    """A check of the demo did not hold."""

    def __init__(self, message: str) -> None:
        super().__init__(f"DEMO FAILED: {message}")


class DemoSettings(cli.CommandSettings):
    """The one-command tour: a polling run, then a stream whose worker is killed mid-way."""

    model_config = SettingsConfigDict(cli_prog_name="durable-responses-demo")
    VARIABLES: ClassVar[dict[str, str]] = {
        "real": "DURABLE_RESPONSES_DEMO_REAL",
        "fake": "DURABLE_RESPONSES_DEMO_FAKE",
        "crash": "DURABLE_RESPONSES_DEMO_CRASH",
        "model": "DURABLE_RESPONSES_DEMO_MODEL",
    }
    ENVIRONMENT: ClassVar[dict[str, str]] = {
        "OPENAI_API_KEY": "OpenAI API key, with --real only (read by the openai SDK)",
        "OPENAI_BASE_URL": "OpenAI-compatible base URL, with --real only",
    }

    real: CliImplicitFlag[bool] = Field(
        default=False, description="use the real OpenAI API (OPENAI_API_KEY) instead of the fake"
    )
    fake: CliImplicitFlag[bool] = Field(
        default=False, description="use the local fake API (the default; kept for old scripts)"
    )
    crash: CliImplicitFlag[bool] | None = Field(
        default=None, description="kill the worker mid-stream (default: on with the fake only)"
    )
    model: str = Field(default=REAL_MODEL, description="model for the real API")

    @model_validator(mode="after")
    def _one_api(self) -> DemoSettings:
        if self.real and self.fake:
            raise ValueError("--real and --fake: choose one")
        return self


def say(message: str = "") -> None:
    print(message, flush=True)


def _wrap(text: str) -> str:
    return "\n".join(
        textwrap.fill(p, width=88, initial_indent="    ", subsequent_indent="    ")
        for p in text.split("\n\n")
    )


async def polling(client: Client, task_queue: str, model: str | None) -> None:
    say("\n=== 1. Polling: BackgroundResponseWorkflow ===")
    run = await RunHandle.start(
        client,
        ResponseRequest(
            input=POLL_PROMPT,
            model=model,
            poll=PollPolicy(initial_interval_seconds=1.0, backoff=1.3, max_interval_seconds=2.0),
        ),
        id=f"demo-poll-{uuid.uuid4().hex[:8]}",
        task_queue=task_queue,
    )
    say(f"started workflow {run.id}: the response is created in an activity, then polled")
    say("between durable timers (workflow.sleep), so a crash here would lose nothing.")
    shown = -1
    result: ResponseResult | None = None
    # The progress query after the end shows the final poll, then the result comes.
    async for event in run.follow_progress(poll_seconds=0.2):
        if isinstance(event, str):
            say(f"  [{event}]")  # rather than silence while Temporal retries a failing call
        elif isinstance(event, Progress):
            if event.polls != shown and event.response_id:
                label = "created" if event.polls == 0 else f"poll {event.polls}"
                say(
                    f"  {label:>8}: {event.status:<11} {event.response_id[:20]}…  "
                    f"t={event.elapsed_seconds:4.1f}s"
                )
                shown = event.polls
        else:
            result = event
    assert result is not None  # follow_progress ends with the result or raises
    say(f"  result: {result.status} after {result.polls} poll(s)\n")
    say(_wrap(result.output_text))


async def streaming(
    client: Client,
    task_queue: str,
    model: str | None,
    fake: FakeOpenAIServer | None,
    first_worker: WorkerProcess,
    new_worker: WorkerProcess,
    crash: bool,
) -> None:
    say("\n=== 2. Streaming with resumption: StreamingResponseWorkflow ===")
    run = await RunHandle.start(
        client,
        ResponseRequest(
            input=STREAM_PROMPT,
            model=model,
            # Defaults: one reader, batches recorded at growing intervals (up to 10 s) while
            # the follower also shows the reader's not-yet-recorded tail.
            streaming=StreamPolicy(),
        ),
        id=f"demo-stream-{uuid.uuid4().hex[:8]}",
        stream=True,
        task_queue=task_queue,
    )
    say(
        f"started workflow {run.id}; following its text through Temporal "
        "(the text query and the reader's heartbeat: no history):\n"
    )
    followed = ""
    killed_at: float | None = None
    recovered_after: float | None = None
    async for piece in run.follow(items_from=0):
        if piece.activity and "retrying" in piece.activity:
            say(f"\n  [{piece.activity}]")
        if killed_at is not None and recovered_after is None and piece.text:
            recovered_after = time.monotonic() - killed_at
        print(piece.text, end="", flush=True)
        followed += piece.text
        if crash and killed_at is None and len(followed) >= KILL_AFTER_CHARS:
            first_worker.kill()
            killed_at = time.monotonic()
            say(
                f"\n\n  ✗ worker 1 (pid {first_worker.pid}) killed with SIGKILL at character "
                f"{len(followed)}, mid-stream"
            )
            await asyncio.to_thread(new_worker.start)
            say(
                f"  ↻ worker 2 (pid {new_worker.pid}) started; its reader attaches after the "
                "recorded cursor\n"
            )
    say("\n")
    if recovered_after is not None:
        say(
            f"  text flowed again {recovered_after:.1f}s after the kill (heartbeat timeout "
            "+ retry + new worker start)"
        )
    result = await run.result()
    events = len((await run.workflow.fetch_history()).events)
    say(
        f"  result: {result.status}, {len(result.output_text)} characters, cursor "
        f"{result.cursor}, {result.chunks} batches, {result.resumes} resume(s), "
        f"{events} history events"
    )
    if followed != result.output_text:
        raise DemoFailed("the followed text differs from the workflow's text")
    say("  ✓ the text the follower printed equals the workflow's text")
    if fake is not None:
        record = fake.control.response(result.response_id, events=False)
        mine = [
            r for r in fake.control.responses() if r.metadata.get("temporal_workflow_id") == run.id
        ]
        if result.output_text != record.text:
            raise DemoFailed("the assembled text differs from the provider's canonical text")
        say(
            f"  ✓ it equals the provider's canonical text ({len(record.text)} characters): "
            "no gap, no duplicate"
        )
        if len(mine) != 1:
            raise DemoFailed(f"{len(mine)} responses were created for one workflow")
        say(f"  ✓ creates at the provider for this workflow: {len(mine)}")
    if crash and result.resumes < 1:
        raise DemoFailed("the worker was killed but no resume was recorded")


async def run(settings: DemoSettings) -> int:
    """Both scenarios end to end; a check that does not hold raises `DemoFailed`."""
    use_fake = not settings.real
    if not use_fake and not os.environ.get("OPENAI_API_KEY"):
        raise cli.CommandError("--real needs OPENAI_API_KEY", "set it, or leave --real out")
    crash = settings.crash if settings.crash is not None else use_fake
    model = None if use_fake else settings.model
    async with contextlib.AsyncExitStack() as stack:
        fake: FakeOpenAIServer | None = None
        if use_fake:
            fake = stack.enter_context(FakeOpenAIServer(ServerSettings(generation=DEMO_GENERATION)))
            say(f"• fake OpenAI Responses API at {fake.base_url} (no OPENAI_API_KEY needed)")
            worker_env = {"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": "fake-key"}
        else:
            say(f"• real OpenAI API, model {model}")
            worker_env = {}
        say("• starting the Temporal dev server (pip-installed `temporal server start-dev`)…")
        env = await stack.enter_async_context(dev_server(port=None, ui_port=None, db=None))
        address = env.client.service_client.config.target_host
        say(f"• Temporal dev server at {address}")
        task_queue = f"demo-{uuid.uuid4().hex[:8]}"
        first = stack.enter_context(WorkerProcess(address, task_queue, env=worker_env))
        say(f"• worker 1: `durable-responses-worker` as pid {first.pid} on task queue {task_queue}")
        second = WorkerProcess(address, task_queue, env=worker_env)
        stack.callback(second.close)
        started = time.monotonic()
        await polling(env.client, task_queue, model)
        await streaming(env.client, task_queue, model, fake, first, second, crash)
        say(f"\ndone in {time.monotonic() - started:.1f}s: both scenarios ran end to end.")
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of `durable-responses-demo` and `python demo.py`."""
    # RuntimeError, TimeoutError: the dev server or a worker could not start.
    cli.run(DemoSettings, run, argv, expected=(RuntimeError, TimeoutError))


if __name__ == "__main__":
    main()
