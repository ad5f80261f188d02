"""A small chaos run (`bench/chaos.py`, fixed seed): worker processes SIGKILLed and SIGTERMed,
the Temporal server SIGKILLed and restarted on its SQLite file, the fake's faults, cancels and
deadlines, both workflows at once; the promises hold."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from bench.chaos import UNEXPLAINED, Options, run_chaos

SMALL = Options(
    runs=14,
    seed=7,
    workers=2,
    concurrency=14,
    cancel_share=0.15,
    deadline_share=0.15,
    tokens=(150, 350),
    tokens_per_second=(40, 60, 80),
    # A create or cancel lost with its worker, or whose completion the server's outage
    # swallowed, is retried only after its start-to-close timeout (60 s, 30 s): too long for
    # the suite. So all runs start at once and create their responses before the first kill,
    # and the server dies when no create or cancel is in flight. The bench kills anywhere.
    quiet_start_seconds=3.0,
    min_chaos_seconds=12.0,
    kill_every_seconds=2.0,
    max_worker_kills=5,
    server_kill_at=1.0,
    server_kill_when_idle=True,
    # Both widen the create window or take a 20 s timeout to show; the bench runs them.
    slow_answers=False,
    slow_creates=False,
    honour_idempotency_key=False,  # OpenAI does not document honouring it
    settle_timeout_seconds=75,
    quiet=True,
)


async def test_chaos_keeps_text_exact_and_leaves_no_stuck_run_or_orphan(tmp_path: Path):
    report = await run_chaos(dataclasses.replace(SMALL, workdir=tmp_path))
    summary = f"{report.table()}\n{report.details()}"

    assert len(report.runs) == SMALL.runs, summary
    assert report.outages and report.kills, summary  # the chaos happened
    assert report.mismatches == [], summary
    assert report.stuck == [], summary
    # A response its workflow recorded is never left running, even before the reaper's pass.
    assert [o for o in report.orphans_before if o.recorded] == [], summary
    assert report.orphans_after == [], summary
    # Without the key, a create whose answer was lost or whose worker died makes a second
    # response: each must be attributed to a documented create window, none unexplained.
    assert [d for d in report.duplicates if d.window == UNEXPLAINED] == [], summary
