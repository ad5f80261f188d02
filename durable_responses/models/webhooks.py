"""What a verified OpenAI webhook tells the workflow that owns its response: the signal's input.

A leaf module (pydantic and the wire names): the receiver (`durable_responses.webhooks`) sends
it, the workflows take it.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from .names import WEBHOOK_SIGNAL as WEBHOOK_SIGNAL  # its old home
from .names import WEBHOOKS_UPDATE as WEBHOOKS_UPDATE  # its old home

RESPONSE_EVENTS = frozenset(
    {"response.completed", "response.failed", "response.cancelled", "response.incomplete"}
)
"""The webhook event types that end a background response."""


class WebhookEvent(BaseModel):
    """A verified delivery about a response: retrieve it now, it has ended."""

    response_id: str = ""
    type: str = Field(default="", description="`response.completed`, `.failed`, ...")
    event_id: str = Field(default="", description="The event's `id` (`evt_...`).")
    webhook_id: str = Field(default="", description="The delivery's `webhook-id` header.")
    created_at: int = Field(default=0, description="When the response reached that state.")


class WebhookSetting(BaseModel):
    """Whether a receiver wakes this run: the `set_webhooks` update's input and answer."""

    enabled: bool = Field(
        default=True,
        description="True: webhooks wake the run, polls are a slow safety net; False: poll "
        "on the request's own intervals (a webhook that comes anyway still wakes it).",
    )
