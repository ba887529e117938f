"""The reference gateway's spans reach the OTLP/HTTP receiver, decoded with opentelemetry-proto.

The gateway runs in-process (ASGITransport), Cal.com is a respx stub, and the
receiver is a real loopback server, so the OTLP exporter really sends
``application/x-protobuf`` over HTTP. ``force_flush`` makes export
deterministic; reads still poll with a deadline.
"""

from __future__ import annotations

import base64
import gzip
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from mocks._input import MAX_BODY_BYTES
from mocks._serve import RunningServer, serve_in_thread
from mocks.gateway import GatewayConfig, create_app
from mocks.sinks import create_otlp_app
from mocks.sinks._otlp import decode_export
from probes._signing import SIGNATURE_HEADER, sign
from probes._wire import dumps

KEY = "key_test_tracing_not_a_secret"
CALCOM = "https://cal.tracing.test"
TRACE_ID, PARENT = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"


@pytest.fixture(scope="module")
def receiver() -> Iterator[RunningServer]:
    with serve_in_thread(create_otlp_app()) as server:
        yield server


@pytest.fixture
def calcom() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=CALCOM, assert_all_called=False) as router:
        yield router


def function_body(name: str, args: dict[str, Any], call_id: str) -> dict[str, Any]:
    call = {"call_id": call_id, "call_status": "ongoing", "direction": "inbound", "from_number": "+14155550142", "to_number": "+14155550199"}
    return {"name": name, "args": args, "call": call}


async def call_function(receiver: RunningServer, defects: frozenset[str], traceparent: str | None) -> tuple[httpx.Response, list[dict[str, Any]], str]:
    """One check_availability request; returns the answer, this call's spans and its call_id."""
    app = create_app(GatewayConfig(retell_api_key=KEY, calcom_url=CALCOM, otlp_endpoint=receiver.url, defects=defects))
    call_id = "call_" + uuid.uuid4().hex[:27]
    text = dumps(function_body("check_availability", {"date": "2026-01-06"}, call_id))
    headers = {SIGNATURE_HEADER: sign(text, KEY)} | ({"traceparent": traceparent} if traceparent else {})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        response = await client.post("/api/retell/functions/check_availability", content=text.encode(), headers=headers)
    gw = app.state.gateway
    assert gw.tracing.force_flush()
    spans = wait_for_spans(receiver, call_id)
    gw.tracing.shutdown()
    return response, spans, call_id


def wait_for_spans(receiver: RunningServer, call_id: str, deadline_s: float = 5.0) -> list[dict[str, Any]]:
    """The server span of ``call_id`` and every span of its trace(s), polled with a deadline."""
    until = time.monotonic() + deadline_s
    while True:
        spans = receiver.app.state.store.all()
        servers = [s for s in spans if s["attributes"].get("retell.call_id") == call_id]
        if servers and any(s["kind"] == "CLIENT" for s in spans if s["attributes"].get("callprobe.correlation_id") == servers[0]["attributes"].get("callprobe.correlation_id")):
            correlation = servers[0]["attributes"].get("callprobe.correlation_id")
            return [s for s in spans if s in servers or s["attributes"].get("callprobe.correlation_id") == correlation]
        assert time.monotonic() < until, f"no spans for {call_id} within {deadline_s} s"
        time.sleep(0.02)


