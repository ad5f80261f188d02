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
    absent = await missing(client, keys)
    await register(client, absent)
    return [key.name for key in absent]


async def missing(
    client: Client, keys: Sequence[SearchAttributeKey[str]] = ALL
) -> list[SearchAttributeKey[str]]:
    """The attributes the client's namespace does not have (all of them where the server
    cannot list them, as the time-skipping test server). Raises `RPCError` if listing fails."""
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
    except RPCError as err:
        if err.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        return list(keys)
    present = set(listed.custom_attributes) | set(listed.system_attributes)
    return [key for key in keys if key.name not in present]


async def register(client: Client, keys: Sequence[SearchAttributeKey[str]]) -> None:
    """Add `keys` as Keyword attributes; one that another worker added meanwhile is fine."""
    if not keys:
        return
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=client.namespace,
                search_attributes={
                    key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for key in keys
                },
            )
        )
    except RPCError as err:
        if err.status != RPCStatusCode.ALREADY_EXISTS:
            raise
