"""The eight commands on one CLI foundation (`durable_responses/cli.py`): every variable in
`--help`, `--version`, one line and a hint (no traceback) without a Temporal server, the exit
codes, JSON logs, and `durable-responses-follow` on a polling run."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from durable_responses import cli
from durable_responses._follow_command import FollowSettings
from durable_responses.codec import new_key
from durable_responses.codec_server import CodecServerSettings
from durable_responses.demo import DemoSettings
from durable_responses.fake_openai.__main__ import FakeSettings
from durable_responses.gateway import hash_key
from durable_responses.gateway.__main__ import GatewaySettings
from durable_responses.models import PollPolicy, ResponseRequest
from durable_responses.reaper import ReapSettings
from durable_responses.settings import WorkerSettings
from durable_responses.webhooks.__main__ import WebhooksSettings
from durable_responses.workflows import BackgroundResponseWorkflow
from tests.workers import ROOT, address_of, build_worker, free_port

COMMANDS: dict[str, type[cli.CommandSettings]] = {
    "durable-responses-worker": WorkerSettings,
    "durable-responses-follow": FollowSettings,
    "durable-responses-demo": DemoSettings,
    "durable-responses-fake-openai": FakeSettings,
    "durable-responses-codec-server": CodecServerSettings,
    "durable-responses-reap": ReapSettings,
    "durable-responses-webhooks": WebhooksSettings,
    "durable-responses-gateway": GatewaySettings,
}

NEEDS_TEMPORAL: dict[str, tuple[list[str], dict[str, str]]] = {
    "durable-responses-worker": ([], {"OPENAI_API_KEY": "sk-test"}),
    "durable-responses-follow": (["research-1"], {}),
    "durable-responses-reap": (["--dry-run"], {}),
    "durable-responses-webhooks": (["--port", "0"], {"OPENAI_WEBHOOK_SECRET": "whsec_x"}),
    "durable-responses-gateway": (
        ["--port", "0"],
        {"DURABLE_RESPONSES_GATEWAY_KEYS": f"acme:{hash_key('k')}"},
    ),
}
"""Each command that needs Temporal, with what it needs besides."""


def _script(name: str) -> str:
    """The installed console script (next to this interpreter, or on PATH)."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    assert found, f"{name} is not installed: pip install -e ."
    return found


