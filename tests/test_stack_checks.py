"""The stack-mode checks and the scrape-shape checks on canned evidence (no sockets, no binaries)."""

from __future__ import annotations

import math
from typing import Any

from probes._checks import run_checks
from probes._checks._promql import substitute_window
from probes._checks._traces import client_spans_of
from probes._contract import Contract
from probes._evidence import CheckResult, Evidence, PromqlEvaluation, StackAlertSeen, Verdict
from probes._observers import parse_exposition
from probes._observers._prometheus import parse_go_time, parse_prom_result
from probes._plan import build_plan
from probes._pushgateway import verdict_registry
from probes._report import format_failure, verdict_to_json
from probes._scenario import Scenario, parse_scenario
from probes._spans import Span

T0 = 1767369600.0
STEPS = [{"event": "call_started"}]


def scenario(**expect: Any) -> Scenario:
    return parse_scenario({"name": "unit", "steps": STEPS, "expect": expect})


def evidence(s: Scenario, metrics: str = "", prometheus: bool = False, **fields: Any) -> Evidence:
    sources = ("metrics", "logs", "alerts", "calcom") + (("prometheus",) if prometheus else ())
    ev = Evidence(plan=build_plan(s, api_key="k", seed=1), started_at=T0, sources=sources, **fields)
    ev.metrics_before = parse_exposition(metrics, T0)
    ev.metrics_after = parse_exposition(metrics, T0 + 1)
    return ev


def results(name: str, s: Scenario, ev: Evidence) -> list[Any]:
    return [r for r in run_checks(s, ev, Contract()) if r.check == name]


P95 = "histogram_quantile(0.95, sum(rate(x_bucket[$window])) by (le))"


def test_substitute_window_rounds_up() -> None:
    assert substitute_window(P95, 36.2) == "histogram_quantile(0.95, sum(rate(x_bucket[37s])) by (le))"
    assert substitute_window("rate(x[$window])", 0.1) == "rate(x[1s])"


def test_expectations_without_a_backend_are_reported_not_observed_and_fail_when_strict() -> None:
    s = scenario(promql=[{"query": P95, "op": "<", "value": 0.5}], stack_alerts=[{"alertname": "A"}],
                 traces={}, errors={"min_count": 1})
    ev = evidence(s)  # no Prometheus, no trace backend, no error tracker
    hints = {"promql": "--stack", "alertmanager-alert": "prometheus_url", "trace-continuity": "traces.kind",
             "trace-attributes": "traces.kind", "trace-error-status": "traces.kind", "error-reported": "errors.kind"}
    for name, hint in hints.items():
        [r] = results(name, s, ev)
        assert r.passed and not r.observed and r.reason.startswith("not observed: ") and hint in r.reason, r
    ours = [r for r in run_checks(s, ev, Contract()) if r.check in hints]
    verdict = Verdict("unit", [*ours, CheckResult("step-status", True, "ok")], ev)
    assert verdict.passed and {r.check for r in verdict.unobserved} == set(hints)
    assert format_failure(verdict) == "scenario unit: 1 checks passed, 6 not observed"
    assert verdict_to_json(verdict)["not_observed"] == sorted(hints)
    strict = verdict.strict()
    assert not strict.passed and strict.failed_checks() == set(hints)
    assert verdict.passed, "strict() returns a new verdict and leaves this one as it was"


def test_not_observed_checks_push_no_success_gauge() -> None:
    s = scenario(promql=[{"query": "up", "op": "==", "value": 1}])
    ev = evidence(s)
    ev.finished_at = T0 + 1
    registry = verdict_registry(Verdict("unit", run_checks(s, ev, Contract()), ev))
    checks = {sample.labels["check"] for m in registry.collect() if m.name == "callprobe_probe_check_success" for sample in m.samples}
    assert "metric-cardinality" in checks and "promql" not in checks


def test_promql_failure_quotes_query_and_values() -> None:
    s = scenario(promql=[{"query": P95, "op": "<", "value": 0.5}, {"query": "up", "op": "==", "value": 1}])
    query = substitute_window(P95, 3)
    ev = evidence(s, prometheus=True, promql=[PromqlEvaluation(0, query, T0 + 2, 3, (("{}", 0.75),)),
                                             PromqlEvaluation(1, "up", T0 + 2, 3, ())])
    first, second = results("promql", s, ev)
    assert not first.passed
    assert first.reason == f"instant query `{query}` = 0.75, expected < 0.5"
    assert not second.passed and "empty result" in second.reason


def test_promql_nan_never_holds_and_all_series_must_pass() -> None:
    s = scenario(promql=[{"query": "x", "op": "<=", "value": 1}])
    nan = evidence(s, prometheus=True, promql=[PromqlEvaluation(0, "x", T0, 1, (("{}", math.nan),))])
    mixed = evidence(s, prometheus=True, promql=[PromqlEvaluation(0, "x", T0, 1, (('{a="1"}', 0.5), ('{a="2"}', 2.0)))])
    ok = evidence(s, prometheus=True, promql=[PromqlEvaluation(0, "x", T0, 1, (('{a="1"}', 0.5), ('{a="2"}', 1.0)))])
    assert [r.passed for r in results("promql", s, nan) + results("promql", s, mixed) + results("promql", s, ok)] == [False, False, True]