def one(spans: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [s for s in spans if s["kind"] == kind]
    assert len(found) == 1, found
    return found[0]


async def test_server_span_continues_traceparent_and_parents_the_calcom_span(receiver: RunningServer, calcom: respx.MockRouter) -> None:
    slots = calcom.get("/v2/slots").respond(200, json={"status": "success", "data": {"2026-01-06": [{"start": "2026-01-06T09:30:00.000Z"}]}})
    response, spans, call_id = await call_function(receiver, frozenset(), f"00-{TRACE_ID}-{PARENT}-01")
    server, client = one(spans, "SERVER"), one(spans, "CLIENT")
    assert (server["trace_id"], server["parent_span_id"]) == (TRACE_ID, PARENT)
    assert (client["trace_id"], client["parent_span_id"]) == (TRACE_ID, server["span_id"])
    assert server["attributes"]["retell.call_id"] == call_id
    assert server["attributes"]["retell.function"] == "check_availability"
    assert server["attributes"]["callprobe.correlation_id"] == response.headers["X-Correlation-ID"]
    assert server["resource"]["service.name"] == "callprobe-reference-gateway"
    assert client["name"] == "calcom GET /v2/slots" and client["status"]["code"] == "UNSET"
    # what went to Cal.com is the CLIENT span's own context
    assert slots.calls.last.request.headers["traceparent"] == f"00-{TRACE_ID}-{client['span_id']}-01"


async def test_without_traceparent_the_server_span_is_a_new_root(receiver: RunningServer, calcom: respx.MockRouter) -> None:
    calcom.get("/v2/slots").respond(200, json={"status": "success", "data": {}})
    _, spans, _ = await call_function(receiver, frozenset(), None)
    server, client = one(spans, "SERVER"), one(spans, "CLIENT")
    assert server["parent_span_id"] is None and server["trace_id"] != TRACE_ID
    assert client["trace_id"] == server["trace_id"] and client["parent_span_id"] == server["span_id"]


async def test_calcom_failure_sets_error_status_and_an_exception_event(receiver: RunningServer, calcom: respx.MockRouter) -> None:
    calcom.get("/v2/slots").respond(500, json={"statusCode": 500, "message": "Internal server error"})
    response, spans, _ = await call_function(receiver, frozenset(), f"00-{TRACE_ID}-{PARENT}-01")
    assert response.json()["error"] == "calendar_unavailable"
    client = one(spans, "CLIENT")
    assert client["status"] == {"code": "ERROR", "message": "calendar_unavailable"}
    assert client["attributes"]["http.response.status_code"] == 500
    assert [e["name"] for e in client["events"]] == ["exception"]


async def test_broken_trace_defect_detaches_the_calcom_span(receiver: RunningServer, calcom: respx.MockRouter) -> None:
    slots = calcom.get("/v2/slots").respond(200, json={"status": "success", "data": {}})
    _, spans, _ = await call_function(receiver, frozenset({"broken-trace"}), f"00-{TRACE_ID}-{PARENT}-01")
    server, client = one(spans, "SERVER"), one(spans, "CLIENT")
    assert server["trace_id"] == TRACE_ID
    assert client["trace_id"] != TRACE_ID and client["parent_span_id"] is None
    assert TRACE_ID not in slots.calls.last.request.headers["traceparent"]


def test_receiver_decodes_otlp_json_and_gzip(receiver: RunningServer) -> None:
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "gw"}}]},
                "scopeSpans": [
                    {
                        "scope": {"name": "s"},
                        "spans": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "parentSpanId": "",
                                "name": "POST /api/retell/webhook", "kind": 2, "startTimeUnixNano": "1544712660000000000",
                                "endTimeUnixNano": "1544712661000000000",
                                "attributes": [{"key": "retell.call_id", "value": {"stringValue": "call_json"}}, {"key": "n", "value": {"intValue": "3"}}],
                                "status": {"code": 2, "message": "boom"},
                            }
                        ],
                    }
                ],
            }
        ]
    }
    raw = gzip.compress(json.dumps(body).encode())
    response = httpx.post(f"{receiver.url}/v1/traces", content=raw, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}, timeout=5)
    assert response.status_code == 200
    spans = httpx.get(f"{receiver.url}/api/spans", params={"after": 0}, timeout=5).json()["spans"]
    span = next(s for s in spans if s["attributes"].get("retell.call_id") == "call_json")
    assert (span["trace_id"], span["span_id"], span["parent_span_id"]) == ("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", None)
    assert (span["kind"], span["status"]["code"], span["attributes"]["n"], span["resource"]["service.name"]) == ("SERVER", "ERROR", 3, "gw")


def test_receiver_rejects_a_body_that_is_not_otlp(receiver: RunningServer) -> None:
    response = httpx.post(f"{receiver.url}/v1/traces", content=b"\xff\xfe not protobuf", headers={"Content-Type": "application/x-protobuf"}, timeout=5)
    assert response.status_code == 400 and "ExportTraceServiceRequest" in response.json()["error"]
    with pytest.raises(ValueError):
        decode_export(b"{not json", "application/json")


def _export(double: float = 1.5) -> ExportTraceServiceRequest:
    """One export with a resource, a scope and a child span carrying every kind of attribute value."""
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.add(key="service.name").value.string_value = "gw"
    ss = rs.scope_spans.add()
    ss.scope.name = "s"
    span = ss.spans.add(trace_id=bytes.fromhex(TRACE_ID), span_id=bytes.fromhex("eee19b7ec3c1b174"),
                        parent_span_id=bytes.fromhex(PARENT), name="calcom GET /v2/slots", kind=3,
                        start_time_unix_nano=1544712660000000000, end_time_unix_nano=1544712661000000000)
    span.status.code, span.status.message = 2, "calendar_unavailable"
    span.attributes.add(key="d").value.double_value = double
    span.attributes.add(key="b").value.bytes_value = b"\x01\xff"
    span.attributes.add(key="a").value.array_value.values.add().int_value = 7
    span.events.add(name="exception").attributes.add(key="exception.type").value.string_value = "HTTPStatusError"
    return request


