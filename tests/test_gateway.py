"""The reference gateway against the target contract (ARCHITECTURE.md), Cal.com stubbed with respx.

Each test builds a fresh app (own metrics registry, own log buffer) and talks
to it through ``httpx.ASGITransport``; Cal.com is a respx router on a fake
host so every request the gateway makes can be asserted on.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx
from prometheus_client.parser import text_string_to_metric_families
from retell.lib.webhook_auth import symmetric

from mocks.gateway import GatewayConfig, create_app
from probes._signing import SIGNATURE_HEADER, sign
from probes._wire import dumps

KEY = "key_test_gateway_not_a_secret"
TOKEN = "metrics-token-test"
CALCOM = "https://cal.test"
CALCOM_KEY = "cal_test_0123456789abcdef"
PHONE = "+14155550142"
TRANSCRIPT = "Agent: Hello there\nUser: I would like a cleaning on Tuesday"
SUMMARY = "The caller booked a secret cleaning appointment."
SLOT_1 = "2026-01-06T09:30:00.000-08:00"
SLOT_2 = "2026-01-06T11:00:00.000-08:00"
SERVER_TIMING = re.compile(r"app;dur=\d+\.\d{3}")


# -- payload helpers (docs/research/retell.md §8) ---------------------------------------------------------


def new_call_id() -> str:
    return "call_" + uuid.uuid4().hex[:27]


def call_obj(call_id: str, status: str = "ongoing", **extra: Any) -> dict[str, Any]:
    call: dict[str, Any] = {
        "call_id": call_id,
        "call_type": "phone_call",
        "agent_id": "agent_7c2e91b04fd3a8665e1b0c9d47",
        "agent_version": 3,
        "call_status": status,
        "start_timestamp": 1767369600000,
        "direction": "inbound",
        "from_number": PHONE,
        "to_number": "+14155550199",
        "metadata": {"synthetic": True},
        "retell_llm_dynamic_variables": {"synthetic": "callprobe"},
    }
    call.update(extra)
    return call


def event_body(event: str, call_id: str, **call_extra: Any) -> dict[str, Any]:
    status = {"call_started": "ongoing"}.get(event, "ended")
    call = call_obj(call_id, status, **call_extra)
    if event in {"call_ended", "call_analyzed"}:
        call.update(transcript=TRANSCRIPT, end_timestamp=1767369634000, duration_ms=34000, disconnection_reason="user_hangup")
    if event == "call_analyzed":
        call["call_analysis"] = {"call_summary": SUMMARY, "call_successful": True, "user_sentiment": "Positive"}
    return {"event": event, "call": call, "event_timestamp": 1767369600041, "some_future_field": {"x": 1}}


def function_body(name: str, args: dict[str, Any], call_id: str, tool_call_id: str | None = None) -> dict[str, Any]:
    entries: list[dict[str, Any]] = [{"role": "user", "content": TRANSCRIPT, "words": []}]
    if tool_call_id:
        entries.append({"role": "tool_call_invocation", "tool_call_id": tool_call_id, "name": name, "arguments": dumps(args), "type": "custom"})
    return {"name": name, "args": args, "call": call_obj(call_id, transcript=TRANSCRIPT, transcript_with_tool_calls=entries)}


def signed(payload: Any, *, key: str = KEY, ts: int | None = None) -> tuple[str, dict[str, str]]:
    text = dumps(payload)
    return text, {"Content-Type": "application/json", SIGNATURE_HEADER: sign(text, key, ts)}


async def post(client: httpx.AsyncClient, path: str, payload: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    text, sig_headers = signed(payload)
    return await client.post(path, content=text.encode("utf-8"), headers={**sig_headers, **(headers or {})})


def metric(text: str, name: str, labels: dict[str, str]) -> float:
    """The value of one sample with exactly ``labels``; 0 when absent (counters start at 0)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


