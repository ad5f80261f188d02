"""`durable-responses-worker --processes N`: N worker processes poll one task queue and run
its workflows, SIGTERM (or Ctrl-C) stops them together, and a child that dies stops the fleet
(exit 1) rather than leave it half-sized."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import uuid
from collections.abc import Iterator
from math import ceil
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from durable_responses import connection
from durable_responses import settings as settings_module
from durable_responses._supervisor import STOP_MARGIN, _mark, child_settings
from durable_responses.models import TASK_QUEUE, PollPolicy, ResponseRequest
from durable_responses.plugin import GRACEFUL_SHUTDOWN
from durable_responses.settings import WorkerSettings, cpu_quota
from durable_responses.testing import WorkerProcess
from durable_responses.workflows import BackgroundResponseWorkflow
from tests.workers import ROOT, address_of, free_port, wait_until, worker_process

FAST_POLL = PollPolicy(initial_interval_seconds=0.2, backoff=1.5, max_interval_seconds=1.0)
STOPPED_WITHIN = GRACEFUL_SHUTDOWN.total_seconds() + STOP_MARGIN
"""The supervisor's own bound on a stop: the children's graceful shutdown, then SIGKILL."""


async def _poller_pids(client: Client, task_queue: str) -> set[int]:
    """The pids of the processes polling the queue's workflow tasks (identity `pid@host`)."""
    described = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return {int(p.identity.split("@")[0]) for p in described.pollers}


SEEN: set[int] = set()
"""Every child pid a test saw: killed after it, should it fail with children still running."""


@pytest.fixture(autouse=True)
def no_children_left() -> Iterator[None]:
    yield
    for pid in SEEN:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    SEEN.clear()


async def _children(client: Client, task_queue: str, fleet: WorkerProcess, n: int) -> set[int]:
    pids: set[int] = set()

    async def polling() -> bool:
        nonlocal pids
        pids = await _poller_pids(client, task_queue)
        SEEN.update(pids)
        return len(pids) == n

    await wait_until(polling, timeout=90, every=0.2)
    assert fleet.pid not in pids  # the supervisor polls nothing itself
    return pids


