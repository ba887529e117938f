"""examples.other_gateway: an independent gateway with its own words, exercised against the Cal.com mock.

Requests come signed from callprobe's plans (or ``probes.sign``); the Cal.com
mock and a Slack sink run on loopback ports, and each test gets a fresh
gateway so counters start empty. Nothing here sleeps to wait for an effect:
it polls with a deadline.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

import probes
from examples.other_gateway import DEFECTS, Settings, create_app
from examples.other_gateway.__main__ import main as cli_main
from examples.other_gateway.alerts import Alerter
from mocks._serve import RunningServer, serve_in_thread
from mocks.calcom import create_app as create_calcom_app
from mocks.sinks import create_sink_app
from probes import CalcomRule, CalcomScript, Fault

KEY = "key_othergw_test_not_a_secret"
TOKEN = "othergw-metrics-test-token"
CALCOM_KEY = "cal_othergw_test_not_a_secret"
PATHS = probes.Paths(webhook="/retell/events", inbound="/retell/inbound-call", function="/retell/tools/{name}")
SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
T = TypeVar("T")


def until(probe: Callable[[], T], deadline_s: float = 5.0, what: str = "condition") -> T:
    """Poll ``probe`` until it returns something truthy, or fail at the deadline."""
    end = time.monotonic() + deadline_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def plan(name: str, **kwargs: Any) -> list[probes.PlannedRequest]:
    scenario = probes.load_scenario(SCENARIOS / f"{name}.yaml")
    return probes.build_plan(scenario, api_key=KEY, paths=PATHS, **kwargs).requests()


def by_step(requests: list[probes.PlannedRequest], label: str) -> list[probes.PlannedRequest]:
    return [r for r in requests if r.step.label == label]


def dumps(body: Any) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


@dataclass
class Gw:
    """A running gateway and what the tests read from it."""

    server: RunningServer
    settings: Settings
    http: httpx.Client

    @property
    def gateway(self) -> Any:
        return self.server.app.state.gateway

    def send(self, request: probes.PlannedRequest, *, args: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None) -> httpx.Response:
        """Send a planned request; ``args`` replaces some arguments (then it is signed again)."""
        body, sent = request.body, dict(request.headers)
        if args:
            data = json.loads(body)
            target = data.get("args", data)  # wrapped or args-only
            target.update(args)
            body = dumps(data)
            sent[probes.SIGNATURE_HEADER] = probes.sign(body, KEY)
        return self.http.post(request.path, content=body.encode(), headers={**sent, **(headers or {})})

    def post(self, path: str, body: Any, *, key: str = KEY, headers: dict[str, str] | None = None) -> httpx.Response:
        text = body if isinstance(body, str) else dumps(body)
        signed = {probes.SIGNATURE_HEADER: probes.sign(text, key), "Content-Type": "application/json"}
        return self.http.post(path, content=text.encode(), headers={**signed, **(headers or {})})

    def scrape(self) -> str:
        response = self.http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200
        return response.text

    def metric(self, name: str, **labels: str) -> float | None:
        for family in text_string_to_metric_families(self.scrape()):
            for s in family.samples:
                if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                    return s.value
        return None

    def logs(self) -> list[dict[str, Any]]:
        path = self.settings.log_file
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def calcom() -> Iterator[RunningServer]:
    with serve_in_thread(create_calcom_app()) as server:
        yield server


@pytest.fixture(scope="module")
def slack() -> Iterator[RunningServer]:
    with serve_in_thread(create_sink_app()) as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_mocks(calcom: RunningServer, slack: RunningServer) -> None:
    calcom.app.state.mock.reset()
    slack.app.state.sink.reset()


@pytest.fixture
def start(calcom: RunningServer, slack: RunningServer, tmp_path: Path) -> Iterator[Callable[..., Gw]]:
    running: list[Gw] = []

    def make(*defects: str, **overrides: Any) -> Gw:
        given: dict[str, Any] = {
            "calcom_url": calcom.url, "retell_api_key": KEY, "metrics_token": TOKEN, "calcom_api_key": CALCOM_KEY,
            "log_file": tmp_path / f"othergw-{len(running)}.log",
            "alert_webhook_url": f"{slack.url}/slack/T000/B000/XXXX", "defects": frozenset(defects),
        }
        settings = Settings(**(given | overrides))
        server = serve_in_thread(create_app(settings))
        gw = Gw(server, settings, httpx.Client(base_url=server.url, timeout=10))
        running.append(gw)
        return gw

    yield make
    for gw in running:
        gw.http.close()
        gw.server.stop()


def alerts(slack: RunningServer) -> list[str]:
    return [m["json"]["text"] for m in httpx.get(f"{slack.url}/api/messages").json()["messages"]]


def settled_alerts(gw: Gw, slack: RunningServer) -> list[str]:
    """The alerts once the gateway has no post in flight (posting is in the background)."""
    until(lambda: gw.gateway.alerts.in_flight == 0, what="alert posts to finish")
    return alerts(slack)


def run_call(gw: Gw, requests: list[probes.PlannedRequest]) -> dict[str, httpx.Response]:
    """Send a planned call in order, binding book_appointment's start to the first offered time."""
    answers: dict[str, httpx.Response] = {}
    for r in requests:
        args = None
        if r.step.function == "book_appointment":
            args = {"start": answers["check_availability"].json()["options"][0]}
        answers[r.step.label] = gw.send(r, args=args)
    return answers


