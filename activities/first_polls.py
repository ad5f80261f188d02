"""The first polls of a young response, made by the create activity itself.

A run that ends within seconds spends most of its cost on Temporal, not on the API: each
durable poll is a timer, a workflow task and a local-activity marker. While the response is
young the create activity polls it on the same intervals instead, heartbeating, and answers
once it ends or once the next poll would fall past its budget; the workflow's durable sleeps
take over from there, so a run of minutes keeps them.

Promise 1 (one upstream response per workflow): the first heartbeat, sent as soon as the
create answers, names the response; a retried attempt (a worker killed mid-poll, a retrieve
that failed) finds it there and resumes polling instead of creating again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from temporalio import activity

from durable_responses.models import is_terminal

from .models import CreateResponseInput, FirstPollsHeartbeat, ResponseRef, ResponseSnapshot

HEARTBEAT_EVERY_SECONDS = 5.0
"""How often the activity heartbeats while it polls after the first heartbeat (which names the
response at once): how soon it sees a cancel. Each heartbeat is a server write, so a short run
makes one or two; the count of polls it carries may lag a retry's by those since."""


MAX_YOUNG_RUNS = 50
"""Runs one worker process polls inside their creates at once, at most. Each holds an activity
slot (the SDK's default is 100) for up to its budget: past this many, creates of other runs
would queue behind them (1,000 runs started together waited 81 s at the median to be created,
`bench.regime --scale 0.1`), so later runs poll durably from the first instead."""
_young_runs = 0


def resumed() -> FirstPollsHeartbeat | None:
    """What an earlier attempt of this activity created and saw, if it got that far."""
    details = activity.info().heartbeat_details
    if details:
        with contextlib.suppress(Exception):
            return FirstPollsHeartbeat.model_validate(details[0])
    return None


async def poll_while_young(
    input: CreateResponseInput,
    known: FirstPollsHeartbeat,
    created: ResponseSnapshot | None,
    retrieve: Callable[[ResponseRef], Awaitable[ResponseSnapshot]],
    cancel_upstream: Callable[[str], Awaitable[None]],
) -> ResponseSnapshot:
    """Poll `known` on the policy's intervals until it ends or the next poll is due past the
    budget; the last snapshot, with `polls` set, however it stops.

    Whatever goes wrong here hands over to the workflow's own polls instead of failing: a
    retrieve error (the workflow's retrieve maps and retries it, knowing the response), the
    worker shutting down, a cancel (the workflow records the id, then cancels upstream).
    """
    last = created
    with _young_slot() as room:
        if not room:  # the slots are for creates now: durable polls
            return _answer(last, known)
        policy = input.first_polls
        assert policy is not None
        activity.heartbeat(known.model_dump())  # the first goes out at once: it names it
        beating = asyncio.create_task(_heartbeat(known))
        try:
            interval = policy.initial_interval_seconds
            for _ in range(known.polls):
                interval = policy.next_interval(interval)
            ends = known.created_at + input.first_polls_seconds
            while last is None or not is_terminal(last.status):
                if time.time() + interval > ends and last is not None:
                    break
                if last is not None and await _shutdown_within(interval):
                    activity.logger.info("worker shutting down: %s is left to durable polls", known)
                    break
                try:
                    last = await retrieve(ResponseRef(response_id=known.response_id))
                except Exception as err:  # any failure: the workflow polls instead
                    activity.logger.info(
                        "first poll of %s failed (%s): left to durable polls",
                        known.response_id,
                        err,
                    )
                    break
                known.polls += 1
                known.status, known.model = last.status, last.model or known.model
                interval = policy.next_interval(interval)
        except asyncio.CancelledError:
            details = activity.cancellation_details()
            if details is not None and details.not_found:
                # The run closed without cleanup (terminated, timed out) before it recorded
                # the id: no search attribute names the response, so the reaper cannot find
                # it. End it here (the orphan rule), as the stream reader does for an
                # unrecorded response.
                activity.logger.info(
                    "run of %s closed while polling: cancelling", known.response_id
                )
                await cancel_upstream(known.response_id)
                raise
            # Cancelled through a heartbeat: answer with the id, so the workflow's cleanup
            # cancels the response upstream (the orphan rule), as for a create it let finish.
            activity.logger.info("create of %s cancelled while polling", known.response_id)
        finally:
            beating.cancel()
    return _answer(last, known)


@contextlib.contextmanager
def _young_slot() -> Iterator[bool]:
    """Whether this run may poll inside its create (`MAX_YOUNG_RUNS`), holding a place if so."""
    global _young_runs
    if _young_runs >= MAX_YOUNG_RUNS:
        yield False
        return
    _young_runs += 1
    try:
        yield True
    finally:
        _young_runs -= 1


def _answer(last: ResponseSnapshot | None, known: FirstPollsHeartbeat) -> ResponseSnapshot:
    """The create's answer: the last snapshot (or what the heartbeat knows), with the polls."""
    if last is None:
        last = ResponseSnapshot(id=known.response_id, status=known.status, model=known.model)
    return last.model_copy(update={"polls": known.polls})


async def _heartbeat(known: FirstPollsHeartbeat) -> None:
    while True:
        await asyncio.sleep(HEARTBEAT_EVERY_SECONDS)
        activity.heartbeat(known.model_dump())


async def _shutdown_within(seconds: float) -> bool:
    """Sleep `seconds`; True, at once, if the worker starts shutting down meanwhile."""
    shutdown: asyncio.Future[Any] = asyncio.ensure_future(activity.wait_for_worker_shutdown())
    try:
        await asyncio.wait_for(asyncio.shield(shutdown), max(seconds, 0.0))
    except TimeoutError:
        return False
    finally:
        shutdown.cancel()
    return True