def _alive(pid: int) -> bool:
    """Running (a zombie that nobody reaped yet has stopped: state Z)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _fleet(dev_env, task_queue: str, base_url: str, processes: str = "2") -> WorkerProcess:
    return worker_process(
        address_of(dev_env), task_queue, base_url, args=["--processes", processes]
    )


async def test_two_processes_poll_the_queue_run_workflows_and_stop_together_on_sigterm(
    dev_env, fake, fake_server, task_queue
):
    with _fleet(dev_env, task_queue, fake_server.base_url) as fleet:
        pids = await _children(dev_env.client, task_queue, fleet, 2)
        results = await asyncio.gather(
            *(
                dev_env.client.execute_workflow(
                    BackgroundResponseWorkflow.run,
                    ResponseRequest(input=f"fleet {i}", poll=FAST_POLL),
                    id=f"fleet-{i}-{uuid.uuid4()}",
                    task_queue=task_queue,
                )
                for i in range(6)
            )
        )
        for result in results:
            assert result.status == "completed"
            assert result.output_text == fake.response(result.response_id).text
        assert fake.counts()["creates"] == 6
        code = await asyncio.to_thread(fleet.terminate, STOPPED_WITHIN)
        assert code == 0, fleet.output()[-3000:]
        assert not [pid for pid in pids if _alive(pid)]
        log = fleet.output()
        assert "[worker 0]" in log and "[worker 1]" in log  # each child's lines, marked
        assert "2 worker processes polling task queue" in log
        assert "Traceback" not in log


async def test_a_sigterm_to_every_process_at_once_is_one_clean_stop(
    dev_env, fake, fake_server, task_queue
):
    # systemd's default (KillMode=control-group) signals each process of the unit itself.
    with _fleet(dev_env, task_queue, fake_server.base_url) as fleet:
        pids = await _children(dev_env.client, task_queue, fleet, 2)
        assert fleet.proc is not None
        for pid in (*pids, fleet.proc.pid):
            os.kill(pid, signal.SIGTERM)
        code = await asyncio.to_thread(fleet.proc.wait, STOPPED_WITHIN + 10)
        assert code == 0, fleet.output()[-3000:]
        assert "Traceback" not in fleet.output()


async def test_a_sigkilled_child_stops_the_others_and_the_supervisor_exits_1(
    dev_env, fake, fake_server, task_queue
):
    with _fleet(dev_env, task_queue, fake_server.base_url) as fleet:
        killed, survivor = sorted(await _children(dev_env.client, task_queue, fleet, 2))
        os.kill(killed, signal.SIGKILL)
        assert fleet.proc is not None
        code = await asyncio.to_thread(fleet.proc.wait, STOPPED_WITHIN + 10)
        assert code == 1, fleet.output()[-3000:]
        assert not _alive(survivor)
        assert re.search(
            rf"worker process \d \(pid {killed}\) exited \(killed by SIGKILL\): stopping",
            fleet.output(),
        ), fleet.output()[-3000:]


async def test_children_of_a_sigkilled_supervisor_stop_by_themselves(
    dev_env, fake, fake_server, task_queue
):
    with _fleet(dev_env, task_queue, fake_server.base_url) as fleet:
        pids = await _children(dev_env.client, task_queue, fleet, 2)
        fleet.kill()  # no forwarding, no goodbye: the children notice their parent is gone

        async def all_stopped() -> bool:
            return not [pid for pid in pids if _alive(pid)]

        await wait_until(all_stopped, timeout=STOPPED_WITHIN)


async def test_dev_with_processes_starts_one_server_for_all_and_ctrl_c_is_130(tmp_path: Path):
    port, ui_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    errors = tmp_path / "worker-dev.err"  # in tmp_path: kept if the test fails
    with errors.open("ab") as stderr:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ROOT / "worker.py"),
            "--dev",
            "--processes=2",
            f"--address=127.0.0.1:{port}",
            f"--ui-port={ui_port}",
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
        )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(120):  # the hint is printed once both children poll
            while b"workflow execute" not in (line := await proc.stdout.readline()):
                assert line, errors.read_text(errors="replace")[-3000:]
        client = await connection.connect(address=f"127.0.0.1:{port}")
        result = await client.execute_workflow(
            BackgroundResponseWorkflow.run,
            ResponseRequest(input="one server for both", poll=FAST_POLL),
            id=f"fleet-dev-{uuid.uuid4()}",
            task_queue=TASK_QUEUE,
        )
        assert result.status == "completed" and result.output_text
        assert len(await _poller_pids(client, TASK_QUEUE)) == 2
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), STOPPED_WITHIN + 30) == 130
        log = errors.read_text(errors="replace")
        assert log.count("dev server on") == 1, log[-3000:]  # the supervisor's, none per child
        assert "Traceback" not in log
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_each_child_is_one_worker_with_its_metrics_and_health_ports_and_webhooks_in_the_first():
    settings = WorkerSettings.from_args(
        [
            "--processes=3",
            "--dev",
            "--task-queue=q",
            "--metrics-port=9100",
            "--health-port=9200",
            "--webhook-port=8700",
            "--reap-every=60",
            "--max-polls-per-second=0.5",
            "--poll-task-queue=polls",
        ]
    )
    children = [child_settings(settings, i, "127.0.0.1:7233") for i in range(3)]
    assert [c.metrics_port for c in children] == [9100, 9101, 9102]
    assert [c.health_port for c in children] == [9200, 9201, 9202]
    assert [c.webhook_port for c in children] == [8700, 0, 0]
    assert [c.reap_every for c in children] == [60, 0, 0]
    for child in children:
        assert (child.processes, child.dev, child.webhooks) == (1, False, True)
        assert (child.task_queue, child.address, child.max_polls_per_second) == (
            "q",
            "127.0.0.1:7233",
            0.5,
        )
        # what the child process parses from its command line: the same settings
        assert WorkerSettings.from_args(child.args()) == child


@pytest.mark.parametrize(
    ("value", "count"),
    [("1", 1), ("4", 4), ("auto", min(len(os.sched_getaffinity(0)), ceil(cpu_quota() or 1e9)))],
)
def test_processes_is_a_number_or_auto_one_per_usable_core(value, count):
    assert WorkerSettings.from_args(["--processes", value]).process_count() == count


@pytest.mark.parametrize(
    ("files", "quota"),
    [
        ({"cpu.max": "150000 100000\n"}, 1.5),  # cgroup v2, `docker run --cpus 1.5`
        ({"cpu.max": "max 100000\n"}, None),
        ({"cpu/cpu.cfs_quota_us": "50000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 0.5),  # v1
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({}, None),
    ],
)
def test_a_containers_cpu_quota_is_read_from_its_cgroup(tmp_path, files, quota):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    assert cpu_quota(tmp_path) == quota


def test_auto_starts_no_more_processes_than_the_containers_quota(monkeypatch):
    # A container limited to 1.5 cores sees every core of its host: two processes, not 64.
    monkeypatch.setattr(settings_module, "cpu_quota", lambda: 1.5)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    monkeypatch.setattr(os, "process_cpu_count", lambda: 64, raising=False)  # Python 3.13+
    assert WorkerSettings.from_args(["--processes", "auto"]).process_count() == 2


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_a_bad_number_of_processes_is_one_line(value):
    with pytest.raises(ValueError) as raised:
        WorkerSettings.from_args(["--processes", value])
    assert WorkerSettings.explain(raised.value) == (  # type: ignore[arg-type]
        f"argument --processes: {value!r} is not a number of processes (1, 2, ... or auto)"
    )


def test_each_childs_log_lines_are_marked_with_its_index_and_json_stays_json():
    assert _mark(1, "INFO worker: polling", json_logs=False) == "[worker 1] INFO worker: polling"
    line = _mark(0, json.dumps({"level": "INFO", "message": "é"}), json_logs=True)
    assert json.loads(line) == {"level": "INFO", "message": "é", "process": 0}
    assert _mark(0, "Traceback (most recent call last):", json_logs=True).startswith("[worker 0] ")