def header(entry: probes.JournalEntry, name: str) -> str | None:
    return next((v for k, v in entry.headers.items() if k.lower() == name.lower()), None)


# --- signatures -------------------------------------------------------------------------------


def test_signatures_accepted_and_rejected(start: Callable[..., Gw], calcom: RunningServer) -> None:
    gw = start()
    answers = {r.step.label: gw.send(r) for r in plan("signatures-rejected")}
    for label in ("missing", "forged", "stale", "malformed", "forged_function"):
        assert answers[label].status_code == 403, label
        assert answers[label].json() == {"detail": "bad signature"}
        assert answers[label].headers["X-Request-ID"]
    assert answers["valid"].status_code == 200 and answers["valid"].json() == {"ok": True}

    assert gw.metric("othergw_retell_requests_total", kind="call.started", outcome="bad_signature") == 4
    assert gw.metric("othergw_retell_requests_total", kind="tool.check_availability", outcome="bad_signature") == 1
    assert gw.metric("othergw_retell_requests_total", kind="call.started", outcome="ok") == 1
    assert gw.metric("othergw_failures_total", kind="signature", level="warn") == 5
    assert gw.metric("othergw_calls_total", phase="live") == 1
    assert gw.metric("othergw_retell_request_seconds_count", kind="call.started") == 1  # rejects are not timed
    assert calcom.app.state.mock.journal() == []
    rejected = [line for line in gw.logs() if line["action"] == "signature.rejected"]
    assert len(rejected) == 5 and all(line["lvl"] == "warn" and line["request_id"] for line in rejected)


def test_valid_signature_but_not_json_is_422(start: Callable[..., Gw]) -> None:
    gw = start()
    response = gw.post("/retell/events", "this is not json")
    assert response.status_code == 422 and response.headers["X-Request-ID"]
    assert gw.metric("othergw_retell_requests_total", kind="other", outcome="bad_request") == 1


# --- a whole call -----------------------------------------------------------------------------


