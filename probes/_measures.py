"""A verdict as numbers: the metrics a scheduled probe reports, and one bounded failure reason.

Every production front reports the same numbers: the exporter's ``/probe``
answer (blackbox_exporter's names: ``probe_success``, ``probe_duration_seconds``
…), and ``callprobe run --push`` / ``--textfile`` (the same names with a
``callprobe_`` prefix, so Pushgateway series never mix with a blackbox
exporter's). They are computed here once, from the verdict only.

``reason`` names *why* a probe failed in a closed set (:data:`REASONS`), so it
can be a label without exploding cardinality: a transport failure of the
target first (it explains everything after it), then an evidence source that
could not be read, then the category of the first failed check
(:mod:`probes._categories`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Gauge

from ._categories import category_of
from ._deadline import DEADLINE_CHECK
from ._evidence import Evidence, Exchange, Verdict

__all__ = ["REASONS", "Measures", "failure_reason", "measure", "measures_registry"]

_CATEGORY_REASONS = {
    "Target unreachable": "target_unreachable",
    "SLA breach": "sla_breach",
    "Correlation lost": "correlation_lost",
    "Metric missing or wrong": "metric_wrong",
    "Log missing or PII leak": "log_wrong",
    "Alert missing or spam": "alert_wrong",
    "Trace broken": "trace_broken",
    "Error report missing": "error_report_missing",
    "Wrong answer to the caller": "wrong_answer",
}
_TRANSPORT = (  # (reason, pattern on the runner's error text), first match wins
    ("target_timeout", re.compile(r"timeout|timed out|no (complete )?answer within", re.IGNORECASE)),
    ("tls_error", re.compile(r"ssl|tls|certificate", re.IGNORECASE)),
    ("connection_reset", re.compile(r"reset|disconnected|RemoteProtocolError|ReadError|WriteError|broken ?pipe", re.IGNORECASE)),
    ("connect_failed", re.compile(r"ConnectError|connection attempts failed|refused|name or service", re.IGNORECASE)),
)
# The evidence sources a profile can name (telemetry-reachable's), in the order an unreadable one is reported.
SOURCES = ("metrics", "logs", "alerts", "calcom", "traces", "errors", "prometheus")
REASONS: tuple[str, ...] = (
    "probe_timeout", "target_timeout", "tls_error", "connection_reset", "connect_failed", "target_http_5xx",
    *(f"{source}_unreadable" for source in SOURCES), *_CATEGORY_REASONS.values(), "not_observed", "check_failed",
    "harness_error",
)
TELEMETRY_KINDS = ("logs", "metrics", "alerts")


@dataclass(frozen=True)
class Measures:
    """What one probe reports: success, durations, per-step, per-check and time-to-telemetry values, cleanup, reason.

    ``telemetry`` maps a source to (seconds until visible, its SLA in seconds);
    telemetry never seen is ``inf`` seconds, so ``> sla`` rules fire on it too.
    """

    success: bool
    duration_s: float
    steps: Mapping[str, tuple[float | None, bool]] = field(default_factory=dict)
    checks: Mapping[str, bool] = field(default_factory=dict)
    telemetry: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    cleanup_ok: bool = True
    reason: str | None = None

    @classmethod
    def failed(cls, reason: str, duration_s: float) -> Measures:
        """A probe that produced no verdict (deadline passed, harness error)."""
        assert reason in REASONS, reason
        return cls(success=False, duration_s=duration_s, reason=reason)


def _steps(ev: Evidence, verdict: Verdict) -> dict[str, tuple[float | None, bool]]:
    """Per step label: the slowest answer (seconds) and whether every check of that step passed."""
    failed_steps = {r.step for r in verdict.failures if r.step}
    out: dict[str, tuple[float | None, bool]] = {}
    for x in ev.exchanges:
        slowest, _ = out.get(x.step, (None, True))
        seconds = None if x.latency_ms is None else x.latency_ms / 1000
        if seconds is not None and (slowest is None or seconds > slowest):
            slowest = seconds
        ok = x.error is None and x.step not in failed_steps
        out[x.step] = (slowest, ok and out.get(x.step, (None, True))[1])
    return out


def _checks(verdict: Verdict) -> dict[str, bool]:
    """Per check: passed only if every observed result passed (not observed is no gauge rather than a 1)."""
    out: dict[str, bool] = {}
    for r in verdict.results:
        if r.observed:
            out[r.check] = out.get(r.check, True) and r.passed
    return out


def _telemetry(verdict: Verdict) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    for r in verdict.results:
        data = r.evidence if r.check == "time-to-telemetry" and isinstance(r.evidence, dict) else None
        if data is None or data.get("kind") not in TELEMETRY_KINDS or data.get("limit_ms") is None:
            continue
        measured = data.get("measured_ms")
        out[data["kind"]] = (math.inf if measured is None else measured / 1000, float(data["limit_ms"]) / 1000)
    return out


def _transport(exchanges: list[Exchange]) -> str | None:
    for x in exchanges:
        if x.error is None or x.abandoned or x.error.startswith("not sent"):
            continue
        return next((reason for reason, pattern in _TRANSPORT if pattern.search(x.error)), "connect_failed")
    return None


def failure_reason(verdict: Verdict) -> str | None:
    """Why ``verdict`` failed, as one of :data:`REASONS` (None when it passed)."""
    if verdict.passed:
        return None
    first = verdict.failures[0]
    if first.check == DEADLINE_CHECK:  # stopped at its deadline: what it waited for was judged then
        said = first.evidence.get("reason") if isinstance(first.evidence, dict) else None
        return said if said in REASONS else "probe_timeout"
    ev = verdict.evidence
    if (transport := _transport(ev.exchanges)) is not None:  # a hanging target at the deadline: target_timeout
        return transport
    failed_steps = {r.step for r in verdict.failures if r.check == "step-status"}
    if any(x.status is not None and x.status >= 500 and x.step in failed_steps for x in ev.exchanges):
        return "target_http_5xx"
    unreadable = [s for s in SOURCES if s in ev.source_errors]
    if unreadable:
        return f"{unreadable[0]}_unreadable"
    if not first.observed:
        return "not_observed"
    return _CATEGORY_REASONS.get(category_of(first.check) or "", "check_failed")


def measure(verdict: Verdict) -> Measures:
    """The numbers of ``verdict``."""
    ev = verdict.evidence
    return Measures(
        success=verdict.passed, duration_s=max(0.0, ev.finished_at - ev.started_at), steps=_steps(ev, verdict),
        checks=_checks(verdict), telemetry=_telemetry(verdict), cleanup_ok=not ev.cleanup_left,
        reason=failure_reason(verdict),
    )


def measures_registry(m: Measures, *, prefix: str = "", timeout_s: float | None = None) -> CollectorRegistry:
    """``m`` as gauges on a fresh registry: ``probe_*`` (the exporter) or ``callprobe_probe_*`` (push, textfile)."""
    registry = CollectorRegistry()

    def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
        return Gauge(f"{prefix}{name}", doc, list(labels), registry=registry)

    gauge("probe_success", "1 if every check of the synthetic call passed").set(1 if m.success else 0)
    gauge("probe_duration_seconds", "How long the probe took: calls, telemetry collection, cleanup").set(m.duration_s)
    if timeout_s is not None:
        gauge("probe_timeout_seconds", "The probe's deadline (blackbox_exporter's timeout semantics)").set(timeout_s)
    steps = gauge("probe_step_duration_seconds", "The slowest answer to this step", ("step",))
    step_ok = gauge("probe_step_success", "1 if every request of this step was answered as expected", ("step",))
    for step, (seconds, ok) in m.steps.items():
        if seconds is not None:
            steps.labels(step=step).set(seconds)
        step_ok.labels(step=step).set(1 if ok else 0)
    checks = gauge("probe_check_success", "1 if every result of this check passed (absent when not observed)", ("check",))
    for check, ok in m.checks.items():
        checks.labels(check=check).set(1 if ok else 0)
    ttt = gauge("probe_time_to_telemetry_seconds", "From the call's last answer until this telemetry was visible (+Inf: never)",
                ("source",))
    sla = gauge("probe_time_to_telemetry_sla_seconds", "The time-to-telemetry SLA of this source", ("source",))
    for source, (seconds, limit) in m.telemetry.items():
        ttt.labels(source=source).set(seconds)
        sla.labels(source=source).set(limit)
    gauge("probe_cleanup_success", "1 if every booking the probe made was cancelled").set(1 if m.cleanup_ok else 0)
    if m.reason is not None:
        gauge("probe_failure_info", "Why the probe failed, one of a fixed set of reasons", ("reason",)).labels(reason=m.reason).set(1)
    return registry
