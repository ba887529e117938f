"""Checks: pure functions that turn Evidence into CheckResults.

Every check has the signature ``(scenario, evidence, contract) -> list[CheckResult]``
and returns one result per thing it looked at, passing ones included, so a
report can list what was verified and not only what broke. Check names are a
stable API: the proof tests seed defects into the reference gateway and
expect exactly these names to fail.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from .._contract import Contract
from .._evidence import CheckResult, Evidence
from .._scenario import Scenario
from ._alerts import check_alert_content, check_alert_count
from ._calcom import check_calcom_requests
from ._common import subset_diff
from ._correlation import (
    check_correlation_continuity,
    check_correlation_distinct,
    check_correlation_echoed,
    check_correlation_in_alerts,
    check_correlation_in_calcom,
    check_correlation_in_logs,
)
from ._errors import check_error_reported
from ._http import check_reachable, check_signature_rejected, check_status, check_step_body
from ._latency import check_latency_percentile, check_latency_sla, nearest_rank
from ._logs import check_log_pii, check_log_present
from ._metrics import check_metric_delta, delta_of, holds
from ._metrics import targets as metric_targets
from ._promql import check_promql, promql_holds, substitute_window
from ._scrape import check_histogram_sla_bucket, check_histogram_units, check_metric_cardinality
from ._sources import check_telemetry_reachable
from ._stack_alerts import check_stack_alerts, stack_alert_holds
from ._telemetry import check_time_to_telemetry
from ._telemetry import limits as telemetry_limits
from ._telemetry import seen_at as telemetry_seen_at
from ._traces import check_trace_attributes, check_trace_continuity, check_trace_error_status

__all__ = [
    "CHECKS",
    "CHECK_NAMES",
    "TELEMETRY_CHECKS",
    "Check",
    "delta_of",
    "holds",
    "metric_targets",
    "nearest_rank",
    "promql_holds",
    "run_checks",
    "stack_alert_holds",
    "subset_diff",
    "substitute_window",
    "telemetry_limits",
    "telemetry_seen_at",
]

Check = Callable[[Scenario, Evidence, Contract], list[CheckResult]]

# (name, function, applies) in report order; `applies` reads the scenario's switches.
CHECKS: tuple[tuple[str, Check, Callable[[Scenario], bool]], ...] = (
    ("target-reachable", check_reachable, lambda s: True),
    ("telemetry-reachable", check_telemetry_reachable, lambda s: True),
    ("step-status", check_status, lambda s: True),
    ("signature-rejected", check_signature_rejected, lambda s: True),
    ("step-body", check_step_body, lambda s: True),
    ("latency-sla", check_latency_sla, lambda s: True),
    ("latency-percentile", check_latency_percentile, lambda s: bool(s.expect.latency)),
    ("correlation-echoed", check_correlation_echoed, lambda s: True),
    ("correlation-continuity", check_correlation_continuity, lambda s: s.expect.correlation.continuity),
    ("correlation-distinct", check_correlation_distinct, lambda s: s.expect.correlation.distinct_across_calls),
    ("correlation-in-logs", check_correlation_in_logs, lambda s: s.expect.correlation.in_logs),
    ("correlation-in-alerts", check_correlation_in_alerts, lambda s: s.expect.correlation.in_alerts),
    ("correlation-in-calcom", check_correlation_in_calcom, lambda s: s.expect.correlation.in_calcom_requests),
    ("metric-delta", check_metric_delta, lambda s: bool(s.expect.metrics)),
    ("log-present", check_log_present, lambda s: bool(s.expect.logs)),
    ("log-pii", check_log_pii, lambda s: s.expect.pii_free_logs),
    ("calcom-requests", check_calcom_requests, lambda s: bool(s.expect.calcom)),
    ("alert-count", check_alert_count, lambda s: s.expect.alerts is not None),
    ("alert-content", check_alert_content, lambda s: True),
    ("time-to-telemetry", check_time_to_telemetry, lambda s: True),
    ("trace-continuity", check_trace_continuity, lambda s: s.expect.traces is not None and s.expect.traces.continuity),
    ("trace-attributes", check_trace_attributes, lambda s: s.expect.traces is not None and s.expect.traces.attributes),
    ("trace-error-status", check_trace_error_status, lambda s: s.expect.traces is not None and s.expect.traces.error_status),
    ("error-reported", check_error_reported, lambda s: s.expect.errors is not None),
    ("histogram-sla-bucket", check_histogram_sla_bucket, lambda s: bool(s.expect.latency)),
    ("histogram-units", check_histogram_units, lambda s: True),
    ("metric-cardinality", check_metric_cardinality, lambda s: True),
    # Both need a Prometheus (--stack or prometheus_url); without one they report "not observed".
    ("promql", check_promql, lambda s: bool(s.expect.promql)),
    ("alertmanager-alert", check_stack_alerts, lambda s: bool(s.expect.stack_alerts)),
)
CHECK_NAMES: tuple[str, ...] = tuple(name for name, _, _ in CHECKS)

# Checks whose outcome depends on telemetry that arrives late: the probe polls
# its observers until these pass or the deadline passes.
TELEMETRY_CHECKS: frozenset[str] = frozenset(
    {
        "correlation-in-logs",
        "correlation-in-alerts",
        "correlation-in-calcom",
        "metric-delta",
        "log-present",
        "calcom-requests",
        "alert-count",
        "alert-content",
        "time-to-telemetry",
        "trace-continuity",
        "trace-attributes",
        "trace-error-status",
        "error-reported",
    }
)


def run_checks(
    scenario: Scenario, evidence: Evidence, contract: Contract | None = None, *, only: Collection[str] | None = None
) -> list[CheckResult]:
    """Every applicable check (or those named in ``only``), in :data:`CHECKS` order (stable, so reports diff cleanly)."""
    contract = contract or Contract()
    results: list[CheckResult] = []
    for name, check, applies in CHECKS:
        if (only is None or name in only) and applies(scenario):
            results.extend(check(scenario, evidence, contract))
    return results
