"""Trace and error observers against their backends' documented response shapes (no sockets).

Samples follow the Jaeger query service (``/api/traces``, the JSON of
jaeger-ui's ``Trace``), Tempo's ``/api/search`` and ``/api/traces/{id}``
(OTLP JSON under ``batches``, ids base64 as protobuf's JSON mapping writes
them), and callprobe's own receivers.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from probes._errors import ObserverError
from probes._observers import JaegerQuery, SentrySink, SpanSink, TempoQuery

TRACE = "f8f4a7b7d1c3e2a19f0e6d5c4b3a2918"

JAEGER_TRACES = {
    "data": [
        {
            "traceID": TRACE,
            "spans": [
                {
                    "traceID": TRACE, "spanID": "a1b2c3d4e5f60718", "flags": 1, "operationName": "POST /api/retell/functions/check_availability",
                    "references": [{"refType": "CHILD_OF", "traceID": TRACE, "spanID": "00f067aa0ba902b7"}],
                    "startTime": 1767369600041000, "duration": 12450,
                    "tags": [
                        {"key": "span.kind", "type": "string", "value": "server"},
                        {"key": "retell.call_id", "type": "string", "value": "call_abc"},
                        {"key": "callprobe.correlation_id", "type": "string", "value": "corr-1"},
                        {"key": "http.response.status_code", "type": "int64", "value": 200},
                    ],
                    "logs": [], "processID": "p1", "warnings": None,
                },
                {
                    "traceID": TRACE, "spanID": "1122334455667788", "flags": 1, "operationName": "calcom GET /v2/slots",
                    "references": [{"refType": "CHILD_OF", "traceID": TRACE, "spanID": "a1b2c3d4e5f60718"}],
                    "startTime": 1767369600043000, "duration": 9000,
                    "tags": [
                        {"key": "span.kind", "type": "string", "value": "client"},
                        {"key": "otel.status_code", "type": "string", "value": "ERROR"},
                        {"key": "error", "type": "bool", "value": True},
                    ],
                    "logs": [{"timestamp": 1767369600052000, "fields": [{"key": "event", "type": "string", "value": "exception"}]}],
                    "processID": "p1", "warnings": None,
                },
            ],
            "processes": {"p1": {"serviceName": "callprobe-reference-gateway", "tags": [{"key": "telemetry.sdk.language", "type": "string", "value": "python"}]}},
            "warnings": None,
        }
    ],
    "total": 0, "limit": 0, "offset": 0, "errors": None,
}

TEMPO_SEARCH = {
    "traces": [
        {"traceID": TRACE, "rootServiceName": "callprobe-reference-gateway", "rootTraceName": "POST /api/retell/webhook",
         "startTimeUnixNano": "1767369600041000000", "durationMs": 12}
    ],
    "metrics": {"inspectedTraces": 1, "inspectedBytes": "1024"},
}

TEMPO_TRACE = {
    "batches": [
        {
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "callprobe-reference-gateway"}}]},
            "scopeSpans": [
                {
                    "scope": {"name": "mocks.gateway"},
                    "spans": [
                        {
                            "traceId": "+PSnt9HD4qGfDm1cSzopGA==", "spanId": "obLD1OX2Bxg=", "parentSpanId": "APBnqgupArc=",
                            "name": "POST /api/retell/webhook", "kind": "SPAN_KIND_SERVER",
                            "startTimeUnixNano": "1767369600041000000", "endTimeUnixNano": "1767369600053450000",
                            "attributes": [{"key": "retell.call_id", "value": {"stringValue": "call_abc"}},
                                           {"key": "http.response.status_code", "value": {"intValue": "204"}}],
                            "status": {},
                        },
                        {
                            "traceId": "+PSnt9HD4qGfDm1cSzopGA==", "spanId": "ESIzRFVmd4g=", "parentSpanId": "obLD1OX2Bxg=",
                            "name": "calcom GET /v2/slots", "kind": "SPAN_KIND_CLIENT",
                            "startTimeUnixNano": "1767369600043000000", "endTimeUnixNano": "1767369600052000000",
                            "attributes": [], "status": {"code": "STATUS_CODE_ERROR", "message": "calendar_unavailable"},
                        },
                    ],
                }
            ],
        }
    ]
}


def client_for(handler: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def test_jaeger_spans_are_normalised_and_read_once() -> None:
    asked: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.url)
        return httpx.Response(200, json=JAEGER_TRACES)

    async with client_for(handler) as client:
        jaeger = JaegerQuery("http://jaeger:16686", "callprobe-reference-gateway", client)
        cursor = await jaeger.mark()
        spans, nxt = await jaeger.read(cursor)
        again, _ = await jaeger.read(nxt)
    assert asked[0].path == "/api/traces" and asked[0].params["service"] == "callprobe-reference-gateway"
    assert int(asked[0].params["start"]) == cursor and int(asked[0].params["end"]) > cursor
    server, calcom = spans
    assert (server.trace_id, server.span_id, server.parent_id, server.kind) == (TRACE, "a1b2c3d4e5f60718", "00f067aa0ba902b7", "SERVER")
    assert server.attributes["retell.call_id"] == "call_abc" and server.service == "callprobe-reference-gateway"
    assert (server.start_ns, server.end_ns) == (1767369600041000000, 1767369600053450000)
    assert (calcom.kind, calcom.parent_id, calcom.error, server.error) == ("CLIENT", server.span_id, True, False)
    assert again == []  # the window is asked again, spans already returned are not repeated


async def test_jaeger_trace_by_id_and_bad_shape() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == f"/api/traces/{TRACE}":
            return httpx.Response(200, json=JAEGER_TRACES)
        return httpx.Response(200, json={"traces": []})

    async with client_for(handler) as client:
        jaeger = JaegerQuery("http://jaeger:16686/", "gw", client)
        assert len(await jaeger.trace(TRACE)) == 2
        with pytest.raises(ObserverError, match=r"Jaeger query at http://jaeger:16686/: expected \{\"data\": \[traces\]\}, got \['traces'\]"):
            await jaeger.read(0)


async def test_tempo_search_then_fetch_decodes_base64_ids() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/search":
            assert request.url.params["tags"] == "service.name=callprobe-reference-gateway"
            return httpx.Response(200, json=TEMPO_SEARCH)
        assert request.url.path == f"/api/traces/{TRACE}"
        return httpx.Response(200, json=TEMPO_TRACE)

    async with client_for(handler) as client:
        tempo = TempoQuery("http://tempo:3200", "callprobe-reference-gateway", client)
        spans, _ = await tempo.read(await tempo.mark())
    server, calcom = spans
    assert (server.trace_id, server.span_id, server.parent_id) == (TRACE, "a1b2c3d4e5f60718", "00f067aa0ba902b7")
    assert (server.kind, server.attributes, server.error) == ("SERVER", {"retell.call_id": "call_abc", "http.response.status_code": 204}, False)
    assert (calcom.kind, calcom.parent_id, calcom.error) == ("CLIENT", server.span_id, True)


async def test_span_sink_pages_with_its_cursor() -> None:
    span = {"trace_id": TRACE, "span_id": "a1b2c3d4e5f60718", "parent_span_id": None, "name": "POST /api/retell/webhook", "kind": "SERVER",
            "start_time_unix_nano": 1, "end_time_unix_nano": 2, "attributes": {"retell.call_id": "call_abc"},
            "status": {"code": "ERROR", "message": "x"}, "events": [], "resource": {"service.name": "gw"}, "scope": "s", "seq": 3, "received_at": 1767369600.5}

    def handler(request: httpx.Request) -> httpx.Response:
        after = int(request.url.params["after"])
        return httpx.Response(200, json={"spans": [span] if after < 3 else [], "next": 3})

    async with client_for(handler) as client:
        sink = SpanSink("http://otlp:4318", client)
        [got], nxt = await sink.read(0)
    assert nxt == 3 and (got.trace_id, got.parent_id, got.error, got.service, got.seen_at) == (TRACE, None, True, "gw", 1767369600.5)


async def test_sentry_sink_reads_tags_in_both_wire_forms() -> None:
    events = [
        {"seq": 1, "received_at": 1767369600.0, "project": "1", "event": {"event_id": "e1", "level": "error", "tags": {"call_id": "call_a", "correlation_id": "c-1"}}},
        {"seq": 2, "received_at": 1767369601.0, "project": "1", "event": {"event_id": "e2", "level": "warning", "tags": [["call_id", "call_b"], ["x", None]]}},
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        after = int(request.url.params["after"])
        return httpx.Response(200, json={"events": [e for e in events if e["seq"] > after], "next": 2})

    async with client_for(handler) as client:
        got, nxt = await SentrySink("http://sentry:9000", client).read(0)
    assert nxt == 2 and [(e.event_id, dict(e.tags)) for e in got] == [("e1", {"call_id": "call_a", "correlation_id": "c-1"}), ("e2", {"call_id": "call_b"})]


async def test_sentry_sink_names_a_bad_answer() -> None:
    async with client_for(lambda r: httpx.Response(200, content=json.dumps({"events": [{"seq": 1}], "next": 1}))) as client:
        with pytest.raises(ObserverError, match="Sentry receiver at http://sentry:9000/api/events: an entry has no event object"):
            await SentrySink("http://sentry:9000", client).read(0)
