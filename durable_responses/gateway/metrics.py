"""The gateway's Prometheus metrics: requests by route and status, their latency, the streams
open now, the runs started.

They go through the Temporal client's runtime, as the workflows' metrics go through the
worker's (`telemetry.metrics_runtime`): one `/metrics` page per gateway process, beside the
SDK client's own (`temporal_request`, ...), at `--metrics-port` (off by default; bound to
127.0.0.1 unless `--metrics-host` says otherwise). Without a metrics runtime they cost nothing.

Labels stay few: `route` is the route's pattern (`/v1/responses/{response_id}`), never a path
(`unmatched` for a path no route takes), and `tenant` is one of the configured tenants.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from temporalio.client import Client
from temporalio.common import MetricCounter, MetricHistogramFloat, MetricMeter
from temporalio.runtime import Runtime

from durable_responses.models.names import (
    METRIC_GATEWAY_LATENCY,
    METRIC_GATEWAY_OPEN_STREAMS,
    METRIC_GATEWAY_REQUESTS,
    METRIC_GATEWAY_RUNS_STARTED,
)

UNMATCHED = "unmatched"
"""The route label of a request no route takes (its path would make a label per scanner probe)."""


class GatewayMetrics:
    """The gateway's instruments, on one meter."""

    def __init__(self, meter: MetricMeter) -> None:
        self._requests = meter.create_counter(
            METRIC_GATEWAY_REQUESTS, "Requests answered, by method, route and status."
        )
        self._latency = meter.create_histogram_float(
            METRIC_GATEWAY_LATENCY,
            "Seconds until the answer's status and headers went out (a stream's first byte).",
        )
        self._streams = meter.create_gauge(
            METRIC_GATEWAY_OPEN_STREAMS, "Event streams open now in this process."
        )
        self._runs = meter.create_counter(
            METRIC_GATEWAY_RUNS_STARTED, "Runs started by creates, by tenant and mode."
        )
        self._open = 0
        self._by_labels: dict[tuple[str, str, int], tuple[MetricCounter, MetricHistogramFloat]] = {}

    @classmethod
    def of(cls, client: Client) -> GatewayMetrics:
        """The metrics of the runtime `client` runs on (a no-op one without metrics)."""
        runtime = client.service_client.config.runtime or Runtime.default()
        return cls(runtime.metric_meter)

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        """One answered request (status 499: its client left first)."""
        labels = (method, route, status)
        instruments = self._by_labels.get(labels)
        if instruments is None:  # attributes cross into the core once per label set
            at = {"method": method, "route": route}
            instruments = (
                self._requests.with_additional_attributes({**at, "status": status}),
                self._latency.with_additional_attributes(at),
            )
            self._by_labels[labels] = instruments
        counter, latency = instruments
        counter.add(1)
        latency.record(seconds)

    @contextlib.contextmanager
    def stream(self) -> Iterator[None]:
        """An event stream open for the block."""
        self._open += 1
        self._streams.set(self._open)
        try:
            yield
        finally:
            self._open -= 1
            self._streams.set(self._open)

    def run_started(self, tenant: str, mode: str) -> None:
        """A create started a run (`stream`, `background` or `foreground`)."""
        self._runs.add(1, {"tenant": tenant, "mode": mode})
