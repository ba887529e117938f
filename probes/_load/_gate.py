"""The SLA gate at the end of a load run: thresholds that cannot pass empty.

A threshold is judged only with enough samples (k6 #4283: a rate threshold over
zero checks reported "ok"): a p95 needs 20, a p99 100, unless the scenario's
``load.min_samples`` says otherwise; with fewer it is *no data*. Thresholds
come from the scenario: ``expect.latency`` (per kind of request), each step's
``within_ms`` (its p99), and the ``load:`` block (per-step percentiles, error
ratio, completed calls, achieved-rate ratio, telemetry completeness). Latency
is judged from each request's intended send time (corrected).

Exit codes (:mod:`probes._exitcodes`): 3 when the harness or a worker failed,
2 when no call completed or a threshold had no data, 1 when a threshold was
breached, 0 when every threshold held.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._errors import ConfigError
from .._exitcodes import EXIT_FAILED, EXIT_HARNESS, EXIT_OK, EXIT_USAGE
from .._scenario import Scenario
from ._calls import step_name
from ._histograms import LatencyBook
from ._ledger import Tally

__all__ = ["BREACH", "NO_DATA", "PASS", "GateResult", "Threshold", "evaluate", "needed_samples"]

PASS, BREACH, NO_DATA = "pass", "breach", "no data"
KIND_SERIES = {"webhook": "all webhook", "function": "all function", "any": "all requests"}  # see _locust_users._record


def needed_samples(percentile: float, floor: int | None = None) -> int:
    """Samples a percentile needs to mean something: at least one beyond it (p95: 20, p99: 100)."""
    return floor if floor is not None else max(1, math.ceil(100 / max(100 - percentile, 1e-9)))


@dataclass(frozen=True)
class Threshold:
    """One line of the gate: what was asked, what was seen, over how many samples, and the verdict."""

    name: str
    verdict: str
    seen: str
    limit: str
    samples: int
    needed: int

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "verdict": self.verdict, "seen": self.seen, "limit": self.limit,
                "samples": self.samples, "needed": self.needed}


@dataclass
class GateResult:
    thresholds: list[Threshold]
    harness_errors: list[str] = field(default_factory=list)
    completed: int = 0

    @property
    def exit_code(self) -> int:
        if self.harness_errors:
            return EXIT_HARNESS
        if self.completed == 0:
            return EXIT_USAGE
        verdicts = {t.verdict for t in self.thresholds}
        if BREACH in verdicts:
            return EXIT_FAILED
        return EXIT_USAGE if NO_DATA in verdicts else EXIT_OK

    @property
    def verdict(self) -> str:
        return {EXIT_OK: "PASS", EXIT_FAILED: "FAIL: SLA breached", EXIT_USAGE: "NO DATA",
                EXIT_HARNESS: "ERROR: the harness failed"}[self.exit_code]


def _latency(name: str, series: str, book: LatencyBook, percentile: float, limit_ms: float, floor: int | None) -> Threshold:
    n, value = book.value_at(series, percentile)
    need = needed_samples(percentile, floor)
    label = "max" if percentile >= 100 else f"p{percentile:g}"
    if n < need:
        return Threshold(f"{label} {name}", NO_DATA, f"n={n}", f"<= {limit_ms:g} ms", n, need)
    verdict = PASS if value <= limit_ms else BREACH
    return Threshold(f"{label} {name}", verdict, f"{value:.4g} ms", f"<= {limit_ms:g} ms", n, need)


def _step_series(scenario: Scenario, label: str, call_entry: str) -> str:
    """The histogram series of a step label (its ``<kind> <label>`` stats name), or the whole call (``call``)."""
    if label == "call":
        return call_entry
    step = next((s for s in scenario.steps if s.label == label), None)
    if step is None:
        raise ConfigError(f"{scenario.source or scenario.name}: load.steps.{label}: no step is named {label!r} "
                          f"(steps: {', '.join(s.label for s in scenario.steps)}; 'call' is the whole call)")
    return step_name(step)


def _latency_thresholds(scenario: Scenario, book: LatencyBook, call_entry: str) -> list[Threshold]:
    floor = scenario.load.min_samples
    out = [_latency(f"{item.kind} requests", KIND_SERIES[item.kind], book, item.percentile, item.max_ms, floor)
           for item in scenario.expect.latency]
    for step in scenario.steps:
        if step.expect.within_ms is not None:
            series = _step_series(scenario, step.label, call_entry)
            out.append(_latency(series, series, book, 99.0, step.expect.within_ms, floor))
    for label, limits in scenario.load.steps.items():
        series = _step_series(scenario, label, call_entry)
        for percentile, limit in ((50.0, limits.p50_ms), (95.0, limits.p95_ms), (99.0, limits.p99_ms)):
            if limit is not None:
                out.append(_latency(series, series, book, percentile, limit, floor))
    return out


def _ratio(name: str, num: int, den: int, limit: float, *, at_most: bool) -> Threshold:
    if den == 0:
        return Threshold(name, NO_DATA, "n=0", f"{'<=' if at_most else '>='} {limit:g}", 0, 1)
    value = num / den
    ok = value <= limit if at_most else value >= limit
    return Threshold(name, PASS if ok else BREACH, f"{value:.3g} ({num}/{den})", f"{'<=' if at_most else '>='} {limit:g}", den, 1)


def _telemetry(report: Mapping[str, Any] | None) -> Threshold:
    if report is None:
        return Threshold("telemetry complete", NO_DATA, "not read", "every call", 0, 1)
    judged, complete = int(report.get("calls_judged", 0)), int(report.get("calls_complete", 0))
    run_ok = all(r["passed"] for r in report.get("run", []))
    observed = judged > 0 or any(r.get("observed", True) for r in report.get("run", []))
    if not observed:
        return Threshold("telemetry complete", NO_DATA, "nothing observable", "every call", 0, 1)
    verdict = PASS if run_ok and complete == judged else BREACH
    return Threshold("telemetry complete", verdict, f"{complete}/{judged} calls", "every call", judged, 1)


def evaluate(scenario: Scenario, tally: Tally, book: LatencyBook, *, call_entry: str, open_model: bool,
             telemetry: Mapping[str, Any] | None) -> GateResult:
    """Every threshold of the run, judged; the result's ``exit_code`` is the run's."""
    load = scenario.load
    thresholds = [Threshold("completed calls", PASS if tally.completed >= load.min_calls else (NO_DATA if tally.completed == 0 else BREACH),
                            str(tally.completed), f">= {load.min_calls}", tally.started, 1)]
    thresholds.append(_ratio("error ratio", tally.failures, tally.requests + tally.unsent, load.max_error_ratio, at_most=True))
    if open_model:
        thresholds.append(_ratio("achieved rate", tally.started, tally.intended, load.min_rate_ratio, at_most=False))
    thresholds += _latency_thresholds(scenario, book, call_entry)
    if load.telemetry:
        thresholds.append(_telemetry(telemetry))
    return GateResult(thresholds, list(tally.harness_errors), tally.completed)
