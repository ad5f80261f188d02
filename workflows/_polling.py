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
    from ._wake import Wake

WEBHOOK_PATCH = "webhook-wake-v1"
"""Runs from before this patch slept a plain timer between polls; new ones wait on "a webhook
arrived or the interval passed" (the same timer when no webhook comes)."""
RECHECK_PATCH = "webhook-recheck-v1"
"""Runs from before this patch went back to the safety-net interval after a webhook whose poll
still showed the response running; new ones re-poll seconds apart first (asked only then, so
a run that never meets that case records no marker)."""
RECHECK_GROWTH = 2.0
"""Each re-poll after an unconfirmed webhook waits this many times longer than the last."""


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
    policy: Callable[[], PollPolicy],
    snapshot: ResponseSnapshot,
    *,
    record: Callable[[ResponseSnapshot], None],
    continue_as_new: Callable[[], Awaitable[NoReturn]],
    next_poll: Callable[[datetime | None], None] = lambda _: None,
    polls_this_run: int = 0,
    partial_output: bool = False,
    wake: Wake | None = None,
) -> ResponseSnapshot:
    """Sleep, then poll, with a growing interval, until `snapshot` is terminal.

    Sleeps are server-side timers, so waiting costs no worker time and survives any restart;
    the deadline cuts the last sleep short; a webhook (`wake`) ends it at once, and when the
    poll it brings still shows the response running, re-polls come seconds apart for a while
    (the webhook is trusted: the provider's reads lag it). `policy()` gives the intervals in
    force: switching webhooks on or off (`wake.retuned`) starts its intervals at once. Past
    `max_polls_per_run` polls in this run (or when the server suggests it) the run continues
    as new, carrying the interval.
    """
    current = policy()
    if wake is not None:
        wake.retuned = False  # the intervals are fresh
    interval = state.interval_seconds or current.initial_interval_seconds
    while not is_terminal(snapshot.status):
        if (
            polls_this_run >= current.max_polls_per_run
            or workflow.info().is_continue_as_new_suggested()
        ):
            workflow.logger.info(
                "response %s: continuing as new after %d polls", state.response_id, state.polls
            )
            state.interval_seconds = interval
            await continue_as_new()
        rechecking = state.recheck_seconds is not None
        delay = poll_delay(state, state.recheck_seconds or interval)
        next_poll(workflow.now() + timedelta(seconds=delay))
        woken = False
        if patched(WEBHOOK_PATCH):
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: wake is not None and (wake.woken() or wake.retuned), timeout=delay
                )
            if wake is not None:
                if wake.retuned:
                    wake.retuned = False
                    current = policy()
                    interval = current.initial_interval_seconds
                    _stop_rechecks(state)
                    if not wake.woken():
                        continue  # nothing to poll for: wait the new interval from now
                woken = wake.consume()
        else:
            await workflow.sleep(delay)
        snapshot = await poll_once(state, current, record, partial_output=partial_output)
        polls_this_run += 1
        if is_terminal(snapshot.status):
            break
        if woken and not rechecking and current.webhook_recheck_window_seconds > 0:
            if patched(RECHECK_PATCH):
                state.recheck_seconds = current.webhook_recheck_seconds
                state.recheck_until = workflow.now() + timedelta(
                    seconds=current.webhook_recheck_window_seconds
                )
                workflow.logger.info(
                    "response %s: a webhook said it ended, the poll says %s: re-polling in %gs",
                    state.response_id,
                    snapshot.status,
                    state.recheck_seconds,
                )
        elif rechecking and not woken:
            _next_recheck(state)
            continue  # the safety-net interval did not pass: it does not grow
        interval = current.next_interval(interval)
    next_poll(None)
    _stop_rechecks(state)
    return snapshot


def _next_recheck(state: ResumeState) -> None:
    """The re-poll after this one, or back to the safety net when it would pass the bound."""
    assert state.recheck_seconds is not None and state.recheck_until is not None
    after = state.recheck_seconds * RECHECK_GROWTH
    if workflow.now() + timedelta(seconds=after) > state.recheck_until:
        _stop_rechecks(state)
    else:
        state.recheck_seconds = after


def _stop_rechecks(state: ResumeState) -> None:
    state.recheck_seconds = state.recheck_until = None
