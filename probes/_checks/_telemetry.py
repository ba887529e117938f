"""time-to-telemetry: how long until the people on call could see the call.

Measured from the answer to the run's last request (a call's telemetry is
complete, and a fault late in the call pages, only by then) to the moment
each kind of evidence had become visible to the observers: every expected log
line (judged as log-present judges it; the first line of the run's calls when
none is expected), every expected metric delta (judged as metric-delta judges
it) and the first alert. The limits are the scenario's ``telemetry_within`` or, for
each kind the scenario expects, the contract's ``sla`` (``logs_ms``,
``metrics_ms``, ``alerts_ms``). Telemetry that arrives after its limit but
before the probe stops waiting is *late*; telemetry that never arrives is
*never*: both fail, with different reasons. The measured times are kept even
when the check passes, so a trend can be graphed before it breaks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .._contract import Contract
from .._errors import UnmappedRole
from .._evidence import AlertPost, CheckResult, Evidence
from .._scenario import Scenario
from ._common import blind, fmt_ms, not_observed, own_alerts, own_logs, sole_call
from ._logs import matching_lines

__all__ = ["Limit", "check_time_to_telemetry", "limits"]


@dataclass(frozen=True)
class Limit:
    """One kind of telemetry the run is timed on: its source, limit and what it is."""

    kind: str
    limit_ms: float
    what: str


def limits(scenario: Scenario, contract: Contract) -> list[Limit]:
    """The kinds this scenario times: stated in ``telemetry_within``, or expected and timed by the contract's SLA."""
    within, exp, sla = scenario.expect.telemetry_within, scenario.expect, contract.sla
    alerts_expected = exp.alerts is not None and (exp.alerts.count or 0) > 0
    metrics_expected = any((m.delta or m.count_delta or m.bucket_delta or 0) != 0 for m in exp.metrics)
    chosen = [
        ("logs", within.logs_ms if within.logs_ms is not None else (sla.logs_ms if exp.logs else None),
         "expected log lines" if exp.logs else "first log line of the run's calls"),
        ("metrics", within.metrics_ms if within.metrics_ms is not None else (sla.metrics_ms if metrics_expected else None),
         "expected metric changes"),
        ("alerts", within.alerts_ms if within.alerts_ms is not None else (sla.alerts_ms if alerts_expected else None), "first alert"),
    ]
    return [Limit(kind, limit, what) for kind, limit, what in chosen if limit is not None]


def _logs_seen(scenario: Scenario, evidence: Evidence, contract: Contract) -> float | None:
    """When every expected log line had become visible (the last of them), or the first line of the run without expectations."""
    own = own_logs(scenario, evidence, contract)
    if not scenario.expect.logs:
        return min((line.seen_at for line in own), default=None)
    times = []
    for item in scenario.expect.logs:
        try:
            first = min((line.seen_at for line in matching_lines(item, own, contract)), default=None)
        except UnmappedRole:
            continue
        if first is None:
            return None
        times.append(first)
    return max(times, default=None)


def _metrics_seen(scenario: Scenario, evidence: Evidence) -> float | None:
    """When every expected metric delta had become visible (the last of them), as the probe noted it."""
    wanted = range(len(scenario.expect.metrics))
    if not scenario.expect.metrics or any(i not in evidence.metric_seen_at for i in wanted):
        return None
    return max(evidence.metric_seen_at[i] for i in wanted)


def _alerts_of_run(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[AlertPost]:
    ours, others = own_alerts(scenario, evidence, contract)
    return ours if evidence.shared else ours + others


def seen_at(kind: str, scenario: Scenario, evidence: Evidence, contract: Contract) -> float | None:
    """When telemetry of ``kind`` first became visible, or None."""
    finders: dict[str, Callable[[], float | None]] = {
        "logs": lambda: _logs_seen(scenario, evidence, contract),
        "metrics": lambda: _metrics_seen(scenario, evidence),
        "alerts": lambda: min((a.seen_at for a in _alerts_of_run(scenario, evidence, contract)), default=None),
    }
    return finders[kind]()


def _timed(item: Limit, at: float | None, unseen: float | None, t0: float, call_id: str | None,
           corr: str | None) -> CheckResult:
    """One kind's verdict. Lateness is proven, not guessed: only a read that began after the limit and did
    not show the telemetry makes it late (or never); a busy probe that read too rarely to tell says so."""
    limit = item.limit_ms
    measured = None if at is None else max(0.0, (at - t0) * 1000)
    missing_after = None if unseen is None else max(0.0, (unseen - t0) * 1000)  # not visible yet at this point
    ev = {"kind": item.kind, "measured_ms": measured, "not_visible_at_ms": missing_after, "limit_ms": limit}
    proven = missing_after is not None and missing_after > limit
    if measured is not None and measured <= limit:
        reason, ok = f"{item.kind}: {item.what} seen after {fmt_ms(round(measured, 1))}, within the limit of {fmt_ms(limit)}", True
    elif measured is not None and proven:
        reason, ok = (f"{item.kind}: {item.what} seen after {fmt_ms(round(measured, 1))}, late: not visible yet "
                      f"{fmt_ms(round(missing_after or 0))} after the call, over the limit of {fmt_ms(limit)}"), False
    elif measured is None and proven:
        reason, ok = (f"{item.kind}: {item.what} never seen (not visible {fmt_ms(round(missing_after or 0))} after the call; "
                      f"limit {fmt_ms(limit)})"), False
    elif measured is not None:
        return not_observed("time-to-telemetry", f"{item.kind}: {item.what} became visible between "
                            f"{fmt_ms(round(missing_after or 0))} and {fmt_ms(round(measured))} after the call, and the limit of "
                            f"{fmt_ms(limit)} lies in between", "the probe could not read often enough to tell",
                            expected=f"<= {fmt_ms(limit)}", seen="undecided")[0]
    else:
        looked = (f"the last read began {fmt_ms(round(missing_after))} after the call" if missing_after is not None
                  else "no read after the call")
        return not_observed("time-to-telemetry", f"{item.kind}: {item.what} not seen, but {looked}, before the limit of "
                            f"{fmt_ms(limit)}", "the probe stopped waiting too early to tell", expected=f"<= {fmt_ms(limit)}",
                            seen="undecided")[0]
    seen = "never" if measured is None else fmt_ms(round(measured, 1))
    return CheckResult("time-to-telemetry", ok, reason, f"<= {fmt_ms(limit)}", seen, evidence=ev, call_id=call_id, correlation_id=corr)


def check_time_to_telemetry(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """time-to-telemetry: logs / metrics / alerts visible within their limits, from the first request sent."""
    timed = limits(scenario, contract)
    if not evidence.exchanges or not timed:
        return []
    first_sent = min(x.sent_at for x in evidence.exchanges)
    t0 = max((x.sent_at + x.latency_ms / 1000 for x in evidence.exchanges if x.latency_ms is not None), default=first_sent)
    call_id, corr = sole_call(scenario, evidence, contract)
    out = []
    for item in timed:
        if (missing := blind("time-to-telemetry", evidence, item.kind)) is not None:
            out += missing
            continue
        out.append(_timed(item, seen_at(item.kind, scenario, evidence, contract), evidence.unseen_at.get(item.kind), t0,
                          call_id, corr))
    return out
