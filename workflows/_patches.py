"""One marker for every patch so far: a new run records it once instead of one per patch.

Each `workflow.patched(id)` a run passes records a marker and upserts the server's
`TemporalChangeVersion` search attribute: two events and a visibility write per patch, six
patches, in every run. A run that records `UMBRELLA` takes every patch in `COVERED`; a run
recorded without it (started before this change) replays by its own markers, as it ran.

`COVERED` is closed: a patch added from now on calls `workflow.patched` itself. Runs that
recorded the umbrella before that patch existed took its old branch; were it covered, their
replay would take the new one.

`UMBRELLA_2` does the same for `COVERED` and the patches after it: new runs record it (one
marker) and take them all; runs that recorded `UMBRELLA` replay by it, as they ran. A patch
that is not yet in `COVERED_2` (a run with `UMBRELLA_2` never took it) asks for itself.

`UMBRELLA_3` in turn covers `COVERED_2` and the patches after it, the same way.
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


FIRST_POLLS_PATCH = "first-polls-v1"
"""Runs from before this patch made every poll after a durable sleep; new ones let the create
activity make the first polls (`workflows/_first_polls.py`)."""

UMBRELLA_2 = "patches-2027-01"
COVERED_2 = COVERED | {FIRST_POLLS_PATCH}


END_IN_RESULT_PATCH = "stream-end-in-result-v1"
"""Runs from before this patch had the reader signal its terminal batch; new ones take it from
the reader's result (`workflows/_reading.py`)."""

UMBRELLA_3 = "patches-2027-02"
COVERED_3 = COVERED_2 | {END_IN_RESULT_PATCH}


def patched(patch_id: str) -> bool:
    """`workflow.patched(patch_id)`, true without a marker of its own in a run that recorded
    an umbrella covering it (every run from now on: `UMBRELLA_3` is asked first)."""
    if patch_id in COVERED_3 and workflow.patched(UMBRELLA_3):
        return True
    if patch_id in COVERED_2 and workflow.patched(UMBRELLA_2):
        return True
    if patch_id in COVERED and workflow.patched(UMBRELLA):
        return True
    return workflow.patched(patch_id)
