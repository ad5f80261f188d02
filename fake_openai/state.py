"""What one fake server holds: settings, responses, faults, webhooks and the request log."""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from aiohttp import web

from .config import ServerSettings
from .faults import FaultInjector
from .jobs import JobStore
from .webhooks import WebhookSender, new_secret

STATE: web.AppKey[FakeState] = web.AppKey("state")
REQUEST_LOG_SIZE = 100_000


class FakeState:
    """Everything one server holds: settings, jobs, faults, webhooks and counters."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.store = JobStore()
        self.faults = FaultInjector(seed=settings.fault_seed)
        for rule in settings.faults:
            self.faults.add(rule)
        self.requests: deque[tuple[float, str, str]] = deque(maxlen=REQUEST_LOG_SIZE)
        """(Unix time, method, path) of each API request as it arrived: rate-limit tests."""
        self.webhooks = WebhookSender(lambda: self.settings, self.faults)
        self.flex_unavailable_until = 0.0
        """`time.monotonic()` until which flex creates are refused."""
        self.update_settings({"flex_unavailable_seconds": settings.flex_unavailable_seconds})

    def update_settings(self, update: dict[str, Any]) -> None:
        """Change validated server settings; a webhook URL without a secret gets one made up,
        and `flex_unavailable_seconds` counts from now."""
        self.settings = self.settings.model_copy(update=update)
        if self.settings.webhook_url is not None and self.settings.webhook_secret is None:
            self.settings = self.settings.model_copy(update={"webhook_secret": new_secret()})
        if "flex_unavailable_seconds" in update:
            self.flex_unavailable_until = time.monotonic() + self.settings.flex_unavailable_seconds

    def flex_unavailable(self) -> bool:
        return time.monotonic() < self.flex_unavailable_until

    def reset(self) -> None:
        self.store.clear()
        self.faults.clear()
        self.requests.clear()
        self.webhooks.reset()