def test_whole_call(start: Callable[..., Gw], calcom: RunningServer) -> None:
    gw = start()
    requests = plan("happy-path-booking")
    call_id = requests[1].call_id
    phone = json.loads(requests[0].body)["call_inbound"]["from_number"]
    answers = run_call(gw, requests)

    inbound = answers["call_inbound"]
    assert inbound.status_code == 200
    assert inbound.json()["call_inbound"]["dynamic_variables"]["is_test_call"] == "yes"
    assert [a.status_code for a in answers.values()] == [200] * 6
    assert answers["call_started"].json() == {"ok": True}

    slots = answers["check_availability"].json()
    assert slots["has_slots"] is True and 1 <= len(slots["options"]) <= 5 and slots["speech"]
    booked = answers["book_appointment"].json()
    assert booked["confirmed"] is True and booked["reference"] and booked["when"] and booked["speech"]

    ids = {a.headers["X-Request-ID"] for label, a in answers.items() if label != "call_inbound"}
    assert len(ids) == 1, ids
    request_id = ids.pop()

    journal = calcom.app.state.mock.journal()
    assert [e.endpoint for e in journal] == ["slots", "bookings.create"]
    assert all(header(e, "X-Request-ID") == request_id for e in journal)
    assert all(header(e, "Authorization") for e in journal)  # sent (the mock redacts it)
    assert journal[0].query["eventTypeId"] == "1002" and header(journal[0], "cal-api-version") == "2024-09-04"
    create = journal[1].body
    assert header(journal[1], "cal-api-version") == "2024-08-13"
    assert create["eventTypeId"] == 1002 and create["start"].endswith("Z")
    assert create["metadata"] == {"call_id": call_id, "request_id": request_id}
    assert len(calcom.app.state.mock.bookings()) == 1

    assert gw.metric("othergw_bookings_total", result="confirmed") == 1
    assert gw.metric("othergw_calls_total", phase="ringing") == 1
    assert gw.metric("othergw_calls_total", phase="live") == 1
    assert gw.metric("othergw_calls_total", phase="analyzed") == 1
    assert gw.metric("othergw_retell_requests_total", kind="call.inbound", outcome="ok") == 1
    assert gw.metric("othergw_retell_requests_total", kind="tool.book_appointment", outcome="ok") == 1
    assert gw.metric("othergw_retell_request_seconds_count", kind="call.started") == 1
    assert gw.metric("othergw_http_requests_total", route="/retell/tools/{name}", method="POST", code="200") == 2

    logs = gw.logs()  # read at once: lines are on disk before the answer
    of_call = [line for line in logs if line["retell_call"] == call_id]
    actions = {line["action"] for line in of_call}
    assert {"retell.started", "tool.called", "slots.listed", "booking.confirmed", "retell.ended",
            "retell.analyzed"} <= actions
    assert all(line["request_id"] == request_id for line in of_call)
    listed = next(line for line in of_call if line["action"] == "slots.listed")
    assert listed["free"] > 5 and listed["offered"] == len(slots["options"]) == 5  # the cap did its work
    assert any(line["action"] == "retell.inbound" and line["caller_ref"] for line in logs)
    for line in logs:
        assert {"ts", "lvl", "action", "text", "request_id", "retell_call", "tenant", "caller_ref"} <= line.keys()
        assert line["ts"].endswith("Z")
        assert "caller" not in line
    raw = gw.settings.log_file.read_text(encoding="utf-8")
    assert phone not in raw and phone.lstrip("+") not in raw
    assert alerts_quiet(gw)


def alerts_quiet(gw: Gw) -> bool:
    return gw.metric("othergw_failures_total") is None


def test_args_only_bodies_join_their_call(start: Callable[..., Gw]) -> None:
    gw = start()
    answers = run_call(gw, plan("booking-args-only-de"))
    assert answers["book_appointment"].json()["confirmed"] is True
    assert len({a.headers["X-Request-ID"] for a in answers.values()}) == 1


def test_other_events_and_tenant(start: Callable[..., Gw]) -> None:
    gw = start()
    requests = plan("inbound-dynamic-variables")  # the call's dynamic variables carry company_id cmp_probe01
    for r in requests:
        assert gw.send(r).status_code == 200
    call = json.loads(requests[1].body)["call"]
    said = "User: my number is plus four nine thirty, the secret word is Quittenbrot"
    update = gw.post("/retell/events", {"event": "transcript_updated", "call": {**call, "transcript": said}})
    assert update.status_code == 200 and update.json() == {"ok": True}
    assert update.headers["X-Request-ID"] == gw.send(requests[1]).headers["X-Request-ID"]
    assert gw.metric("othergw_retell_requests_total", kind="other", outcome="ok") == 1
    of_call = [line for line in gw.logs() if line["retell_call"] == call["call_id"]]
    assert of_call and all(line["tenant"] == "cmp_probe01" for line in of_call)
    assert "Quittenbrot" not in gw.settings.log_file.read_text(encoding="utf-8")
    empty = gw.post("/retell/events", {"event": "call_started", "call": {"call_id": ""}})
    assert empty.status_code == 422


def test_inbound_marks_only_test_numbers(start: Callable[..., Gw]) -> None:
    gw = start()

    def marker(number: str) -> str:
        body = {"event": "call_inbound", "call_inbound": {"from_number": number, "to_number": "+14155550100"}}
        return gw.post("/retell/inbound-call", body).json()["call_inbound"]["dynamic_variables"]["is_test_call"]

    assert marker("+1 415 555 0142") == "yes"
    assert marker("+49 30 23125 017") == "yes"
    assert marker("+4989999981 23") == "yes"
    assert marker("+14155551234") == "no"
    assert marker("+4930123456") == "no"


