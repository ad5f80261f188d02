"""Follow a run through Temporal, across crashes: a `StreamingResponseWorkflow`'s text by
offset, a `BackgroundResponseWorkflow`'s progress (status, polls, what it is doing).

    durable-responses-follow WORKFLOW_ID [--from N] [--no-items] [--json]
    (or python -m durable_responses.follow)

Each step asks the workflow's `text` query for the recorded text after offset N, and the
reader's heartbeat (`describe`) for the text it has read but not recorded yet. Neither writes
history or counts against the server's per-run update limits, so any number of followers may
watch one run. Offsets are absolute, so a follower that restarts (or whose worker restarts)
reconnects with its last offset and sees no gap and no repeat. The reading itself is the run
handle's (`durable_responses.run.RunHandle`); these are its long-standing function forms.
Client-side code: workflows never import it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from temporalio.client import WorkflowHandle

from durable_responses.models import Progress, ResponseResult, TextSlice
from durable_responses.models.names import STREAM_READER_ACTIVITY
from durable_responses.run import (
    MAX_BACKOFF_SECONDS,
    QUERY_TIMEOUT,
    RunHandle,
    reader_tail,
    retrying,
)

__all__ = [
    "MAX_BACKOFF_SECONDS",
    "QUERY_TIMEOUT",
    "READER_ACTIVITY",
    "follow",
    "follow_progress",
    "main",
    "reader_tail",
    "retrying",
]

READER_ACTIVITY = STREAM_READER_ACTIVITY  # its old home


async def follow(
    handle: WorkflowHandle[Any, ResponseResult],
    offset: int = 0,
    *,
    poll_seconds: float = 0.2,
    retry_seconds: float = 0.5,
    live_tail: bool = True,
    wait_seconds: float | None = None,
    items_from: int | None = None,
) -> AsyncIterator[TextSlice]:
    """Yield the text after `offset` as the stream is read, until the response is done.

    `live_tail` also yields text the reader has read but not yet recorded (at most a batch
    interval behind the provider, one heartbeat at most after it was read); it is the
    provider's text at the same offsets, so nothing repeats once it is recorded.

    With `items_from`, slices also carry the output items recorded from that index on, one
    line each (`items`: `searching: "…"`, `calling get_weather({…})`), each once, and what
    the stream is doing right now (`activity`) whenever it changes.

    A follower fails only when the run does: it raises `WorkflowFailureError` if the workflow
    failed, was cancelled, terminated or timed out, `LookupError` if there is no such
    workflow, and `TypeError` if it is not a streaming one. Everything else is transient and
    retried: a query the busy workflow cannot take ("consistent query buffer is full") or
    whose worker died with the workflow cached (asked again after `retry_seconds`), the
    server unreachable or rate limiting (backing off up to `MAX_BACKOFF_SECONDS`),
    continue-as-new, the end of the run. `wait_seconds` is accepted for callers of the
    update-based version and ignored. (`RunHandle(handle).follow(...)`.)
    """
    del wait_seconds
    async for piece in RunHandle(handle).follow(
        offset,
        poll_seconds=poll_seconds,
        retry_seconds=retry_seconds,
        live_tail=live_tail,
        items_from=items_from,
    ):
        yield piece


async def follow_progress(
    handle: WorkflowHandle[Any, ResponseResult],
    *,
    poll_seconds: float = 0.5,
    retry_seconds: float = 0.5,
) -> AsyncIterator[Progress | ResponseResult | str]:
    """Yield a polling run's `progress` whenever it changes, then its result.

    Changes are of status, polls, items or the latest item (`activity`, e.g.
    `searching: "…"`); waits between them are `poll_seconds`. A `str` is a new retry note
    (`retrying`): an activity fails and Temporal retries it. Fails as `follow` does:
    `WorkflowFailureError` for a run that did not complete, `LookupError` for no such run;
    a query the busy or restarting worker cannot answer now is asked again.
    (`RunHandle(handle).follow_progress(...)`.)
    """
    async for event in RunHandle(handle).follow_progress(
        poll_seconds=poll_seconds, retry_seconds=retry_seconds
    ):
        yield event


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of `durable-responses-follow` (the command: `_follow_command.py`)."""
    from durable_responses._follow_command import main as command

    command(argv)


if __name__ == "__main__":
    main()
