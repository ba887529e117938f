"""Every check, passing and failing, on hand-made Evidence; reasons asserted verbatim or by regex."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from probes._calcom import JournalEntry
from probes._checks import CHECK_NAMES, TELEMETRY_CHECKS, run_checks, subset_diff
from probes._checks._latency import nearest_rank
from probes._evidence import AlertPost, CheckResult, Evidence, Exchange, LogLine, MetricsSnapshot, series_key
from probes._observers import parse_exposition
from probes._pii import find_phone, mask_digits, national_digits, redact_phones
from probes._plan import Plan, PlannedRequest, build_plan
from probes._profile import Contract
from probes._scenario import Scenario, parse_scenario

START_MS = 1767369600000
T0 = START_MS / 1000
CORR = "corr-1"
ALL_SOURCES = ("metrics", "logs", "alerts", "calcom", "traces", "errors")

BOOKING_STEPS: list[dict[str, Any]] = [
    {"event": "call_started", "expect": {"status": 204, "within_ms": 500}},
    {"function": "check_availability", "at": 5, "outcome": "slots", "expect": {"body": {"available": True}}},
    {"function": "book_appointment", "at": 9, "outcome": "booked", "expect": {"status": 200, "body": {"booked": True}}},
    {"event": "call_ended", "at": 20},
]
ANSWERS: dict[str, tuple[int, dict[str, Any] | None]] = {
    "call_started": (204, None),
    "call_ended": (204, None),
    "check_availability": (200, {"available": True, "slots": ["2026-01-09T15:00:00-05:00"], "message": "ok"}),
    "book_appointment": (200, {"booked": True, "booking_uid": "bk_1", "message": "booked"}),
}


def make_scenario(steps: list[dict[str, Any]] | None = None, **fields: Any) -> Scenario:
    return parse_scenario({"name": "unit", "steps": steps or BOOKING_STEPS, **fields})


def make_plan(scenario: Scenario) -> Plan:
    return build_plan(scenario, api_key="k", seed=1, start_ms=START_MS)


def exchange(r: PlannedRequest, *, corr: str | None = CORR, status: int | None = None, body: Any = None,
             latency_ms: float = 50.0, **over: Any) -> Exchange:
    default_status, default_body = ANSWERS.get(r.step.label, (200, None))
    answer = body if body is not None else default_body
    headers = {"X-Correlation-ID": corr} if corr else {}
    x = Exchange(
        call_index=r.call_index, call_id=r.call_id, step_index=r.step_index, step=r.label, delivery=r.delivery,
        kind=r.kind, method=r.method, path=r.path, request_headers=dict(r.headers), request_body=r.body,
        sent_at=T0 + r.send_at_s, expect=r.step.expect, latency_ms=latency_ms,
        status=status if status is not None else default_status, response_headers=headers,
        response_body=json.dumps(answer) if answer is not None else "",
    )
    return replace(x, **over)


def make_evidence(scenario: Scenario, overrides: dict[str, dict[str, Any]] | None = None,
                  corr_of_call: dict[int, str] | None = None, **fields: Any) -> Evidence:
    """Evidence where every request got its default answer, except ``overrides[step label]``."""
    plan = make_plan(scenario)
    xs = []
    for r in plan.requests():
        corr = (corr_of_call or {}).get(r.call_index, CORR)
        xs.append(exchange(r, **{"corr": corr, **(overrides or {}).get(r.label, {})}))
    fields.setdefault("sources", ALL_SOURCES)
    return Evidence(plan=plan, exchanges=xs, started_at=T0, **fields)


def check(name: str, scenario: Scenario, evidence: Evidence, contract: Contract | None = None) -> list[CheckResult]:
    assert name in CHECK_NAMES
    return [r for r in run_checks(scenario, evidence, contract or Contract()) if r.check == name]


def failures(name: str, scenario: Scenario, evidence: Evidence, contract: Contract | None = None) -> list[str]:
    return [r.reason for r in check(name, scenario, evidence, contract) if not r.passed]


def all_pass(name: str, scenario: Scenario, evidence: Evidence, contract: Contract | None = None) -> list[CheckResult]:
    results = check(name, scenario, evidence, contract)
    assert results, f"{name} produced no result"
    assert all(r.passed for r in results), [r.reason for r in results if not r.passed]
    return results


def log(record: dict[str, Any], seen_at: float = T0 + 0.1) -> LogLine:
    return LogLine(seen_at=seen_at, record=record, raw=json.dumps(record))


def call_logs(evidence: Evidence, corr: str = CORR, **extra: Any) -> list[LogLine]:
    cid = evidence.plan.calls[0].call_id
    events = ["call_started", "availability_checked", "booking_created", "call_ended"]
    return [log({"level": "INFO", "event": e, "message": e.replace("_", " "), "call_id": cid,
                 "correlation_id": corr, **extra}) for e in events]


# -- run_checks ----------------------------------------------------------------------------


def test_names_and_order_are_stable() -> None:
    assert CHECK_NAMES == (
        "target-reachable", "telemetry-reachable", "step-status", "signature-rejected", "step-body", "latency-sla", "latency-percentile",
        "correlation-echoed", "correlation-continuity", "correlation-distinct", "correlation-in-logs",
        "correlation-in-alerts", "correlation-in-calcom", "metric-delta", "log-present", "log-pii",
        "calcom-requests", "alert-count", "alert-content", "time-to-telemetry",
        "trace-continuity", "trace-attributes", "trace-error-status", "error-reported",
        "histogram-sla-bucket", "histogram-units", "metric-cardinality", "promql", "alertmanager-alert",
    )
    assert TELEMETRY_CHECKS <= set(CHECK_NAMES)
    s = make_scenario()
    ev = make_evidence(s)
    ev.logs = call_logs(ev)
    names = [r.check for r in run_checks(s, ev, Contract())]
    assert names == sorted(names, key=CHECK_NAMES.index)
    assert all(r.reason and r.expected for r in run_checks(s, ev, Contract()))


# -- target-reachable / step-status / signature-rejected / step-body ------------------------


def test_target_reachable() -> None:
    s = make_scenario()
    all_pass("target-reachable", s, make_evidence(s))
    refused = {"error": "ConnectError: [Errno 111] Connection refused", "status": None, "latency_ms": None}
    ev = make_evidence(s, {"call_started": {**refused, "corr": None}, "call_ended": {"abandoned": True, "error": "hung up"}})
    assert failures("target-reachable", s, ev) == [
        "POST /api/retell/webhook (call_started) got no answer: ConnectError: [Errno 111] Connection refused"
    ]


def test_step_status() -> None:
    s = make_scenario()
    results = all_pass("step-status", s, make_evidence(s))
    assert [r.reason for r in results][:2] == [
        "POST /api/retell/webhook (call_started) answered 204",
        "POST /api/retell/functions/check_availability (check_availability) answered 200",
    ]
    ev = make_evidence(s, {"book_appointment": {"status": 500}, "check_availability": {"status": 302}})
    bad = [r for r in check("step-status", s, ev) if not r.passed]
    assert [r.reason for r in bad] == [
        "POST /api/retell/functions/check_availability (check_availability) answered 302, expected 2xx",
        "POST /api/retell/functions/book_appointment (book_appointment) answered 500, expected 200",
    ]
    assert bad[1].expected == "200" and bad[1].seen.startswith("500 {") and bad[1].correlation_id == CORR


def test_signature_rejected() -> None:
    steps = [{"event": "call_started"}, {"event": "call_ended", "at": 3, "signature": "forged"},
             {"event": "call_analyzed", "at": 5, "signature": "missing"}]
    s = make_scenario(steps)
    ok = make_evidence(s, {"call_ended": {"status": 401}, "call_analyzed": {"status": 401}})
    assert [r.reason for r in all_pass("signature-rejected", s, ok)] == [
        "a forged X-Retell-Signature was rejected with 401",
        "a request without X-Retell-Signature was rejected with 401",
    ]
    assert check("step-status", s, ok)[-1].step == "call_started"  # bad-signature steps are not held to 2xx
    bad = make_evidence(s, {"call_ended": {"status": 204}, "call_analyzed": {"status": 500}})
    assert failures("signature-rejected", s, bad) == [
        "a forged X-Retell-Signature was accepted with 204",
        "a request without X-Retell-Signature was answered with 500, expected 401",
    ]


def test_step_body() -> None:
    s = make_scenario()
    assert [r.reason for r in all_pass("step-body", s, make_evidence(s))] == [
        'check_availability: the answer contains {"available": true}',
        'book_appointment: the answer contains {"booked": true}',
    ]
    ev = make_evidence(s, {"book_appointment": {"body": {"booked": False, "error": "slot_taken"}},
                           "check_availability": {"response_body": "<html>oops</html>"}})
    results = [r for r in check("step-body", s, ev) if not r.passed]
    assert [r.reason for r in results] == [
        "check_availability: the answer is not JSON: <html>oops</html>",
        'book_appointment: expected body["booked"] = true, got false',
    ]
    assert results[1].expected == '{"booked": true}'
    assert results[1].seen == '{"booked": false, "error": "slot_taken"}'


def test_subset_diff_key_paths() -> None:
    got = {"a": {"b": [1, {"c": "d"}]}, "n": 1}
    assert subset_diff({"a": {"b": [1, {"c": "d"}]}}, got) is None
    assert subset_diff({"a": {"b": [1, {"c": "e"}]}}, got) == 'expected body["a"]["b"][1]["c"] = "e", got "d"'
    assert subset_diff({"a": {"x": None}}, got) == 'expected body["a"]["x"] = null, got no such key'
    assert subset_diff({"n": True}, got) == 'expected body["n"] = true, got 1'
    assert subset_diff({"a": [1]}, got) == 'expected body["a"] = [1], got {"b": [1, {"c": "d"}]}'
    assert subset_diff({"a": {"b": [1]}}, got) == 'expected body["a"]["b"] = [1], got [1, {"c": "d"}]'
    assert subset_diff({"n": {"x": 1}}, got) == 'expected body["n"] to be an object, got 1'


# -- latency ------------------------------------------------------------------------------------


def test_latency_sla() -> None:
    s = make_scenario()
    results = all_pass("latency-sla", s, make_evidence(s))
    assert [r.reason for r in results] == ["call_started took 50 ms, within the SLA of 500 ms"]
    assert results[0].evidence == {"latency_ms": 50.0, "server_ms": None, "limit_ms": 500}
    ev = make_evidence(s, {"call_started": {"latency_ms": 812.5, "response_headers": {
        "X-Correlation-ID": CORR, "Server-Timing": "app;dur=790"}}})
    [result] = check("latency-sla", s, ev)
    assert not result.passed
    assert result.reason == "call_started took 812.5 ms (gateway says 790 ms), over the SLA of 500 ms"
    assert (result.expected, result.seen, result.step) == ("<= 500 ms", "812.5 ms", "call_started")


def test_nearest_rank() -> None:
    values = [float(v) for v in range(1, 21)]
    assert nearest_rank(values, 95) == 19.0
    assert nearest_rank(values, 100) == 20.0
    assert nearest_rank(values, 50) == 10.0
    assert nearest_rank([7.0], 99) == 7.0


def test_latency_percentile() -> None:
    steps = [{"event": "call_started"}, {"function": "check_availability", "at": 2, "outcome": "slots"},
             {"event": "call_ended", "at": 5}]
    s = make_scenario(steps, calls=10, expect={"latency": [{"kind": "webhook", "percentile": 95, "max_ms": 500}]})
    ev = make_evidence(s)
    webhooks = [x for x in ev.exchanges if x.kind == "webhook"]
    ev.exchanges = [replace(x, latency_ms=10.0 * (i + 1)) if x.kind == "webhook" else replace(x, latency_ms=9000.0)
                    for i, x in enumerate(ev.exchanges)]
    [result] = all_pass("latency-percentile", s, ev)
    assert result.reason.startswith("p95 of webhook latency is ") and result.reason.endswith("within max 500 ms (n=20)")
    assert result.evidence["n"] == len(webhooks) == 20
    slow = [replace(x, latency_ms=612.0 if i % 10 == 0 else 100.0) for i, x in enumerate(ev.exchanges)]
    ev.exchanges = [x for x in slow if x.kind == "webhook"]
    ev.exchanges[-1] = replace(ev.exchanges[-1], latency_ms=612.0)
    ev.exchanges[-2] = replace(ev.exchanges[-2], latency_ms=640.0)
    assert failures("latency-percentile", s, ev) == ["p95 of webhook latency is 612 ms, over max 500 ms (n=20)"]
    ev.exchanges = []
    assert failures("latency-percentile", s, ev) == ["no answered webhook request to compute p95 from (max 500 ms, n=0)"]


# -- correlation --------------------------------------------------------------------------------


def test_correlation_echoed() -> None:
    s = make_scenario()
    assert len(all_pass("correlation-echoed", s, make_evidence(s))) == 4
    ev = make_evidence(s, {"book_appointment": {"corr": None}})
    [bad] = [r for r in check("correlation-echoed", s, ev) if not r.passed]
    assert bad.reason == "POST /api/retell/functions/book_appointment (book_appointment) answered 200 without X-Correlation-ID"
    assert (bad.expected, bad.seen, bad.step) == ("X-Correlation-ID header", "(none)", "book_appointment")
    renamed = Contract(correlation_header="X-Request-ID")
    assert len(failures("correlation-echoed", s, make_evidence(s), renamed)) == 4


def test_correlation_continuity() -> None:
    s = make_scenario()
    [ok] = all_pass("correlation-continuity", s, make_evidence(s))
    assert ok.reason == "call 1 kept correlation ID corr-1 on all 4 answers"
    ev = make_evidence(s, {"book_appointment": {"corr": "corr-X"}})
    assert failures("correlation-continuity", s, ev) == [
        "call 1 got 2 correlation IDs: corr-1 (call_started, check_availability, call_ended); corr-X (book_appointment)"
    ]
    sent = make_scenario([{"event": "call_started", "correlation_id": "probe-123"}, {"event": "call_ended", "at": 2}])
    assert failures("correlation-continuity", sent, make_evidence(sent)) == [
        "call 1 sent X-Correlation-ID: probe-123 but the gateway answered with corr-1"
    ]
    kept = make_evidence(sent, corr_of_call={0: "probe-123"})
    assert all_pass("correlation-continuity", sent, kept)[0].reason.endswith("(the one it sent)")


def test_correlation_distinct() -> None:
    s = make_scenario(calls=3)
    ok = make_evidence(s, corr_of_call={0: "a", 1: "b", 2: "c"})
    assert [r.reason for r in all_pass("correlation-distinct", s, ok)] == ["3 calls have 3 distinct correlation IDs"]
    bad = make_evidence(s, corr_of_call={0: "a", 1: "a", 2: "a"})
    assert failures("correlation-distinct", s, bad) == ["calls 1, 2 and 3 share correlation ID a"]
    assert check("correlation-distinct", make_scenario(), make_evidence(make_scenario())) == []


def test_correlation_in_logs() -> None:
    s = make_scenario()
    ev = make_evidence(s)
    cid = ev.plan.calls[0].call_id
    ev.logs = call_logs(ev)
    [ok] = all_pass("correlation-in-logs", s, ev)
    assert ok.reason == f"all 4 log lines of call_id {cid} carry correlation_id corr-1"
    ev.logs = []
    assert failures("correlation-in-logs", s, ev) == [f"no log line names call_id {cid} (of 0 lines read)"]
    ev.logs = call_logs(ev)
    ev.logs[2] = log({**ev.logs[2].record, "correlation_id": None})
    [bad] = check("correlation-in-logs", s, ev)
    assert bad.reason == (f"1 of 4 log lines of call_id {cid} lack correlation_id corr-1: "
                          'first is event="booking_created" with correlation_id=null')
    assert (bad.call_id, bad.correlation_id) == (cid, CORR)


def test_correlation_in_alerts() -> None:
    s = make_scenario()
    ev = make_evidence(s)
    cid = ev.plan.calls[0].call_id
    ev.alerts = [AlertPost(T0 + 1, {"text": f"calendar_unavailable on call {cid} (correlation_id {CORR})"})]
    assert [r.reason for r in all_pass("correlation-in-alerts", s, ev)] == [
        f"alert 1 names call_id {cid} and its correlation ID corr-1"
    ]
    ev.alerts = [AlertPost(T0 + 1, {"text": "calendar_unavailable", "blocks": [{"text": {"text": f"call {cid}"}}]})]
    assert failures("correlation-in-alerts", s, ev) == [f"alert 1 names call_id {cid} but not its correlation ID corr-1"]


def test_an_alert_that_names_no_call_fails_on_a_target_of_its_own_and_is_left_alone_on_a_shared_one() -> None:
    s = make_scenario(expect={"alerts": {"count": 1}})
    ev = make_evidence(s, alerts=[AlertPost(T0 + 1, {"text": "Calendar backend failing (calendar_down) - 1 failure(s)"})])
    assert failures("correlation-in-alerts", s, ev) == [
        "alert 1 names no call: neither a call_id nor a correlation ID of this run (corr-1)"
    ]
    assert [r.passed for r in check("alert-count", s, ev)] == [True]
    shared = replace(ev, shared=True)
    [count] = check("alert-count", s, shared)
    assert not count.passed
    assert count.reason == ("expected 1 alert(s), none fired (1 other alert(s) name no call of this run "
                            "and are not counted on a shared target)")
    [unseen] = check("correlation-in-alerts", s, shared)
    assert not unseen.observed and unseen.reason.startswith("not observed: no alert of this run")


def journal(endpoint: str, corr: str | None = CORR, **fields: Any) -> JournalEntry:
    paths = {"slots": ("GET", "/v2/slots"), "bookings.create": ("POST", "/v2/bookings")}
    method, path = paths[endpoint]
    base: dict[str, Any] = {"seq": 1, "at": T0 + 1, "method": method, "path": path, "status": 200,
                            "duration_ms": 3.0, "endpoint": endpoint, "correlation_id": corr}
    return JournalEntry.model_validate({**base, **fields})


def test_correlation_in_calcom() -> None:
    s = make_scenario()
    ev = make_evidence(s, calcom=[journal("slots"), journal("bookings.create")])
    assert [r.reason for r in all_pass("correlation-in-calcom", s, ev)] == [
        "Cal.com GET /v2/slots (slots) carried X-Correlation-ID corr-1",
        "Cal.com POST /v2/bookings (bookings.create) carried X-Correlation-ID corr-1",
    ]
    ev.calcom = [journal("slots"), journal("bookings.create", corr=None)]
    assert failures("correlation-in-calcom", s, ev) == [
        "Cal.com POST /v2/bookings (bookings.create) carried no X-Correlation-ID, expected corr-1"
    ]
    two = make_scenario(calls=2)
    ev2 = make_evidence(two, corr_of_call={0: "a", 1: "b"}, calcom=[journal("slots", "b"), journal("slots", "z")])
    assert failures("correlation-in-calcom", two, ev2) == [
        "Cal.com GET /v2/slots (slots) carried X-Correlation-ID z, expected one of a, b"
    ]


# -- metrics ------------------------------------------------------------------------------------

BEFORE = """\
# TYPE askproai_bookings_total counter
askproai_bookings_total{source="retell",status="booked"} 4.0
askproai_bookings_total{source="retell",status="failed"} 1.0
# TYPE askproai_webhook_processing_duration_seconds histogram
askproai_webhook_processing_duration_seconds_bucket{event="call_started",le="0.5",provider="retell"} 2.0
askproai_webhook_processing_duration_seconds_bucket{event="call_started",le="+Inf",provider="retell"} 2.0
askproai_webhook_processing_duration_seconds_count{event="call_started",provider="retell"} 2.0
askproai_webhook_processing_duration_seconds_sum{event="call_started",provider="retell"} 0.02
"""


def after_text(booked: int, failed: int, count: int, fast: int) -> str:
    return (
        "# TYPE askproai_bookings_total counter\n"
        f'askproai_bookings_total{{source="retell",status="booked"}} {booked}.0\n'
        f'askproai_bookings_total{{source="retell",status="failed"}} {failed}.0\n'
        "# TYPE askproai_webhook_processing_duration_seconds histogram\n"
        f'askproai_webhook_processing_duration_seconds_bucket{{event="call_started",le="0.5",provider="retell"}} {fast}.0\n'
        f'askproai_webhook_processing_duration_seconds_bucket{{event="call_started",le="+Inf",provider="retell"}} {count}.0\n'
        f'askproai_webhook_processing_duration_seconds_count{{event="call_started",provider="retell"}} {count}.0\n'
        'askproai_webhook_processing_duration_seconds_sum{event="call_started",provider="retell"} 0.5\n'
    )


METRIC_EXPECT = {"metrics": [
    {"name": "askproai_bookings_total", "labels": {"status": "booked"}, "delta": 1},
    {"name": "askproai_webhook_processing_duration_seconds", "labels": {"event": "call_started"},
     "count_delta": 1, "le": "0.50", "bucket_delta": 1},
]}


def test_metric_delta_passes() -> None:
    s = make_scenario(expect=METRIC_EXPECT)
    ev = make_evidence(s, metrics_before=parse_exposition(BEFORE, T0), metrics_after=parse_exposition(after_text(5, 1, 3, 3), T0 + 1))
    assert [r.reason for r in all_pass("metric-delta", s, ev)] == [
        'askproai_bookings_total{status="booked"}: expected +1, seen +1',
        'askproai_webhook_processing_duration_seconds_count{event="call_started"}: expected +1, seen +1',
        'askproai_webhook_processing_duration_seconds_bucket{event="call_started",le="0.5"}: expected +1, seen +1',
    ]


def test_metric_delta_fails_with_the_closest_series() -> None:
    s = make_scenario(expect=METRIC_EXPECT)
    ev = make_evidence(s, metrics_before=parse_exposition(BEFORE, T0), metrics_after=parse_exposition(after_text(4, 2, 3, 2), T0 + 1))
    results = [r for r in check("metric-delta", s, ev) if not r.passed]
    assert [r.reason for r in results] == [
        'askproai_bookings_total{status="booked"}: expected +1, seen +0; series present: '
        '{status="booked",source="retell"} +0, {status="failed",source="retell"} +1',
        'askproai_webhook_processing_duration_seconds_bucket{event="call_started",le="0.5"}: expected +1, seen +0; '
        'series present: {event="call_started",le="0.5",provider="retell"} +0',
    ]
    assert (results[0].expected, results[0].seen) == ("+1", "+0")
    assert (results[0].call_id, results[0].correlation_id) == (ev.plan.calls[0].call_id, CORR)  # one call: name it


OTHER_CONTRACT = Contract.model_validate({"metrics": {"bookings": {"name": "acme_bookings_total", "labels": {
    "status": {"name": "result", "values": {"created": "booked", "cancelled": None}}, "source": {"name": None}}}}})


def test_metric_delta_speaks_the_targets_words_through_the_contract() -> None:
    s = make_scenario(expect={"metrics": [{"metric": "bookings", "labels": {"status": "created", "source": "retell"}, "delta": 1}]})
    after = MetricsSnapshot(T0 + 1, {series_key("acme_bookings_total", {"result": "booked"}): 1.0})
    ev = make_evidence(s, metrics_before=MetricsSnapshot(T0, {}), metrics_after=after)
    assert [r.reason for r in all_pass("metric-delta", s, ev, OTHER_CONTRACT)] == ['acme_bookings_total{result="booked"}: expected +1, seen +1']
    assert failures("metric-delta", s, ev) == [
        'askproai_bookings_total{status="created",source="retell"}: expected +1, seen +0; no series named askproai_bookings_total'
    ]
    ev.metrics_before = None
    [unscraped] = check("metric-delta", s, ev)
    assert not unscraped.observed and unscraped.reason.startswith("not observed: the metrics were not scraped before the call")


def test_metric_delta_reports_a_role_the_target_does_not_have_as_not_observed() -> None:
    s = make_scenario(expect={"metrics": [{"metric": "bookings", "labels": {"status": "cancelled"}, "delta": 0},
                                          {"metric": "bookings", "labels": {"status": "no_such_status"}, "delta": 0},
                                          {"metric": "refunds", "delta": 0}]})
    ev = make_evidence(s, metrics_before=MetricsSnapshot(T0, {}), metrics_after=MetricsSnapshot(T0 + 1, {}))
    reasons = [(r.observed, r.reason) for r in check("metric-delta", s, ev, OTHER_CONTRACT)]
    assert reasons == [
        (False, "not observed: bookings.status='cancelled' is mapped to null (the target does not count it) "
                "(set contract.metrics.bookings.labels.status.values.cancelled in the target profile)"),
        (False, "not observed: bookings.status='no_such_status' is not a value role of the contract "
                "(set contract.metrics.bookings.labels.status.values.no_such_status in the target profile)"),
        (False, "not observed: metric 'refunds' is not a metric role of the contract (set contract.metrics.refunds.name in the target profile)"),
    ]


def test_metric_delta_on_a_shared_target_is_a_lower_bound_and_cannot_judge_zero() -> None:
    s = make_scenario(expect={"metrics": [{"metric": "bookings", "labels": {"status": "created"}, "delta": 1},
                                          {"metric": "errors", "delta": 0}]})
    key = series_key("askproai_bookings_total", {"status": "created", "source": "retell"})
    ev = make_evidence(s, shared=True, metrics_before=MetricsSnapshot(T0, {key: 10.0}), metrics_after=MetricsSnapshot(T0 + 1, {key: 13.0}))
    bound, zero = check("metric-delta", s, ev)
    assert bound.passed and bound.reason == 'askproai_bookings_total{status="created"}: expected at least +1, seen +3'
    assert not zero.observed and "a zero delta cannot be told apart from other traffic on a shared target" in zero.reason
    marked = Contract(synthetic_label={"name": "synthetic", "value": "true"})
    bound, zero = check("metric-delta", s, ev, marked)
    assert not bound.passed and 'askproai_bookings_total{status="created",synthetic="true"}' in bound.reason
    assert zero.passed and zero.observed


# -- logs -----------------------------------------------------------------------------------------


def test_log_present() -> None:
    s = make_scenario(expect={"logs": [
        {"event": "booking_created", "level": "info"},
        {"event": "call_started", "fields": {"message": "call started"}, "max_count": 1},
        {"event": "booking_slot_taken", "min_count": 0, "max_count": 0},
    ]})
    ev = make_evidence(s)
    ev.logs = call_logs(ev)
    assert [r.reason for r in all_pass("log-present", s, ev)] == [
        'expected at least 1 log line(s) with event="booking_created", level="INFO" for this run\'s calls, found 1',
        'expected exactly 1 log line(s) with event="call_started", fields {"message": "call started"} for this run\'s calls, found 1',
        'expected no log line(s) with event="booking_slot_taken" for this run\'s calls, found 0',
    ]
    cid = ev.plan.calls[0].call_id
    ev.logs = [log({**line.record, "level": "ERROR"}) for line in call_logs(ev)] + [log({"event": "booking_slot_taken", "call_id": cid})]
    ev.logs.append(ev.logs[0])
    assert failures("log-present", s, ev) == [
        'expected at least 1 log line(s) with event="booking_created", level="INFO" for this run\'s calls, found 0; '
        '1 line(s) with event="booking_created" differ: expected line["level"] = "INFO", got "ERROR"',
        'expected exactly 1 log line(s) with event="call_started", fields {"message": "call started"} for this run\'s calls, found 2',
        'expected no log line(s) with event="booking_slot_taken" for this run\'s calls, found 1',
    ]


def test_log_present_counts_only_lines_that_name_a_call_of_the_run() -> None:
    s = make_scenario(expect={"logs": [{"event": "booking_created"}]})
    ev = make_evidence(s, logs=[log({"event": "booking_created", "call_id": "call_of_someone_else"}), log({"event": "booking_created"})])
    assert failures("log-present", s, ev) == [
        'expected at least 1 log line(s) with event="booking_created" for this run\'s calls, found 0; 2 line(s) with '
        'event="booking_created" name none of this run\'s calls (no call_id or correlation_id of ours)'
    ]
    ev.logs.append(log({"event": "booking_created", "correlation_id": CORR}))
    assert [r.passed for r in check("log-present", s, ev)] == [True]


def test_log_checks_read_the_targets_field_and_event_names() -> None:
    contract = Contract.model_validate({"logs": {"fields": {"event": "action", "level": "lvl", "call_id": "retell_call",
                                                            "correlation_id": "request_id"},
                                                 "levels": {"INFO": "info"}, "events": {"booking_created": "booking.confirmed"}}})
    s = make_scenario(expect={"logs": [{"event": "booking_created", "level": "INFO"}, {"event": "booking_cancelled"}]})
    ev = make_evidence(s, logs=[log({"action": "booking.confirmed", "lvl": "info", "retell_call": make_plan(s).calls[0].call_id})])
    confirmed, cancelled = check("log-present", s, ev, contract)
    assert confirmed.passed and confirmed.reason.startswith('expected at least 1 log line(s) with action="booking.confirmed", lvl="info"')
    assert not cancelled.passed  # the default word applies where the profile maps nothing


def test_log_pii_passes_on_hashed_numbers() -> None:
    s = make_scenario()
    ev = make_evidence(s)
    ev.logs = call_logs(ev, phone_hash="sha256:0123456789ab")
    assert [r.reason for r in all_pass("log-pii", s, ev)] == [
        "none of 4 log lines holds a caller phone number or transcript text"
    ]
    assert check("log-pii", make_scenario(expect={"pii_free_logs": False}), ev) == []


@pytest.mark.parametrize("form", ["e164", "digits", "dashes", "brackets", "spaces"])
def test_log_pii_finds_the_phone_in_any_spelling(form: str) -> None:
    s = make_scenario()
    ev = make_evidence(s)
    phone = ev.plan.calls[0].caller.phone  # +1AAA55501NN
    area, nn = phone[2:5], phone[-2:]
    text = {"e164": phone, "digits": phone[1:], "dashes": f"{area}-555-01{nn}",
            "brackets": f"({area}) 555-01{nn}", "spaces": f"+1 {area} 555 01{nn}"}[form]
    ev.logs = call_logs(ev)
    ev.logs[1] = log({**ev.logs[1].record, "message": f"caller {text} asked"})
    [bad] = check("log-pii", s, ev)
    masked = mask_digits(text)
    assert masked.endswith(nn) and phone[2:-2] not in masked.replace("-", "").replace(" ", "")
    assert bad.reason == f'log field "message" (event="availability_checked") contains phone number "caller {masked} asked"'
    assert phone not in bad.reason + bad.seen and (bad.call_id, bad.correlation_id) == (ev.plan.calls[0].call_id, CORR)


def test_log_pii_finds_transcript_text_and_raw_lines() -> None:
    s = make_scenario()
    ev = make_evidence(s)
    said = json.loads(ev.plan.calls[0].requests[-1].body)["call"]["transcript_object"][1]["content"]
    assert len(said) >= 20
    phone = ev.plan.calls[0].caller.phone
    ev.logs = [log({"event": "transcript_updated", "ctx": {"last": f"user said: {said}"}}),
               LogLine(T0, {}, f"DEBUG print {phone}")]
    assert failures("log-pii", s, ev) == [
        f'log field "ctx.last" (event="transcript_updated") contains transcript text {json.dumps(said[:23] + "…", ensure_ascii=False)}',
        f'log field "(raw line)" contains phone number "DEBUG print +*********{phone[-2:]}"',
    ]


def test_pii_helpers() -> None:
    assert mask_digits("+14155550142") == "+*********42"
    assert find_phone("hash 4155550142000", ("+14155550142",)) == (5, 18)
    assert find_phone("call at 2026-01-02 16:00", ("+14155550142",)) is None
    assert find_phone("Tel. 030 23125123", ("+493023125123",)) == (5, 17)
    assert redact_phones("a +14155550142 b 415.555.0142", ("+14155550142",)) == "a +*********42 b ***.***.**42"
    # Country codes of one, two and three digits, and national forms with a trunk prefix.
    assert find_phone("Tel. (01) 234 5678", ("+35312345678",)) == (6, 18)
    assert find_phone("ligar 21 234 5678", ("+351212345678",)) == (6, 17)
    assert find_phone("звонок 8 (495) 123-45-67", ("+74951234567",)) == (7, 24)
    assert national_digits("+35312345678") == "12345678" and national_digits("not a number 42") == "42"


# -- Cal.com ----------------------------------------------------------------------------------------


def test_calcom_requests() -> None:
    s = make_scenario(expect={"calcom": [
        {"endpoint": "slots", "count": 1, "query": {"eventTypeId": "1001"}},
        {"endpoint": "bookings.create", "count": 1, "body": {"eventTypeId": 1001}},
        {"endpoint": "bookings.create", "min_count": 1},
    ]})
    ev = make_evidence(s, calcom=[journal("slots", query={"eventTypeId": "1001", "start": "2026-01-09"}),
                                  journal("bookings.create", body={"eventTypeId": 1001, "start": "x"})])
    assert [r.reason for r in all_pass("calcom-requests", s, ev)] == [
        'expected exactly 1 Cal.com slots request(s) with query {"eventTypeId": "1001"}, seen 1',
        'expected exactly 1 Cal.com bookings.create request(s) with body {"eventTypeId": 1001}, seen 1',
        "expected at least 1 Cal.com bookings.create request(s), seen 1",
    ]
    ev.calcom = [journal("slots", query={"eventTypeId": "2002"}),
                 journal("bookings.create", body=json.dumps({"eventTypeId": 1001})),
                 journal("bookings.create", body={"eventTypeId": 1001})]
    assert failures("calcom-requests", s, ev) == [
        'expected exactly 1 Cal.com slots request(s) with query {"eventTypeId": "1001"}, seen 0; '
        '1 other slots request(s) differ: expected query["eventTypeId"] = "1001", got "2002"',
        'expected exactly 1 Cal.com bookings.create request(s) with body {"eventTypeId": 1001}, seen 2',
    ]


# -- alerts ------------------------------------------------------------------------------------------


def test_alert_count() -> None:
    silent = make_scenario(expect={"alerts": {"count": 0}})
    ev = make_evidence(silent)
    assert [r.reason for r in all_pass("alert-count", silent, ev)] == ["no alert fired, as expected"]
    ev.alerts = [AlertPost(T0 + 1, {"text": "calendar_unavailable x3\nmore detail"}),
                 AlertPost(T0 + 2, {"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*rate_limited*"}}]})]
    [bad] = check("alert-count", silent, ev)
    assert bad.reason == 'expected no alert, 2 fired: "calendar_unavailable x3"; "*rate_limited*"'
    assert (bad.expected, bad.seen) == ("no alert", '2: "calendar_unavailable x3"; "*rate_limited*"')
    once = make_scenario(expect={"alerts": {"count": 1}})
    ev.alerts = []
    assert failures("alert-count", once, ev) == ["expected 1 alert(s), none fired"]


def test_alert_content() -> None:
    s = make_scenario(expect={"alerts": {"count": 1, "contains": ["calendar_unavailable"]}})
    ev = make_evidence(s)
    ev.alerts = [AlertPost(T0 + 1, {"text": f"calendar_unavailable (correlation_id {CORR})"})]
    assert [r.reason for r in all_pass("alert-content", s, ev)] == [
        f'alert 1 "calendar_unavailable (correlation_id {CORR})" is as expected'
    ]
    phone = ev.plan.calls[0].caller.phone
    ev.alerts = [AlertPost(T0 + 1, {"text": "booking failed", "blocks": [{"text": {"text": f"caller {phone}"}}]})]
    [bad] = check("alert-content", s, ev)
    assert bad.reason == (f'alert 1 "booking failed" lacks "calendar_unavailable" and contains the caller\'s '
                          f'phone number "+*********{phone[-2:]}"')
    other = Contract(alert_words={"calendar_unavailable": "Calendar backend failing"})
    ev.alerts = [AlertPost(T0 + 1, {"text": f"Calendar backend failing - request {CORR}"})]
    assert [r.passed for r in check("alert-content", s, ev, other)] == [True]
    assert [r.passed for r in check("alert-content", s, ev)] == [False]


def test_alert_content_with_nothing_to_read_is_not_observed() -> None:
    s = make_scenario(expect={"alerts": {"contains": ["calendar_unavailable"]}})
    [none] = check("alert-content", s, make_evidence(s))
    assert not none.observed and none.reason.startswith("not observed: no alert of this run to read the wording of")
    unknown = make_scenario(expect={"alerts": {"count": 1, "contains": ["disk_full"]}})
    ev = make_evidence(unknown, alerts=[AlertPost(T0 + 1, {"text": f"disk_full {CORR}"})])
    [word] = check("alert-content", unknown, ev)
    assert not word.observed and "alert word 'disk_full' is not a role of the contract" in word.reason
    assert check("alert-content", make_scenario(), make_evidence(make_scenario())) == []


# -- time to telemetry ----------------------------------------------------------------------------------


def test_time_to_telemetry() -> None:
    s = make_scenario(expect={
        "telemetry_within": {"logs_ms": 1000, "metrics_ms": 2000, "alerts_ms": 500},
        "metrics": [{"name": "askproai_bookings_total", "delta": 1}],
    })
    ev = make_evidence(s)
    end = max(x.sent_at + (x.latency_ms or 0) / 1000 for x in ev.exchanges)  # timed from the answer to the last request
    ev.logs = [log({**line.record}, seen_at=end + 0.25) for line in call_logs(ev)] + [log({"event": "other"}, end + 0.01)]
    ev.metric_seen_at = {0: end + 1.5}
    ev.alerts = [AlertPost(end + 0.4, {"text": "x"})]
    results = [r for r in all_pass("time-to-telemetry", s, ev)]
    assert [r.reason for r in results] == [
        "logs: first log line of the run's calls seen after 250 ms, within the limit of 1000 ms",
        "metrics: expected metric changes seen after 1500 ms, within the limit of 2000 ms",
        "alerts: first alert seen after 400 ms, within the limit of 500 ms",
    ]
    assert [r.evidence["measured_ms"] for r in results] == pytest.approx([250, 1500, 400])
    ev.logs, ev.metric_seen_at = [], {}
    ev.alerts = [AlertPost(end + 0.75, {"text": "x"})]
    ev.unseen_at = {"logs": end + 2.9, "metrics": end + 2.9, "alerts": end + 0.6}  # the latest reads that did not show them
    assert failures("time-to-telemetry", s, ev) == [
        "logs: first log line of the run's calls never seen (not visible 2900 ms after the call; limit 1000 ms)",
        "metrics: expected metric changes never seen (not visible 2900 ms after the call; limit 2000 ms)",
        "alerts: first alert seen after 750 ms, late: not visible yet 600 ms after the call, over the limit of 500 ms",
    ]


def test_time_to_telemetry_that_the_probe_read_too_rarely_to_place_is_not_observed() -> None:
    s = make_scenario(expect={"telemetry_within": {"alerts_ms": 500}})
    ev = make_evidence(s)
    end = max(x.sent_at + (x.latency_ms or 0) / 1000 for x in ev.exchanges)
    ev.alerts = [AlertPost(end + 0.75, {"text": "x"})]
    ev.unseen_at = {"alerts": end + 0.3}  # a busy probe: the read before the one that found it began at 300 ms
    [undecided] = check("time-to-telemetry", s, ev)
    assert not undecided.observed and undecided.reason == (
        "not observed: alerts: first alert became visible between 300 ms and 750 ms after the call, and the limit of "
        "500 ms lies in between (the probe could not read often enough to tell)")
    ev.alerts = []
    [never] = check("time-to-telemetry", s, ev)
    assert not never.observed and never.reason.startswith(
        "not observed: alerts: first alert not seen, but the last read began 300 ms after the call, before the limit of 500 ms")


def test_time_to_telemetry_takes_the_contracts_sla_for_what_the_scenario_expects() -> None:
    s = make_scenario(expect={"logs": [{"event": "booking_created"}], "alerts": {"count": 0},
                              "metrics": [{"metric": "bookings", "labels": {"status": "created"}, "delta": 1},
                                          {"metric": "errors", "delta": 0}]})
    ev = make_evidence(s, logs=call_logs(make_evidence(s)), metric_seen_at={0: T0 + 1, 1: T0 + 1})
    limits = [r.expected for r in check("time-to-telemetry", s, ev, Contract(sla={"logs_ms": 200, "metrics_ms": 300}))]
    assert limits == ["<= 200 ms", "<= 300 ms"]  # no alert is expected, so no alert is timed
    blind = replace(ev, sources=("metrics",))
    [logs, metrics] = check("time-to-telemetry", s, blind)
    assert not logs.observed and logs.reason.startswith("not observed: the target profile names no log source")
    assert metrics.observed