def _clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any setting of ours, Temporal's or OpenAI's."""
    prefixes = ("DURABLE_RESPONSES_", "TEMPORAL_", "OPENAI_", "FAKE_OPENAI_", "LOG_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    return {**env, "COLUMNS": "100", **extra}


def _command(name: str, *argv: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [_script(name), *argv],
        env=_clean_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


@pytest.mark.parametrize("name", COMMANDS)
def test_help_shows_every_environment_variable_and_the_defaults(name):
    done = _command(name, "--help")
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    settings = COMMANDS[name]
    for variable in {**settings.environment(), **settings.ENVIRONMENT}:
        assert variable in text, f"{name} --help does not name {variable}"
    assert "--log-format" in text and "--version" in text and "(default: INFO)" in text


@pytest.mark.parametrize("name", COMMANDS)
def test_version_prints_the_installed_version(name):
    done = _command(name, "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{name} {cli.version()}"


@pytest.mark.parametrize("name", NEEDS_TEMPORAL)
def test_without_a_temporal_server_one_line_with_a_hint_and_no_traceback(name):
    argv, env = NEEDS_TEMPORAL[name]
    port = free_port()
    done = _command(name, *argv, TEMPORAL_ADDRESS=f"127.0.0.1:{port}", **env)
    assert done.returncode == 1, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    short = name.removeprefix("durable-responses-")
    assert lines[0].startswith(f"{short}: no Temporal server at 127.0.0.1:{port}"), lines[0]
    assert "start one with `durable-responses-worker --dev`" in lines[0]
    assert "Traceback" not in done.stderr and "\x1b[" not in done.stderr  # nor ANSI colours


@pytest.mark.parametrize(
    ("name", "argv", "code", "fragment"),
    [
        ("durable-responses-reap", ["--no-such-flag"], 2, "unrecognized arguments"),
        ("durable-responses-follow", [], 2, "required: WORKFLOW-ID"),
        ("durable-responses-reap", ["--older-than", "soon"], 1, "argument --older-than:"),
        ("durable-responses-gateway", ["--log-level", "LOUD"], 1, "not a log level"),
        ("durable-responses-demo", ["--real"], 1, "--real needs OPENAI_API_KEY"),
    ],
)
def test_usage_is_exit_2_and_a_bad_setting_one_line_and_exit_1(name, argv, code, fragment):
    done = _command(name, *argv)
    assert done.returncode == code, done.stderr
    assert fragment in done.stderr and "Traceback" not in done.stderr
    if code == 1:
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_the_gateway_without_keys_says_so_in_one_line():
    done = _command("durable-responses-gateway")
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert "no gateway keys" in line and "Traceback" not in done.stderr


def test_webhook_host_has_one_meaning_in_the_worker_and_the_receiver(monkeypatch):
    for name in ("DURABLE_RESPONSES_WEBHOOK_HOST", "DURABLE_RESPONSES_WEBHOOK_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert WorkerSettings.from_args([]).webhook_host == "127.0.0.1"
    assert WebhooksSettings.from_args([]).host == "127.0.0.1"
    monkeypatch.setenv("DURABLE_RESPONSES_WEBHOOK_HOST", "0.0.0.0")
    assert WorkerSettings.from_args([]).webhook_host == "0.0.0.0"
    assert WebhooksSettings.from_args([]).host == "0.0.0.0"


def test_a_bare_host_gets_temporals_port():
    # `durable-responses-worker --dev --address localhost` ended in IndexError.
    assert cli.host_port("localhost") == ("localhost", 7233)
    assert cli.host_port("127.0.0.1:7555") == ("127.0.0.1", 7555)


@pytest.mark.parametrize(
    "inherited",
    [
        "default",
        # A background job of a script (`server &` in a shell without job control) starts
        # with SIGINT ignored: the server must still take it from its start. It lost a Ctrl-C
        # sent right after its first line 19 times in 20, and two CPU-hog runs of the suite,
        # started that way, hung here.
        "ignored",
    ],
)
def test_json_logs_and_ctrl_c_is_exit_130(inherited: str):
    port = free_port()
    proc = subprocess.Popen(
        [_script("durable-responses-codec-server"), "--port", str(port), "--log-format", "json"],
        # A process that does not stop is sent SIGABRT below: its threads' stacks say where.
        env=_clean_env(DURABLE_RESPONSES_CODEC_KEYS=f"k1:{new_key()}", PYTHONFAULTHANDLER="1"),
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=(
            (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
            if inherited == "ignored"
            else None
        ),
    )
    try:
        assert proc.stderr is not None
        record = json.loads(proc.stderr.readline())
        assert record["level"] == "INFO" and record["logger"] == "durable_responses.codec_server"
        assert f"http://127.0.0.1:{port}" in record["message"]
        proc.send_signal(signal.SIGINT)  # at once: it may not be serving yet
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)
            proc.wait(timeout=10)
            pytest.fail(f"no exit 30 s after SIGINT; its stacks:\n{proc.stderr.read()}")
        assert code == 130
        assert "Traceback" not in proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()


async def _follow(address: str, workflow_id: str, *argv: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        _script("durable-responses-follow"),
        workflow_id,
        "--address",
        address,
        *argv,
        env=_clean_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=90)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_follow_prints_a_polling_runs_progress_to_the_end(
    dev_env, fake, activities, task_queue
):
    # Four searches of 2.5 s: the followers (a process each) see the run searching even on a
    # busy machine. With 1 s each, two CPU hogs on both cores made them attach after the last
    # search (their first line came at 4.4 s, the searches ended near 4.3 s).
    fake.configure(tokens=200, tokens_per_second=100, item_seconds=2.5, searches=4)
    request = ResponseRequest(
        input="Research the history of relativity.",
        model="gpt-4.1",
        params={"tools": [{"type": "web_search"}]},
        # Durable polls from the first: inside the create's first polls (10 s by default, most
        # of this run) the workflow learns no item, and under load the searches ended unseen.
        poll=PollPolicy(
            initial_interval_seconds=0.3,
            backoff=1.0,
            max_interval_seconds=0.3,
            first_polls_seconds=0,
        ),
    )
    async with build_worker(dev_env.client, activities, task_queue=task_queue):
        handles = [
            await dev_env.client.start_workflow(
                BackgroundResponseWorkflow.run,
                request,
                id=f"research-{uuid.uuid4()}",
                task_queue=task_queue,
            )
            for _ in range(2)
        ]
        (code, out, err), (json_code, json_out, json_err) = await asyncio.gather(
            _follow(address_of(dev_env), handles[0].id),
            _follow(address_of(dev_env), handles[1].id, "--json"),
        )
        results = [await handle.result() for handle in handles]
    assert code == 0, err
    assert (
        out.strip()
        == results[0].output_text.strip()
        == fake.response(results[0].response_id).text.strip()
    )
    assert "] searching" in err and "[searching: " in err, err  # live, then each search
    assert f"[completed after {results[0].polls} poll(s)" in err
    assert json_code == 0, json_err
    events = [json.loads(line) for line in json_out.splitlines()]
    kinds = [event["type"] for event in events]
    assert kinds[-1] == "result" and set(kinds[:-1]) <= {"progress", "retrying"}
    progress = [event for event in events if event["type"] == "progress"]
    assert len(progress) >= 2
    assert [p["polls"] for p in progress] == sorted(p["polls"] for p in progress)
    assert any((p["activity"] or "").startswith("searching") for p in progress)
    assert events[-1]["status"] == "completed"
    assert events[-1]["output_text"] == results[1].output_text
