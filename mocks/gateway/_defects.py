"""The seeded defects the reference gateway can be started with: one registry for all of callprobe.

Every check callprobe offers must be proven able to fail; each defect below
breaks exactly one promise of the target contract so that a scenario run
against ``--defect <name>`` shows the matching check going red. The gateway,
the proof (tests/test_catalogue_proof.py) and ``callprobe gateway
--list-defects`` all use :class:`Defect`: inside the gateway a defect is a
member (``Defect.SLOW_PATH``), so a misspelt one is an AttributeError (and a
type error), never a silently clean gateway; from outside it is its name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import Enum
from types import MappingProxyType

from probes._errors import ConfigError

__all__ = ["DEFECTS", "Defect", "validate_defects"]


class Defect(str, Enum):
    """A seeded defect: its value is the name users type, ``description`` what it breaks."""

    description: str

    def __new__(cls, name: str, description: str) -> Defect:
        member = str.__new__(cls, name)
        member._value_ = name
        member.description = description
        return member

    def __str__(self) -> str:
        return str(self.value)

    CORRELATION_NOT_ECHOED = ("correlation-not-echoed", 'responses carry no X-Correlation-ID header')
    CORRELATION_PER_REQUEST = ("correlation-per-request", 'a new correlation ID for every request instead of one per call')
    CORRELATION_MISSING_IN_LOGS = ("correlation-missing-in-logs", 'log lines are written without a correlation_id field')
    RAW_PHONE_IN_LOGS = ("raw-phone-in-logs", "log lines carry the caller's raw phone number next to phone_hash")
    BOOKING_METRIC_NOT_INCREMENTED = ("booking-metric-not-incremented", 'askproai_bookings_total is not incremented for created bookings')
    WRONG_METRIC_LABEL = ("wrong-metric-label", 'askproai_webhooks_total uses event="webhook" instead of the Retell event name')
    NO_ALERT_ON_CALCOM_FAILURE = ("no-alert-on-calcom-failure", 'Cal.com failures are logged and counted but never alerted')
    ALERT_PER_ERROR = ("alert-per-error", 'one Slack alert per error: no grouping, threshold or cooldown')
    SLOW_PATH = ("slow-path", 'check_availability sleeps 0.8 s, past the 500 ms webhook SLA')
    FORGED_SIGNATURE_ACCEPTED = ("forged-signature-accepted", 'X-Retell-Signature is not verified: missing or forged signatures pass')
    DUPLICATE_BOOKS_TWICE = ("duplicate-books-twice", 'idempotency is off: duplicate webhooks are reprocessed and bookings made twice')
    READY_WHILE_CALCOM_DOWN = ("ready-while-calcom-down", '/health/ready answers 200 without checking Cal.com')
    TRANSCRIPT_IN_LOGS = ("transcript-in-logs", 'call_ended/call_analyzed log lines include the transcript and call summary')
    HISTOGRAM_BUCKETS_MISS_SLA = ("histogram-buckets-miss-sla", 'webhook duration buckets are (0.1, 1, 5): no edge at the 500 ms SLA')
    METRIC_LABEL_CARDINALITY = ("metric-label-cardinality", 'a counter labelled by call_id: one new series per call')
    BROKEN_TRACE = ("broken-trace", "Cal.com requests start a new, unrelated trace instead of continuing the request's")
    ERROR_NOT_REPORTED = ("error-not-reported", 'Cal.com failures are logged and alerted but never sent to the error tracker (Sentry)')
    METRICS_ENDPOINT_DOWN = ("metrics-endpoint-down", '/api/metrics answers 500: a collector raises while the exposition is rendered')
    CALL_ANALYZED_CONNECTION_DROPPED = ("call-analyzed-connection-dropped",
                                        'call_analyzed is processed, then the connection closes before the answer is complete')
    CORRELATION_SHARED_ACROSS_CALLS = ("correlation-shared-across-calls",
                                       'one process-wide correlation ID, set by the first call and reused by every call after it')
    BOOKING_NOT_LOGGED = ("booking-not-logged", 'a created booking writes no booking_created log line')
    RAW_PHONE_IN_ALERTS = ("raw-phone-in-alerts", 'Slack alerts name the caller by raw phone number')
    SPAN_ERROR_STATUS_MISSING = ("span-error-status-missing",
                                 'a failed Cal.com request leaves its client span without error status or exception event')
    HISTOGRAM_IN_MILLISECONDS = ("histogram-in-milliseconds",
                                 'the webhook histogram (named _seconds) is fed milliseconds: every latency is 1000 times too large')
    LATE_LOGS = ("late-logs", 'log lines become readable 1.5 s after they are written (a slow log shipper), '
                              'though calls are answered at once')
    CALCOM_ERRORS_NOT_COUNTED = ("calcom-errors-not-counted", 'Cal.com failures are logged and alerted but not counted in '
                                                              'askproai_errors_total (the CalcomFailures rule cannot fire)')
    LOG_CONTEXT_SHARED = ("log-context-shared", "the logger reads call_id and correlation_id from one process-wide 'current "
                          "request': a line written after an await carries the call whose request came in last "
                          "(only overlapping calls notice)")


DEFECTS: Mapping[str, str] = MappingProxyType({d.value: d.description for d in Defect})


def validate_defects(names: Iterable[str]) -> frozenset[Defect]:
    """``names`` as defects, or a ``ConfigError`` naming the known ones.

    A typo in a defect name would silently start a clean gateway and make a
    "check can fail" test pass for the wrong reason, so unknown names are fatal.
    """
    chosen = set(names)
    unknown = sorted(str(n) for n in chosen if n not in DEFECTS)
    if unknown:
        known = ", ".join(sorted(DEFECTS))
        raise ConfigError(f"unknown gateway defect(s) {', '.join(unknown)}; known defects: {known}")
    return frozenset(n if isinstance(n, Defect) else Defect._value2member_map_[str(n)] for n in chosen)  # type: ignore[misc]
