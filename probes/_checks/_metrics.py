"""metric-delta: counters and histograms moved by exactly what the call should cause.

A failure prints the series asked for and the label sets that do exist for
that name, closest first, with their deltas: a mislabelled increment
(``event="webhook"`` instead of ``event="call_started"``) is then visible at a
glance instead of looking like a missing one.
"""

from __future__ import annotations

from collections.abc import Mapping

from .._evidence import CheckResult, Evidence, MetricsSnapshot
from .._profile import Contract
from .._scenario import MetricExpectation, Scenario
from ._common import sole_call

__all__ = ["check_metric_delta", "format_series"]

MAX_NEIGHBOURS = 5


def format_labels(labels: Mapping[str, str], order: list[str]) -> str:
    """``{status="booked",source="retell"}``: asked-for labels first, in the scenario's order."""
    keys = [k for k in order if k in labels] + sorted(k for k in labels if k not in order)
    return "{" + ",".join(f'{k}="{labels[k]}"' for k in keys) + "}"


def format_series(name: str, labels: Mapping[str, str]) -> str:
    return name + (format_labels(labels, list(labels)) if labels else "")


def _delta(text: float) -> str:
    return f"{text:+g}"


def _le(after: MetricsSnapshot, name: str, le: str) -> str:
    """The ``le`` label as the target spells it (``0.5`` vs ``0.50``), matched by value."""
    try:
        want = float(le)
    except ValueError:
        return le
    for labels in after.label_sets(name):
        try:
            if "le" in labels and float(labels["le"]) == want:
                return labels["le"]
        except ValueError:
            continue
    return le


def _neighbours(before: MetricsSnapshot, after: MetricsSnapshot, name: str, labels: dict[str, str]) -> str:
    """Label sets present for ``name``, closest to ``labels`` first, with their deltas."""
    sets: dict[frozenset[tuple[str, str]], dict[str, str]] = {}
    for ls in after.label_sets(name) + before.label_sets(name):
        if "le" in labels and ls.get("le") != labels["le"]:
            continue
        sets.setdefault(frozenset(ls.items()), ls)
    if not sets:
        return f"no series named {name}"
    want = set(labels.items())

    def closeness(ls: dict[str, str]) -> tuple[int, str]:
        return (-len(want & set(ls.items())), format_labels(ls, list(labels)))

    ranked = sorted(sets.values(), key=closeness)
    shown = [f"{format_labels(ls, list(labels))} {_delta(after.value(name, ls) - before.value(name, ls))}" for ls in ranked[:MAX_NEIGHBOURS]]
    more = f" (and {len(ranked) - MAX_NEIGHBOURS} more)" if len(ranked) > MAX_NEIGHBOURS else ""
    return "series present: " + ", ".join(shown) + more


def _targets(item: MetricExpectation, contract: Contract, after: MetricsSnapshot) -> list[tuple[str, dict[str, str], float]]:
    """(sample name, labels, expected delta) for each assertion one expectation makes."""
    name, labels = contract.metric(item.name), contract.labels(item.labels)
    out = []
    if item.delta is not None:
        out.append((name, labels, item.delta))
    if item.count_delta is not None:
        out.append((f"{name}_count", labels, item.count_delta))
    if item.bucket_delta is not None and item.le is not None:
        bucket = f"{name}_bucket"
        out.append((bucket, {**labels, "le": _le(after, bucket, item.le)}, item.bucket_delta))
    return out


def check_metric_delta(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """metric-delta: each ``expect.metrics`` item, exact, on (after - before)."""
    if not scenario.expect.metrics:
        return []
    before, after = evidence.metrics_before, evidence.metrics_after
    call_id, corr = sole_call(scenario, evidence, contract)
    if before is None or after is None:
        missing = "before" if before is None else "after"
        reason = f"the metrics were not scraped {missing} the call, so no delta can be checked"
        return [CheckResult("metric-delta", False, reason, "two scrapes", f"no {missing} snapshot",
                            call_id=call_id, correlation_id=corr)]
    out = []
    for item in scenario.expect.metrics:
        for name, labels, want in _targets(item, contract, after):
            seen = after.value(name, labels) - before.value(name, labels)
            series = format_series(name, labels)
            ok = abs(seen - want) < 1e-9
            reason = f"{series}: expected {_delta(want)}, seen {_delta(seen)}"
            if not ok:
                reason += "; " + _neighbours(before, after, name, labels)
            ev = {"series": series, "before": before.value(name, labels), "after": after.value(name, labels)}
            out.append(CheckResult("metric-delta", ok, reason, _delta(want), _delta(seen), evidence=ev, call_id=call_id, correlation_id=corr))
    return out
