"""Real worker processes (`python worker.py`) that tests start, SIGKILL and SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READY = "worker polling task queue"


class WorkerProcess:
    """`python worker.py` against a given Temporal address, task queue and OpenAI base URL."""

    def __init__(
        self,
        address: str,
        task_queue: str,
        openai_base_url: str,
        *,
        api_key: str = "sk-test",
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.address = address
        self.task_queue = task_queue
        self.env = {
            **os.environ,
            "OPENAI_BASE_URL": openai_base_url,
            "OPENAI_API_KEY": api_key,
            "LOG_LEVEL": "INFO",
            **(extra_env or {}),
        }
        self.log = Path(tempfile.mkstemp(prefix="worker-", suffix=".log")[1])
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> WorkerProcess:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    str(ROOT / "worker.py"),
                    "--address",
                    self.address,
                    "--task-queue",
                    self.task_queue,
                ],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        deadline = time.monotonic() + timeout
        while READY not in self.output():
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.output()}")
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(f"worker not ready after {timeout}s:\n{self.output()}")
            time.sleep(0.05)
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no cleanup, no goodbye, exactly like a crashed host."""
        self._signal(signal.SIGKILL)

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM: graceful shutdown; returns the exit code."""
        self._signal(signal.SIGTERM, timeout)
        assert self.proc is not None
        return self.proc.returncode

    def _signal(self, sig: int, timeout: float = 10.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=timeout)

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()
