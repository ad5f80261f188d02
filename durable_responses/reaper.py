"""The reaper, from outside: `durable-responses-reap` for one pass now, and the Schedule that
runs `ReapOrphanedResponsesWorkflow` every so often (`durable-responses-worker --reap-every`).

    durable-responses-reap --older-than 600 --dry-run

What it finds and what it cannot: `durable_responses/activities/reaper.py`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import ClassVar

import openai
from pydantic import Field
from pydantic_settings import CliImplicitFlag, SettingsConfigDict
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

from durable_responses import cli
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


class ReapSettings(cli.TemporalSettings):
    """Cancel responses that closed workflows (terminated, timed out) left running."""

    model_config = SettingsConfigDict(cli_prog_name="durable-responses-reap")
    VARIABLES: ClassVar[dict[str, str]] = {
        "older_than": "DURABLE_RESPONSES_REAP_OLDER_THAN",  # the worker's --reap-older-than
        "dry_run": "DURABLE_RESPONSES_REAP_DRY_RUN",
    }
    ENVIRONMENT: ClassVar[dict[str, str]] = {
        **cli.TemporalSettings.ENVIRONMENT,
        "OPENAI_API_KEY": "OpenAI API key, to cancel the responses (read by the openai SDK)",
        "OPENAI_BASE_URL": "OpenAI-compatible base URL; empty: the real API",
    }

    older_than: float = Field(
        default=600.0, ge=0, description="only workflows closed at least this many seconds ago"
    )
    dry_run: CliImplicitFlag[bool] = Field(default=False, description="list, cancel nothing")


async def run(settings: ReapSettings) -> int:
    """One pass now; exit 1 if a cancel failed."""
    client = await cli.connect(settings)
    api = openai.AsyncOpenAI(max_retries=0)
    request = ReapRequest(older_than_seconds=settings.older_than, dry_run=settings.dry_run)
    report = await reap(client, api, request)
    _print(report)
    return 1 if report.failed else 0


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of `durable-responses-reap`."""
    cli.run(ReapSettings, run, argv)


if __name__ == "__main__":
    main()