def _otlp_json(request: ExportTraceServiceRequest) -> bytes:
    """The request as an OTLP/JSON exporter writes it: protobuf's JSON mapping, but ids in hex."""
    doc = MessageToDict(request)
    span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    for key in ("traceId", "spanId", "parentSpanId"):
        span[key] = base64.b64decode(span[key]).hex()
    return json.dumps(doc).encode()


def test_otlp_json_and_protobuf_decode_to_the_same_spans() -> None:
    request = _export()
    from_proto = decode_export(request.SerializeToString(), "application/x-protobuf")
    assert decode_export(_otlp_json(request), "application/json") == from_proto
    [span] = from_proto
    assert (span["trace_id"], span["parent_span_id"], span["kind"]) == (TRACE_ID, PARENT, "CLIENT")
    assert span["attributes"] == {"d": 1.5, "b": "01ff", "a": [7]}


@pytest.mark.parametrize(("double", "rendered"), [(float("nan"), "NaN"), (float("inf"), "Infinity"), (float("-inf"), "-Infinity")])
async def test_non_finite_attribute_values_are_stored_as_otlp_json_writes_them(double: float, rendered: str) -> None:
    # Starlette refuses NaN in JSON: stored raw, one such span made every later read of /api/spans a 500
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_otlp_app()), base_url="http://otlp") as client:
        sent = await client.post("/v1/traces", content=_export(double).SerializeToString(),
                                 headers={"Content-Type": "application/x-protobuf"})
        assert sent.status_code == 200
        [span] = (await client.get("/api/spans")).json()["spans"]
    assert span["attributes"]["d"] == rendered


def _spans_doc(**span: Any) -> dict[str, Any]:
    return {"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "s", **span}]}]}]}


@pytest.mark.parametrize(("body", "reason"), [
    (b"{not json", "Failed to load JSON"),
    (b"[" * 100_000, "Failed to load JSON"),
    (json.dumps({"resourceSpans": 5}).encode(), "repeated field resourceSpans must be in [] which is 5"),
    (json.dumps(_spans_doc(traceId="zz")).encode(), "traceId is not a hex id"),
    (json.dumps(_spans_doc(spanId="5b8efff798038103d269b633813fc60")).encode(), "spanId is not a hex id"),
    (json.dumps(_spans_doc(bogus=1)).encode(), 'no field named "bogus"'),
], ids=["syntax", "deep", "wrong-type", "trace-id", "odd-span-id", "unknown-field"])
async def test_malformed_otlp_json_is_a_one_line_400(body: bytes, reason: str) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_otlp_app()), base_url="http://otlp") as client:
        response = await client.post("/v1/traces", content=body, headers={"Content-Type": "application/json"})
        error = response.json()["error"]
        assert response.status_code == 400 and "\n" not in error and len(error) < 300
        assert error.startswith("not an OTLP ExportTraceServiceRequest: ") and reason in error, error
        assert (await client.get("/api/spans")).json() == {"spans": [], "next": 0}


async def test_otlp_bodies_are_bounded_before_and_after_gzip() -> None:
    bomb = gzip.compress(b"\0" * (MAX_BODY_BYTES + 1))  # ~10 KB that inflates past the limit
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_otlp_app()), base_url="http://otlp") as client:
        big = await client.post("/v1/traces", content=b"\0" * (MAX_BODY_BYTES + 1), headers={"Content-Type": "application/x-protobuf"})
        inflated = await client.post("/v1/traces", content=bomb, headers={"Content-Encoding": "gzip"})
        truncated = await client.post("/v1/traces", content=gzip.compress(b"x")[:-4], headers={"Content-Encoding": "gzip"})
        other = await client.post("/v1/traces", content=b"x", headers={"Content-Encoding": "deflate"})
    assert (big.status_code, inflated.status_code) == (413, 413) and "limit" in inflated.json()["error"]
    assert truncated.status_code == 400 and "not valid gzip" in truncated.json()["error"]
    assert other.status_code == 400 and "Content-Encoding 'deflate' is not supported" in other.json()["error"]
