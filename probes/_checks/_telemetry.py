"""time-to-telemetry: how long until the people on call could see the call.

Measured from the first request callprobe sent to the moment each kind of
evidence became visible to the observers (first log line of a call, the
expected metric deltas, the first alert). The measured times are kept in the
result even when it passes, so a trend can be graphed before it breaks.
"""

from __future__ import annotations

from .._evidence import CheckResult, Evidence
from .._profile import Contract
from .._scenario import Scenario
from ._common import call_ids, fmt_ms, sole_call

__all__ = ["check_time_to_telemetry"]


def _first_log(evidence: Evidence, contract: Contract) -> float | None:
    ours = call_ids(evidence)
    times = [line.seen_at for line in evidence.logs if line.record.get(contract.log_call_id_field) in ours]
    return min(times) if times else None


def _metrics_seen(scenario: Scenario, evidence: Evidence) -> float | None:
    """When every expected metric delta had become visible (the last of them)."""
    wanted = range(len(scenario.expect.metrics))
    if scenario.expect.metrics:
        if any(i not in evidence.metric_seen_at for i in wanted):
            return None
        return max(evidence.metric_seen_at[i] for i in wanted)
    return min(evidence.metric_seen_at.values()) if evidence.metric_seen_at else None


def _first_alert(evidence: Evidence) -> float | None:
    return min((a.seen_at for a in evidence.alerts), default=None)


def check_time_to_telemetry(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """time-to-telemetry: logs_ms / metrics_ms / alerts_ms from the first request sent."""
    within = scenario.expect.telemetry_within
    kinds = [
        ("logs", within.logs_ms, "first log line of the call", lambda: _first_log(evidence, contract)),
        ("metrics", within.metrics_ms, "expected metric changes", lambda: _metrics_seen(scenario, evidence)),
        ("alerts", within.alerts_ms, "first alert", lambda: _first_alert(evidence)),
    ]
    if not evidence.exchanges or all(limit is None for _, limit, _, _ in kinds):
        return []
    t0 = min(x.sent_at for x in evidence.exchanges)
    out = []
    call_id, corr = sole_call(scenario, evidence, contract)
    for kind, limit, what, seen_at in kinds:
        if limit is None:
            continue
        at = seen_at()
        measured = None if at is None else max(0.0, (at - t0) * 1000)
        ev = {"kind": kind, "measured_ms": measured, "limit_ms": limit}
        if measured is None:
            reason, ok = f"{what} not seen (limit {fmt_ms(limit)})", False
        else:
            ok = measured <= limit
            verb = "within" if ok else "over"
            reason = f"{what} seen after {fmt_ms(round(measured, 1))}, {verb} the limit of {fmt_ms(limit)}"
        seen = "never" if measured is None else fmt_ms(round(measured, 1))
        out.append(CheckResult("time-to-telemetry", ok, reason, f"<= {fmt_ms(limit)}", seen, evidence=ev, call_id=call_id, correlation_id=corr))
    return out
