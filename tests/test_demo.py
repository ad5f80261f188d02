"""`python demo.py` itself, as a newcomer runs it: exit 0, the checks printed, nothing left
running afterwards."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

from tests.workers import ROOT


def _processes_mentioning(needle: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if needle in cmdline:
            found.append(f"{proc.name}: {cmdline}")
    return found


async def test_demo_runs_both_scenarios_end_to_end_and_cleans_up():
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "demo.py",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out_bytes, _ = await asyncio.wait_for(proc.communicate(), timeout=180)
    out = out_bytes.decode()
    assert proc.returncode == 0, out
    assert "=== 1. Polling" in out and re.search(r"poll \d+: completed", out)
    assert "=== 2. Streaming with resumption" in out
    assert "killed with SIGKILL" in out and "worker 2" in out
    assert "equals the provider's canonical text" in out
    assert "creates at the provider for this workflow: 1" in out
    assert re.search(r"[1-9]\d* resume\(s\)", out)
    task_queue = re.search(r"task queue (demo-[0-9a-f]+)", out)
    address = re.search(r"Temporal dev server at ([\d.]+:\d+)", out)
    assert task_queue and address, out
    await asyncio.sleep(0.5)
    assert _processes_mentioning(task_queue.group(1)) == []  # no worker left behind
    port = address.group(1).rsplit(":", 1)[1]
    assert _processes_mentioning(f"--port {port}") == []  # no dev server left behind
