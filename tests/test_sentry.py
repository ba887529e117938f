"""The reference gateway's error reports reach the Sentry envelope receiver, tagged and PII-free.

sentry-sdk really sends (gzip) envelopes to ``/api/1/envelope/`` on a
loopback receiver; the gateway runs in-process with a respx Cal.com stub.
"""

from __future__ import annotations

import gzip
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
import sentry_sdk.transport
from sentry_sdk.envelope import Envelope, Item

from mocks._input import MAX_BODY_BYTES
from mocks._serve import RunningServer, serve_in_thread
from mocks.gateway import GatewayConfig, create_app
from mocks.gateway._errors_report import ErrorReporter, scrub_event
from mocks.sinks import create_sentry_app
from mocks.sinks._sentry import parse_envelope
from probes._signing import SIGNATURE_HEADER, sign
from probes._wire import dumps

KEY = "key_test_sentry_not_a_secret"
CALCOM = "https://cal.sentry.test"
PHONE = "+14155550142"


@pytest.fixture(scope="module")
def receiver() -> Iterator[RunningServer]:
    with serve_in_thread(create_sentry_app()) as server:
        yield server


@pytest.fixture
def calcom() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=CALCOM, assert_all_called=False) as router:
        router.get("/v2/slots").respond(500, json={"statusCode": 500, "message": "Internal server error"})
        yield router


def dsn(receiver: RunningServer) -> str:
    return f"http://public@{receiver.host}:{receiver.port}/1"


async def failing_availability(receiver: RunningServer, defects: frozenset[str] = frozenset()) -> tuple[str, str]:
    """A check_availability that meets a Cal.com 500; returns (call_id, correlation_id)."""
    app = create_app(GatewayConfig(retell_api_key=KEY, calcom_url=CALCOM, sentry_dsn=dsn(receiver), defects=defects))
    call_id = "call_" + uuid.uuid4().hex[:27]
    call = {"call_id": call_id, "direction": "inbound", "from_number": PHONE, "to_number": "+14155550199", "transcript": "User: my number is 415 555 0142"}
    text = dumps({"name": "check_availability", "args": {"date": "2026-01-06", "phone": PHONE}, "call": call})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        response = await client.post("/api/retell/functions/check_availability", content=text.encode(), headers={SIGNATURE_HEADER: sign(text, KEY)})
    assert response.json()["error"] == "calendar_unavailable"
    app.state.gateway.errors.close()  # flushes the queue
    return call_id, response.headers["X-Correlation-ID"]


def events_for(receiver: RunningServer, call_id: str, deadline_s: float = 0.0) -> list[dict[str, Any]]:
    until = time.monotonic() + deadline_s
    while True:
        found = [e for e in receiver.app.state.store.all() if e["event"].get("tags", {}).get("call_id") == call_id]
        if found or time.monotonic() >= until:
            return found
        time.sleep(0.02)


async def test_calcom_failure_reaches_the_receiver_with_tags_and_no_pii(receiver: RunningServer, calcom: respx.MockRouter) -> None:
    call_id, correlation = await failing_availability(receiver)
    [stored] = events_for(receiver, call_id, deadline_s=5.0)
    event = stored["event"]
    assert stored["project"] == "1"
    assert event["tags"] == {"call_id": call_id, "correlation_id": correlation, "error_type": "calendar_unavailable", "endpoint": "/api/retell/functions/check_availability"}
    assert event["level"] == "error"
    assert event["exception"]["values"][-1]["type"] == "CalcomFailure"
    assert event["exception"]["values"][-1]["value"] == "GET /v2/slots answered 500"
    text = json.dumps(event)
    assert "4155550142" not in text and "415 555 0142" not in text and "my number is" not in text
    assert "user" not in event and "request" not in event


async def test_error_not_reported_defect_sends_nothing(receiver: RunningServer, calcom: respx.MockRouter) -> None:
    call_id, _ = await failing_availability(receiver, frozenset({"error-not-reported"}))
    assert events_for(receiver, call_id) == []  # close() flushed: nothing is on its way


def test_gateways_in_one_process_do_not_share_tags() -> None:
    sent: list[Any] = []

    class Transport(sentry_sdk.transport.Transport):
        def capture_envelope(self, envelope: Any) -> None:
            sent.append(envelope.get_event())

    a = ErrorReporter("http://public@a.test/1", transport=Transport())
    b = ErrorReporter("http://public@b.test/2", transport=Transport())
    a.capture_exception(RuntimeError("a"), tags={"call_id": "call_a", "correlation_id": "corr-a"})
    b.capture_exception(RuntimeError("b"), tags={"call_id": "call_b", "correlation_id": None})
    a.close()
    b.close()
    assert [e["tags"] for e in sent] == [{"call_id": "call_a", "correlation_id": "corr-a"}, {"call_id": "call_b"}]


