"""The gateway's Prometheus metrics, on a registry the app owns.

An app-owned registry keeps two gateways in one process (tests) apart. No
series is created before its first increment, so "absent" and "zero" stay
different, and no label ever carries a per-call value (call ids, numbers),
so the number of series stays bounded.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

__all__ = ["FAILURE_LEVEL", "Metrics"]

#: How loud each failure kind is: a calendar that is down or slow pages, a busy one or a bad signature warns.
FAILURE_LEVEL = {
    "calendar_down": "page",
    "calendar_slow": "page",
    "calendar_busy": "warn",
    "signature": "warn",
}

_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}


class Metrics:
    """Counters and the request histogram; ``in_ms`` is the histogram-in-ms defect."""

    def __init__(self, *, in_ms: bool = False) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._scale = 1000.0 if in_ms else 1.0
        r = self.registry
        self._retell = Counter("othergw_retell_requests", "Retell requests by kind and outcome.",
                               ["kind", "outcome"], registry=r)
        self._retell_seconds = Histogram("othergw_retell_request_seconds", "Time to answer a processed Retell request.",
                                         ["kind"], buckets=_BUCKETS, registry=r)
        self._http = Counter("othergw_http_requests", "HTTP requests by route template, method and status code.",
                             ["route", "method", "code"], registry=r)
        self._bookings = Counter("othergw_bookings", "Booking outcomes.", ["result"], registry=r)
        self._calls = Counter("othergw_calls", "Calls reaching each phase.", ["phase"], registry=r)
        self._failures = Counter("othergw_failures", "Failures by kind and level.", ["kind", "level"], registry=r)

    def retell(self, kind: str, outcome: str, seconds: float | None = None) -> None:
        """Count a Retell request; ``seconds`` (processed requests only) feeds the histogram."""
        self._retell.labels(kind=kind, outcome=outcome).inc()
        if seconds is not None:
            self._retell_seconds.labels(kind=kind).observe(seconds * self._scale)

    def http(self, route: str, method: str, code: int) -> None:
        self._http.labels(route=route, method=method if method in _METHODS else "other", code=str(code)).inc()

    def booking(self, result: str) -> None:
        self._bookings.labels(result=result).inc()

    def call(self, phase: str) -> None:
        self._calls.labels(phase=phase).inc()

    def failure(self, kind: str) -> None:
        self._failures.labels(kind=kind, level=FAILURE_LEVEL[kind]).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