def test_concurrent_calls_keep_their_own_ids_and_an_incoming_id_is_kept(start: Callable[..., Gw]) -> None:
    gw = start()
    started = [r for r in plan("concurrent-calls") if r.step.event == "call_started"]
    with ThreadPoolExecutor(len(started)) as pool:
        first = list(pool.map(gw.send, started))
    ids = [a.headers["X-Request-ID"] for a in first]
    assert len(set(ids)) == len(started)
    again = [gw.send(r, args=None) for r in started]  # duplicates: still each call's own ID
    assert [a.headers["X-Request-ID"] for a in again] == ids

    call = plan("happy-path-booking")[1]
    kept = gw.send(call, headers={"X-Request-ID": "edge-7f3a"})
    assert kept.headers["X-Request-ID"] == "edge-7f3a"
    later = gw.post("/retell/tools/check_availability",
                    {"name": "check_availability", "args": {"date": "2099-01-01"}, "call": {"call_id": call.call_id}})
    assert later.headers["X-Request-ID"] == "edge-7f3a"


# --- duplicates ---------------------------------------------------------------------------------


def test_duplicates_are_processed_once(start: Callable[..., Gw], calcom: RunningServer) -> None:
    gw = start()
    requests = plan("duplicate-delivery")
    for r in by_step(requests, "call_started"):
        assert gw.send(r).status_code == 200
    options = gw.send(by_step(requests, "check_availability")[0]).json()["options"]
    books = by_step(requests, "book_appointment")
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda r: gw.send(r, args={"start": options[0]}), books))
    assert [a.json()["confirmed"] for a in answers] == [True, True]
    assert answers[0].json()["reference"] == answers[1].json()["reference"]
    for r in by_step(requests, "call_ended"):
        assert gw.send(r).json() == {"ok": True}

    assert len(calcom.app.state.mock.bookings()) == 1
    assert [e.endpoint for e in calcom.app.state.mock.journal()].count("bookings.create") == 1
    assert gw.metric("othergw_calls_total", phase="live") == 1
    assert gw.metric("othergw_calls_total", phase="ended") == 1
    assert gw.metric("othergw_retell_requests_total", kind="call.started", outcome="dup") == 1
    assert gw.metric("othergw_retell_requests_total", kind="call.ended", outcome="dup") == 1
    assert gw.metric("othergw_retell_requests_total", kind="tool.book_appointment", outcome="dup") == 1
    assert gw.metric("othergw_bookings_total", result="confirmed") == 1
    assert sum(line["action"] == "retell.duplicate" for line in gw.logs()) == 2


def test_slot_taken_offers_other_times_and_cancel_is_idempotent(start: Callable[..., Gw],
                                                                  calcom: RunningServer, slack: RunningServer) -> None:
    gw = start()
    calcom.app.state.mock.set_script(CalcomScript(rules=[CalcomRule(endpoint="bookings.create",
                                                                    fault=Fault.SLOT_TAKEN, times=1)]))
    requests = plan("slot-taken-then-alternative")
    gw.send(requests[0])
    options = gw.send(by_step(requests, "check_availability")[0]).json()["options"]
    first = gw.send(by_step(requests, "first_try")[0], args={"start": options[0]}).json()
    assert first["confirmed"] is False and first["problem"] == "taken"
    assert 1 <= len(first["other_times"]) <= 5 and options[0] not in first["other_times"]
    second = gw.send(by_step(requests, "second_try")[0], args={"start": first["other_times"][0]}).json()
    assert second["confirmed"] is True
    assert gw.metric("othergw_bookings_total", result="conflict") == 1
    assert any(line["action"] == "booking.conflict" and line["lvl"] == "warn" for line in gw.logs())

    cancel = {"name": "cancel_appointment", "args": {"booking_uid": second["reference"], "reason": "plans changed"},
              "call": {"call_id": requests[0].call_id}}
    for _ in range(2):  # the second finds it cancelled already: still cancelled
        assert gw.post("/retell/tools/cancel_appointment", cancel).json() == {
            "cancelled": True, "reference": second["reference"], "speech": "Your appointment is cancelled."}
    assert gw.metric("othergw_bookings_total", result="cancelled") == 1
    assert settled_alerts(gw, slack) == []


# --- Cal.com failures, alerts, readiness ---------------------------------------------------------