async def scrape(client: httpx.AsyncClient) -> str:
    response = await client.get("/api/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    return response.text


async def read_logs(client: httpx.AsyncClient, after: int = 0) -> list[dict[str, Any]]:
    response = await client.get(f"/api/logs?after={after}", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    lines: list[dict[str, Any]] = response.json()["lines"]
    return lines


def slots_json(*starts: str, day: str = "2026-01-06") -> dict[str, Any]:
    return {"status": "success", "data": {day: [{"start": s} for s in starts]} if starts else {}}


def booking_json(uid: str, start: str = "2026-01-06T17:30:00.000Z") -> dict[str, Any]:
    return {"status": "success", "data": {"id": 1, "uid": uid, "start": start, "status": "accepted"}}


SLOT_TAKEN = {"status": "error", "error": {"code": "BadRequestException", "message": "User either already has booking at this time or is not available"}}


# -- fixtures --------------------------------------------------------------------------------


def make_config(**overrides: Any) -> GatewayConfig:
    base: dict[str, Any] = {
        "retell_api_key": KEY,
        "calcom_url": CALCOM,
        "calcom_api_key": CALCOM_KEY,
        "metrics_token": TOKEN,
        "company_id": "acme",
    }
    base.update(overrides)
    return GatewayConfig(**base)


@pytest.fixture
def calcom() -> respx.MockRouter:
    with respx.mock(base_url=CALCOM, assert_all_called=False) as router:
        yield router


@pytest.fixture
async def app_and_client() -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    app = create_app(make_config())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        yield app, client
    await app.state.gateway.alerter.drain()


@pytest.fixture
def client(app_and_client: tuple[Any, httpx.AsyncClient]) -> httpx.AsyncClient:
    return app_and_client[1]


@pytest.fixture
def gateway(app_and_client: tuple[Any, httpx.AsyncClient]) -> Any:
    return app_and_client[0].state.gateway


# -- signatures ------------------------------------------------------------------------------


async def test_signature_from_official_sdk_is_accepted(client: httpx.AsyncClient) -> None:
    text = dumps(event_body("call_started", new_call_id()))
    header = symmetric["sign"](text, KEY)
    response = await client.post("/api/retell/webhook", content=text.encode(), headers={SIGNATURE_HEADER: header})
    assert response.status_code == 204


@pytest.mark.parametrize("case", ["missing", "forged", "stale", "malformed"])
async def test_bad_signature_is_401_counted_and_logged(client: httpx.AsyncClient, case: str) -> None:
    text = dumps(event_body("call_started", new_call_id()))
    headers = {
        "missing": {},
        "forged": {SIGNATURE_HEADER: sign(text, "some-other-key")},
        "stale": {SIGNATURE_HEADER: sign(text, KEY, int(time.time() * 1000) - 301_000)},
        "malformed": {SIGNATURE_HEADER: "v=1,d=XYZ"},
    }[case]
    response = await client.post("/api/retell/webhook", content=text.encode(), headers=headers)
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_signature"}
    assert response.headers["X-Correlation-ID"]
    metrics = await scrape(client)
    assert metric(metrics, "askproai_webhooks_total", {"provider": "retell", "event": "call_started", "status": "rejected"}) == 1
    assert metric(metrics, "askproai_errors_total", {"type": "invalid_signature", "severity": "warning"}) == 1
    lines = await read_logs(client)
    assert [line["event"] for line in lines] == ["signature_invalid"]
    if headers:
        assert headers[SIGNATURE_HEADER] not in json.dumps(lines)
        assert headers[SIGNATURE_HEADER].split("d=")[-1] not in json.dumps(lines)


async def test_401_for_a_known_call_echoes_its_correlation_id(client: httpx.AsyncClient) -> None:
    call_id = new_call_id()
    first = await post(client, "/api/retell/webhook", event_body("call_started", call_id))
    text = dumps(event_body("call_ended", call_id))
    forged = await client.post("/api/retell/webhook", content=text.encode(), headers={SIGNATURE_HEADER: sign(text, "wrong")})
    assert forged.status_code == 401
    assert forged.headers["X-Correlation-ID"] == first.headers["X-Correlation-ID"]


async def test_body_that_is_not_json_is_400(client: httpx.AsyncClient) -> None:
    text = "this is not json"
    response = await client.post("/api/retell/webhook", content=text, headers={SIGNATURE_HEADER: sign(text, KEY)})
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_json"}


async def test_signature_covers_unicode_body_bytes(client: httpx.AsyncClient) -> None:
    body = event_body("call_started", new_call_id(), retell_llm_dynamic_variables={"customer_name": "José Müller"})
    assert (await post(client, "/api/retell/webhook", body)).status_code == 204


# -- correlation and tracing -----------------------------------------------------------------


async def test_one_correlation_id_per_call_across_events_functions_and_calcom(client: httpx.AsyncClient, calcom: respx.MockRouter) -> None:
    slots = calcom.get("/v2/slots").respond(200, json=slots_json(SLOT_1))
    call_a, call_b = new_call_id(), new_call_id()
    ids_a = [(await post(client, "/api/retell/webhook", event_body("call_started", call_a))).headers["X-Correlation-ID"]]
    ids_b = [(await post(client, "/api/retell/webhook", event_body("call_started", call_b))).headers["X-Correlation-ID"]]
    args = {"date": "2026-01-06", "service": "cleaning", "time_zone": "America/Los_Angeles"}
    ids_a.append((await post(client, "/api/retell/functions/check_availability", function_body("check_availability", args, call_a))).headers["X-Correlation-ID"])
    ids_a.append((await post(client, "/api/retell/webhook", event_body("call_ended", call_a))).headers["X-Correlation-ID"])
    ids_b.append((await post(client, "/api/retell/webhook", event_body("call_ended", call_b))).headers["X-Correlation-ID"])
    assert len(set(ids_a)) == 1 and len(set(ids_b)) == 1
    assert ids_a[0] != ids_b[0]
    assert uuid.UUID(ids_a[0]).version == 4
    assert slots.calls.last.request.headers["X-Correlation-ID"] == ids_a[0]
    for line in await read_logs(client):
        expected = {call_a: ids_a[0], call_b: ids_b[0]}[line["call_id"]]
        assert line["correlation_id"] == expected, line


async def test_incoming_correlation_id_is_kept(client: httpx.AsyncClient, calcom: respx.MockRouter) -> None:
    slots = calcom.get("/v2/slots").respond(200, json=slots_json(SLOT_1))
    call_id = new_call_id()
    args = {"date": "2026-01-06", "service": "cleaning"}
    response = await post(client, "/api/retell/functions/check_availability", function_body("check_availability", args, call_id), {"X-Correlation-ID": "corr-from-caller-1"})
    assert response.headers["X-Correlation-ID"] == "corr-from-caller-1"
    assert slots.calls.last.request.headers["X-Correlation-ID"] == "corr-from-caller-1"
    later = await post(client, "/api/retell/webhook", event_body("call_ended", call_id))
    assert later.headers["X-Correlation-ID"] == "corr-from-caller-1"  # the call adopted it
    health = await client.get("/health", headers={"X-Correlation-ID": "corr-health"})
    assert health.headers["X-Correlation-ID"] == "corr-health"


async def test_traceparent_is_continued_or_started(client: httpx.AsyncClient, calcom: respx.MockRouter) -> None:
    slots = calcom.get("/v2/slots").respond(200, json=slots_json(SLOT_1))
    trace_id, span_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    args = {"date": "2026-01-06"}
    await post(client, "/api/retell/functions/check_availability", function_body("check_availability", args, new_call_id()), {"traceparent": f"00-{trace_id}-{span_id}-01"})
    sent = slots.calls.last.request.headers["traceparent"]
    version, sent_trace, sent_span, flags = sent.split("-")
    assert (version, sent_trace, flags) == ("00", trace_id, "01") and sent_span != span_id
    await post(client, "/api/retell/functions/check_availability", function_body("check_availability", args, new_call_id()))
    fresh = slots.calls.last.request.headers["traceparent"]
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", fresh) and trace_id not in fresh


# -- metrics ---------------------------------------------------------------------------------


async def test_metrics_need_the_bearer_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/metrics")).status_code == 401
    assert (await client.get("/api/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 401
    assert (await client.get("/api/logs")).status_code == 401
    assert (await client.get("/api/logs", headers={"Authorization": f"Bearer {TOKEN}"})).status_code == 200


async def test_metric_deltas_per_label(client: httpx.AsyncClient, calcom: respx.MockRouter) -> None:
    calcom.post("/v2/bookings").respond(201, json=booking_json("uid_metrics"))
    before = await scrape(client)
    call_id = new_call_id()
    await post(client, "/api/retell/webhook", event_body("call_started", call_id))
    await post(client, "/api/retell/functions/book_appointment", function_body("book_appointment", {"start": SLOT_1, "name": "Jordan"}, call_id, "tool_call_b7d903"))
    await post(client, "/api/retell/webhook", event_body("call_ended", call_id))
    await post(client, "/api/retell/webhook", event_body("call_ended", call_id))
    after = await scrape(client)

    def delta(name: str, labels: dict[str, str]) -> float:
        return metric(after, name, labels) - metric(before, name, labels)

    webhooks = "askproai_webhooks_total"
    assert delta(webhooks, {"provider": "retell", "event": "call_started", "status": "processed"}) == 1
    assert delta(webhooks, {"provider": "retell", "event": "call_ended", "status": "processed"}) == 1
    assert delta(webhooks, {"provider": "retell", "event": "call_ended", "status": "duplicate"}) == 1
    assert delta(webhooks, {"provider": "retell", "event": "book_appointment", "status": "processed"}) == 1
    assert delta("askproai_bookings_total", {"status": "created", "source": "retell"}) == 1
    assert delta("askproai_calls_total", {"status": "started", "company": "acme"}) == 1
    assert delta("askproai_calls_total", {"status": "ended", "company": "acme"}) == 1
    hist = "askproai_webhook_processing_duration_seconds"
    assert delta(hist + "_count", {"provider": "retell", "event": "call_ended"}) == 2
    assert delta(hist + "_bucket", {"provider": "retell", "event": "call_ended", "le": "0.5"}) == 2
    http = {"method": "POST", "endpoint": "/api/retell/webhook", "status": "204"}
    assert delta("askproai_http_requests_total", http) == 3
    fn = {"method": "POST", "endpoint": "/api/retell/functions/{name}"}
    assert delta("askproai_http_request_duration_seconds_count", fn) == 1


async def test_each_app_has_its_own_registry() -> None:
    first, second = create_app(make_config()), create_app(make_config())
    assert first.state.gateway.metrics.registry is not second.state.gateway.metrics.registry
    first.state.gateway.metrics.errors.labels(type="x", severity="warning").inc()
    assert second.state.gateway.metrics.registry.get_sample_value("askproai_errors_total", {"type": "x", "severity": "warning"}) is None


# -- logs ------------------------------------------------------------------------------------


async def test_log_lines_have_the_contract_fields_and_no_pii(tmp_path: Any, calcom: respx.MockRouter) -> None:
    calcom.get("/v2/slots").respond(200, json=slots_json(SLOT_1))
    log_file = tmp_path / "gateway.jsonl"
    app = create_app(make_config(log_file=str(log_file)))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        call_id = new_call_id()
        for event in ("call_started", "transcript_updated", "call_ended", "call_analyzed"):
            assert (await post(client, "/api/retell/webhook", event_body(event, call_id))).status_code == 204
        args = {"date": "2026-01-06", "phone": PHONE}
        await post(client, "/api/retell/functions/check_availability", function_body("check_availability", args, call_id))
        lines = await read_logs(client)
    file_lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert file_lines == lines
    expected_hash = "sha256:" + __import__("hashlib").sha256(PHONE.encode()).hexdigest()[:12]
    for line in lines:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["timestamp"])
        assert line["level"] in {"INFO", "WARNING", "ERROR"}
        assert line["event"] and line["message"]
        assert line["call_id"] == call_id and line["company_id"] == "acme"
        assert uuid.UUID(line["correlation_id"])
        assert line["phone_hash"] == expected_hash
    text = log_file.read_text()
    for secret in (PHONE, PHONE[1:], "Hello there", "cleaning on Tuesday", SUMMARY, KEY, CALCOM_KEY, TOKEN):
        assert secret not in text
    events = [line["event"] for line in lines]
    assert events[:4] == ["call_started", "transcript_updated", "call_ended", "call_analyzed"]
    assert "availability_checked" in events


async def test_logs_after_cursor(client: httpx.AsyncClient) -> None:
    await post(client, "/api/retell/webhook", event_body("call_started", new_call_id()))
    first = await client.get("/api/logs?after=0", headers={"Authorization": f"Bearer {TOKEN}"})
    cursor = first.json()["next"]
    assert cursor == first.json()["lines"][-1]["seq"]
    await post(client, "/api/retell/webhook", event_body("call_started", new_call_id()))
    newer = await read_logs(client, cursor)
    assert len(newer) == 1 and newer[0]["seq"] == cursor + 1
    for raw in ("x", "\u0663", "3_0"):  # a letter, an Arabic-Indic three, an underscore int() would take
        bad = await client.get("/api/logs", params={"after": raw}, headers={"Authorization": f"Bearer {TOKEN}"})
        assert bad.status_code == 400 and "after must be an integer" in bad.json()["error"]


# -- functions -------------------------------------------------------------------------------


async def test_check_availability_queries_slots(client: httpx.AsyncClient, calcom: respx.MockRouter) -> None:
    route = calcom.get("/v2/slots").respond(200, json=slots_json(SLOT_1, SLOT_2))
    args = {"date": "2026-01-06", "service": "cleaning", "time_zone": "America/Los_Angeles"}
    response = await post(client, "/api/retell/functions/check_availability", function_body("check_availability", args, new_call_id()))
    assert response.status_code == 200
    assert response.json() == {"available": True, "slots": [SLOT_1, SLOT_2], "message": "There are 2 free times on 2026-01-06."}
    request = route.calls.last.request
    assert dict(request.url.params) == {"start": "2026-01-06", "end": "2026-01-06", "eventTypeId": "1001", "timeZone": "America/Los_Angeles"}
    assert request.headers["cal-api-version"] == "2024-09-04"
    assert request.headers["Authorization"] == f"Bearer {CALCOM_KEY}"


async def test_check_availability_without_slots(client: httpx.AsyncClient, calcom: respx.MockRouter) -> None:
    calcom.get("/v2/slots").respond(200, json=slots_json())
    response = await post(client, "/api/retell/functions/check_availability", function_body("check_availability", {"date": "2026-01-06"}, new_call_id()))
    assert response.json()["available"] is False and response.json()["slots"] == []
    assert "error" not in response.json()


async def test_args_only_body_with_call_id(client: httpx.AsyncClient, calcom: respx.MockRouter) -> None:
    calcom.get("/v2/slots").respond(200, json=slots_json(SLOT_1))
    call_id = new_call_id()
    started = await post(client, "/api/retell/webhook", event_body("call_started", call_id))
    response = await post(client, "/api/retell/functions/check_availability", {"date": "2026-01-06", "call_id": call_id})
    assert response.json()["available"] is True
    assert response.headers["X-Correlation-ID"] == started.headers["X-Correlation-ID"]


async def test_book_appointment_request_shape(client: httpx.AsyncClient, calcom: respx.MockRouter) -> None:
    route = calcom.post("/v2/bookings").respond(201, json=booking_json("uid_1"))
    call_id = new_call_id()
    args = {"start": SLOT_1, "name": "Jordan Example", "email": "jordan@example.org", "phone": PHONE, "service": "cleaning", "time_zone": "America/Los_Angeles"}
    response = await post(client, "/api/retell/functions/book_appointment", function_body("book_appointment", args, call_id, "tool_call_1"))
    assert response.json() == {"booked": True, "booking_uid": "uid_1", "start": "2026-01-06T17:30:00.000Z", "message": "Your appointment is booked."}
    request = route.calls.last.request
    assert request.headers["cal-api-version"] == "2024-08-13"
    assert request.headers["Authorization"] == f"Bearer {CALCOM_KEY}"
    body = json.loads(request.content)
    assert body == {
        "start": "2026-01-06T17:30:00.000Z",
        "eventTypeId": 1001,
        "attendee": {"name": "Jordan Example", "email": "jordan@example.org", "timeZone": "America/Los_Angeles", "language": "en", "phoneNumber": PHONE},
        "bookingFieldsResponses": {"attendeePhoneNumber": PHONE},
        "metadata": {"call_id": call_id, "correlation_id": response.headers["X-Correlation-ID"], "source": "retell"},
    }


async def test_booking_is_idempotent_per_tool_call_and_per_start(client: httpx.AsyncClient, calcom: respx.MockRouter) -> None:
    route = calcom.post("/v2/bookings").mock(side_effect=[httpx.Response(201, json=booking_json("uid_first")), httpx.Response(201, json=booking_json("uid_second"))])
    call_id = new_call_id()
    args = {"start": SLOT_1, "name": "Jordan"}
    first = await post(client, "/api/retell/functions/book_appointment", function_body("book_appointment", args, call_id, "tool_call_aa"))
    retry = await post(client, "/api/retell/functions/book_appointment", function_body("book_appointment", args, call_id, "tool_call_aa"))
    again = await post(client, "/api/retell/functions/book_appointment", function_body("book_appointment", args, call_id, "tool_call_bb"))
    assert route.call_count == 1
    assert first.json() == retry.json() == again.json()
    assert first.json()["booking_uid"] == "uid_first"


async def test_slot_taken_returns_alternatives(client: httpx.AsyncClient, calcom: respx.MockRouter) -> None:
    calcom.post("/v2/bookings").respond(400, json=SLOT_TAKEN)
    slots = calcom.get("/v2/slots").respond(200, json=slots_json(SLOT_1, SLOT_2))
    args = {"start": SLOT_1, "name": "Jordan", "time_zone": "America/Los_Angeles"}
    response = await post(client, "/api/retell/functions/book_appointment", function_body("book_appointment", args, new_call_id(), "tool_call_1"))
    result = response.json()
    assert response.status_code == 200
    assert result["booked"] is False and result["error"] == "slot_taken"
    assert result["alternatives"] == [SLOT_2]
    assert slots.calls.last.request.url.params["start"] == "2026-01-06"
    assert metric(await scrape(client), "askproai_bookings_total", {"status": "slot_taken", "source": "retell"}) == 1


@pytest.mark.parametrize(
    ("stub", "kind", "severity"),
    [
        (httpx.Response(500, json={"statusCode": 500, "message": "Internal server error"}), "calendar_unavailable", "critical"),
        (httpx.Response(502, text="<html>bad gateway</html>"), "calendar_unavailable", "critical"),
        (httpx.Response(200, text="<html>not json</html>"), "calendar_unavailable", "critical"),
        (httpx.Response(429, json={"status": "error", "error": {"code": "ThrottlerException"}}), "rate_limited", "warning"),
        (httpx.ReadTimeout("timed out"), "calendar_timeout", "critical"),
        (httpx.ConnectError("refused"), "calendar_unavailable", "critical"),
    ],
    ids=["500", "502-html", "200-not-json", "429", "timeout", "connect-error"],
)
async def test_calcom_failure_is_a_200_error_result(
    app_and_client: tuple[Any, httpx.AsyncClient], calcom: respx.MockRouter, stub: Any, kind: str, severity: str
) -> None:
    app, client = app_and_client
    if isinstance(stub, Exception):
        calcom.get("/v2/slots").mock(side_effect=stub)
    else:
        calcom.get("/v2/slots").mock(return_value=stub)
    call_id = new_call_id()
    response = await post(client, "/api/retell/functions/check_availability", function_body("check_availability", {"date": "2026-01-06"}, call_id))
    assert response.status_code == 200
    result = response.json()
    assert {k: result[k] for k in ("available", "slots", "error")} == {"available": False, "slots": [], "error": kind}
    assert result["message"]
    assert metric(await scrape(client), "askproai_errors_total", {"type": kind, "severity": severity}) == 1
    errors = [line for line in await read_logs(client) if line["event"] == "calcom_request_failed"]
    assert len(errors) == 1 and errors[0]["level"] == "ERROR"
    assert errors[0]["correlation_id"] == response.headers["X-Correlation-ID"]
    [alert] = app.state.gateway.alerter.sent
    assert (alert.error_type, alert.call_id, alert.correlation_id) == (kind, call_id, response.headers["X-Correlation-ID"])


async def test_booking_failure_and_cancel(client: httpx.AsyncClient, calcom: respx.MockRouter) -> None:
    calcom.post("/v2/bookings").respond(503, text="Service Unavailable")
    cancel = calcom.post("/v2/bookings/uid_9/cancel").respond(200, json=booking_json("uid_9"))
    call_id = new_call_id()
    failed = await post(client, "/api/retell/functions/book_appointment", function_body("book_appointment", {"start": SLOT_1, "name": "J"}, call_id))
    assert failed.json()["booked"] is False and failed.json()["error"] == "calendar_unavailable"
    cancelled = await post(client, "/api/retell/functions/cancel_appointment", function_body("cancel_appointment", {"booking_uid": "uid_9", "reason": "sick"}, call_id))
    assert cancelled.json() == {"cancelled": True, "booking_uid": "uid_9"}
    assert json.loads(cancel.calls.last.request.content) == {"cancellationReason": "sick"}
    assert cancel.calls.last.request.headers["cal-api-version"] == "2024-08-13"
    metrics = await scrape(client)
    assert metric(metrics, "askproai_bookings_total", {"status": "failed", "source": "retell"}) == 1
    assert metric(metrics, "askproai_bookings_total", {"status": "cancelled", "source": "retell"}) == 1


async def test_calcom_timeout_uses_the_configured_timeout(calcom: respx.MockRouter) -> None:
    route = calcom.get("/v2/slots").respond(200, json=slots_json(SLOT_1))
    app = create_app(make_config(calcom_timeout_s=0.75))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        await post(client, "/api/retell/functions/check_availability", function_body("check_availability", {"date": "2026-01-06"}, new_call_id()))
    assert route.calls.last.request.extensions["timeout"] == {"connect": 0.75, "read": 0.75, "write": 0.75, "pool": 0.75}


# -- webhooks: duplicates, order, inbound ----------------------------------------------------


async def test_duplicate_delivery_is_not_reprocessed(client: httpx.AsyncClient, gateway: Any) -> None:
    call_id = new_call_id()
    for _ in range(3):
        assert (await post(client, "/api/retell/webhook", event_body("call_ended", call_id))).status_code == 204
    transfer = {**event_body("transfer_started", call_id), "transfer_destination": {"number": "+14155550100"}}
    for _ in range(2):
        assert (await post(client, "/api/retell/webhook", transfer)).status_code == 204
    metrics = await scrape(client)
    labels = {"provider": "retell", "event": "call_ended"}
    assert metric(metrics, "askproai_webhooks_total", {**labels, "status": "processed"}) == 1
    assert metric(metrics, "askproai_webhooks_total", {**labels, "status": "duplicate"}) == 2
    assert metric(metrics, "askproai_webhooks_total", {"provider": "retell", "event": "transfer_started", "status": "duplicate"}) == 1
    assert metric(metrics, "askproai_calls_total", {"status": "ended", "company": "acme"}) == 1


async def test_out_of_order_and_never_connected_calls(client: httpx.AsyncClient, gateway: Any) -> None:
    call_id = new_call_id()
    ended = await post(client, "/api/retell/webhook", event_body("call_ended", call_id))
    started = await post(client, "/api/retell/webhook", event_body("call_started", call_id))
    assert (ended.status_code, started.status_code) == (204, 204)
    assert ended.headers["X-Correlation-ID"] == started.headers["X-Correlation-ID"]
    record = gateway.calls.get(call_id)
    assert record.ended and not record.started
    events = [line["event"] for line in await read_logs(client)]
    assert events == ["call_ended", "call_started_late"]
    never = new_call_id()
    body = event_body("call_ended", never, call_status="not_connected", disconnection_reason="dial_no_answer")
    body["call"].pop("start_timestamp")
    body["call"]["call_status"] = "not_connected"
    assert (await post(client, "/api/retell/webhook", body)).status_code == 204
    assert metric(await scrape(client), "askproai_calls_total", {"status": "not_connected", "company": "acme"}) == 1


async def test_call_inbound_answers_dynamic_variables(client: httpx.AsyncClient) -> None:
    body = {
        "event": "call_inbound",
        "event_timestamp": 1767369597700,
        "call_inbound": {"agent_id": "agent_x", "from_number": PHONE, "to_number": "+14155550199", "metadata": {"synthetic": True}},
    }
    response = await post(client, "/api/retell/inbound", body)
    assert response.status_code == 200
    answer = response.json()["call_inbound"]
    assert answer["dynamic_variables"]["company_id"] == "acme"
    assert answer["dynamic_variables"]["synthetic"] == "callprobe"
    assert answer["metadata"]["synthetic"] is True
    assert all(isinstance(v, str) for v in answer["dynamic_variables"].values())
    fictional = await post(client, "/api/retell/inbound", {**body, "call_inbound": {"from_number": PHONE, "to_number": "+1"}})
    assert fictional.json()["call_inbound"]["metadata"]["synthetic"] is True  # 555-01xx is reserved for fiction
    plain = await post(client, "/api/retell/inbound", {**body, "call_inbound": {"from_number": "11111", "to_number": "+1"}})
    assert "synthetic" not in plain.json()["call_inbound"]["metadata"]


async def test_inbound_and_the_call_it_announces_share_one_correlation_id(client: httpx.AsyncClient) -> None:
    inbound = {"event": "call_inbound", "call_inbound": {"from_number": PHONE, "to_number": "+14155550199"}}
    announced = (await post(client, "/api/retell/inbound", inbound)).headers["X-Correlation-ID"]
    started = await post(client, "/api/retell/webhook", event_body("call_started", new_call_id()))
    assert started.headers["X-Correlation-ID"] == announced
    other = await post(client, "/api/retell/webhook", event_body("call_started", new_call_id()))
    assert other.headers["X-Correlation-ID"] != announced  # taken once


async def test_args_only_booking_falls_back_to_the_callers_number(client: httpx.AsyncClient, calcom: respx.MockRouter) -> None:
    route = calcom.post("/v2/bookings").respond(201, json=booking_json("uid_args"))
    call_id = new_call_id()
    await post(client, "/api/retell/webhook", event_body("call_started", call_id, retell_llm_dynamic_variables={"customer_name": "Jördis Beispiel"}))
    result = await post(client, "/api/retell/functions/book_appointment", {"start": SLOT_1, "call_id": call_id})
    assert result.json()["booked"] is True
    attendee = json.loads(route.calls.last.request.content)["attendee"]
    assert (attendee["phoneNumber"], attendee["name"]) == (PHONE, "Caller")  # args-only: no dynamic variables at hand


# -- health, headers, config ------------------------------------------------------------------


async def test_readiness_follows_calcom(client: httpx.AsyncClient, calcom: respx.MockRouter) -> None:
    route = calcom.get("/v2/event-types/1001").respond(200, json={"status": "success", "data": {"id": 1001}})
    assert (await client.get("/health")).json() == {"status": "ok"}
    ready = await client.get("/health/ready")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready", "checks": {"calcom": "ok"}})
    assert route.calls.last.request.headers["cal-api-version"] == "2024-06-14"
    route.mock(side_effect=httpx.ConnectError("refused"))
    down = await client.get("/health/ready")
    assert (down.status_code, down.json()) == (503, {"status": "not_ready", "checks": {"calcom": "calendar_unavailable"}})
    route.mock(side_effect=None, return_value=httpx.Response(500, json={}))
    assert (await client.get("/health/ready")).status_code == 503


async def test_every_response_has_server_timing_and_correlation(client: httpx.AsyncClient) -> None:
    responses = [
        await client.get("/health"),
        await client.get("/api/metrics"),
        await client.get("/nowhere"),
        await client.post("/api/retell/webhook", content=b"{}"),
        await post(client, "/api/retell/webhook", event_body("call_started", new_call_id())),
    ]
    for response in responses:
        assert SERVER_TIMING.fullmatch(response.headers["Server-Timing"]), response.headers
        assert response.headers["X-Correlation-ID"]

