"""Checks on the shape of the target's metrics, read from the scrape (no stack needed).

Three mistakes only show up once Prometheus stores the data: a latency
histogram whose bucket edges cannot express the SLA (``histogram_quantile``
then interpolates between 0.1 s and 1 s and the alert fires, or not, by
accident), a histogram named ``_seconds`` but observed in milliseconds (every
latency alert is then off by a thousand), and a per-call label (``call_id``)
that turns one counter into a series per call until Prometheus falls over.
All are visible in a scrape or two, so these checks run in every mode.
"""

from __future__ import annotations

import re
from collections import Counter

from .._contract import Contract
from .._errors import UnmappedRole
from .._evidence import CheckResult, Evidence, Exchange, MetricsSnapshot
from .._scenario import Scenario
from ._common import answered, blind, fmt_ms, not_observed, step_of, unmapped

__all__ = [
    "CALL_ID_RE",
    "MAX_SERIES_PER_METRIC",
    "UNITS_SLACK",
    "check_histogram_sla_bucket",
    "check_histogram_units",
    "check_metric_cardinality",
]

MAX_SERIES_PER_METRIC = 500
UNITS_SLACK = 1.5  # the histogram may not add up to more than this many times what callprobe measured (+ 50 ms)
CALL_ID_RE = re.compile(r"^call_[0-9a-f]{27}$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


def check_histogram_sla_bucket(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """histogram-sla-bucket: the webhook histogram has a bucket edge at each of the contract's SLA edges (sla.histogram_edges_ms)."""
    if (missing := blind("histogram-sla-bucket", evidence, "metrics")) is not None:
        return missing
    try:
        name = contract.series("webhook_duration", {}, "_bucket").name
    except UnmappedRole as exc:
        return [unmapped("histogram-sla-bucket", exc)]
    after = evidence.metrics_after
    if after is None:
        return not_observed("histogram-sla-bucket", "the metrics were not scraped after the call", "telemetry-reachable says why")
    edges: set[float] = set()
    for labels in after.label_sets(name):
        try:
            edges.add(float(labels.get("le", "nan")))
        except ValueError:
            continue
    if not edges:
        return not_observed("histogram-sla-bucket", f"no {name} series is exposed yet", "the histogram has not observed a request",
                            expected="bucket edges", seen="no series")
    shown = ", ".join(f"{e:g}" for e in sorted(edges))
    out = []
    for threshold in sorted({ms / 1000 for ms in contract.sla.histogram_edges_ms}):
        ok = threshold in edges
        verb = "has" if ok else "has no"
        reason = f"{name} {verb} bucket le=\"{threshold:g}\" for the {threshold * 1000:g} ms SLA (edges: {shown})"
        if not ok:
            reason += "; histogram_quantile would interpolate across the SLA"
        out.append(CheckResult("histogram-sla-bucket", ok, reason, f'le="{threshold:g}"', f"edges {shown}",
                               evidence={"edges": sorted(edges), "threshold_s": threshold}))
    return out


def _retell_exchanges(scenario: Scenario, evidence: Evidence) -> list[Exchange]:
    """Validly signed Retell requests: the ones a gateway times in its webhook histogram."""
    out = []
    for x in evidence.exchanges:
        step = step_of(scenario, x)
        if step is not None and step.is_retell and step.signature == "valid" and (answered(x) or x.abandoned):
            out.append(x)
    return out


def _measured_s(xs: list[Exchange], evidence: Evidence) -> float:
    """Seconds callprobe saw these requests take; an abandoned one counts until the evidence was collected."""
    end = evidence.collected_at or evidence.finished_at
    return sum((x.latency_ms or 0) / 1000 if answered(x) else max(0.0, end - x.sent_at) for x in xs)


def check_histogram_units(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """histogram-units: the webhook histogram's ``_sum`` grew by no more than the time callprobe measured.

    A gateway's own processing time is part of the round trip callprobe
    times, so the histogram cannot add up to more than the measured total; a
    histogram observed in milliseconds adds up to a thousand times more.
    """
    xs = _retell_exchanges(scenario, evidence)
    if not xs:
        return []
    if (missing := blind("histogram-units", evidence, "metrics")) is not None:
        return missing
    if evidence.shared and contract.synthetic_label is None:
        return not_observed("histogram-units", "other traffic adds to the histogram of a shared target",
                            "set contract.synthetic_label so synthetic calls count apart")
    try:
        sum_series, count_series = (contract.series("webhook_duration", {}, s) for s in ("_sum", "_count"))
    except UnmappedRole as exc:
        return [unmapped("histogram-units", exc)]
    before, after = evidence.metrics_before, evidence.metrics_after
    if before is None or after is None:
        return not_observed("histogram-units", "the metrics were not scraped before and after the call", "telemetry-reachable says why")
    return [_units(sum_series.name, _moved(before, after, sum_series.name, sum_series.labels),
                   _moved(before, after, count_series.name, count_series.labels), _measured_s(xs, evidence))]


def _moved(before: MetricsSnapshot, after: MetricsSnapshot, name: str, labels: dict[str, str]) -> float:
    return after.value(name, labels) - before.value(name, labels)


def _units(name: str, grew: float, count: float, measured_s: float) -> CheckResult:
    if count <= 0:
        return not_observed("histogram-units", f"{name.removesuffix('_sum')} observed no request during the run",
                            "metric-delta judges whether it should have", expected="observations", seen="none")[0]
    limit = measured_s * UNITS_SLACK + 0.05
    ok = grew <= limit
    expected = f"_sum grows by <= {limit:.3f} (callprobe measured {fmt_ms(round(measured_s * 1000, 1))} in all)"
    reason = f"{name} grew by {grew:.4g} over {count:g} observation(s) while callprobe measured {measured_s:.3f} s in all"
    if not ok:
        ratio = grew / measured_s if measured_s > 0 else float("inf")
        reason += f": {ratio:,.0f} times more than possible (observed in milliseconds instead of seconds?)"
    ev = {"sum_delta": grew, "count_delta": count, "measured_s": measured_s}
    return CheckResult("histogram-units", ok, reason, expected, f"_sum +{grew:.4g}", evidence=ev)


def _per_call(value: str) -> bool:
    return bool(CALL_ID_RE.match(value) or UUID_RE.match(value))


def check_metric_cardinality(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """metric-cardinality: no label carries a per-call value, no metric has more than the bound of series, none is exposed twice."""
    if (missing := blind("metric-cardinality", evidence, "metrics")) is not None:
        return missing
    after = evidence.metrics_after
    if after is None:
        return not_observed("metric-cardinality", "the metrics were not scraped after the call", "telemetry-reachable says why")
    per_call = sorted({(name, k, v) for (name, labels) in after.samples for k, v in labels if _per_call(v)})
    series = Counter(name for name, _ in after.samples)
    too_many = {n: c for n, c in series.items() if c > MAX_SERIES_PER_METRIC}
    twice = sorted({name for name, _ in after.duplicates})
    parts = []
    if per_call:
        labels = sorted({f"{n}{{{k}}}" for n, k, _ in per_call})
        parts.append(f"per-call label values on {', '.join(labels)} (e.g. {per_call[0][1]}=\"{per_call[0][2]}\")")
    if too_many:
        parts.append("more than {} series: {}".format(MAX_SERIES_PER_METRIC, ", ".join(f"{n} ({c})" for n, c in sorted(too_many.items()))))
    if twice:
        parts.append(f"{len(after.duplicates)} series exposed twice ({', '.join(twice[:3])}; Prometheus keeps the first value)")
    if not parts:
        reason = (f"{len(after.samples)} series over {len(series)} metrics, none labelled per call, "
                  f"at most {max(series.values(), default=0)} per metric")
        seen = "no per-call label values"
    else:
        reason = "label cardinality or exposition problem: " + "; ".join(parts)
        seen = f"{len(per_call)} per-call series, {len(after.duplicates)} duplicated"
    expected = f"no call_id/uuid label values, <= {MAX_SERIES_PER_METRIC} series per metric, each series once"
    return [CheckResult("metric-cardinality", not parts, reason, expected, seen,
                        evidence={"per_call": [list(x) for x in per_call[:20]], "series": dict(series), "duplicated": twice})]
