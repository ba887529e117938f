"""Latency checks: a per-request SLA and a percentile over every call and run.

Percentiles use the nearest-rank method (no interpolation): the reported p95
is a latency that was actually measured, which is what an on-call engineer
can go and find in the evidence.
"""

from __future__ import annotations

import math

from .._contract import Contract
from .._evidence import CheckResult, Evidence, Exchange
from .._scenario import Scenario
from ._common import answered, call_correlation_id, fmt_ms

__all__ = ["check_latency_percentile", "check_latency_sla", "nearest_rank"]


def nearest_rank(values: list[float], percentile: float) -> float:
    """The nearest-rank percentile of ``values`` (which must not be empty)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(percentile / 100 * len(ordered)))
    return ordered[rank - 1]


def check_latency_sla(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """latency-sla: each answered request with ``expect.within_ms`` came back in time."""
    out = []
    for x in evidence.exchanges:
        limit = x.expect.within_ms
        if limit is None or not answered(x) or x.latency_ms is None:
            continue
        ok = x.latency_ms <= limit
        gateway = f" (gateway says {fmt_ms(x.server_ms)})" if x.server_ms is not None else ""
        verb = "within" if ok else "over"
        reason = f"{x.step} took {fmt_ms(x.latency_ms)}{gateway}, {verb} the SLA of {fmt_ms(limit)}"
        out.append(
            CheckResult(
                check="latency-sla", passed=ok, reason=reason, expected=f"<= {fmt_ms(limit)}",
                seen=fmt_ms(x.latency_ms), call_id=x.call_id or None,
                correlation_id=call_correlation_id(scenario, evidence, x.call_id, contract), step=x.step,
                evidence={"latency_ms": x.latency_ms, "server_ms": x.server_ms, "limit_ms": limit},
            )
        )
    return out


def _of_kind(x: Exchange, kind: str) -> bool:
    return kind == "any" or x.kind == kind


def check_latency_percentile(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """latency-percentile: nearest-rank percentile over all exchanges of a kind, across calls and runs."""
    out = []
    for item in scenario.expect.latency:
        values = [x.latency_ms for x in evidence.exchanges if answered(x) and x.latency_ms is not None and _of_kind(x, item.kind)]
        p = f"p{item.percentile:g}"
        label = "" if item.kind == "any" else f"{item.kind} "
        expected = f"{p} <= {fmt_ms(item.max_ms)}"
        if not values:
            reason = f"no answered {label}request to compute {p} from (max {fmt_ms(item.max_ms)}, n=0)"
            out.append(CheckResult("latency-percentile", False, reason, expected, "n=0", evidence={"n": 0}))
            continue
        value = nearest_rank(values, item.percentile)
        ok = value <= item.max_ms
        verb = "within" if ok else "over"
        reason = f"{p} of {label}latency is {fmt_ms(value)}, {verb} max {fmt_ms(item.max_ms)} (n={len(values)})"
        seen = f"{p} = {fmt_ms(value)}, max seen {fmt_ms(max(values))}, n={len(values)}"
        ev = {"percentile": item.percentile, "value_ms": value, "max_ms": item.max_ms, "n": len(values)}
        out.append(CheckResult("latency-percentile", ok, reason, expected, seen, evidence=ev))
    return out
