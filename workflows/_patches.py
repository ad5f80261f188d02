"""One marker for every patch so far: a new run records it once instead of one per patch.

Each `workflow.patched(id)` a run passes records a marker and upserts the server's
`TemporalChangeVersion` search attribute: two events and a visibility write per patch, six
patches, in every run. A run that records `UMBRELLA` takes every patch in `COVERED`; a run
recorded without it (started before this change) replays by its own markers, as it ran.

`COVERED` is closed: a patch added from now on calls `workflow.patched` itself. Runs that
recorded the umbrella before that patch existed took its old branch; were it covered, their
replay would take the new one.
"""

from __future__ import annotations

from temporalio import workflow

UMBRELLA = "patches-2026-12"
COVERED = frozenset(
    {
        "search-attributes-v1",
        "orphan-rule-v1",
        "final-status-v1",
        "input-size-check-v1",
        "stream-reader-v1",
        "webhook-wake-v1",
    }
)


def patched(patch_id: str) -> bool:
    """`workflow.patched(patch_id)`, true without a marker of its own in a run that recorded
    `UMBRELLA` (every run from now on: the umbrella is asked first)."""
    if patch_id in COVERED and workflow.patched(UMBRELLA):
        return True
    return workflow.patched(patch_id)
