"""The contract: defaults documented, profiles override them, the catalogue speaks only roles,
and a check with nothing to judge says *not observed*, never *passed*."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_checks import ALL_SOURCES, CORR, T0, call_logs, make_evidence, make_scenario

from probes import load_scenario
from probes._checks import run_checks
from probes._contract import DEFAULTS, Contract, render_promql
from probes._errors import UnmappedRole
from probes._evidence import AlertPost, Evidence, MetricsSnapshot, Verdict
from probes._scenario import Scenario

DOC = Path("docs/contract.md").read_text(encoding="utf-8")
CATALOGUE = [load_scenario(p) for p in sorted(Path("scenarios").glob("*.yaml"))]


def _leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _leaves(inner, f"{path}.{key}")
    else:
        yield path, value


def test_every_default_is_on_the_reference_page() -> None:
    missing = []
    for section in DEFAULTS:
        if f"contract.{section}" not in DOC:
            missing.append(f"contract.{section}")
    for path, value in _leaves(DEFAULTS, "contract"):
        words = [path.rsplit(".", 1)[1]] + ([value] if isinstance(value, str | int) and not isinstance(value, bool) else [])
        missing += [f"{path} ({w})" for w in words if f"`{w}`" not in DOC and str(w) not in DOC]
    assert missing == []


def test_a_profile_overrides_what_it_names_and_inherits_the_rest() -> None:
    c = Contract.model_validate({"correlation_header": "X-Request-ID",
                                 "metrics": {"bookings": {"labels": {"status": {"name": "result", "values": {"created": "ok"}}}}},
                                 "logs": {"events": {"booking_created": "booking.confirmed"}}})
    assert c.correlation_header == "X-Request-ID"
    assert c.series("bookings", {"status": "created", "source": "retell"}).labels == {"result": "ok", "source": "retell"}
    assert c.series("bookings", {"status": "slot_taken"}).labels == {"result": "slot_taken"}  # an unmapped value keeps its default
    assert c.log_event("booking_created") == "booking.confirmed" and c.log_event("call_started") == "call_started"
    assert Contract() == Contract.model_validate({})


def test_unknown_and_null_roles_name_the_profile_key() -> None:
    c = Contract.model_validate({"logs": {"events": {"booking_cancelled": None}}, "statuses": {"signature_rejected": [401, "4xx"]}})
    with pytest.raises(UnmappedRole, match=r"log event 'booking_cancelled' is mapped to null .*contract\.logs\.events\.booking_cancelled"):
        c.log_event("booking_cancelled")
    with pytest.raises(UnmappedRole, match=r"contract\.metrics\.refunds\.name"):
        c.series("refunds", {})
    assert c.status("signature_rejected").allows(403) and not c.status("signature_rejected").allows(200)
    with pytest.raises(ValueError, match=r"statuses.webhook: 'two' is neither"):
        Contract.model_validate({"statuses": {"webhook": ["two"]}})


def test_promql_in_roles_renders_in_the_targets_words() -> None:
    other = Contract.model_validate({"metrics": {"webhooks": {"name": "gw_events_total", "labels": {
        "provider": {"name": None}, "status": {"name": "outcome", "values": {"processed": "ok", "duplicate": None}}}}}})
    query = 'sum(rate(${webhooks}{provider="retell",status!~"processed|duplicate"}[5m])) / sum(rate(${webhooks}[5m]))'
    assert render_promql(other, query) == 'sum(rate(gw_events_total{outcome!~"ok"}[5m])) / sum(rate(gw_events_total[5m]))'
    assert render_promql(Contract(), "${webhook_duration}_count > ${sla.webhook_p95_s}") == (
        "askproai_webhook_processing_duration_seconds_count > 0.5")
    with pytest.raises(UnmappedRole, match="duplicate"):
        render_promql(other, '${webhooks}{status="duplicate"}')


# -- the catalogue speaks roles only ------------------------------------------------------------------


def _roles_used(s: Scenario) -> list[str]:
    """Every word ``s`` expects of a target that is not a role of the default contract."""
    c, bad = Contract(), []

    def need(ok: bool, what: str) -> None:
        if not ok:
            bad.append(f"{s.name}: {what}")

    for m in s.expect.metrics:
        need(m.metric is not None, f"metric {m.name!r} is a literal name")
        try:
            c.series(m.metric or "", m.labels)
        except UnmappedRole as exc:
            bad.append(f"{s.name}: {exc}")
    for item in s.expect.logs:
        need(item.event in DEFAULTS["logs"]["events"], f"log event {item.event!r}")
        need(item.level is None or item.level.upper() in DEFAULTS["logs"]["levels"], f"level {item.level!r}")
        need(not item.fields, "literal log fields")
    for step in s.steps:
        e = step.expect
        need(e.body is None, f"step {step.label}: a literal body")
        need(e.status is None or isinstance(e.status, str), f"step {step.label}: a literal status {e.status!r}")
        need(step.http is None or not step.http.startswith("/"), f"step {step.label}: a literal path {step.http!r}")
        for field, value in (e.result or {}).items():
            need(field in DEFAULTS["results"]["fields"], f"result field {field!r}")
            need(not isinstance(value, str) or value in DEFAULTS["results"]["values"], f"result value {value!r}")
        for ref in step.args_from.values():
            need(ref.split(".", 1)[1].split("[")[0] in DEFAULTS["results"]["fields"], f"args_from {ref!r}")
    for word in s.expect.alerts.contains if s.expect.alerts else []:
        need(word in DEFAULTS["alert_words"], f"alert word {word!r}")
    for cal in s.expect.calcom:
        need(not cal.body and not cal.query, f"calcom {cal.endpoint}: a literal body or query")
    for q in s.expect.promql:
        need("askproai" not in q.query, f"promql {q.query!r} names a metric")
        try:
            render_promql(c, q.query)
        except UnmappedRole as exc:
            bad.append(f"{s.name}: {exc}")
    return bad


def test_the_catalogue_names_no_word_outside_the_contract() -> None:
    assert [w for s in CATALOGUE for w in _roles_used(s)] == []


def test_no_scenario_depends_on_how_many_slots_are_offered() -> None:
    for s in CATALOGUE:
        for step in s.steps:
            assert not step.args_from_per_call, s.name
            for ref in step.args_from.values():
                assert ref.endswith("[0]"), f"{s.name}: {ref} needs more than one offered time"


# -- nothing to judge is not a pass --------------------------------------------------------------------


def _unobserved(s: Scenario, ev: Evidence, check: str, contract: Contract | None = None) -> str:
    results = [r for r in run_checks(s, ev, contract or Contract()) if r.check == check]
    assert results, f"{check} said nothing"
    assert all(not r.observed and r.passed for r in results), [r.reason for r in results]
    verdict = Verdict(s.name, results, ev)
    assert verdict.passed and not verdict.strict().passed  # --callprobe-strict fails it
    return results[0].reason


VACUOUS = {
    "no alert sink, alerts: {count: 0}": ({"alerts": {"count": 0}}, "alert-count", {"sources": ("metrics", "logs")}),
    "no log source, log-pii": ({}, "log-pii", {"sources": ("metrics",)}),
    "a log source with no line": ({}, "log-pii", {}),
    "alerts: {contains} and no alert": ({"alerts": {"contains": ["calendar_unavailable"]}}, "alert-content", {}),
    "an alert word the contract lacks": ({"alerts": {"contains": ["disk_full"]}}, "alert-content", {}),
    "errors: {}": ({"errors": {}}, "error-reported", {}),
    "no metrics endpoint": ({"metrics": [{"metric": "bookings", "delta": 1}]}, "metric-delta", {"sources": ("logs",)}),
    "metrics endpoint unreadable": ({"metrics": [{"metric": "bookings", "delta": 1}]}, "metric-delta",
                                    {"source_errors": {"metrics": "metrics endpoint at http://x: answered 500"}}),
    "no log source, log-present": ({"logs": [{"event": "booking_created"}]}, "log-present", {"sources": ("metrics",)}),
    "no log source, correlation-in-logs": ({}, "correlation-in-logs", {"sources": ("metrics",)}),
    "no Cal.com journal": ({"calcom": [{"endpoint": "slots", "count": 1}]}, "calcom-requests", {"sources": ("logs",)}),
    "no Cal.com journal, correlation-in-calcom": ({}, "correlation-in-calcom", {"sources": ("logs",)}),
    "no trace backend": ({"traces": {}}, "trace-continuity", {"sources": ("logs",)}),
    "no error backend": ({"errors": {"min_count": 1}}, "error-reported", {"sources": ("logs",)}),
    "no Prometheus": ({"promql": [{"query": "up", "op": "==", "value": 1}]}, "promql", {}),
    "no metrics, cardinality": ({}, "metric-cardinality", {"sources": ("logs",)}),
    "no metrics, histogram units": ({}, "histogram-units", {"sources": ("logs",)}),
    "no metrics, time-to-telemetry": ({"metrics": [{"metric": "bookings", "delta": 1}]}, "time-to-telemetry", {"sources": ("logs",)}),
}


@pytest.mark.parametrize("case", sorted(VACUOUS))
def test_nothing_to_judge_is_not_observed_and_fails_when_strict(case: str) -> None:
    expect, check, fields = VACUOUS[case]
    s = make_scenario(expect=expect)
    ev = make_evidence(s, **fields)
    if "source_errors" in fields:
        ev.sources = ALL_SOURCES
    reason = _unobserved(s, ev, check)
    assert reason.startswith("not observed: ") and "(" in reason, reason


def test_every_evidence_kind_says_not_observed_the_same_way() -> None:
    s = make_scenario(expect={"logs": [{"event": "booking_created"}], "alerts": {"count": 1}, "traces": {},
                              "errors": {"min_count": 1}, "calcom": [{"endpoint": "slots"}],
                              "metrics": [{"metric": "bookings", "delta": 1}], "promql": [{"query": "up", "op": "==", "value": 1}]})
    ev = make_evidence(s, sources=())
    reasons = {r.check: r.reason for r in run_checks(s, ev, Contract()) if not r.observed}
    for what in ("metrics endpoint", "log source", "alert sink", "Cal.com mock journal", "trace backend", "error-event backend", "Prometheus"):
        assert any(reason.startswith(f"not observed: the target profile names no {what} (") for reason in reasons.values()), what


def test_a_judged_alert_and_log_line_are_observed() -> None:
    s = make_scenario(expect={"alerts": {"count": 1, "contains": ["calendar_unavailable"]}})
    ev = make_evidence(s, alerts=[AlertPost(T0 + 1, {"text": f"calendar_unavailable {CORR}"})],
                       metrics_before=MetricsSnapshot(T0, {}), metrics_after=MetricsSnapshot(T0 + 1, {}))
    ev.logs = call_logs(ev)
    results = run_checks(s, ev, Contract())
    assert all(r.observed for r in results if r.check in ("alert-count", "alert-content", "log-pii", "correlation-in-logs"))
