"""Whether the create makes a run's first polls itself, and counting them once it has.

A short run's cost is its Temporal operations: each durable poll is a timer, a workflow task
and a marker (7 events). The polls due within `PollPolicy.first_polls_seconds` of the create
are made by the create activity instead (`activities/first_polls.py`), on the same intervals,
so a run that ends that soon records one activity and two workflow tasks (14 events).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from durable_responses.activities import CreateResponseInput, ResponseSnapshot
    from durable_responses.models._carried import CarriedRequest, ResumeState

    from . import metrics
    from ._calls import CREATE_TIMEOUT
    from ._deadline import remaining
    from ._patches import FIRST_POLLS_PATCH, patched


def first_polls(
    request: CarriedRequest, state: ResumeState, create: CreateResponseInput
) -> CreateResponseInput:
    """`create`, asked to poll while the response is young when that can change nothing but
    the cost.

    Not with a poll task queue (its dispatch rate must bound every poll), a completion window
    (polls minutes apart), a flex fallback (its create budget would cut the polls short and
    read as "flex unavailable"), or a deadline within the polls' reach (a create timed out
    mid-poll would leave a response the workflow cannot name), nor when no poll is due that
    soon. A webhook receiver is known to the activity only: it then answers at once. Runs from
    before the patch created only.
    """
    policy = request.poll
    seconds = policy.first_polls_seconds
    if (
        policy.initial_interval_seconds > seconds  # no poll due that soon
        or policy.task_queue is not None
        or request.discounted_window() is not None
        or (request.flex_fallback_seconds is not None and create.params.service_tier == "flex")
    ):
        return create
    left = remaining(state.deadline_at)
    if left is not None and left < CREATE_TIMEOUT + timedelta(seconds=seconds) * 2:
        return create
    if not patched(FIRST_POLLS_PATCH):
        return create
    return create.model_copy(update={"first_polls": policy, "first_polls_seconds": seconds})


def counted_first_polls(
    request: CarriedRequest, state: ResumeState, created: ResponseSnapshot
) -> None:
    """Count the create's own polls as the run's, and carry the interval on from the last,
    so the durable polls go on where the activity's left off."""
    if created.polls <= 0:
        return
    state.polls += created.polls
    interval = request.poll.initial_interval_seconds
    for _ in range(created.polls):
        interval = request.poll.next_interval(interval)
        metrics.polled()
    state.interval_seconds = interval
