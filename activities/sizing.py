"""Fit a finished response's snapshot under Temporal's payload limit, as this worker encodes it.

An activity result over the limit is refused by the SDK and fails the workflow task again and
again: a stuck run. The worker's converter, codec included, decides the encoded size, so the
activity measures it (compression often makes a large answer fit) and gives up detail in the
order that loses nothing the caller cannot get back:

the text of messages' `output_text` parts (it is `output_text` again), the largest items
(down to their id, type and status), the response object around the items, and last the
head of `output_text` (`models/fitting.reductions`).
"""

from __future__ import annotations

from temporalio import activity

from durable_responses.models import fitting
from durable_responses.models.limits import RESULT_BUDGET

from .models import ResponseSnapshot

CODEC_SLACK = 4096
"""What a codec may add to a payload (a nonce, a tag, metadata): below the budget by this
much in plain JSON, a snapshot fits whatever the codec."""


async def fit_snapshot(snapshot: ResponseSnapshot, budget: int = RESULT_BUDGET) -> ResponseSnapshot:
    """`snapshot`, or the least reduced copy of it that encodes within `budget` bytes."""
    if len(snapshot.model_dump_json()) <= budget - CODEC_SLACK:
        return snapshot  # the usual case: no encoding here
    if await _encoded_size(snapshot) <= budget:
        return snapshot
    activity.logger.warning(
        "response %s: %d output items and %d characters exceed the %d-byte payload budget; "
        "reducing the result (the provider keeps it whole)",
        snapshot.id,
        len(snapshot.output),
        len(snapshot.output_text),
        budget,
    )
    for smaller in fitting.reductions(snapshot, budget - CODEC_SLACK):
        snapshot = smaller
        if await _encoded_size(snapshot) <= budget:
            break
    return snapshot


async def _encoded_size(snapshot: ResponseSnapshot) -> int:
    payloads = await activity.client().data_converter.encode([snapshot])
    return sum(payload.ByteSize() for payload in payloads)
