"""OpenTelemetry spans around each OpenAI call, when the optional `otel` extra is installed.

With `worker.py --otlp-endpoint` (or a `TracingInterceptor` on your own client) each span is a
child of Temporal's `RunActivity` span, so one trace runs from the client that started the
workflow to every HTTP call made for it. Without OpenTelemetry installed this is a no-op.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Protocol

try:
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind
except ImportError:  # the `otel` extra is not installed
    trace = None  # type: ignore[assignment]

RESPONSE_ID = "openai.response.id"
"""Span attribute carrying the upstream response id (`resp_...`)."""
TRACER = "durable_responses.activities"

# Taken once, not per call: a tracer taken before the application sets its tracer provider is
# a proxy that follows it once set.
_tracer = trace.get_tracer(TRACER) if trace is not None else None


class CallSpan(Protocol):
    """What callers do with a span: an OpenTelemetry span or the no-op stand-in."""

    def set_attribute(self, key: str, value: Any) -> Any: ...


class _NoSpan:
    """Stands in for a span when OpenTelemetry is not installed."""

    def set_attribute(self, key: str, value: Any) -> None:
        return None


@contextlib.contextmanager
def openai_call(operation: str, response_id: str | None = None) -> Iterator[CallSpan]:
    """A span named `openai.responses.<operation>`; set `RESPONSE_ID` once it is known."""
    if _tracer is None:
        yield _NoSpan()
        return
    with _tracer.start_as_current_span(
        f"openai.responses.{operation}", kind=SpanKind.CLIENT
    ) as span:
        span.set_attribute("gen_ai.system", "openai")
        if response_id:
            span.set_attribute(RESPONSE_ID, response_id)
        yield span
