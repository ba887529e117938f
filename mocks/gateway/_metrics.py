"""The contract's Prometheus metrics, on a registry owned by one gateway app.

Each app gets its own ``CollectorRegistry`` so that several gateways in one
test process (clean and defective side by side) never share counters, and
nothing lands in prometheus_client's global registry.
"""

from __future__ import annotations

from collections.abc import Collection

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ._defects import Defect

__all__ = ["CONTENT_TYPE_LATEST", "PROVIDER", "GatewayMetrics"]

PROVIDER = "retell"
# 0.5 s is the webhook SLA and 0.2 s the API warning threshold: both must be bucket edges
# so an SLA check reads a bucket instead of interpolating.
WEBHOOK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
HTTP_BUCKETS = WEBHOOK_BUCKETS
# The histogram-buckets-miss-sla defect: plausible-looking edges with none at 0.2 s or 0.5 s.
SLA_BLIND_BUCKETS = (0.1, 1.0, 5.0)


class GatewayMetrics:
    """The seven ``askproai_*`` series of the target contract."""

    def __init__(self, defects: Collection[str] = frozenset(), company: str = "default") -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        self.per_call_label = Defect.METRIC_LABEL_CARDINALITY in defects
        # The histogram-in-milliseconds defect: the histogram is named _seconds but fed milliseconds.
        self._webhook_unit = 1000.0 if Defect.HISTOGRAM_IN_MILLISECONDS in defects else 1.0
        webhook_buckets = SLA_BLIND_BUCKETS if Defect.HISTOGRAM_BUCKETS_MISS_SLA in defects else WEBHOOK_BUCKETS
        self.webhooks = Counter(
            "askproai_webhooks_total", "Retell requests by event and outcome", ["provider", "event", "status"], registry=reg
        )
        self.webhook_duration = Histogram(
            "askproai_webhook_processing_duration_seconds",
            "Time to process one Retell request",
            ["provider", "event"],
            buckets=webhook_buckets,
            registry=reg,
        )
        self.http_requests = Counter(
            "askproai_http_requests_total", "HTTP requests by route template", ["method", "endpoint", "status"], registry=reg
        )
        self.http_duration = Histogram(
            "askproai_http_request_duration_seconds",
            "HTTP request duration by route template",
            ["method", "endpoint"],
            buckets=HTTP_BUCKETS,
            registry=reg,
        )
        self.bookings = Counter("askproai_bookings_total", "Booking outcomes", ["status", "source"], registry=reg)
        self.calls = Counter("askproai_calls_total", "Call lifecycle transitions", ["status", "company"], registry=reg)
        self.errors = Counter("askproai_errors_total", "Errors by type and severity", ["type", "severity"], registry=reg)
        self._initialise(company)
        # Only under the metric-label-cardinality defect: what a well-meant "per-call" metric does to Prometheus.
        self.call_events = (
            Counter("askproai_call_events_total", "Retell events per call", ["call_id", "event"], registry=reg)
            if self.per_call_label else None
        )

    def _initialise(self, company: str) -> None:
        """Export the alert rules' series at 0 from the start.

        ``increase()`` cannot see the first increment of a series that is born
        at 1, so a first Cal.com outage would never page (Prometheus' advice:
        initialise the label sets you know).
        """
        for error_type, severity in (("calendar_unavailable", "critical"), ("calendar_timeout", "critical"), ("rate_limited", "warning")):
            self.errors.labels(type=error_type, severity=severity)
        for status in ("started", "analyzed"):
            self.calls.labels(status=status, company=company)

    def observe_webhook(self, event: str, seconds: float) -> None:
        """One processed Retell request's duration in the webhook histogram."""
        self.webhook_duration.labels(provider=PROVIDER, event=event).observe(seconds * self._webhook_unit)

    def count_call_event(self, call_id: str | None, event: str) -> None:
        """The metric-label-cardinality defect's counter (a no-op on a healthy gateway)."""
        if self.call_events is not None and call_id:
            self.call_events.labels(call_id=call_id, event=event).inc()

    def render(self) -> bytes:
        """The Prometheus text exposition of this gateway's registry."""
        return generate_latest(self.registry)
