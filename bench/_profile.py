"""Where a process tree spends its CPU over one stretch of a bench: py-spy samples it, and the
stretch's CPU per process comes from `/proc`. py-spy comes with the `dev` extra."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from bench._process import cpu_seconds, tree_cpu_seconds


def py_spy() -> str:
    """The py-spy next to this interpreter (or on PATH)."""
    found = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if found is None:
        raise SystemExit("py-spy is not installed: pip install -e '.[dev]'")
    return found


class Sampling:
    """`py-spy record` of `pid` and its children while the `with` block runs, into `out` as
    collapsed stacks (py-spy's `raw` format). Non-blocking: the process is not paused."""

    def __init__(self, pid: int, out: Path, rate: int = 100) -> None:
        self.out = out
        self.argv = [
            py_spy(),
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--nonblocking",
            "--format",
            "raw",
            "--rate",
            str(rate),
            "--output",
            str(out),
        ]
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Sampling:
        self.proc = subprocess.Popen(
            self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        self.proc.wait(timeout=60)


def _frame(frame: str) -> str:
    """`function (path/to/module.py:123)` -> `function (module.py)`: one entry per function."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0].rsplit('/', 1)[-1].rstrip(')')})"


IDLE = {"EpollSelector.select (selectors.py)", "_worker (thread.py)"}
"""Leaves where a thread waits (the event loop; a pool thread for work), though py-spy counts
them as on the CPU."""
PLUMBING = ("(<frozen runpy>)", "(runners.py)", "(base_events.py)", "(events.py)", "(threading.py)")
"""Files of the frames under every stack (the interpreter, the event loop, threads): left out."""


def top(out: Path, n: int = 15) -> tuple[int, float, list[tuple[str, float, float]]]:
    """The busy samples in `out`, the idle share of all samples (a leaf in `IDLE`), and the `n`
    heaviest functions by inclusive share of the busy samples: (function, inclusive, self).
    The outer frames, `PLUMBING` and those on most busy stacks with no time of their own (a
    command's entry), are left out: they say nothing."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    busy = idle = 0
    for line in out.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [
            _frame(f)
            for f in stack.split(";")
            if " (" in f and not f.startswith(("process ", "thread "))
        ]
        if not frames:
            continue
        if frames[-1] in IDLE:
            idle += count
            continue
        busy += count
        for function in set(frames) - {f for f in frames if f.endswith(PLUMBING)}:
            inclusive[function] += count
        own[frames[-1]] += count
    heaviest = [
        (function, count / busy, own[function] / busy)
        for function, count in inclusive.most_common()
        if count < 0.6 * busy or own[function] > 0.02 * busy
    ]
    return busy, idle / max(1, busy + idle), heaviest[:n]


@dataclass
class CpuWindow:
    """CPU seconds each named process (a worker fleet counted whole) used between `start` and
    `stop`."""

    pids: Mapping[str, int]
    trees: frozenset[str] = frozenset()
    before: dict[str, float] = field(default_factory=dict)
    used: dict[str, float] = field(default_factory=dict)

    def _now(self) -> dict[str, float]:
        return {
            name: (tree_cpu_seconds if name in self.trees else cpu_seconds)(pid)
            for name, pid in self.pids.items()
        }

    def start(self) -> None:
        self.before = self._now()

    def stop(self) -> None:
        self.used = {name: cpu - self.before[name] for name, cpu in self._now().items()}
