"""Refuse, with a typed error, an input too large for the activity that must carry it.

An input that fits Temporal's payload limit at start can still leave no room for the
activity input built from it (~250 bytes more): the SDK then refuses to upload the command
and the workflow task fails forever, with the run RUNNING. Only inputs near the limit are
measured, by a local activity (never uploaded) because the codec decides the encoded size.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from durable_responses.activities import CreateResponseInput
    from durable_responses.activities.responses import ResponsesActivities
    from durable_responses.models import ErrorType, ResponseResult, fitting
    from durable_responses.models._carried import CarriedRequest
    from durable_responses.models.limits import HEADROOM, PAYLOAD_LIMIT, RESULT_BUDGET

    from ._patches import patched

SIZE_PATCH = "input-size-check-v1"
"""Runs from before this patch scheduled their first activity whatever the input's size."""

MEASURE_TIMEOUT = timedelta(seconds=10)
MEASURE_RETRY = RetryPolicy(maximum_attempts=3)
"""Encoding fails again on a retry unless the worker was overloaded: fail the run, not hang."""


async def ensure_input_fits(request: CarriedRequest) -> None:
    """Raise `InvalidRequest` if the create's input, as this worker encodes it, leaves less
    than `HEADROOM` under `PAYLOAD_LIMIT`. Continued runs carry an input already checked."""
    if request.resume is not None:
        return
    create = CreateResponseInput(params=request.api_params())
    (raw,) = workflow.payload_converter().to_payloads([create])
    # A codec adds at most a nonce, a tag and a few metadata bytes; below this, it fits.
    if raw.ByteSize() <= PAYLOAD_LIMIT - 2 * HEADROOM or not patched(SIZE_PATCH):
        return
    encoded = await workflow.execute_local_activity_method(
        ResponsesActivities.measure_create_input,
        create,
        start_to_close_timeout=MEASURE_TIMEOUT,
        retry_policy=MEASURE_RETRY,
    )
    if encoded.bytes + HEADROOM > PAYLOAD_LIMIT:
        raise ApplicationError(
            f"input too large: the request is {encoded.bytes:,} bytes once encoded, and an "
            f"activity input must stay under Temporal's payload limit of {PAYLOAD_LIMIT:,} "
            f"bytes with {HEADROOM:,} to spare; send a shorter input, or put the long part in "
            "a file or an earlier response (previous_response_id)",
            type=ErrorType.INVALID_REQUEST,
            non_retryable=True,
        )


def _plain_size(value: object) -> int:
    (payload,) = workflow.payload_converter().to_payloads([value])
    return payload.ByteSize()


def fit_result(result: ResponseResult) -> ResponseResult:
    """`result`, or the least reduced copy of it whose plain encoding fits `RESULT_BUDGET`
    (`fitting.reductions`; the activities do the same measuring with the codec).

    Workflow code sees the plain size only (a codec may well make it smaller): it errs on the
    side of a result that fits.
    """
    if _plain_size(result) <= RESULT_BUDGET:
        return result
    workflow.logger.warning(
        "response %s: the result exceeds the %d-byte budget; reducing it (the provider keeps "
        "it whole)",
        result.response_id,
        RESULT_BUDGET,
    )
    for smaller in fitting.reductions(result, RESULT_BUDGET):
        result = smaller
        if _plain_size(result) <= RESULT_BUDGET:
            break
    return result
