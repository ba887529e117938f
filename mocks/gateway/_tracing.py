"""OpenTelemetry tracing of the reference gateway: one SERVER span per Retell request,
one CLIENT child span per Cal.com request, exported over OTLP/HTTP.

Each gateway app owns its :class:`TracerProvider` (never the global one), so
several gateways in one process (the embedded target starts one per scenario)
export to their own endpoints and shut down alone. The Cal.com request's
``traceparent`` is the CLIENT span's own context, which is what lets a trace
backend draw Retell → gateway → Cal.com as one tree. Without an OTLP endpoint
the tracer is a no-op and the gateway falls back to a hand-made child
``traceparent`` (see :func:`._correlation.child_traceparent`).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import INVALID_SPAN, NoOpTracer, Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ._retell_body import event_name, guess_call_id

__all__ = ["ATTR_CALL_ID", "ATTR_CORRELATION_ID", "GatewayTracing", "retell_attributes"]

SERVICE_NAME = "callprobe-reference-gateway"
ATTR_CALL_ID = "retell.call_id"
ATTR_CORRELATION_ID = "callprobe.correlation_id"
EXPORT_TIMEOUT_S = 2.0
# Short enough that a probe polling for spans sees them within its first polls,
# long enough that a burst of requests goes out as one export.
SCHEDULE_DELAY_MS = 50

_PROPAGATOR = TraceContextTextMapPropagator()
_ID_SEGMENT = re.compile(r"(/v2/(?:bookings|event-types))/[^/]+")


def retell_attributes(body: bytes, *, event: str | None = None, function: str | None = None) -> dict[str, str]:
    """``retell.call_id`` and ``retell.event``/``retell.function`` of a Retell request body.

    Read from the raw body before the handler runs, so a request the handler
    rejects (bad signature, bad JSON) still has a labelled span.
    """
    try:
        parsed: Any = json.loads(body) if body else None
    except ValueError:
        parsed = None
    attributes: dict[str, str] = {}
    call_id = guess_call_id(parsed)
    if call_id:
        attributes[ATTR_CALL_ID] = call_id
    if function is not None:
        attributes["retell.function"] = function
    else:
        attributes["retell.event"] = event or event_name(parsed)
    return attributes


class GatewayTracing:
    """The gateway's tracer; a no-op when ``otlp_endpoint`` is None.

    ``broken`` is the ``broken-trace`` seeded defect: Cal.com spans start new,
    unrelated traces, as a gateway does that forgets to propagate context
    across an ``await`` or a thread hop. ``error_status=False`` is
    ``span-error-status-missing``: the failure is handled before the span
    sees it, so the trace shows a green Cal.com call.
    """

    def __init__(self, otlp_endpoint: str | None, *, service_name: str = SERVICE_NAME, broken: bool = False,
                 error_status: bool = True, exporter: SpanExporter | None = None) -> None:
        """``exporter`` replaces OTLP export with a synchronous one (an in-memory exporter in tests)."""
        self.broken = broken
        self.error_status = error_status
        self._provider: TracerProvider | None = None
        self._tracer: Tracer = NoOpTracer()
        processor: SpanProcessor | None = None
        if exporter is not None:
            processor = SimpleSpanProcessor(exporter)
        elif otlp_endpoint:
            otlp = OTLPSpanExporter(endpoint=f"{otlp_endpoint.rstrip('/')}/v1/traces", timeout=EXPORT_TIMEOUT_S)
            processor = BatchSpanProcessor(otlp, schedule_delay_millis=SCHEDULE_DELAY_MS)
        if processor is not None:
            provider = TracerProvider(resource=Resource.create({"service.name": service_name}), shutdown_on_exit=False)
            provider.add_span_processor(processor)
            self._provider = provider
            self._tracer = provider.get_tracer("mocks.gateway")

    @property
    def enabled(self) -> bool:
        return self._provider is not None

    @contextmanager
    def server_span(self, name: str, headers: Mapping[str, str], attributes: Mapping[str, str]) -> Iterator[Span]:
        """A SERVER span continuing the request's ``traceparent`` (else a new root), made current."""
        parent = _PROPAGATOR.extract(carrier={k.lower(): v for k, v in headers.items()})
        with self._tracer.start_as_current_span(name, context=parent, kind=SpanKind.SERVER, attributes=dict(attributes)) as span:
            yield span

    @contextmanager
    def client_span(self, method: str, path: str, base_url: str, correlation_id: str | None) -> Iterator[tuple[Span, str | None]]:
        """A CLIENT span for one Cal.com request and the ``traceparent`` that names it.

        Yields ``(INVALID_SPAN, None)`` when tracing is off, so the caller keeps
        its own fallback header. Failures are recorded by :meth:`fail`.
        """
        if not self.enabled:
            yield INVALID_SPAN, None
            return
        attributes = {"http.request.method": method, "url.full": base_url + path, "peer.service": "calcom"}
        if correlation_id:
            attributes[ATTR_CORRELATION_ID] = correlation_id
        parent = Context() if self.broken else None  # the defect: detach from the request's trace
        name = f"calcom {method} " + _ID_SEGMENT.sub(r"\1/{id}", path)
        with self._tracer.start_as_current_span(
            name, context=parent, kind=SpanKind.CLIENT, attributes=attributes, record_exception=False, set_status_on_exception=False
        ) as span:
            carrier: dict[str, str] = {}
            _PROPAGATOR.inject(carrier)
            yield span, carrier.get("traceparent")

    def fallback(self, traceparent: str | None) -> str | None:
        """The header to send when no CLIENT span exists (tracing off).

        The ``broken-trace`` defect shows here too: a fresh, unrelated trace
        instead of the request's, so the defect is visible without a collector.
        """
        if self.broken:
            return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"
        return traceparent

    def fail(self, span: Span, error: BaseException, kind: str) -> None:
        """Error status plus an ``exception`` event: what a trace UI shows in red."""
        if not self.error_status:
            return
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, kind))
        span.set_attribute("error.type", kind)

    def force_flush(self, timeout_s: float = 5.0) -> bool:
        """Export every ended span now (tests; shutdown)."""
        return self._provider.force_flush(int(timeout_s * 1000)) if self._provider is not None else True

    def shutdown(self) -> None:
        """Flush and stop the export thread; the app's lifespan calls this on exit."""
        if self._provider is not None:
            self._provider.shutdown()
