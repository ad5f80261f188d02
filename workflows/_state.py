"""A run's state: the checked request, the state it starts from, and the progress it shows."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from durable_responses.models import ErrorType, Progress, ResponseRequest
    from durable_responses.models._carried import CarriedRequest, ResumeState

RunInput = ResponseRequest | CarriedRequest | None
"""What the run methods accept: a caller's `ResponseRequest`, or the `CarriedRequest` that
continue-as-new passes (pydantic picks `CarriedRequest` only when `resume` is present)."""


def validated_request(request: object, unexpected: tuple[object, ...]) -> CarriedRequest:
    """The workflow input, checked here rather than by the payload converter.

    A run method with one typed parameter leaves a workflow RUNNING with a workflow task that
    fails forever when it is started with no argument, two arguments or `null` (the CLI makes
    all three easy). Taking the raw value and validating it in workflow code turns each into an
    immediate, typed workflow failure. Only continue-as-new may carry state (`resume`).
    """
    if unexpected:
        raise _invalid(f"expected one request argument, got {1 + len(unexpected)}")
    if request is None:
        raise _invalid('expected a request argument, e.g. --input \'{"input": "Hello"}\'')
    if isinstance(request, CarriedRequest):
        checked = request
    else:
        raw = request.model_dump() if isinstance(request, ResponseRequest) else request
        try:
            checked = CarriedRequest.model_validate(raw)
        except ValidationError as err:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in e['loc']) or 'request'}: {e['msg']}"
                for e in err.errors(include_url=False)
            )
            raise _invalid(f"invalid request: {problems}") from None
    if checked.resume is not None and workflow.info().continued_run_id is None:
        raise _invalid("'resume' is set by continue-as-new, not by callers")
    return checked


def try_request(request: object) -> CarriedRequest | None:
    """The request if it is valid, else None: for `@workflow.init`, which must not raise
    (an error there fails the workflow task forever); `run` then reports the problem."""
    try:
        return validated_request(request, ())
    except ApplicationError:
        return None


def _invalid(message: str) -> ApplicationError:
    return ApplicationError(message, type=ErrorType.INVALID_REQUEST, non_retryable=True)


def initial_state(request: CarriedRequest) -> ResumeState:
    """The carried state after continue-as-new, else a fresh one with the deadline fixed now."""
    if request.resume is not None:
        return request.resume.model_copy(deep=True)
    now = workflow.now()
    deadline = (
        None
        if request.deadline_seconds is None
        else now + timedelta(seconds=request.deadline_seconds)
    )
    return ResumeState(started_at=now, deadline_at=deadline)


SENT_INPUT = "(sent with the create; not carried)"
"""What a continued run holds of a prompt it no longer needs."""


def continued(request: CarriedRequest, state: ResumeState) -> CarriedRequest:
    """The next run's input: the caller's request and the state carried into it.

    Once the response exists its prompt is never sent again, so it is not carried: a prompt
    near the payload limit plus the carried text and items would not fit one payload.
    """
    update: dict[str, object] = {"resume": state.model_copy(update={"runs": state.runs + 1})}
    if state.response_id is not None:
        update |= {"input": SENT_INPUT, "instructions": None}
    return request.model_copy(update=update)


def progress_of(
    state: ResumeState, next_poll_at: datetime | None, *, items: int, activity: str | None
) -> Progress:
    """What the `progress` query of both workflows answers."""
    started = state.started_at or workflow.now()
    return Progress(
        response_id=state.response_id,
        status=state.status or "starting",
        model=state.model,
        polls=state.polls,
        runs=state.runs,
        elapsed_seconds=(workflow.now() - started).total_seconds(),
        started_at=state.started_at,
        next_poll_at=next_poll_at,
        cursor=state.cursor,
        text_length=state.text_length,
        reasoning_length=state.reasoning_length,
        chunks=state.chunks,
        resumes=state.resumes,
        items=items,
        activity=activity,
    )
