"""Find responses that closed workflows left running upstream, and cancel them.

Workflow code cannot catch every way out: a terminated or timed-out run runs no cleanup. Such
a run keeps its last `OpenAIResponseStatus` search attribute, so visibility lists exactly the
closed runs whose response was last seen `queued` or `in_progress`. What this cannot find: a
response whose id was never recorded (a worker that died between the provider accepting a
create and the id reaching history). OpenAI offers no way to list responses, so those need the
provider's dashboard; the workflow id is in each response's `metadata.temporal_workflow_id`.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import openai
from openai import AsyncOpenAI
from temporalio.client import Client

from durable_responses.models.names import OPENAI_RESPONSE_ID, OPENAI_RESPONSE_STATUS
from durable_responses.models.reaper import ReapReport, ReapRequest

from .timeouts import CALL_TIMEOUT_SECONDS

log = logging.getLogger("durable_responses.reaper")


def orphan_query(older_than: timedelta, now: datetime | None = None) -> str:
    """Closed runs whose response was last seen active, closed before `now - older_than`."""
    before = ((now or datetime.now(UTC)) - older_than).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return (
        f"ExecutionStatus != 'Running' AND {OPENAI_RESPONSE_STATUS.name} IN ('queued', "
        "'in_progress') "
        f"AND CloseTime < '{before}'"
    )


async def reap(client: Client, api: AsyncOpenAI, request: ReapRequest) -> ReapReport:
    """One pass: list the orphans, cancel each upstream (unless `dry_run`). Idempotent: a
    response already ended (by us before, or by itself) is reported, not an error."""
    report = ReapReport(dry_run=request.dry_run)
    query = orphan_query(timedelta(seconds=request.older_than_seconds))
    async for execution in client.list_workflows(query, limit=request.max_workflows):
        rid = execution.typed_search_attributes.get(OPENAI_RESPONSE_ID)
        if not rid:
            continue
        report.checked += 1
        if request.dry_run:
            report.cancelled.append(rid)
            continue
        try:
            await api.responses.cancel(rid, timeout=CALL_TIMEOUT_SECONDS)
        except (openai.BadRequestError, openai.NotFoundError):
            report.already_ended.append(rid)  # ended upstream, or gone
            continue
        except openai.OpenAIError as err:
            log.warning(
                "could not cancel response %s of %s: %s", rid, execution.id, type(err).__name__
            )
            report.failed.append(rid)
            continue
        log.info("cancelled response %s, left running by closed workflow %s", rid, execution.id)
        report.cancelled.append(rid)
    return report