def test_calcom_outage_answers_a_problem_word_and_alerts_once(start: Callable[..., Gw], calcom: RunningServer,
                                                               slack: RunningServer) -> None:
    gw = start()
    calcom.app.state.mock.set_script(CalcomScript(rules=[CalcomRule(endpoint="slots", fault=Fault.SERVER_ERROR)]))
    requests = plan("calcom-5xx-alerts-once")
    phone = json.loads(requests[0].body)["call"]["from_number"]
    answers = {r.step.label: gw.send(r) for r in requests}
    for label in ("first_ask", "second_ask"):
        body = answers[label].json()
        assert answers[label].status_code == 200
        assert body["has_slots"] is False and body["options"] == [] and body["problem"] == "calendar_down"
    assert gw.metric("othergw_failures_total", kind="calendar_down", level="page") == 2
    failures = [line for line in gw.logs() if line["action"] == "calendar.failure"]
    assert len(failures) == 2 and all(line["lvl"] == "error" for line in failures)

    until(lambda: alerts(slack), what="the alert")
    sent = settled_alerts(gw, slack)
    request_id = answers["first_ask"].headers["X-Request-ID"]
    assert sent == [f":rotating_light: Calendar backend failing (calendar_down) \u2014 1 failure(s); "
                    f"request_id={request_id} call={requests[0].call_id}"]
    assert phone not in sent[0]


@pytest.mark.parametrize(("fault", "kind", "level"), [
    (CalcomRule(endpoint="slots", fault=Fault.RATE_LIMITED), "calendar_busy", "warn"),
    (CalcomRule(endpoint="slots", fault=Fault.LATENCY, delay_ms=1500), "calendar_slow", "page"),
    (CalcomRule(endpoint="slots", fault=Fault.BAD_GATEWAY, status=502), "calendar_down", "page"),
])
def test_failure_kinds(start: Callable[..., Gw], calcom: RunningServer, slack: RunningServer,
                       fault: CalcomRule, kind: str, level: str) -> None:
    gw = start(calcom_timeout_s=0.3)
    calcom.app.state.mock.set_script(CalcomScript(rules=[fault]))
    body = {"name": "check_availability", "args": {"date": "2099-01-05"}, "call": {"call_id": "call_kinds"}}
    answer = gw.post("/retell/tools/check_availability", body).json()
    assert answer["problem"] == kind and answer["has_slots"] is False
    assert gw.metric("othergw_failures_total", kind=kind, level=level) == 1
    assert f"({kind})" in until(lambda: alerts(slack), what="the alert")[0]


def test_a_failed_alert_post_is_logged_and_does_not_slow_the_call(start: Callable[..., Gw],
                                                                  calcom: RunningServer) -> None:
    gw = start(alert_webhook_url="http://127.0.0.1:9/slack/nowhere")  # nothing listens on port 9
    calcom.app.state.mock.set_script(CalcomScript(rules=[CalcomRule(endpoint="slots", fault=Fault.SERVER_ERROR)]))
    body = {"name": "check_availability", "args": {"date": "2099-01-05"}, "call": {"call_id": "call_no_slack"}}
    answer = gw.post("/retell/tools/check_availability", body)
    assert answer.json()["problem"] == "calendar_down"
    line = until(lambda: next((x for x in gw.logs() if x["action"] == "alert.failed"), None), what="alert.failed")
    assert line["retell_call"] == "call_no_slack" and line["request_id"] == answer.headers["X-Request-ID"]


def test_alert_grouping_threshold_window_and_cooldown() -> None:
    now = [1000.0]
    alerter = Alerter(None, None, threshold=2, window_s=60, cooldown_s=300, clock=lambda: now[0])
    assert alerter.failure("calendar_down", "rid-1", "call_a") is None  # 1 of 2
    now[0] += 61
    assert alerter.failure("calendar_down", "rid-2", "call_a") is None  # the first fell out of the window
    now[0] += 1
    assert alerter.failure("calendar_busy", "rid-3", "call_b") is None  # other kinds are their own group
    text = alerter.failure("calendar_down", "rid-4", "call_c")
    assert text == (":rotating_light: Calendar backend failing (calendar_down) \u2014 2 failure(s); "
                    "request_id=rid-4 call=call_c")
    for _ in range(3):
        now[0] += 10
        assert alerter.failure("calendar_down", "rid-5", "call_d") is None  # cooldown: held
    now[0] += 300
    assert alerter.failure("calendar_down", "rid-6", "call_e") is None  # 1 fresh of 2 needed
    text = alerter.failure("calendar_down", "rid-7", "call_f")
    assert text is not None and "\u2014 5 failure(s)" in text  # 3 held + 2 fresh


