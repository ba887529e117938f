"""Alerting: the grouping/threshold/cooldown clock (freezegun), the payload, delivery to the sink."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
from freezegun import freeze_time

from mocks._serve import RunningServer, serve_in_thread
from mocks.gateway import Alert, AlertPolicy, GatewayConfig, build_slack_payload, create_app
from mocks.sinks import create_sink_app
from probes._signing import SIGNATURE_HEADER, sign
from probes._wire import dumps

KEY = "key_test_alerting_not_a_secret"
TOKEN = "metrics-token-alerting"
CALCOM = "https://cal.alerting.test"
CALCOM_KEY = "cal_test_alerting_secret"
PHONE = "+14155550142"
DEADLINE_S = 5.0


# -- the policy, on a frozen clock -----------------------------------------------------------


def test_threshold_within_window() -> None:
    with freeze_time("2026-01-02 16:00:00") as frozen:
        policy = AlertPolicy(threshold=3, window_s=60, cooldown_s=300)
        assert policy.record("calendar_unavailable", "/f") is None
        frozen.tick(20)
        assert policy.record("calendar_unavailable", "/f") is None
        frozen.tick(20)
        assert policy.record("calendar_unavailable", "/f") == 3


def test_errors_older_than_the_window_do_not_count() -> None:
    with freeze_time("2026-01-02 16:00:00") as frozen:
        policy = AlertPolicy(threshold=2, window_s=60, cooldown_s=300)
        assert policy.record("calendar_timeout", "/f") is None
        frozen.tick(61)
        assert policy.record("calendar_timeout", "/f") is None  # the first one expired
        frozen.tick(30)
        assert policy.record("calendar_timeout", "/f") == 2


def test_cooldown_silences_then_reports_the_suppressed_count() -> None:
    with freeze_time("2026-01-02 16:00:00") as frozen:
        policy = AlertPolicy(threshold=1, window_s=60, cooldown_s=300)
        assert policy.record("rate_limited", "/f") == 1
        for _ in range(4):
            frozen.tick(30)
            assert policy.record("rate_limited", "/f") is None
        assert policy.pending("rate_limited", "/f") == 4
        frozen.move_to("2026-01-02 16:05:00")  # exactly cooldown_s after the alert
        assert policy.record("rate_limited", "/f") == 5
        assert policy.pending("rate_limited", "/f") == 0
        frozen.tick(1)
        assert policy.record("rate_limited", "/f") is None


def test_groups_are_independent_by_type_and_endpoint() -> None:
    with freeze_time("2026-01-02 16:00:00"):
        policy = AlertPolicy(threshold=1, window_s=60, cooldown_s=300)
        assert policy.record("calendar_unavailable", "/a") == 1
        assert policy.record("calendar_unavailable", "/a") is None
        assert policy.record("calendar_unavailable", "/b") == 1
        assert policy.record("calendar_timeout", "/a") == 1


def test_ungrouped_policy_fires_every_time() -> None:
    with freeze_time("2026-01-02 16:00:00"):
        policy = AlertPolicy(threshold=5, window_s=60, cooldown_s=300, grouped=False)
        assert [policy.record("x", "/a") for _ in range(3)] == [1, 1, 1]


def test_policy_accepts_an_injected_clock() -> None:
    now = [1000.0]
    policy = AlertPolicy(threshold=1, window_s=60, cooldown_s=10, now=lambda: now[0])
    assert policy.record("x", "/a") == 1
    now[0] += 9.9
    assert policy.record("x", "/a") is None
    now[0] += 0.1
    assert policy.record("x", "/a") == 2


# -- the payload -----------------------------------------------------------------------------


def test_payload_names_the_group_and_the_call() -> None:
    alert = Alert("calendar_unavailable", "/api/retell/functions/book_appointment", "critical", 3, "corr-1", "call_1", "Cal.com request failed: POST /v2/bookings answered 500")
    payload = build_slack_payload(alert)
    assert set(payload) == {"text", "blocks"}
    text = json.dumps(payload)
    for part in ("calendar_unavailable", "critical", "CRITICAL", "/api/retell/functions/book_appointment", "corr-1", "call_1", "3"):
        assert part in text
    assert payload["blocks"][0]["type"] == "header"


# -- through the gateway, to a real sink on loopback ----------------------------------------


@pytest.fixture
def sink() -> Iterator[RunningServer]:
    with serve_in_thread(create_sink_app()) as server:
        yield server


@pytest.fixture
def calcom_down() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        router.route(host="127.0.0.1").pass_through()  # the sink is real
        router.get(f"{CALCOM}/v2/slots").respond(500, json={"statusCode": 500, "message": "Internal server error"})
        yield router


def _gateway(sink: RunningServer, **overrides: Any) -> Any:
    config: dict[str, Any] = {
        "retell_api_key": KEY,
        "calcom_url": CALCOM,
        "calcom_api_key": CALCOM_KEY,
        "metrics_token": TOKEN,
        "alert_webhook_url": f"{sink.url}/slack/T0SECRET/B0SECRET/hooksecret",
    }
    config.update(overrides)
    return create_app(GatewayConfig(**config))


async def _check_availability(client: httpx.AsyncClient, call_id: str) -> httpx.Response:
    body = {
        "name": "check_availability",
        "args": {"date": "2026-01-06", "phone": PHONE},
        "call": {"call_id": call_id, "call_status": "ongoing", "direction": "inbound", "from_number": PHONE, "to_number": "+14155550199"},
    }
    text = dumps(body)
    return await client.post("/api/retell/functions/check_availability", content=text.encode(), headers={SIGNATURE_HEADER: sign(text, KEY)})


async def _messages(sink: RunningServer, want: int) -> list[dict[str, Any]]:
    """Poll the sink until ``want`` messages arrived or the deadline passed."""
    until = time.monotonic() + DEADLINE_S
    async with httpx.AsyncClient(base_url=sink.url, timeout=2) as client:
        while True:
            messages: list[dict[str, Any]] = (await client.get("/api/messages")).json()["messages"]
            if len(messages) >= want or time.monotonic() > until:
                return messages
            await asyncio.sleep(0.02)


async def test_calcom_failure_alert_reaches_the_sink(sink: RunningServer, calcom_down: respx.MockRouter) -> None:
    app = _gateway(sink)
    call_id = "call_" + uuid.uuid4().hex[:27]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        response = await _check_availability(client, call_id)
        await app.state.gateway.alerter.drain()
    [message] = await _messages(sink, 1)
    assert message["path"] == "/slack/T0SECRET/B0SECRET/hooksecret"
    payload = message["json"]
    text = json.dumps(payload)
    for part in ("calendar_unavailable", "critical", "/api/retell/functions/check_availability", call_id, response.headers["X-Correlation-ID"]):
        assert part in text
    for secret in (PHONE, PHONE[1:], KEY, CALCOM_KEY, TOKEN, "T0SECRET", "hooksecret", sink.url):
        assert secret not in text
    events = [line["event"] for line in app.state.gateway.logs.lines()]
    assert "alert_sent" in events


async def test_gateway_groups_errors_and_respects_cooldown(sink: RunningServer, calcom_down: respx.MockRouter) -> None:
    app = _gateway(sink, alert_threshold=2, alert_window_s=60, alert_cooldown_s=300)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        for _ in range(5):
            assert (await _check_availability(client, "call_" + uuid.uuid4().hex[:27])).status_code == 200
        await app.state.gateway.alerter.drain()
    messages = await _messages(sink, 1)
    assert len(messages) == 1
    assert "2 error(s)" in messages[0]["json"]["text"]
    assert app.state.gateway.alerter.policy.pending("calendar_unavailable", "/api/retell/functions/check_availability") == 3


async def test_unreachable_sink_is_logged_not_raised(calcom_down: respx.MockRouter) -> None:
    dead = serve_in_thread(create_sink_app())
    dead.stop()
    app = _gateway(dead)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        assert (await _check_availability(client, "call_dead_sink")).status_code == 200
        await app.state.gateway.alerter.drain()
    failed = [line for line in app.state.gateway.logs.lines() if line["event"] == "alert_failed"]
    assert len(failed) == 1 and dead.url not in json.dumps(failed)


# -- a whole call over loopback: gateway + Cal.com mock + sink -------------------------------


def _call(call_id: str, tool_call_id: str | None = None) -> dict[str, Any]:
    entries = [{"role": "tool_call_invocation", "tool_call_id": tool_call_id, "name": "book_appointment", "arguments": "{}"}] if tool_call_id else []
    return {"call_id": call_id, "call_status": "ongoing", "direction": "inbound", "from_number": PHONE, "transcript_with_tool_calls": entries}


def _send(client: httpx.Client, path: str, payload: dict[str, Any]) -> httpx.Response:
    text = dumps(payload)
    return client.post(path, content=text.encode(), headers={SIGNATURE_HEADER: sign(text, KEY)})


def _function(client: httpx.Client, name: str, args: dict[str, Any], call_id: str, tool_call_id: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = _send(client, f"/api/retell/functions/{name}", {"name": name, "args": args, "call": _call(call_id, tool_call_id)}).json()
    return result


def test_full_call_against_the_calcom_mock_alerts_once_per_group(sink: RunningServer) -> None:
    from datetime import UTC, datetime

    from mocks.calcom import CalcomMock
    from mocks.calcom import create_app as calcom_app

    mock = CalcomMock(now=lambda: datetime(2026, 1, 2, 16, 0, tzinfo=UTC))
    with serve_in_thread(calcom_app(mock)) as cal:
        app = _gateway(sink, calcom_url=cal.url, calcom_timeout_s=0.5)
        with serve_in_thread(app) as gw, httpx.Client(base_url=gw.url, timeout=5) as client:
            try:
                _drive_one_call(client, cal.url, sink)
            finally:
                client.post(f"{cal.url}/__admin/reset")  # releases a hung request before shutdown


def _drive_one_call(client: httpx.Client, cal: str, sink: RunningServer) -> None:
    assert client.get("/health/ready").status_code == 200
    call_id = "call_" + uuid.uuid4().hex[:27]
    started = _send(client, "/api/retell/webhook", {"event": "call_started", "call": _call(call_id)})
    corr = started.headers["X-Correlation-ID"]
    check = {"date": "2026-01-06", "time_zone": "Europe/Berlin"}
    slots = _function(client, "check_availability", check, call_id)["slots"]
    assert slots and slots[0].startswith("2026-01-06T09:00:00")
    book = {"start": slots[0], "name": "Jordan Example", "email": "jordan@example.org", "phone": PHONE, "time_zone": "Europe/Berlin"}
    first = _function(client, "book_appointment", book, call_id, "tool_call_01")
    assert first["booked"] is True and _function(client, "book_appointment", book, call_id, "tool_call_01") == first
    assert len(client.get(f"{cal}/__admin/bookings").json()["bookings"]) == 1
    entries = client.get(f"{cal}/__admin/journal").json()["entries"]
    call_requests = [e for e in entries if e["path"] in ("/v2/slots", "/v2/bookings")]
    assert len(call_requests) == 2 and all(e["correlation_id"] == corr for e in call_requests)
    client.put(f"{cal}/__admin/script", json={"rules": [{"endpoint": "bookings.create", "fault": "slot_taken", "times": 1}]})
    taken = _function(client, "book_appointment", {**book, "start": slots[1]}, call_id, "tool_call_02")
    assert taken["error"] == "slot_taken" and taken["alternatives"] and slots[1] not in taken["alternatives"]
    rules = [{"endpoint": "slots", "fault": "server_error"}, {"endpoint": "event_types", "fault": "server_error"}]
    client.put(f"{cal}/__admin/script", json={"rules": rules})
    for _ in range(2):
        assert _function(client, "check_availability", check, call_id)["error"] == "calendar_unavailable"
    assert client.get("/health/ready").status_code == 503
    client.put(f"{cal}/__admin/script", json={"rules": [{"endpoint": "slots", "fault": "hang"}]})
    assert _function(client, "check_availability", check, call_id)["error"] == "calendar_timeout"
    messages = _poll_sync(sink, 2)
    assert len(messages) == 2  # one per (type, endpoint) group; the second 500 fell into the cooldown
    assert all(corr in m["json"]["text"] and PHONE not in json.dumps(m) for m in messages)


def _poll_sync(sink: RunningServer, want: int) -> list[dict[str, Any]]:
    until = time.monotonic() + DEADLINE_S
    with httpx.Client(base_url=sink.url, timeout=2) as client:
        while True:
            messages: list[dict[str, Any]] = client.get("/api/messages").json()["messages"]
            if len(messages) >= want or time.monotonic() > until:
                return messages
            threading.Event().wait(0.02)
