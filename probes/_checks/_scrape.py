"""Checks on the shape of the target's metrics, read from the scrape (no stack needed).

Two mistakes only show up once Prometheus stores the data: a latency
histogram whose bucket edges cannot express the SLA (``histogram_quantile``
then interpolates between 0.1 s and 1 s and the alert fires, or not, by
accident), and a per-call label (``call_id``) that turns one counter into a
series per call until Prometheus falls over. Both are visible in a single
scrape, so these checks run in every mode.
"""

from __future__ import annotations

import re
from collections import Counter

from .._evidence import CheckResult, Evidence
from .._profile import Contract
from .._scenario import Scenario

__all__ = ["CALL_ID_RE", "DEFAULT_SLA_S", "MAX_SERIES_PER_METRIC", "check_histogram_sla_bucket", "check_metric_cardinality"]

WEBHOOK_HISTOGRAM = "askproai_webhook_processing_duration_seconds"
DEFAULT_SLA_S = 0.5  # the contract's webhook p95 SLA
MAX_SERIES_PER_METRIC = 500
CALL_ID_RE = re.compile(r"^call_[0-9a-f]{27}$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


def sla_thresholds_s(scenario: Scenario) -> list[float]:
    """Every latency threshold the scenario asserts (its percentile SLAs) plus the contract's 0.5 s."""
    return sorted({DEFAULT_SLA_S, *(item.max_ms / 1000 for item in scenario.expect.latency)})


def check_histogram_sla_bucket(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """histogram-sla-bucket: the webhook histogram has a bucket edge at each SLA threshold."""
    after = evidence.metrics_after
    name = contract.metric(WEBHOOK_HISTOGRAM) + "_bucket"
    if after is None:
        return [CheckResult("histogram-sla-bucket", False, f"{name}: the metrics were not scraped after the call",
                            "a scrape", "none")]
    edges: set[float] = set()
    for labels in after.label_sets(name):
        try:
            edges.add(float(labels.get("le", "nan")))
        except ValueError:
            continue
    shown = ", ".join(f"{e:g}" for e in sorted(edges)) or "none"
    out = []
    for threshold in sla_thresholds_s(scenario):
        ok = threshold in edges
        verb = "has" if ok else "has no"
        reason = f"{name} {verb} bucket le=\"{threshold:g}\" for the {threshold * 1000:g} ms SLA (edges: {shown})"
        if not ok and edges:
            reason += "; histogram_quantile would interpolate across the SLA"
        out.append(CheckResult("histogram-sla-bucket", ok, reason, f'le="{threshold:g}"', f"edges {shown}",
                               evidence={"edges": sorted(edges), "threshold_s": threshold}))
    return out


def _per_call(value: str) -> bool:
    return bool(CALL_ID_RE.match(value) or UUID_RE.match(value))


def check_metric_cardinality(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """metric-cardinality: no label carries a per-call value, and no metric has more than the bound of series."""
    after = evidence.metrics_after
    if after is None:
        return []
    per_call = sorted({(name, k, v) for (name, labels) in after.samples for k, v in labels if _per_call(v)})
    series = Counter(name for name, _ in after.samples)
    too_many = {n: c for n, c in series.items() if c > MAX_SERIES_PER_METRIC}
    ok = not per_call and not too_many
    if ok:
        reason = f"{len(after.samples)} series over {len(series)} metrics, none labelled per call, at most {max(series.values(), default=0)} per metric"
        seen = "no per-call label values"
    else:
        parts = []
        if per_call:
            labels = sorted({f"{n}{{{k}}}" for n, k, _ in per_call})
            parts.append(f"per-call label values on {', '.join(labels)} (e.g. {per_call[0][1]}=\"{per_call[0][2]}\")")
        if too_many:
            parts.append("more than {} series: {}".format(MAX_SERIES_PER_METRIC, ", ".join(f"{n} ({c})" for n, c in sorted(too_many.items()))))
        reason = "label cardinality explosion: " + "; ".join(parts)
        seen = f"{len(per_call)} per-call series"
    expected = f"no call_id/uuid label values, <= {MAX_SERIES_PER_METRIC} series per metric"
    return [CheckResult("metric-cardinality", ok, reason, expected, seen,
                        evidence={"per_call": [list(x) for x in per_call[:20]], "series": dict(series)})]
