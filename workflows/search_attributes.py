"""Custom search attributes the workflows keep current, so operators can list runs by them.

They must be registered on the namespace: `DurableResponsesPlugin` registers any that are
missing when a worker starts (see `durable_responses.namespace`).
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from durable_responses.models._carried import ResumeState
    from durable_responses.models.names import (
        OPENAI_MODEL,
        OPENAI_RESPONSE_ID,
        OPENAI_RESPONSE_STATUS,
        SEARCH_ATTRIBUTES,
    )

    from ._patches import patched

ALL = SEARCH_ATTRIBUTES  # its old home

__all__ = [
    "ALL",
    "OPENAI_MODEL",
    "OPENAI_RESPONSE_ID",
    "OPENAI_RESPONSE_STATUS",
    "PATCH_ID",
    "index",
]

PATCH_ID = "search-attributes-v1"
"""Runs started before the workflows upserted search attributes replay without them."""


def index(state: ResumeState) -> None:
    """Keep the search attributes current, upserting only what changed (one event each time).

    Behind a patch: runs recorded before the workflows had search attributes replay as they
    ran. See README, "Changing workflow code".
    """
    if not (state.response_id and patched(PATCH_ID)):
        return
    current = workflow.info().typed_search_attributes
    changed = [
        key.value_set(value)
        for key, value in (
            (OPENAI_RESPONSE_ID, state.response_id),
            (OPENAI_RESPONSE_STATUS, state.status),
            (OPENAI_MODEL, state.model),
        )
        if value and current.get(key) != value
    ]
    if changed:
        workflow.upsert_search_attributes(changed)
