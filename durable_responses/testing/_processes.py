"""Our worker and gateway as child processes: demos and tests kill them for real."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Self


class WorkerProcess:
    """`python -m durable_responses.worker` (or another worker `module` that takes
    `--address`/`--task-queue` and logs the same ready line) as a child process: demos and
    tests kill it for real.

    Its output goes to a log file in `log_dir` (default: the system temp folder). A log in the
    temp folder is removed when the process is closed; one in a `log_dir` of the caller's
    belongs to the caller (pytest's `tmp_path`, kept only for failed tests).
    """

    READY = "worker polling task queue"
    LOG_PREFIX = "durable-responses-worker-"

    def __init__(
        self,
        address: str | None,
        task_queue: str,
        env: dict[str, str] | None = None,
        args: Sequence[str] = (),
        log_dir: Path | None = None,
        module: str = "durable_responses.worker",
    ) -> None:
        self.module = module
        self.address = address
        self.task_queue = task_queue
        self.args = list(args)
        self.env = {**os.environ, **(env or {})}
        self._owns_log = log_dir is None
        fd, name = tempfile.mkstemp(prefix=self.LOG_PREFIX, suffix=".log", dir=log_dir)
        os.close(fd)
        self.log = Path(name)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self, timeout: float = 60.0) -> Self:
        """Start (again, after a kill) and wait until it is ready."""
        seen = self.log.stat().st_size  # a restart's log goes on after the last run's
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    *self.module.split(),
                    # No address: the environment or a TOML profile says where (envconfig).
                    *(["--address", self.address] if self.address else []),
                    "--task-queue",
                    self.task_queue,
                    *self.args,
                ],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while self.READY not in self.output()[seen:]:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.module} exited early:\n{self.output()}")
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(f"{self.module} not ready after {timeout}s:\n{self.output()}")
            time.sleep(0.05)
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no cleanup, no goodbye, like a crashed host."""
        self.signal(signal.SIGKILL)

    def terminate(self, timeout: float = 30.0) -> int | None:
        """SIGTERM: graceful shutdown; returns the exit code."""
        self.signal(signal.SIGTERM, timeout)
        return self.proc.returncode if self.proc is not None else None

    def signal(self, sig: int, timeout: float = 10.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            if sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
                self.proc.wait(timeout=timeout)

    def close(self) -> None:
        """Kill the process if it still runs and remove a log this object owns."""
        self.kill()
        if self._owns_log:
            self.log.unlink(missing_ok=True)

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:  # `with` calls no __exit__ for a failed __enter__
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()


class GatewayProcess(WorkerProcess):
    """`durable-responses-gateway` as a child process on a fixed `port`, so that one killed
    and started again serves the same base URL (`url`). `keys` is its key file's content
    (`tenant:sha256` lines, `gateway.hash_key`)."""

    READY = "gateway at"
    LOG_PREFIX = "durable-responses-gateway-"

    def __init__(
        self,
        address: str | None,
        task_queue: str,
        port: int,
        keys: str,
        env: dict[str, str] | None = None,
        args: Sequence[str] = (),
        log_dir: Path | None = None,
    ) -> None:
        super().__init__(
            address,
            task_queue,
            env={"DURABLE_RESPONSES_GATEWAY_KEYS": keys, **(env or {})},
            args=["--port", str(port), *args],
            log_dir=log_dir,
            module="durable_responses.gateway",
        )
        self.url = f"http://127.0.0.1:{port}/v1"