def test_readiness_follows_calcom(start: Callable[..., Gw], calcom: RunningServer) -> None:
    gw = start()
    assert gw.http.get("/readyz").status_code == 200
    calcom.app.state.mock.set_script(CalcomScript(rules=[CalcomRule(endpoint="any", fault=Fault.BAD_GATEWAY,
                                                                    status=503)]))
    down = gw.http.get("/readyz", headers={"X-Request-ID": "lb-probe-1"})
    assert down.status_code == 503 and down.json() == {"ready": False, "problem": "calendar_down"}
    assert down.headers["X-Request-ID"] == "lb-probe-1"
    journal = calcom.app.state.mock.journal()
    assert journal[-1].path == "/v2/event-types/1002" and header(journal[-1], "cal-api-version") == "2024-06-14"
    health = gw.http.get("/healthz")
    assert health.status_code == 200 and health.headers["X-Request-ID"]


# --- metrics and routes ---------------------------------------------------------------------------


def test_counters_are_absent_before_their_first_increment(start: Callable[..., Gw]) -> None:
    gw = start()
    first = gw.scrape()
    for name in ("othergw_retell_requests_total", "othergw_bookings_total", "othergw_calls_total",
                 "othergw_failures_total", "othergw_http_requests_total", "othergw_retell_request_seconds_count"):
        assert f"\n{name}{{" not in first, name
    assert gw.metric("othergw_http_requests_total", route="/metrics", method="GET", code="200") == 1
    assert gw.metric("othergw_bookings_total") is None


def test_metrics_need_the_token_and_every_answer_has_an_id(start: Callable[..., Gw]) -> None:
    gw = start()
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = gw.http.get("/metrics", headers=headers)
        assert response.status_code == 401 and response.headers["X-Request-ID"]
    unknown = gw.post("/retell/tools/transfer_money", {"name": "transfer_money", "args": {}})
    assert unknown.status_code == 404 and unknown.json() == {"problem": "unknown_tool"}
    assert unknown.headers["X-Request-ID"]
    nowhere = gw.http.get("/no/such/path")
    assert nowhere.status_code == 404 and nowhere.headers["X-Request-ID"]
    assert gw.metric("othergw_http_requests_total", route="unmatched", method="GET", code="404") == 1


def test_a_crash_is_a_500_that_still_carries_the_id(start: Callable[..., Gw], monkeypatch: pytest.MonkeyPatch) -> None:
    gw = start()

    async def broken(*args: Any) -> list[str]:
        raise RuntimeError("bug")

    monkeypatch.setattr(gw.gateway.calcom, "slots", broken)
    body = {"name": "check_availability", "args": {"date": "2099-01-05"}, "call": {"call_id": "call_crash"}}
    response = gw.post("/retell/tools/check_availability", body)
    assert response.status_code == 500 and response.json() == {"detail": "internal error"}
    crashed = [line for line in gw.logs() if line["action"] == "request.crashed"]
    assert crashed and crashed[0]["request_id"] == response.headers["X-Request-ID"]
    assert gw.metric("othergw_http_requests_total", route="/retell/tools/{name}", code="500") == 1


def test_histogram_is_in_seconds(start: Callable[..., Gw], calcom: RunningServer) -> None:
    gw = start()
    calcom.app.state.mock.set_script(CalcomScript(rules=[CalcomRule(endpoint="slots", fault=Fault.LATENCY,
                                                                    delay_ms=300)]))
    body = {"name": "check_availability", "args": {"date": "2099-01-05"}, "call": {"call_id": "call_slow_ok"}}
    gw.post("/retell/tools/check_availability", body)
    bucket = "othergw_retell_request_seconds_bucket"
    assert gw.metric(bucket, kind="tool.check_availability", le="0.25") == 0
    assert gw.metric(bucket, kind="tool.check_availability", le="1.0") == 1


# --- seeded defects ---------------------------------------------------------------------------------


def test_defect_alert_without_call(start: Callable[..., Gw], calcom: RunningServer, slack: RunningServer) -> None:
    gw = start("alert-without-call")
    calcom.app.state.mock.set_script(CalcomScript(rules=[CalcomRule(endpoint="slots", fault=Fault.SERVER_ERROR)]))
    body = {"name": "check_availability", "args": {"date": "2099-01-05"}, "call": {"call_id": "call_unnamed"}}
    answer = gw.post("/retell/tools/check_availability", body)
    text = until(lambda: alerts(slack), what="the alert")[0]
    assert "call_unnamed" not in text and answer.headers["X-Request-ID"] not in text
    assert text == ":rotating_light: Calendar backend failing (calendar_down) \u2014 1 failure(s)"


