"""Which workflow owns a response: its `OpenAIResponseId` search attribute, or the
`temporal_workflow_id` the workflow put in the response's metadata.

The search attribute is upserted when the response is created, usually minutes or hours before
its webhook comes, so visibility's lag (measured in README, "Webhooks") rarely matters, and the
lookup needs no OpenAI key nor a request against the account's rate limits. A response that
finished within the lag (seconds) is not listed yet: the response's own metadata, one
`retrieve` away, names its workflow.
"""

from __future__ import annotations

import logging

import openai
from temporalio.client import Client

from durable_responses.models import METADATA_WORKFLOW_KEY

log = logging.getLogger("durable_responses.webhooks")


class OwnerLookup:
    """Find the workflow id of a response's owner, or None."""

    def __init__(self, client: Client, openai_client: openai.AsyncOpenAI | None) -> None:
        self._client = client
        self._openai = openai_client
        self.by_visibility = 0
        self.by_metadata = 0

    async def owner(self, response_id: str) -> str | None:
        query = f"OpenAIResponseId = '{_quoted(response_id)}'"
        async for execution in self._client.list_workflows(query, limit=1):
            self.by_visibility += 1
            return execution.id
        if self._openai is None:
            return None
        try:
            response = await self._openai.responses.retrieve(response_id, timeout=10)
        except openai.NotFoundError:
            return None
        workflow_id = (response.metadata or {}).get(METADATA_WORKFLOW_KEY)
        if workflow_id:
            self.by_metadata += 1
        return workflow_id


def _quoted(value: str) -> str:
    """A value inside a visibility query's single quotes (response ids are `resp_` + hex)."""
    return value.replace("\\", "\\\\").replace("'", "\\'")
