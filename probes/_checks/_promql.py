"""promql: metric expectations written as PromQL against the real Prometheus (stack mode).

The probe evaluates each query (polling until it holds or the deadline
passes, since scrapes are 1 s apart) and records Prometheus' answer in the
evidence; this check only compares. A failure quotes the query as sent
(``$window`` substituted) and every value Prometheus returned, so it can be
pasted into the Prometheus UI as is.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable

from .._contract import Contract, render_promql
from .._errors import UnmappedRole
from .._evidence import CheckResult, Evidence, PromqlEvaluation
from .._scenario import PromqlExpectation, Scenario
from ._common import blind, unmapped

__all__ = ["OPS", "check_promql", "promql_holds", "substitute_window"]

OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, "==": lambda a, b: math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12),
    ">": operator.gt, ">=": operator.ge,
}
MAX_SHOWN = 5


def substitute_window(query: str, window_s: float) -> str:
    """``query`` with ``$window`` replaced by the window in whole seconds, rounded up (``37s``)."""
    return query.replace("$window", f"{max(1, math.ceil(window_s))}s")


def promql_holds(item: PromqlExpectation, ev: PromqlEvaluation | None) -> bool:
    """Every value satisfies the comparison (and there is at least one; NaN never does)."""
    if ev is None or ev.error is not None or not ev.values:
        return False
    return all(not math.isnan(v) and OPS[item.op](v, item.value) for _, v in ev.values)


def _fmt(values: tuple[tuple[str, float], ...]) -> str:
    shown = ", ".join(f"{labels} {value:g}" if labels != "{}" else f"{value:g}" for labels, value in values[:MAX_SHOWN])
    more = f" (and {len(values) - MAX_SHOWN} more)" if len(values) > MAX_SHOWN else ""
    return shown + more


def check_promql(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """promql: each query's answer satisfies ``op value`` (needs a Prometheus: --stack or prometheus_url)."""
    if (missing := blind("promql", evidence, "prometheus")) is not None:
        return missing
    found = {e.index: e for e in evidence.promql}
    out = []
    for i, item in enumerate(scenario.expect.promql):
        try:
            render_promql(contract, item.query)
        except UnmappedRole as exc:
            out.append(unmapped("promql", exc))
            continue
        ev = found.get(i)
        expected = f"{item.op} {item.value:g}"
        kind = "range" if item.range else "instant"
        if ev is None:
            out.append(CheckResult("promql", False, f"{item.query}: not evaluated (no Prometheus answer)", expected, "nothing"))
            continue
        ok = promql_holds(item, ev)
        if ev.error is not None:
            seen = f"error: {ev.error}"
        elif not ev.values:
            seen = "empty result (no series matched)"
        else:
            seen = _fmt(ev.values)
        reason = f"{kind} query `{ev.query}` = {seen}, expected {expected}"
        data = {"query": ev.query, "window_s": ev.window_s, "values": list(ev.values), "evaluated_at": ev.evaluated_at}
        out.append(CheckResult("promql", ok, reason, expected, seen, evidence=data))
    return out
