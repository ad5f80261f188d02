"""The reaper, from outside: `durable-responses-reap` for one pass now, and the Schedule that
runs `ReapOrphanedResponsesWorkflow` every so often (`durable-responses-worker --reap-every`).

    durable-responses-reap --older-than 600 --dry-run

What it finds and what it cannot: `durable_responses/activities/reaper.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from datetime import timedelta

import openai
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from durable_responses import connection
from durable_responses.activities.reaper import reap
from durable_responses.models.reaper import ReapReport, ReapRequest

log = logging.getLogger("durable_responses.reaper")


def schedule_id(task_queue: str) -> str:
    return f"durable-responses-reaper-{task_queue}"


async def ensure_schedule(
    client: Client, task_queue: str, every: timedelta, request: ReapRequest
) -> str:
    """Create the reaper's Schedule on `task_queue`, or bring an existing one up to date.

    Idempotent: every worker of a fleet may call it at start; one Schedule results. Passes do
    not overlap (a slow one skips the next).
    """
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            "ReapOrphanedResponsesWorkflow",
            request,
            id=f"{schedule_id(task_queue)}-pass",
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    sid = schedule_id(task_queue)
    try:
        await client.create_schedule(sid, schedule)
        log.info("reaper scheduled every %s on %r", every, task_queue)
    except ScheduleAlreadyRunningError:

        async def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(sid).update(replace)
    return sid


def _print(report: ReapReport) -> None:
    verb = "would cancel" if report.dry_run else "cancelled"
    print(f"{report.checked} closed workflow(s) with a response last seen running")
    print(f"{verb}: {len(report.cancelled)} {' '.join(report.cancelled)}".rstrip())
    print(f"already ended: {len(report.already_ended)}; failed: {len(report.failed)}")


async def _main(args: argparse.Namespace) -> int:
    client = await connection.connect(
        address=args.address, namespace=args.namespace, profile=args.profile
    )
    api = openai.AsyncOpenAI(max_retries=0)
    request = ReapRequest(older_than_seconds=args.older_than, dry_run=args.dry_run)
    report = await reap(client, api, request)
    _print(report)
    return 1 if report.failed else 0


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of `durable-responses-reap`."""
    connection.exit_after(lambda: _cli(argv))


def _cli(argv: Sequence[str] | None) -> None:
    parser = argparse.ArgumentParser(
        prog="durable-responses-reap",
        description="Cancel responses that closed workflows (terminated, timed out) left running.",
    )
    parser.add_argument(
        "--older-than",
        type=float,
        default=600.0,
        help="only workflows closed at least this many seconds ago (default 600)",
    )
    parser.add_argument("--dry-run", action="store_true", help="list, cancel nothing")
    parser.add_argument("--address", default=None)
    parser.add_argument("--namespace", default=None)
    parser.add_argument("--profile", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        sys.exit(asyncio.run(_main(args)))
    except (openai.OpenAIError, connection.ConnectionConfigError) as err:
        sys.exit(f"reap: {err}")


if __name__ == "__main__":
    main()