def test_scrub_masks_numbers_and_drops_transcripts() -> None:
    event = {"message": "caller +1 (415) 555-0142 said", "extra": {"transcript": "hi", "call_id": "call_abc123"}, "user": {"id": 1}}
    assert scrub_event(event, {}) == {"message": "caller [phone] said", "extra": {"call_id": "call_abc123"}}


def test_envelope_parser_handles_sized_and_unsized_items() -> None:
    body = b'{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","dsn":"https://public@sentry.example.com/1"}\n' \
        b'{"type":"attachment","length":10,"content_type":"text/plain","filename":"hello.txt"}\n\xef\xbb\xbfHello\r\n\n' \
        b'{"type":"event","content_type":"application/json","filename":"application.log"}\n{"message":"hello world","level":"error"}\n'
    header, events = parse_envelope(body)  # the 10-byte attachment (with its own CRLF) is skipped, by its length
    assert header["event_id"] == "9ec79c33ec9942ab8353589fcb2e04dc"
    assert events == [{"message": "hello world", "level": "error"}]


def test_receiver_accepts_gzip_and_rejects_garbage(receiver: RunningServer) -> None:
    envelope = b'{"event_id":"a"}\n{"type":"event"}\n{"message":"gz","tags":{"call_id":"call_gzip"}}\n'
    url = f"{receiver.url}/api/7/envelope/"
    ok = httpx.post(url, content=gzip.compress(envelope), headers={"Content-Encoding": "gzip"}, timeout=5)
    assert ok.status_code == 200
    [stored] = events_for(receiver, "call_gzip")
    assert stored["project"] == "7"
    bad = httpx.post(url, content=b"not json\n", timeout=5)
    assert bad.status_code == 400 and bad.json()["detail"].startswith("invalid envelope: Expecting value")


def test_the_receiver_reads_what_sentry_sdk_writes() -> None:
    envelope = Envelope(headers={"event_id": "9ec79c33ec9942ab8353589fcb2e04dc"})
    envelope.add_event({"message": "boom", "tags": {"call_id": "call_sdk"}, "extra": {"ratio": 0.5}})
    envelope.add_item(Item(payload=b"\n\nraw\n", type="attachment"))
    envelope.add_session({"sid": "s", "status": "ok"})
    header, events = parse_envelope(envelope.serialize())
    assert header == {"event_id": "9ec79c33ec9942ab8353589fcb2e04dc"}
    assert events == [{"message": "boom", "tags": {"call_id": "call_sdk"}, "extra": {"ratio": 0.5}}]


@pytest.mark.parametrize(("body", "reason"), [
    (b"", "invalid envelope: Expecting value"),
    (b"5\n", "invalid envelope: a header is not a JSON object"),
    (b'[["event_id", "x", "y"]]\n', "invalid envelope: dictionary update sequence element #0 has length 3"),
    (b'{}\n["not", "a", "header"]\n{}\n', "invalid envelope: a header is not a JSON object"),
    (b'{}\n{"type": "event", "length": "ten"}\n{}\n', "invalid envelope: a header is not a JSON object or an item length"),
    (b'{}\n{"type": "event", "length": 100000000000000000000000}\n{}\n', "invalid envelope: a header is not a JSON"),
    (b'{}\n{"type": "event"}\n[1, 2]\n', "invalid envelope: item 0 (an event) is not a JSON object"),
    (b'{}\n{"type": "event"}\n{"extra": {"x": NaN}}\n', "invalid envelope: JSON number out of range (nan)"),
    (b'{}\n{"type": "event"}\n{"a":' + b"[" * 500 + b"]" * 500 + b"}\n", "invalid envelope: JSON nested deeper than 100 levels"),
    (b'{}\n{"type": "event"}\n' + b"[" * 100_000 + b"\n", "invalid envelope: maximum recursion depth exceeded"),
], ids=["empty", "header-number", "header-list", "item-header-list", "length-text", "length-huge", "event-list", "nan", "deep", "very-deep"])
async def test_malformed_envelopes_are_a_one_line_400_and_store_nothing(body: bytes, reason: str) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_sentry_app()), base_url="http://sentry") as client:
        response = await client.post("/api/1/envelope/", content=body)
        detail = response.json()["detail"]
        assert response.status_code == 400 and "\n" not in detail and detail.startswith(reason), detail
        assert (await client.get("/api/events")).json() == {"events": [], "next": 0}


async def test_envelopes_are_bounded_before_and_after_gzip() -> None:
    bomb = gzip.compress(b"{}\n" + b" " * MAX_BODY_BYTES)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_sentry_app()), base_url="http://sentry") as client:
        big = await client.post("/api/1/envelope/", content=b" " * (MAX_BODY_BYTES + 1))
        inflated = await client.post("/api/1/envelope/", content=bomb, headers={"Content-Encoding": "gzip"})
    assert (big.status_code, inflated.status_code) == (413, 413)
    assert "limit" in big.json()["detail"] and "limit" in inflated.json()["detail"]
