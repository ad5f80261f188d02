"""The project's own metrics, emitted from workflow code through the SDK's metric meter.

They reach the same Prometheus endpoint as the SDK's runtime metrics (`worker.py
--metrics-port`), with the `namespace`, `task_queue` and `workflow_type` labels the SDK adds.
The workflow meter drops what it is given during replay, so a run replayed on a new worker
does not count again. A workflow task that *fails* (a bug, an unregistered search attribute)
is retried, not replayed, and counts again: these are counts per completed workflow task.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import MetricMeter

with workflow.unsafe.imports_passed_through():
    from durable_responses.activities import ResponseSnapshot
    from durable_responses.models import Usage
    from durable_responses.models._carried import ResumeState
    from durable_responses.models.names import (
        METRIC_COMPLETION_LAG,
        METRIC_CREATED,
        METRIC_FINISHED,
        METRIC_POLLS,
        METRIC_STREAM_RESUMES,
        METRIC_TOKENS,
        METRICS,
    )

# The names' old homes (defined in durable_responses.models.names).
CREATED = METRIC_CREATED
FINISHED = METRIC_FINISHED
POLLS = METRIC_POLLS
STREAM_RESUMES = METRIC_STREAM_RESUMES
COMPLETION_LAG = METRIC_COMPLETION_LAG
TOKENS = METRIC_TOKENS
NAMES = METRICS


def created(model: str) -> None:
    """An upstream response was created (once per response, not per create attempt)."""
    workflow.metric_meter().create_counter(CREATED, "Background responses created upstream.").add(
        1, {"model": model or "unknown"}
    )


def polled() -> None:
    workflow.metric_meter().create_counter(POLLS, "Retrieve calls made to poll a response.").add(1)


def stream_resumed(times: int = 1) -> None:
    """A stream was read again from the recorded cursor (a retried chunk or a cut stream)."""
    if times > 0:
        workflow.metric_meter().create_counter(
            STREAM_RESUMES, "Streams resumed from the recorded cursor."
        ).add(times)


def finished(status: str, state: ResumeState, snapshot: ResponseSnapshot | None = None) -> None:
    """A created response's run ended: `status` is the upstream terminal status, or
    `cancelled`, `deadline_exceeded` or `error` (a typed API error) for the workflow's own end.

    For a response that ended upstream it also records the tokens it used and how long after
    the provider's `completed_at` the workflow saw it (whole seconds on the provider's side).
    """
    if snapshot is None and state.response_id is None:
        return  # no response was created: the SDK's workflow-failure metrics count the run
    meter = workflow.metric_meter()
    model = (snapshot.model if snapshot is not None else "") or state.model or "unknown"
    meter.create_counter(FINISHED, "Background responses that ended, by status.").add(
        1, {"status": status, "model": model}
    )
    if snapshot is None:
        return
    if snapshot.completed_at is not None:
        lag = workflow.now().timestamp() - snapshot.completed_at
        meter.create_histogram_float(
            COMPLETION_LAG,
            "Seconds from the provider's completed_at to the workflow seeing it.",
            "s",
        ).record(max(lag, 0.0), {"model": model})
    if snapshot.usage is not None:
        _count_tokens(meter, model, snapshot.usage)


def _count_tokens(meter: MetricMeter, model: str, usage: Usage) -> None:
    tokens = meter.create_counter(TOKENS, "Tokens used, by model and kind.")
    for kind, value in (
        ("input", usage.input_tokens),
        ("output", usage.output_tokens),
        ("reasoning", usage.reasoning_tokens),
    ):
        if value:
            tokens.add(value, {"model": model, "kind": kind})
