"""The one poll loop: durable sleeps that grow, a retrieve after each, until the end."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import NoReturn

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from durable_responses.activities import ResponseSnapshot
    from durable_responses.models import PollPolicy, is_terminal
    from durable_responses.models._carried import ResumeState

    from ._calls import retrieve
    from ._deadline import poll_delay
    from ._patches import patched

WEBHOOK_PATCH = "webhook-wake-v1"
"""Runs from before this patch slept a plain timer between polls; new ones wait on "a webhook
arrived or the interval passed" (the same timer when no webhook comes)."""


async def poll_once(
    state: ResumeState,
    policy: PollPolicy,
    record: Callable[[ResponseSnapshot], None],
    *,
    partial_output: bool = False,
) -> ResponseSnapshot:
    """Retrieve now, count the poll and record what it saw (with `partial_output`, the text
    and items of a running response too)."""
    snapshot = await retrieve(state, policy, partial_output=partial_output)
    state.polls += 1
    record(snapshot)
    return snapshot


async def poll_until_terminal(
    state: ResumeState,
    policy: PollPolicy,
    snapshot: ResponseSnapshot,
    *,
    record: Callable[[ResponseSnapshot], None],
    continue_as_new: Callable[[], Awaitable[NoReturn]],
    next_poll: Callable[[datetime | None], None] = lambda _: None,
    polls_this_run: int = 0,
    partial_output: bool = False,
    woken: Callable[[], bool] = lambda: False,
    consume_wake: Callable[[], None] = lambda: None,
) -> ResponseSnapshot:
    """Sleep, then poll, with a growing interval, until `snapshot` is terminal.

    Sleeps are server-side timers, so waiting costs no worker time and survives any restart;
    the deadline cuts the last sleep short; a webhook (`woken`) ends it at once. Past
    `policy.max_polls_per_run` polls in this run (or when the server suggests it) the run
    continues as new, carrying the interval.
    """
    interval = state.interval_seconds or policy.initial_interval_seconds
    while not is_terminal(snapshot.status):
        if (
            polls_this_run >= policy.max_polls_per_run
            or workflow.info().is_continue_as_new_suggested()
        ):
            workflow.logger.info(
                "response %s: continuing as new after %d polls", state.response_id, state.polls
            )
            state.interval_seconds = interval
            await continue_as_new()
        delay = poll_delay(state, interval)
        next_poll(workflow.now() + timedelta(seconds=delay))
        if patched(WEBHOOK_PATCH):
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(woken, timeout=delay)
            consume_wake()
        else:
            await workflow.sleep(delay)
        snapshot = await poll_once(state, policy, record, partial_output=partial_output)
        polls_this_run += 1
        interval = policy.next_interval(interval)
    next_poll(None)
    return snapshot
