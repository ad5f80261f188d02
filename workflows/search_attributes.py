"""Custom search attributes the workflows keep current, so operators can list runs by them.

`temporal workflow list --query "OpenAIResponseStatus = 'in_progress'"` answers once they are
registered on the namespace: `worker.py` registers any that are missing at start-up (the dev
server and the compose stack), and `ensure_registered` does it for workers you run yourself.
A workflow that upserts an unregistered attribute fails its workflow task until it is added.
"""

from __future__ import annotations

from collections.abc import Sequence

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode

OPENAI_RESPONSE_ID = SearchAttributeKey.for_keyword("OpenAIResponseId")
"""The upstream response id (`resp_...`), set as soon as the response is created."""
OPENAI_RESPONSE_STATUS = SearchAttributeKey.for_keyword("OpenAIResponseStatus")
"""The last upstream status seen: queued, in_progress, completed, incomplete, failed, cancelled."""
OPENAI_MODEL = SearchAttributeKey.for_keyword("OpenAIModel")
"""The model that serves the response, as the provider names it."""

ALL: tuple[SearchAttributeKey[str], ...] = (
    OPENAI_RESPONSE_ID,
    OPENAI_RESPONSE_STATUS,
    OPENAI_MODEL,
)

PATCH_ID = "search-attributes-v1"
"""Runs started before the workflows upserted search attributes replay without them."""


async def ensure_registered(
    client: Client, keys: Sequence[SearchAttributeKey[str]] = ALL
) -> list[str]:
    """Register the attributes that the client's namespace lacks; returns the names added.

    Needs operator rights on the namespace (Temporal Cloud: register them in the Cloud UI or
    with `tcld` instead; this then raises `RPCError` PERMISSION_DENIED with the server's text).
    """
    namespace = client.namespace
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        present = set(listed.custom_attributes) | set(listed.system_attributes)
    except RPCError as err:
        if err.status != RPCStatusCode.UNIMPLEMENTED:  # the time-skipping test server
            raise
        present = set()
    missing = [key for key in keys if key.name not in present]
    if not missing:
        return []
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=namespace,
                search_attributes={
                    key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for key in missing
                },
            )
        )
    except RPCError as err:
        if err.status != RPCStatusCode.ALREADY_EXISTS:  # another worker won the race
            raise
    return [key.name for key in missing]
