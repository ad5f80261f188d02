"""Observability of a worker or a gateway: Prometheus metrics and OpenTelemetry tracing, both
opt-in.

Metrics: one `Runtime` per process serves the SDK's own metrics and the project's (see
`workflows/metrics.py`, `gateway/metrics.py`) on `http://<host>:<port>/metrics`. Tracing:
the `otel` extra (`pip install -e '.[otel]'`) adds `temporalio.contrib.opentelemetry`'s
`TracingInterceptor`, so a trace runs from the client that starts a workflow through its
activities to each OpenAI call (`activities/tracing.py`).
"""

from __future__ import annotations

import logging
import os

from temporalio.client import Interceptor
from temporalio.runtime import LoggingConfig, PrometheusConfig, Runtime, TelemetryConfig

from durable_responses.models.names import METRIC_COMPLETION_LAG, METRIC_GATEWAY_LATENCY

log = logging.getLogger("durable_responses.telemetry")

LAG_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)
"""Seconds; the completion lag is about one poll interval, which grows up to minutes."""
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Seconds until a gateway answer's headers: a read takes milliseconds, a create up to the
provider's answer (5 s at most, `gateway.runs.CREATE_WAIT_SECONDS`)."""


def metrics_runtime(
    port: int, host: str = "127.0.0.1", core_logging: LoggingConfig | None = None
) -> Runtime | None:
    """A runtime whose metrics, SDK and project alike, are scraped at `host:port/metrics`;
    None (the SDK's default runtime, no metrics endpoint) for port 0. `core_logging`: where
    the Temporal core's own logs go (default: the console, `cli.core_logging` forwards them)."""
    if not port:
        return None
    log.info("Prometheus metrics on http://%s:%s/metrics", host, port)
    return Runtime(
        telemetry=TelemetryConfig(
            logging=core_logging or LoggingConfig.default,
            metrics=PrometheusConfig(
                bind_address=f"{host}:{port}",
                durations_as_seconds=True,
                histogram_bucket_overrides={
                    METRIC_COMPLETION_LAG: LAG_BUCKETS,
                    METRIC_GATEWAY_LATENCY: REQUEST_BUCKETS,
                },
            ),
        )
    )


def tracing_interceptors(otlp_endpoint: str | None = None) -> list[Interceptor]:
    """Temporal's tracing interceptor; with an endpoint, also export spans there over OTLP/HTTP.

    Without an endpoint the globally configured tracer provider is used as it is (tests and
    embedding applications set their own).
    """
    try:
        from temporalio.contrib.opentelemetry import TracingInterceptor
    except ImportError as err:
        raise RuntimeError("tracing needs the otel extra: pip install -e '.[otel]'") from err
    if otlp_endpoint:
        _export_over_otlp(otlp_endpoint)
    return [TracingInterceptor()]


def _export_over_otlp(endpoint: str) -> None:
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # OTEL_SERVICE_NAME, when set, names the service (the OpenTelemetry SDK reads it).
    default = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": "durable-responses"}
    provider = TracerProvider(resource=Resource.create(default))
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces"))
    )
    trace.set_tracer_provider(provider)