def test_defect_histogram_in_ms(start: Callable[..., Gw], calcom: RunningServer) -> None:
    gw = start("histogram-in-ms")
    calcom.app.state.mock.set_script(CalcomScript(rules=[CalcomRule(endpoint="slots", fault=Fault.LATENCY,
                                                                    delay_ms=300)]))
    body = {"name": "check_availability", "args": {"date": "2099-01-05"}, "call": {"call_id": "call_slow_ms"}}
    gw.post("/retell/tools/check_availability", body)
    bucket = "othergw_retell_request_seconds_bucket"
    assert gw.metric(bucket, kind="tool.check_availability", le="5.0") == 0  # ~300 "seconds"
    assert gw.metric(bucket, kind="tool.check_availability", le="+Inf") == 1
    assert gw.metric("othergw_retell_request_seconds_sum", kind="tool.check_availability") >= 300


def test_defect_booking_not_counted(start: Callable[..., Gw]) -> None:
    gw = start("booking-not-counted")
    answers = run_call(gw, plan("happy-path-booking"))
    assert answers["book_appointment"].json()["confirmed"] is True
    assert gw.metric("othergw_bookings_total", result="confirmed") is None
    assert any(line["action"] == "booking.confirmed" for line in gw.logs())


def test_defect_request_id_not_forwarded(start: Callable[..., Gw], calcom: RunningServer) -> None:
    gw = start("request-id-not-forwarded")
    run_call(gw, plan("happy-path-booking"))
    journal = calcom.app.state.mock.journal()
    assert len(journal) == 2 and all(header(e, "X-Request-ID") is None for e in journal)


def test_defect_phone_in_logs(start: Callable[..., Gw]) -> None:
    gw = start("phone-in-logs")
    requests = plan("happy-path-booking")
    phone = json.loads(requests[1].body)["call"]["from_number"]
    run_call(gw, requests)
    assert any(line.get("caller") == phone for line in gw.logs())


def test_defect_late_logs(start: Callable[..., Gw]) -> None:
    gw = start("late-logs")
    call = plan("happy-path-booking")[1]
    sent = time.monotonic()
    assert gw.send(call).status_code == 200
    answered = time.monotonic() - sent
    assert answered < 1.0 and not gw.logs()
    until(lambda: any(line["action"] == "retell.started" for line in gw.logs()), what="the late line")
    assert time.monotonic() - sent >= 1.4


def test_unknown_defect_is_a_startup_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as caught:
        Settings(calcom_url="http://127.0.0.1:9", retell_api_key=KEY, metrics_token=TOKEN,
                 log_file=tmp_path / "x.log", defects=frozenset({"slow-everything"}))
    assert "slow-everything" in str(caught.value) and all(name in str(caught.value) for name in DEFECTS)


@pytest.mark.parametrize("argv", [
    ["--port", "abc", "--calcom-url", "http://127.0.0.1:9", "--log-file", "x.log"],
    ["--port", "70000", "--calcom-url", "http://127.0.0.1:9", "--log-file", "x.log"],
    ["--port", "0", "--calcom-url", "http://127.0.0.1:9", "--log-file", "x.log", "--defect", "nope"],
    ["--port", "0", "--calcom-url", "not a url", "--log-file", "x.log"],
    ["--port", "0", "--calcom-url", "http://127.0.0.1:9", "--log-file", "/no/such/folder/x.log"],
])
def test_cli_bad_input_is_one_line_and_exit_2(argv: list[str], monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RETELL_API_KEY", KEY)
    monkeypatch.setenv("OTHERGW_METRICS_TOKEN", TOKEN)
    with pytest.raises(SystemExit) as exited:
        cli_main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("othergw: error: "), err


def test_cli_as_a_module_without_secrets_exits_2() -> None:
    env = {"PATH": "", "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    done = subprocess.run([sys.executable, "-m", "examples.other_gateway", "--port", "0", "--calcom-url",
                           "http://127.0.0.1:9", "--log-file", "x.log"], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent.parent, env=env, timeout=30)
    assert done.returncode == 2
    assert done.stderr.strip() == "othergw: error: the Retell API key is empty (RETELL_API_KEY)"
