"""Per-tenant limits: requests per second, and runs in flight, each answered as OpenAI answers
a limit (`429` with `Retry-After`), so every SDK waits and retries on its own.

Requests per second are counted by each gateway replica (a token bucket with one second of
burst): N replicas behind a balancer let a tenant send up to N times the rate. Runs in flight
are counted by Temporal (the tenant's running workflows, from visibility), so the limit holds
across replicas and restarts; creates that arrive within visibility's lag of each other (about
a second on the dev server, less on SQL visibility) may pass it together.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from temporalio.client import Client

from .errors import APIError
from .ids import PREFIX

RUNS_RETRY_AFTER_SECONDS = 5
"""What a create over the runs limit is told to wait: runs last seconds to hours."""


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class TenantLimits:
    """The same limits for every tenant; 0 means no limit."""

    requests_per_second: float = 0.0
    runs_in_flight: int = 0
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def take_request(self, tenant: str) -> None:
        """Count one request of `tenant`; 429 when its bucket is empty."""
        rate = self.requests_per_second
        if rate <= 0:
            return
        now = time.monotonic()
        burst = max(1.0, rate)
        bucket = self._buckets.setdefault(tenant, _Bucket(burst, now))
        bucket.tokens = min(burst, bucket.tokens + (now - bucket.at) * rate)
        bucket.at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return
        wait = max(1, math.ceil((1 - bucket.tokens) / rate))
        raise _limited(
            f"Rate limit reached for requests: {rate:g} per second for this key. "
            f"Retry after {wait} s.",
            wait,
        )

    async def check_runs(self, client: Client, tenant: str) -> None:
        """429 when `tenant` already has `runs_in_flight` runs running."""
        if self.runs_in_flight <= 0:
            return
        query = f"WorkflowId STARTS_WITH '{PREFIX}/{tenant}/' AND ExecutionStatus = 'Running'"
        running = (await client.count_workflows(query)).count
        if running >= self.runs_in_flight:
            raise _limited(
                f"Limit reached for runs in flight: {self.runs_in_flight} for this key, "
                f"{running} running. Retry once one has ended.",
                RUNS_RETRY_AFTER_SECONDS,
            )


def _limited(message: str, retry_after: int) -> APIError:
    return APIError(
        429,
        message,
        type_="requests",
        code="rate_limit_exceeded",
        headers={"Retry-After": str(retry_after)},
    )
