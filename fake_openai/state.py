"""What one fake server holds: settings, responses, faults and the request log."""

from __future__ import annotations

from collections import deque

from aiohttp import web

from .config import ServerSettings
from .faults import FaultInjector
from .jobs import JobStore

STATE: web.AppKey[FakeState] = web.AppKey("state")
REQUEST_LOG_SIZE = 100_000


class FakeState:
    """Everything one server holds: settings, jobs, faults and counters."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.store = JobStore()
        self.faults = FaultInjector(seed=settings.fault_seed)
        for rule in settings.faults:
            self.faults.add(rule)
        self.requests: deque[tuple[float, str, str]] = deque(maxlen=REQUEST_LOG_SIZE)
        """(Unix time, method, path) of each API request as it arrived: rate-limit tests."""

    def reset(self) -> None:
        self.store.clear()
        self.faults.clear()
        self.requests.clear()
