"""Temporal's payload limit and the budgets that keep every payload of ours under it.

A payload over the limit is refused by the SDK before it reaches the server, and the
workflow task that produced it fails again and again: a stuck run. Every result, batch and
carried state is therefore shaped to fit (see `items.fit_output`).
"""

from __future__ import annotations

PAYLOAD_LIMIT = 2 * 1024 * 1024
"""Temporal's payload limit: the server's `limit.blobSize.error` default, also Temporal
Cloud's."""

HEADROOM = 4096
"""Room left for what an activity input adds to a request (ids, cursor, stream policy)."""

RESULT_BUDGET = PAYLOAD_LIMIT - 64 * 1024
"""Largest encoded result or snapshot we produce: the rest of the payload (timestamps,
counters) and the event around it need less than the 64 KiB left."""

MAX_ITEM_BYTES = 256 * 1024
"""An output item larger than this as JSON (a generated image, say) is carried by a stream as
its id alone (`RecordedItem.omitted`); the provider keeps it whole."""

MAX_BATCH_ITEM_BYTES = 512 * 1024
"""A stream batch is recorded early once the items it holds reach this size."""
