"""Verifying OpenAI's webhook deliveries with the SDK, under one secret or two (rotation)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import openai

from durable_responses.models.webhooks import WebhookEvent

DEFAULT_TOLERANCE_SECONDS = 300
"""How far a delivery's timestamp may be from now, either way (the SDK's default)."""


class Rejected(Exception):
    """A delivery that does not verify: answered 400, nothing signalled."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def parse_secrets(value: str | None) -> list[str]:
    """`OPENAI_WEBHOOK_SECRET`: one secret, or several separated by commas or spaces (while
    rotating: the new one and the old one, each accepted)."""
    return [part for part in (value or "").replace(",", " ").split() if part]


class Verifier:
    """Checks a delivery's signature with the SDK against each configured secret."""

    def __init__(
        self, secrets: Sequence[str], tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS
    ) -> None:
        if not secrets:
            raise ValueError(
                "no webhook secret: set OPENAI_WEBHOOK_SECRET (the endpoint's signing secret, "
                "whsec_...; two, comma-separated, while rotating)"
            )
        self._secrets = list(secrets)
        self._tolerance = tolerance_seconds
        # Verification needs no key: the client only holds the webhook helpers here.
        self._webhooks = openai.OpenAI(api_key="unused-for-verification").webhooks

    def verify(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """The event of a delivery signed with one of the secrets, fresh; else `Rejected`."""
        last: Exception | None = None
        for secret in self._secrets:
            try:
                self._webhooks.verify_signature(
                    body, headers, secret=secret, tolerance=self._tolerance
                )
                break
            except openai.InvalidWebhookSignatureError as err:
                last = err
                if "timestamp" in str(err):
                    raise Rejected("stale", str(err)) from None  # the same for every secret
            except ValueError as err:  # a missing header
                raise Rejected("malformed", str(err)) from None
        else:
            raise Rejected("signature", str(last))
        try:
            payload = json.loads(body)
            return WebhookEvent(
                response_id=str(payload["data"]["id"]),
                type=str(payload["type"]),
                event_id=str(payload.get("id", "")),
                webhook_id=headers.get("webhook-id", ""),
                created_at=int(payload.get("created_at") or 0),
            )
        except (ValueError, KeyError, TypeError) as err:
            raise Rejected("malformed", f"not a webhook event: {err}") from None