def test_alertmanager_alert_fired_resolved_and_silent() -> None:
    s = scenario(stack_alerts=[{"alertname": "CalcomFailures", "within_s": 5, "resolved_within_s": 10},
                               {"alertname": "Quiet", "fired": False, "within_s": 3}])
    fired = StackAlertSeen("CalcomFailures", T0, T0 + 1, firing_api_at=T0 + 1.5, firing_webhook_at=T0 + 1.8,
                           resolved_webhook_at=T0 + 7, grouped=True, group_key='{}:{alertname="CalcomFailures"}')
    ev = evidence(s, prometheus=True, stack_alerts=[fired, StackAlertSeen("Quiet", T0, T0 + 1)])
    first, second = results("alertmanager-alert", s, ev)
    assert first.passed and math.isclose(first.evidence["fault_to_alert_s"], 1.8, abs_tol=1e-6)
    assert "fired 1.80 s after the fault" in first.reason and "resolved 6.00 s after the fault ended" in first.reason
    assert second.passed and second.reason == "Quiet stayed silent for 3 s"
    late = StackAlertSeen("CalcomFailures", T0, T0 + 1, firing_webhook_at=T0 + 6, grouped=True)
    ev = evidence(s, prometheus=True, stack_alerts=[late, StackAlertSeen("Quiet", T0, T0 + 1, firing_api_at=T0 + 2)])
    first, second = results("alertmanager-alert", s, ev)
    assert not first.passed and "not resolved within 10 s" in first.reason
    assert not second.passed and "expected silence" in second.reason


HEALTHY = """
# TYPE askproai_webhook_processing_duration_seconds histogram
askproai_webhook_processing_duration_seconds_bucket{event="call_started",le="0.2"} 1
askproai_webhook_processing_duration_seconds_bucket{event="call_started",le="0.5"} 1
askproai_webhook_processing_duration_seconds_bucket{event="call_started",le="+Inf"} 1
askproai_webhook_processing_duration_seconds_count{event="call_started"} 1
askproai_webhook_processing_duration_seconds_sum{event="call_started"} 0.01
"""
BLIND = HEALTHY.replace('le="0.2"', 'le="0.1"').replace('le="0.5"', 'le="1.0"')
PER_CALL = """
# TYPE askproai_call_events_total counter
askproai_call_events_total{call_id="call_0123456789abcdef0123456789a",event="call_started"} 1
"""


def test_histogram_sla_bucket_needs_an_edge_at_each_of_the_contracts_sla_edges() -> None:
    s = scenario(latency=[{"kind": "webhook", "max_ms": 200}])
    assert all(r.passed for r in results("histogram-sla-bucket", s, evidence(s, HEALTHY)))
    [failed] = [r for r in results("histogram-sla-bucket", s, evidence(s, BLIND)) if not r.passed]
    assert failed.expected == 'le="0.5"'  # the contract's edges (sla.histogram_edges_ms), not every number a scenario names
    assert "no bucket le=\"0.5\" for the 500 ms SLA (edges: 0.1, 1, inf)" in failed.reason
    both = Contract(sla={"histogram_edges_ms": [200, 500]})
    assert [r.expected for r in run_checks(s, evidence(s, BLIND), both) if r.check == "histogram-sla-bucket" and not r.passed] == [
        'le="0.2"', 'le="0.5"']


def test_metric_cardinality_flags_call_id_labels() -> None:
    s = scenario()
    assert [r.passed for r in results("metric-cardinality", s, evidence(s, HEALTHY))] == [True]
    [bad] = results("metric-cardinality", s, evidence(s, HEALTHY + PER_CALL))
    assert not bad.passed
    assert 'askproai_call_events_total{call_id} (e.g. call_id="call_0123456789abcdef0123456789a")' in bad.reason


def test_prometheus_answers_and_go_times_parse() -> None:
    vector = {"resultType": "vector", "result": [{"metric": {"job": "g"}, "value": [1795352346.356, "NaN"]}]}
    [sample] = parse_prom_result(vector, "here")
    assert sample.text() == '{job="g"}' and math.isnan(sample.last)
    matrix = {"resultType": "matrix", "result": [{"metric": {}, "values": [[1, "1"], [2, "+Inf"]]}]}
    assert parse_prom_result(matrix, "here")[0].values == ((1.0, 1.0), (2.0, math.inf))
    assert parse_prom_result({"resultType": "scalar", "result": [3, "0.5"]}, "here")[0].last == 0.5
    assert parse_go_time("2026-11-22T10:00:00.123456789Z") == 1795341600.123456
    assert parse_go_time("0001-01-01T00:00:00Z") is None


def _span(span_id: str, parent: str | None, kind: str, start_ms: int, end_ms: int, trace: str = "a" * 32, corr: str = "c-1") -> Span:
    return Span(trace, span_id, parent, f"{kind.lower()} {span_id}", kind, int(T0 * 1e9) + start_ms * 1_000_000,
                int(T0 * 1e9) + end_ms * 1_000_000, {"callprobe.correlation_id": corr})


def test_overlapping_requests_of_one_call_keep_their_own_calcom_spans() -> None:
    # A slow request (server 1, 0-800 ms) and the next one (server 2, 100-200 ms) of the same call:
    # server 1's Cal.com span starts inside server 2's time, with the same correlation ID.
    first, second = _span("1" * 16, "f" * 16, "SERVER", 0, 800), _span("2" * 16, "e" * 16, "SERVER", 100, 200)
    slots_of_first = _span("3" * 16, "1" * 16, "CLIENT", 150, 790)
    spans = [first, second, slots_of_first]
    ev = Evidence(plan=build_plan(scenario(), api_key="k", seed=1), spans=spans)
    assert client_spans_of(ev, second, Contract()) == []
    assert client_spans_of(ev, first, Contract()) == [slots_of_first]
    detached = _span("4" * 16, None, "CLIENT", 120, 180, trace="b" * 32)  # a new root: the broken-trace defect
    ev.spans.append(detached)
    assert client_spans_of(ev, second, Contract()) == [detached]
