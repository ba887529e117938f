"""The seeded defects the reference gateway can be started with.

Every check callprobe offers must be proven able to fail; each defect below
breaks exactly one promise of the target contract so that a scenario run
against ``--defect <name>`` shows the matching check going red.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from probes._errors import ConfigError

__all__ = ["DEFECTS", "validate_defects"]

DEFECTS: Mapping[str, str] = MappingProxyType(
    {
        "correlation-not-echoed": "responses carry no X-Correlation-ID header",
        "correlation-per-request": "a new correlation ID for every request instead of one per call",
        "correlation-missing-in-logs": "log lines are written without a correlation_id field",
        "raw-phone-in-logs": "log lines carry the caller's raw phone number next to phone_hash",
        "booking-metric-not-incremented": "askproai_bookings_total is not incremented for created bookings",
        "wrong-metric-label": "askproai_webhooks_total uses event=\"webhook\" instead of the Retell event name",
        "no-alert-on-calcom-failure": "Cal.com failures are logged and counted but never alerted",
        "alert-per-error": "one Slack alert per error: no grouping, threshold or cooldown",
        "slow-path": "check_availability sleeps 0.8 s, past the 500 ms webhook SLA",
        "forged-signature-accepted": "X-Retell-Signature is not verified: missing or forged signatures pass",
        "duplicate-books-twice": "idempotency is off: duplicate webhooks are reprocessed and bookings made twice",
        "ready-while-calcom-down": "/health/ready answers 200 without checking Cal.com",
        "transcript-in-logs": "call_ended/call_analyzed log lines include the transcript and call summary",
        "histogram-buckets-miss-sla": "webhook duration buckets are (0.1, 1, 5): no edge at the 500 ms SLA",
        "metric-label-cardinality": "a counter labelled by call_id: one new series per call",
        "broken-trace": "Cal.com requests start a new, unrelated trace instead of continuing the request's",
        "error-not-reported": "Cal.com failures are logged and alerted but never sent to the error tracker (Sentry)",
        "metrics-endpoint-down": "/api/metrics answers 500: a collector raises while the exposition is rendered",
        "call-analyzed-connection-dropped": "call_analyzed is processed, then the connection closes before the answer is complete",
        "correlation-shared-across-calls": "one process-wide correlation ID, set by the first call and reused by every call after it",
        "booking-not-logged": "a created booking writes no booking_created log line",
        "raw-phone-in-alerts": "Slack alerts name the caller by raw phone number",
        "span-error-status-missing": "a failed Cal.com request leaves its client span without error status or exception event",
        "histogram-in-milliseconds": "the webhook histogram (named _seconds) is fed milliseconds: every latency is 1000 times too large",
        "late-logs": "log lines become readable 1.5 s after they are written (a slow log shipper), though calls are answered at once",
        "calcom-errors-not-counted": "Cal.com failures are logged and alerted but not counted in askproai_errors_total (the CalcomFailures rule cannot fire)",
    }
)


def validate_defects(names: Iterable[str]) -> frozenset[str]:
    """Return ``names`` as a frozenset, or raise ``ConfigError`` naming the known defects.

    A typo in a defect name would silently start a clean gateway and make a
    "check can fail" test pass for the wrong reason, so unknown names are fatal.
    """
    chosen = frozenset(names)
    unknown = sorted(chosen - DEFECTS.keys())
    if unknown:
        known = ", ".join(sorted(DEFECTS))
        raise ConfigError(f"unknown gateway defect(s) {', '.join(unknown)}; known defects: {known}")
    return chosen
