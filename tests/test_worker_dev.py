"""`python worker.py --dev`: embedded dev server (SQLite under .temporal/) and fake API, the
printed CLI line works, and history survives a restart of the command."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import sys
from pathlib import Path

import pytest

from tests.workers import ROOT, free_port


async def _start_dev(cwd: Path, port: int, ui_port: int) -> tuple[asyncio.subprocess.Process, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    errors = cwd / "worker-dev.err"  # in tmp_path: kept if the test fails
    with errors.open("ab") as stderr:  # the child keeps its own copy of the descriptor
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ROOT / "worker.py"),
            "--dev",
            "--address",
            f"127.0.0.1:{port}",
            "--ui-port",
            str(ui_port),
            cwd=cwd,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
        )
    assert proc.stdout is not None
    async with asyncio.timeout(60):
        while True:
            line = (await proc.stdout.readline()).decode()
            if not line:
                err = errors.read_text(errors="replace")[-3000:]
                pytest.fail(f"worker --dev exited before printing the CLI line:\n{err}")
            if line.strip().startswith(("temporal ", "/")) and "workflow execute" in line:
                return proc, line.strip()


async def _run(command: list[str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode or 0, out.decode()


async def _stop(proc: asyncio.subprocess.Process) -> int:
    proc.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(proc.wait(), timeout=30)


async def test_worker_dev_runs_the_printed_cli_line_and_keeps_history(tmp_path):
    port, ui_port = free_port(), free_port()
    proc, line = await _start_dev(tmp_path, port, ui_port)
    try:
        command = shlex.split(line)
        assert "temporal" in Path(command[0]).name
        code, out = await _run([*command, "-o", "json"])
        assert code == 0, out
        result = json.loads(out)["closeEvent"]["workflowExecutionCompletedEventAttributes"][
            "result"
        ][0]
        assert result["status"] == "completed" and result["output_text"]
        assert (tmp_path / ".temporal" / "temporal.db").is_file()
    finally:
        assert await _stop(proc) == 0
    # the same command again: the SQLite file still holds the finished workflow
    proc, _ = await _start_dev(tmp_path, port, ui_port)
    try:
        code, out = await _run(
            [
                command[0],
                "workflow",
                "describe",
                "--address",
                f"127.0.0.1:{port}",
                "--workflow-id",
                "hello-1",
                "-o",
                "json",
            ]
        )
        assert code == 0, out
        assert json.loads(out)["workflowExecutionInfo"]["status"] == (
            "WORKFLOW_EXECUTION_STATUS_COMPLETED"
        )
    finally:
        assert await _stop(proc) == 0
