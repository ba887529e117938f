"""Every seeded defect changes what the gateway does, and the clean gateway does not show it.

Also pins the package's public surface and its configuration errors.

Each probe below returns True when the symptom of one defect is visible from
outside (headers, metrics, logs, alerts, Cal.com traffic). The parametrized
test runs it against a gateway with that defect and against a clean one.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
import respx
import sentry_sdk.transport
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client.parser import text_string_to_metric_families

from mocks.gateway import DEFECTS, GatewayConfig, build_slack_payload, create_app
from mocks.gateway._errors_report import ErrorReporter
from mocks.gateway._tracing import GatewayTracing
from probes._errors import ConfigError
from probes._signing import SIGNATURE_HEADER, sign
from probes._wire import dumps

KEY = "key_test_defects_not_a_secret"
TOKEN = "metrics-token-defects"
CALCOM = "https://cal.defects.test"
PHONE = "+14155550142"
TRANSCRIPT = "Agent: Hi, Harbor Dental.\nUser: I need a cleaning."
SLOT = "2026-01-06T09:30:00.000-08:00"

EXPECTED_DEFECTS = {
    "correlation-not-echoed",
    "correlation-per-request",
    "correlation-missing-in-logs",
    "raw-phone-in-logs",
    "booking-metric-not-incremented",
    "wrong-metric-label",
    "no-alert-on-calcom-failure",
    "alert-per-error",
    "slow-path",
    "forged-signature-accepted",
    "duplicate-books-twice",
    "ready-while-calcom-down",
    "transcript-in-logs",
    "broken-trace",
    "error-not-reported",
    "histogram-buckets-miss-sla",
    "metric-label-cardinality",
    "metrics-endpoint-down",
    "call-analyzed-connection-dropped",
    "correlation-shared-across-calls",
    "booking-not-logged",
    "raw-phone-in-alerts",
    "span-error-status-missing",
    "calcom-errors-not-counted",
    "histogram-in-milliseconds",
    "late-logs",
    "log-context-shared",
}


class Target:
    """A gateway app, its client and the Cal.com stub it talks to."""

    def __init__(self, app: Any, client: httpx.AsyncClient, calcom: respx.MockRouter) -> None:
        self.app, self.client, self.calcom = app, client, calcom
        self.gw = app.state.gateway

    async def send(self, path: str, payload: Any, key: str = KEY) -> httpx.Response:
        text = dumps(payload)
        return await self.client.post(path, content=text.encode(), headers={SIGNATURE_HEADER: sign(text, key)})

    async def metric(self, name: str, labels: dict[str, str]) -> float:
        text = (await self.client.get("/api/metrics", headers={"Authorization": f"Bearer {TOKEN}"})).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and sample.labels == labels:
                    return float(sample.value)
        return 0.0

    def log_text(self) -> str:
        return json.dumps(self.gw.logs.lines())


def call(call_id: str, **extra: Any) -> dict[str, Any]:
    return {"call_id": call_id, "call_status": "ongoing", "direction": "inbound", "from_number": PHONE, "to_number": "+14155550199", **extra}


def event(name: str, call_id: str, **extra: Any) -> dict[str, Any]:
    return {"event": name, "call": call(call_id, **extra), "event_timestamp": 1767369600041}


def function(name: str, args: dict[str, Any], call_id: str) -> dict[str, Any]:
    return {"name": name, "args": args, "call": call(call_id)}


def new_call_id() -> str:
    return "call_" + uuid.uuid4().hex[:27]


# -- one probe per defect ----------------------------------------------------------------------


async def correlation_not_echoed(t: Target) -> bool:
    response = await t.send("/api/retell/webhook", event("call_started", new_call_id()))
    return "X-Correlation-ID" not in response.headers


async def correlation_per_request(t: Target) -> bool:
    call_id = new_call_id()
    first = await t.send("/api/retell/webhook", event("call_started", call_id))
    second = await t.send("/api/retell/webhook", event("call_ended", call_id, call_status="ended"))
    return bool(first.headers["X-Correlation-ID"] != second.headers["X-Correlation-ID"])


async def correlation_missing_in_logs(t: Target) -> bool:
    await t.send("/api/retell/webhook", event("call_started", new_call_id()))
    return any(not line.get("correlation_id") for line in t.gw.logs.lines())


async def raw_phone_in_logs(t: Target) -> bool:
    await t.send("/api/retell/webhook", event("call_started", new_call_id()))
    return PHONE in t.log_text()


async def booking_metric_not_incremented(t: Target) -> bool:
    t.calcom.post("/v2/bookings").respond(201, json={"status": "success", "data": {"uid": "uid_1", "start": SLOT}})
    result = await t.send("/api/retell/functions/book_appointment", function("book_appointment", {"start": SLOT, "name": "J"}, new_call_id()))
    assert result.json()["booked"] is True
    return await t.metric("askproai_bookings_total", {"status": "created", "source": "retell"}) == 0


async def wrong_metric_label(t: Target) -> bool:
    await t.send("/api/retell/webhook", event("call_started", new_call_id()))
    return await t.metric("askproai_webhooks_total", {"provider": "retell", "event": "call_started", "status": "processed"}) == 0


async def no_alert_on_calcom_failure(t: Target) -> bool:
    t.calcom.get("/v2/slots").respond(500, json={"statusCode": 500, "message": "Internal server error"})
    result = await t.send("/api/retell/functions/check_availability", function("check_availability", {"date": "2026-01-06"}, new_call_id()))
    assert result.json()["error"] == "calendar_unavailable"
    return not t.gw.alerter.sent


async def alert_per_error(t: Target) -> bool:
    t.calcom.get("/v2/slots").respond(500, json={"statusCode": 500, "message": "Internal server error"})
    for _ in range(3):
        await t.send("/api/retell/functions/check_availability", function("check_availability", {"date": "2026-01-06"}, new_call_id()))
    return len(t.gw.alerter.sent) == 3


async def slow_path(t: Target) -> bool:
    t.calcom.get("/v2/slots").respond(200, json={"status": "success", "data": {"2026-01-06": [{"start": SLOT}]}})
    response = await t.send("/api/retell/functions/check_availability", function("check_availability", {"date": "2026-01-06"}, new_call_id()))
    match = re.fullmatch(r"app;dur=(\d+\.\d{3})", response.headers["Server-Timing"])
    assert match is not None
    return float(match.group(1)) > 500


async def forged_signature_accepted(t: Target) -> bool:
    response = await t.send("/api/retell/webhook", event("call_started", new_call_id()), key="forged-key")
    return response.status_code != 401


async def duplicate_books_twice(t: Target) -> bool:
    route = t.calcom.post("/v2/bookings").respond(201, json={"status": "success", "data": {"uid": "uid_1", "start": SLOT}})
    body = function("book_appointment", {"start": SLOT, "name": "J"}, new_call_id())
    await t.send("/api/retell/functions/book_appointment", body)
    await t.send("/api/retell/functions/book_appointment", body)
    return route.call_count == 2


async def ready_while_calcom_down(t: Target) -> bool:
    t.calcom.get("/v2/event-types/1001").mock(side_effect=httpx.ConnectError("refused"))
    return (await t.client.get("/health/ready")).status_code == 200


async def transcript_in_logs(t: Target) -> bool:
    await t.send("/api/retell/webhook", event("call_ended", new_call_id(), call_status="ended", transcript=TRANSCRIPT))
    return "I need a cleaning" in t.log_text()


async def broken_trace(t: Target) -> bool:
    slots = t.calcom.get("/v2/slots").respond(200, json={"status": "success", "data": {}})
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    text = dumps(function("check_availability", {"date": "2026-01-06"}, new_call_id()))
    headers = {SIGNATURE_HEADER: sign(text, KEY), "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"}
    await t.client.post("/api/retell/functions/check_availability", content=text.encode(), headers=headers)
    return trace_id not in slots.calls.last.request.headers["traceparent"]


class _RecordingTransport(sentry_sdk.transport.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.envelopes: list[Any] = []

    def capture_envelope(self, envelope: Any) -> None:
        self.envelopes.append(envelope)


async def error_not_reported(t: Target) -> bool:
    recorder = _RecordingTransport()
    t.gw.errors = ErrorReporter("http://public@sentry.test/1", enabled=t.gw.errors.enabled, transport=recorder)
    t.calcom.get("/v2/slots").respond(500, json={"statusCode": 500, "message": "Internal server error"})
    await t.send("/api/retell/functions/check_availability", function("check_availability", {"date": "2026-01-06"}, new_call_id()))
    t.gw.errors.flush()
    return not any(item.type == "event" for envelope in recorder.envelopes for item in envelope.items)


async def histogram_buckets_miss_sla(t: Target) -> bool:
    await t.send("/api/retell/webhook", event("call_started", new_call_id()))
    text = (await t.client.get("/api/metrics", headers={"Authorization": f"Bearer {TOKEN}"})).text
    return 'askproai_webhook_processing_duration_seconds_bucket{event="call_started",le="0.5"' not in text.replace('provider="retell",', "")


async def metric_label_cardinality(t: Target) -> bool:
    call_id = new_call_id()
    await t.send("/api/retell/webhook", event("call_started", call_id))
    text = (await t.client.get("/api/metrics", headers={"Authorization": f"Bearer {TOKEN}"})).text
    return f'call_id="{call_id}"' in text


async def metrics_endpoint_down(t: Target) -> bool:
    response = await t.client.get("/api/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    return response.status_code == 500


async def call_analyzed_connection_dropped(t: Target) -> bool:
    try:
        await t.send("/api/retell/webhook", event("call_analyzed", new_call_id(), call_status="ended"))
    except (httpx.RemoteProtocolError, AssertionError):  # a real server closes; httpx's ASGI transport asserts
        return True
    return False


async def correlation_shared_across_calls(t: Target) -> bool:
    first = await t.send("/api/retell/webhook", event("call_started", new_call_id()))
    second = await t.send("/api/retell/webhook", event("call_started", new_call_id()))
    return bool(first.headers["X-Correlation-ID"] == second.headers["X-Correlation-ID"])


async def histogram_in_milliseconds(t: Target) -> bool:
    started = time.perf_counter()
    await t.send("/api/retell/webhook", event("call_started", new_call_id()))
    took = time.perf_counter() - started
    # The gateway's own time is part of the round trip: only a histogram fed milliseconds adds up to more.
    return await t.metric("askproai_webhook_processing_duration_seconds_sum", {"provider": "retell", "event": "call_started"}) > took


async def late_logs(t: Target) -> bool:
    response = await t.send("/api/retell/webhook", event("call_started", new_call_id()))
    assert response.status_code == 204
    return not any(line.get("event") == "call_started" for line in t.gw.logs.lines())  # answered, but not readable yet


async def log_context_shared(t: Target) -> bool:
    async def slow_slots(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.05)  # both calls wait on Cal.com at once: overlapping requests
        return httpx.Response(200, json={"status": "success", "data": {"2026-01-06": [{"start": SLOT}]}})

    t.calcom.get("/v2/slots").mock(side_effect=slow_slots)
    calls = [new_call_id(), new_call_id()]
    await asyncio.gather(*(t.send("/api/retell/functions/check_availability",
                                  function("check_availability", {"date": "2026-01-06"}, c)) for c in calls))
    logged = [line.get("call_id") for line in t.gw.logs.lines() if line.get("event") == "availability_checked"]
    return sorted(logged) != sorted(calls)  # a line written after the await names the other call


async def booking_not_logged(t: Target) -> bool:
    t.calcom.post("/v2/bookings").respond(201, json={"status": "success", "data": {"uid": "uid_1", "start": SLOT}})
    result = await t.send("/api/retell/functions/book_appointment", function("book_appointment", {"start": SLOT, "name": "J"}, new_call_id()))
    assert result.json()["booked"] is True
    return not any(line.get("event") == "booking_created" for line in t.gw.logs.lines())


async def raw_phone_in_alerts(t: Target) -> bool:
    call_id = new_call_id()
    await t.send("/api/retell/webhook", event("call_started", call_id))
    t.calcom.get("/v2/slots").respond(500, json={"statusCode": 500, "message": "Internal server error"})
    await t.send("/api/retell/functions/check_availability", function("check_availability", {"date": "2026-01-06"}, call_id))
    await t.gw.alerter.drain()
    return any(PHONE in json.dumps(build_slack_payload(alert)) for alert in t.gw.alerter.sent)


async def span_error_status_missing(t: Target) -> bool:
    spans = InMemorySpanExporter()
    t.gw.tracing = t.gw.calcom.tracing = GatewayTracing(None, error_status=t.gw.tracing.error_status, exporter=spans)
    t.calcom.get("/v2/slots").respond(500, json={"statusCode": 500, "message": "Internal server error"})
    await t.send("/api/retell/functions/check_availability", function("check_availability", {"date": "2026-01-06"}, new_call_id()))
    [client] = [s for s in spans.get_finished_spans() if s.kind == SpanKind.CLIENT]
    return client.status.status_code is not StatusCode.ERROR and not client.events


async def calcom_errors_not_counted(t: Target) -> bool:
    t.calcom.get("/v2/slots").respond(500, json={"statusCode": 500, "message": "Internal server error"})
    result = await t.send("/api/retell/functions/check_availability", function("check_availability", {"date": "2026-01-06"}, new_call_id()))
    assert result.json()["error"] == "calendar_unavailable"
    return await t.metric("askproai_errors_total", {"type": "calendar_unavailable", "severity": "critical"}) == 0


PROBES: dict[str, Callable[[Target], Awaitable[bool]]] = {
    "correlation-not-echoed": correlation_not_echoed,
    "correlation-per-request": correlation_per_request,
    "correlation-missing-in-logs": correlation_missing_in_logs,
    "raw-phone-in-logs": raw_phone_in_logs,
    "booking-metric-not-incremented": booking_metric_not_incremented,
    "wrong-metric-label": wrong_metric_label,
    "no-alert-on-calcom-failure": no_alert_on_calcom_failure,
    "alert-per-error": alert_per_error,
    "slow-path": slow_path,
    "forged-signature-accepted": forged_signature_accepted,
    "duplicate-books-twice": duplicate_books_twice,
    "ready-while-calcom-down": ready_while_calcom_down,
    "transcript-in-logs": transcript_in_logs,
    "broken-trace": broken_trace,
    "error-not-reported": error_not_reported,
    "histogram-buckets-miss-sla": histogram_buckets_miss_sla,
    "metric-label-cardinality": metric_label_cardinality,
    "metrics-endpoint-down": metrics_endpoint_down,
    "call-analyzed-connection-dropped": call_analyzed_connection_dropped,
    "correlation-shared-across-calls": correlation_shared_across_calls,
    "booking-not-logged": booking_not_logged,
    "raw-phone-in-alerts": raw_phone_in_alerts,
    "span-error-status-missing": span_error_status_missing,
    "calcom-errors-not-counted": calcom_errors_not_counted,
    "histogram-in-milliseconds": histogram_in_milliseconds,
    "late-logs": late_logs,
    "log-context-shared": log_context_shared,
}


@pytest.fixture
def calcom() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=CALCOM, assert_all_called=False) as router:
        yield router


async def _shows(defects: frozenset[str], probe: Callable[[Target], Awaitable[bool]], calcom: respx.MockRouter) -> bool:
    calcom.reset()
    config = GatewayConfig(retell_api_key=KEY, calcom_url=CALCOM, metrics_token=TOKEN, defects=defects)
    app = create_app(config)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        shown = await probe(Target(app, client, calcom))
    await app.state.gateway.alerter.drain()
    return shown


def test_defect_names_are_the_documented_ones() -> None:
    assert set(DEFECTS) == EXPECTED_DEFECTS == set(PROBES)
    assert all(isinstance(text, str) and text and "\n" not in text for text in DEFECTS.values())


def test_public_names_are_pinned() -> None:
    import mocks.gateway
    import mocks.sinks

    assert mocks.gateway.__all__ == ["DEFECTS", "Alert", "AlertPolicy", "Defect", "Gateway", "GatewayConfig", "build_slack_payload",
                                     "create_app", "validate_defects"]
    assert mocks.sinks.__all__ == ["SentryEventStore", "SlackSink", "SpanStore", "create_alertmanager_receiver_app", "create_otlp_app",
                                   "create_sentry_app", "create_sink_app"]
    assert all(hasattr(mocks.gateway, name) for name in mocks.gateway.__all__)


def test_unknown_defect_is_a_config_error_naming_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"no-such-defect.*known defects: .*slow-path"):
        GatewayConfig(retell_api_key=KEY, defects=frozenset({"no-such-defect"}))
    assert GatewayConfig(retell_api_key=KEY, defects=frozenset(DEFECTS)).defects == frozenset(DEFECTS)


def test_config_repr_hides_secrets() -> None:
    config = GatewayConfig(retell_api_key=KEY, calcom_api_key="cal_secret_1", metrics_token=TOKEN, alert_webhook_url="https://hooks.slack.com/services/T/B/X")
    for secret in (KEY, "cal_secret_1", TOKEN, "hooks.slack.com"):
        assert secret not in repr(config)


@pytest.mark.parametrize("defect", sorted(EXPECTED_DEFECTS))
async def test_defect_changes_behaviour(defect: str, calcom: respx.MockRouter) -> None:
    probe = PROBES[defect]
    assert await _shows(frozenset({defect}), probe, calcom), f"{defect}: the seeded defect is not visible"
    assert not await _shows(frozenset(), probe, calcom), f"{defect}: the clean gateway shows the symptom"
