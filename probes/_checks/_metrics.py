"""metric-delta: counters and histograms moved by exactly what the call should cause.

A failure prints the series asked for and the label sets that do exist for
that name, closest first, with their deltas: a mislabelled increment
(``event="webhook"`` instead of ``event="call_started"``) is then visible at a
glance instead of looking like a missing one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .._contract import Contract, Series
from .._errors import UnmappedRole
from .._evidence import CheckResult, Evidence, MetricsSnapshot
from .._scenario import MetricExpectation, Scenario
from ._common import blind, not_observed, sole_call, unmapped

__all__ = ["Target", "check_metric_delta", "delta_of", "format_series", "holds", "judgeable", "targets"]

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
    shown = [f"{format_labels(ls, list(labels))} {_delta(after.value(name, ls) - before.value(name, ls))}"
             for ls in ranked[:MAX_NEIGHBOURS]]
    more = f" (and {len(ranked) - MAX_NEIGHBOURS} more)" if len(ranked) > MAX_NEIGHBOURS else ""
    return "series present: " + ", ".join(shown) + more


@dataclass(frozen=True)
class Target:
    """One assertion of a metric expectation: the target's series and the delta it must move by."""

    item: MetricExpectation
    series: Series
    want: float


def targets(item: MetricExpectation, contract: Contract, after: MetricsSnapshot | None) -> list[Target]:
    """The assertions one expectation makes, in the target's words (raises UnmappedRole)."""
    wanted = [("", item.delta), ("_count", item.count_delta), ("_bucket", item.bucket_delta)]
    out = []
    for suffix, want in wanted:
        if want is None:
            continue
        if item.metric is not None:
            series = contract.series(item.metric, item.labels, suffix)
        else:
            series = Series(f"{item.name}{suffix}", dict(item.labels))
        if suffix == "_bucket" and item.le is not None:
            le = _le(after, series.name, item.le) if after is not None else item.le
            series = Series(series.name, {**series.labels, "le": le})
        out.append(Target(item, series, want))
    return out


def delta_of(target: Target, before: MetricsSnapshot, after: MetricsSnapshot) -> float:
    return after.value(target.series.name, target.series.labels) - before.value(target.series.name, target.series.labels)


def holds(target: Target, seen: float, shared: bool) -> bool:
    """Exact on a target of its own; on a shared one an increment is a lower bound (other calls add to it)."""
    if shared and target.want > 0:
        return seen >= target.want - 1e-9
    return abs(seen - target.want) < 1e-9


def judgeable(target: Target, shared: bool, contract: Contract) -> bool:
    """A zero delta on a shared target says nothing unless the series are the synthetic ones."""
    return not (shared and target.want <= 0 and contract.synthetic_label is None)


def check_metric_delta(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """metric-delta: each ``expect.metrics`` item on (after - before): exact, or a lower bound on a shared target."""
    if not scenario.expect.metrics:
        return []
    if (missing := blind("metric-delta", evidence, "metrics")) is not None:
        return missing
    before, after = evidence.metrics_before, evidence.metrics_after
    call_id, corr = sole_call(scenario, evidence, contract)
    if before is None or after is None:
        which = "before" if before is None else "after"
        return not_observed("metric-delta", f"the metrics were not scraped {which} the call", "telemetry-reachable says why",
                            expected="two scrapes", seen=f"no {which} snapshot")
    out = []
    for item in scenario.expect.metrics:
        try:
            found = targets(item, contract, after)
        except UnmappedRole as exc:
            out.append(unmapped("metric-delta", exc))
            continue
        for target in found:
            out.append(_judge(target, before, after, evidence, contract, call_id, corr))
    return out


def _judge(target: Target, before: MetricsSnapshot, after: MetricsSnapshot, evidence: Evidence, contract: Contract,
           call_id: str | None, corr: str | None) -> CheckResult:
    name, labels = target.series.name, target.series.labels
    series = format_series(name, labels)
    if not judgeable(target, evidence.shared, contract):
        return not_observed("metric-delta", f"{series}: a zero delta cannot be told apart from other traffic on a shared target",
                            "set contract.synthetic_label so synthetic calls count apart", expected=_delta(target.want),
                            seen="shared target")[0]
    seen = delta_of(target, before, after)
    ok = holds(target, seen, evidence.shared)
    bound = "at least " if evidence.shared and target.want > 0 else ""
    reason = f"{series}: expected {bound}{_delta(target.want)}, seen {_delta(seen)}"
    if not ok:
        reason += "; " + _neighbours(before, after, name, labels)
    elif not before.has(name) and not after.has(name):
        reason += f" (no series named {name} is exposed: a counter not yet incremented counts as 0)"
    ev = {"series": series, "before": before.value(name, labels), "after": after.value(name, labels)}
    return CheckResult("metric-delta", ok, reason, bound + _delta(target.want), _delta(seen), evidence=ev,
                       call_id=call_id, correlation_id=corr)
