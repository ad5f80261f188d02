"""Webhooks: a signed `response.*` event POSTed when a background response ends, with retries.

Modelled on OpenAI's webhooks (Standard Webhooks signing, as `openai.lib._webhooks` verifies
it): headers `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`
over `"{webhook-id}.{timestamp}.{body}"`, keyed by the base64 part of the `whsec_` secret; a
thin body `{"id": "evt_...", "type": "response.completed", "data": {"id": "resp_..."}}`.
Anything but a 2xx in time (3xx included) is retried with the same `webhook-id` and body and a
fresh timestamp, after `webhook_retry_seconds` doubling. ASSUMED: the attempt count (OpenAI
documents retries for up to 72 hours), that the webhook-id is kept across retries (the
Standard Webhooks rule), and that a cancellation by `DELETE` sends `response.cancelled`.

Deliveries run as tasks on the server's loop: a job or a route never waits for a receiver.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
from pydantic import BaseModel, Field

from .config import ServerSettings
from .faults import WEBHOOK_KINDS, FaultInjector, FaultRule
from .jobs import ResponseJob

USER_AGENT = "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)"
EVENT_STATUSES = frozenset({"completed", "failed", "cancelled", "incomplete"})


def new_secret() -> str:
    """A signing secret in the form the API hands out: `whsec_` and base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value: `v1,` and base64 of the HMAC-SHA256."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


class WebhookAttempt(BaseModel):
    """One POST of one event to the webhook URL, as the fake made it."""

    event_id: str = Field(description="`evt_...`, the body's `id`.")
    webhook_id: str = Field(description="`wh_...`, the `webhook-id` header (same on retries).")
    response_id: str
    type: str = Field(description="`response.completed`, `.failed`, `.cancelled`, `.incomplete`.")
    attempt: int = Field(description="1 for the first try of a delivery, 2 for its first retry...")
    delivery: int = Field(default=1, description="2 for the copy a `duplicate` fault sends.")
    status: int | None = Field(default=None, description="The receiver's HTTP status.")
    error: str | None = Field(
        default=None, description="Why no status: `timeout` or the connection error."
    )
    ok: bool = Field(default=False, description="Answered 2xx in time: delivered.")
    timestamp: int = Field(description="The `webhook-timestamp` header (signed).")
    sent_at: float = Field(description="Unix time the attempt was sent.")


@dataclass(frozen=True)
class _Event:
    event_id: str
    webhook_id: str
    response_id: str
    type: str
    body: bytes
    url: str
    secret: str
    timeout: float
    retry_seconds: float
    max_attempts: int


class WebhookSender:
    """Sends the events of one server and logs every attempt (`/_fake/webhooks`)."""

    def __init__(self, settings: Callable[[], ServerSettings], faults: FaultInjector) -> None:
        self._settings = settings
        self._faults = faults
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.attempts: list[WebhookAttempt] = []
        self.counts: Counter[str] = Counter()

    def notify(self, job: ResponseJob) -> None:
        """Called as a job reaches a terminal status: queue its event (background only)."""
        settings = self._settings()
        if not job.params.background or job.status not in EVENT_STATUSES:
            return
        if settings.webhook_url is None or settings.webhook_secret is None:
            return
        payload = {
            "id": f"evt_{secrets.token_hex(16)}",
            "object": "event",
            "type": f"response.{job.status}",
            "created_at": int(job.finished_at or time.time()),  # when it reached the status
            "data": {"id": job.id},
        }
        event = _Event(
            event_id=str(payload["id"]),
            webhook_id=f"wh_{secrets.token_hex(16)}",
            response_id=job.id,
            type=str(payload["type"]),
            body=json.dumps(payload, separators=(",", ":")).encode(),
            url=settings.webhook_url,
            secret=settings.webhook_secret,
            timeout=settings.webhook_timeout_seconds,
            retry_seconds=settings.webhook_retry_seconds,
            max_attempts=settings.webhook_max_attempts,
        )
        # Decided now, in the order responses end, so a seeded script replays identically.
        rule = self._faults.pick({"webhook"}, job.id, set(WEBHOOK_KINDS))
        if rule is not None and rule.kind == "drop":
            self.counts["webhooks_dropped"] += 1
            return
        task = asyncio.get_running_loop().create_task(self._deliver(event, rule))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, event: _Event, rule: FaultRule | None) -> None:
        if rule is not None and rule.kind == "delay":
            await asyncio.sleep(rule.seconds)
        copies = 2 if rule is not None and rule.kind == "duplicate" else 1
        for delivery in range(1, copies + 1):
            for attempt in range(1, event.max_attempts + 1):
                if await self._attempt(event, delivery, attempt):
                    break
                if attempt < event.max_attempts:
                    await asyncio.sleep(event.retry_seconds * 2 ** (attempt - 1))

    async def _attempt(self, event: _Event, delivery: int, attempt: int) -> bool:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        sent_at = time.time()
        timestamp = int(sent_at)
        headers = {
            "webhook-id": event.webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(event.secret, event.webhook_id, timestamp, event.body),
            "content-type": "application/json",
            "user-agent": USER_AGENT,
        }
        status: int | None = None
        error: str | None = None
        try:
            async with self._session.post(
                event.url,
                data=event.body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=event.timeout),
                allow_redirects=False,  # a redirect is a failed delivery, as for the API
            ) as answer:
                status = answer.status
        except TimeoutError:
            error = "timeout"
        except aiohttp.ClientError as err:
            error = f"{type(err).__name__}: {err}"
        ok = status is not None and 200 <= status < 300
        self.attempts.append(
            WebhookAttempt(
                event_id=event.event_id,
                webhook_id=event.webhook_id,
                response_id=event.response_id,
                type=event.type,
                attempt=attempt,
                delivery=delivery,
                status=status,
                error=error,
                ok=ok,
                timestamp=timestamp,
                sent_at=sent_at,
            )
        )
        self.counts["webhooks_sent"] += 1
        if not ok:
            self.counts["webhooks_failed"] += 1
        return ok

    def reset(self) -> None:
        """Forget the log and counts, and stop deliveries still under way (retries included)."""
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        self.attempts.clear()
        self.counts.clear()

    async def close(self) -> None:
        self.reset()
        if self._session is not None:
            await self._session.close()
            self._session = None
