"""The failure text and the JSON form of a Verdict, asserted on their rendered output."""

from __future__ import annotations

import json

from test_checks import CORR, make_evidence, make_scenario

from probes._checks import run_checks
from probes._contract import Contract
from probes._evidence import CheckResult, Evidence, MetricsSnapshot, Verdict
from probes._report import format_failure, verdict_to_json


def failing_verdict() -> Verdict:
    s = make_scenario(expect={"metrics": [{"name": "askproai_bookings_total", "labels": {"status": "booked"}, "delta": 1}]})
    ev = make_evidence(s, {"book_appointment": {"body": {"booked": False}}})
    ev.metrics_before = MetricsSnapshot(taken_at=0.0, samples={})
    ev.metrics_after = MetricsSnapshot(taken_at=1.0, samples={})
    return Verdict(scenario=s.name, results=run_checks(s, ev, Contract()), evidence=ev)


def test_format_failure_reads_like_an_assertion_diff() -> None:
    verdict = failing_verdict()
    cid = verdict.evidence.plan.calls[0].call_id
    total = len(verdict.results)
    assert format_failure(verdict) == "\n".join([
        f"scenario unit: 3 of {total} checks failed",
        '✗ step-body — book_appointment: expected body["booked"] = true, got false',
        f"  call 1 (call_id {cid}, correlation_id {CORR}) step book_appointment",
        '  expected: {"booked": true}',
        '  seen:     {"booked": false}',
        f"✗ correlation-in-logs — no log line names call_id {cid} (of 0 lines read)",
        f"  call 1 (call_id {cid}, correlation_id {CORR})",
        f"  expected: log lines with call_id={cid}",
        "  seen:     none",
        '✗ metric-delta — askproai_bookings_total{status="booked"}: expected +1, seen +0; no series named askproai_bookings_total',
        f"  call 1 (call_id {cid}, correlation_id {CORR})",
        "  expected: +1",
        "  seen:     +0",
        f"search your logs for correlation_id={CORR}",
    ])


def test_format_failure_without_correlation_ids_and_when_passing() -> None:
    s = make_scenario()
    ev = make_evidence(s)
    lost = CheckResult("target-reachable", False, "POST /x got no answer: boom", "an HTTP answer", "boom", call_id="call_1")
    assert format_failure(Verdict("unit", [lost], ev)).splitlines()[-1] == "search your logs for call_id=call_1"
    assert format_failure(Verdict("unit", [CheckResult("step-status", True, "ok")], ev)) == "scenario unit: all 1 checks passed"


def test_verdict_to_json_redacts_secrets_and_is_json() -> None:
    verdict = failing_verdict()
    data = verdict_to_json(verdict)
    text = json.dumps(data)
    assert data["passed"] is False
    assert data["failed_checks"] == ["correlation-in-logs", "metric-delta", "step-body"]
    assert data["results"][0].keys() == {"check", "passed", "observed", "reason", "expected", "seen", "call_id", "correlation_id", "step", "evidence"}
    headers = data["exchanges"][0]["request_headers"]
    assert headers["X-Retell-Signature"] == "[redacted]"
    assert "v=" not in json.dumps(headers)
    for x in verdict.evidence.exchanges:
        signature = x.request_headers.get("X-Retell-Signature")
        assert signature and signature not in text
    assert data["observed"] == {"log_lines": 0, "alerts": 0, "calcom_requests": 0}


def test_verdict_to_json_redacts_authorization_and_serialises_evidence() -> None:
    s = make_scenario()
    ev: Evidence = make_evidence(s)
    ev.exchanges[0] = ev.exchanges[0].__class__(**{**ev.exchanges[0].__dict__, "request_headers": {"authorization": "Bearer tok"}})
    result = CheckResult("latency-percentile", True, "ok", evidence={"values": {3.0, 1.0}, "nan": float("nan")})
    data = verdict_to_json(Verdict("unit", [result], ev))
    assert data["exchanges"][0]["request_headers"] == {"authorization": "[redacted]"}
    assert data["results"][0]["evidence"] == {"values": [1.0, 3.0], "nan": "nan"}
    json.dumps(data, allow_nan=False)
