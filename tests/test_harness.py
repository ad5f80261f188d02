"""The test harness (`durable_responses.testing`) as CI meets it on a fresh machine."""

from __future__ import annotations

import stat
import tempfile
from pathlib import Path

import pytest

from durable_responses import testing


async def test_dev_server_waits_for_a_cold_first_start(tmp_path: Path, monkeypatch) -> None:
    # The first start after an install reads the ~100 MB CLI from a cold disk cache (4.9 s
    # here with the page cache dropped); the SDK gives up after 5 s. A CLI that takes 6 s to
    # answer stands in for it.
    real = testing.find_binary("temporal")
    slow = tmp_path / "temporal"
    slow.write_text(f'#!/bin/sh\nsleep 6\nexec "{real}" "$@"\n')
    slow.chmod(slow.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(testing, "find_binary", lambda name: str(slow))

    async with testing.dev_server(port=None, ui_port=None, db=None) as env:
        assert await env.client.service_client.check_health()


def test_a_worker_process_that_never_gets_ready_leaves_no_log_behind(tmp_path: Path) -> None:
    """Its log is in the system temp folder; a failed start must remove it like a close."""
    before = set(Path(tempfile.gettempdir()).glob(f"{testing.WorkerProcess.LOG_PREFIX}*"))
    worker = testing.WorkerProcess(None, "q", module="this_module_does_not_exist")
    with pytest.raises(RuntimeError, match="exited early"), worker:
        pass
    assert not worker.log.exists()
    assert set(Path(tempfile.gettempdir()).glob(f"{testing.WorkerProcess.LOG_PREFIX}*")) <= before
