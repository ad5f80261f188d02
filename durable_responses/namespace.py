"""What a namespace needs before our workflows run on it: their search attributes, registered.

`temporal workflow list --query "OpenAIResponseStatus = 'in_progress'"` answers once they are.
A workflow that upserts an unregistered attribute fails its workflow task until it is added, so
`DurableResponsesPlugin` checks at worker start-up (`ensure_search_attributes`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode

from durable_responses.models.names import SEARCH_ATTRIBUTES as ALL

log = logging.getLogger("durable_responses.namespace")


class SearchAttributesMissing(RuntimeError):
    """The namespace lacks our search attributes and this client may not add them."""


async def ensure_search_attributes(client: Client) -> None:
    """Register the workflows' search attributes if the namespace lacks them.

    A worker that finds them missing and cannot add them must not start: every workflow task
    would fail. So this raises `SearchAttributesMissing`, saying how to add them. Where the
    attributes cannot even be listed (no operator rights), it warns and lets the worker start.
    """
    names = ", ".join(key.name for key in ALL)
    try:
        absent = await missing(client)
    except RPCError as err:
        log.warning(
            "could not list search attributes on %r (%s: %s); the workflows need %s "
            "registered as Keyword",
            client.namespace,
            err.status.name,
            err.message,
            names,
        )
        return
    if not absent:
        return
    added = ", ".join(key.name for key in absent)
    try:
        await register(client, absent)
    except RPCError as err:
        raise SearchAttributesMissing(
            f"search attributes {added} are not registered on namespace {client.namespace!r} "
            f"and this worker may not add them ({err.status.name}: {err.message}). Add each "
            "as a Keyword: `temporal operator search-attribute create --name NAME --type "
            "Keyword` (Temporal Cloud: the Cloud UI or `tcld namespace search-attributes add`)"
        ) from err
    log.info("registered search attributes %s on %r", added, client.namespace)


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
