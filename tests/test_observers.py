"""Observers read canned answers through httpx.MockTransport: no sockets, no sleeps."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from probes._calcom import CalcomRule, CalcomScript, Fault, JournalEntry
from probes._errors import ObserverError
from probes._observers import (
    CalcomJournal,
    GatewayLogStream,
    JsonLinesFile,
    MetricsScraper,
    SlackSink,
    parse_exposition,
    parse_received_at,
    poll_until,
)

TOKEN = "s3cret-metrics-token"

EXPOSITION = """\
# HELP askproai_webhooks_total Retell requests by event and outcome
# TYPE askproai_webhooks_total counter
askproai_webhooks_total{event="call_started",provider="retell",status="processed"} 1.0
askproai_webhooks_total{event="call_ended",provider="retell",status="processed"} 2.0
# HELP askproai_webhooks_created Retell requests by event and outcome
# TYPE askproai_webhooks_created gauge
askproai_webhooks_created{event="call_started",provider="retell",status="processed"} 1.7673696e+09
# HELP askproai_webhook_processing_duration_seconds Time to process one Retell request
# TYPE askproai_webhook_processing_duration_seconds histogram
askproai_webhook_processing_duration_seconds_bucket{event="call_started",le="0.005",provider="retell"} 0.0
askproai_webhook_processing_duration_seconds_bucket{event="call_started",le="0.5",provider="retell"} 1.0
askproai_webhook_processing_duration_seconds_bucket{event="call_started",le="+Inf",provider="retell"} 1.0
askproai_webhook_processing_duration_seconds_count{event="call_started",provider="retell"} 1.0
askproai_webhook_processing_duration_seconds_sum{event="call_started",provider="retell"} 0.0123
# HELP askproai_webhook_processing_duration_seconds_created Time to process one Retell request
# TYPE askproai_webhook_processing_duration_seconds_created gauge
askproai_webhook_processing_duration_seconds_created{event="call_started",provider="retell"} 1.7673696e+09
# HELP askproai_bookings_total Booking outcomes
# TYPE askproai_bookings_total counter
askproai_bookings_total{source="retell",status="created"} 1.0
askproai_bookings_total{source="retell",status="failed"} 0.0
# HELP askproai_errors_total Errors by type and severity
# TYPE askproai_errors_total counter
askproai_errors_total{severity="warning",type="invalid_signature"} 3.0
"""

Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler), timeout=2.0)


# -- metrics ------------------------------------------------------------------------


def test_parse_exposition_keeps_counters_and_histograms_and_drops_created() -> None:
    snap = parse_exposition(EXPOSITION, taken_at=12.5)
    assert snap.taken_at == 12.5
    assert snap.value("askproai_webhooks_total", {"event": "call_started"}) == 1.0
    assert snap.value("askproai_webhooks_total", {"provider": "retell"}) == 3.0
    assert snap.value("askproai_webhook_processing_duration_seconds_bucket", {"event": "call_started", "le": "0.5"}) == 1.0
    assert snap.value("askproai_webhook_processing_duration_seconds_bucket", {"le": "+Inf"}) == 1.0
    assert snap.value("askproai_webhook_processing_duration_seconds_count") == 1.0
    assert snap.value("askproai_webhook_processing_duration_seconds_sum") == pytest.approx(0.0123)
    assert not any(name.endswith("_created") for name, _ in snap.samples)
    assert sorted(ls["status"] for ls in snap.label_sets("askproai_bookings_total")) == ["created", "failed"]


async def test_scraper_sends_the_bearer_token_and_parses() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text=EXPOSITION, headers={"Content-Type": "text/plain; version=0.0.4"})

    async with client(handler) as http:
        snap = await MetricsScraper("http://gw.test/api/metrics", TOKEN, http).snapshot()
    assert seen[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert snap.value("askproai_errors_total", {"type": "invalid_signature"}) == 3.0
    assert snap.taken_at > 0


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(401, text="unauthorized"), "answered 401, the credentials were refused (check the bearer token)"),
        (httpx.Response(403), "answered 403, the credentials were refused (check the bearer token)"),
        (httpx.Response(500, text="boom"), "answered 500, expected 2xx"),
        (httpx.Response(200, text="<html><body>login</body></html>"), "the answer is not Prometheus text ("),
    ],
)
async def test_scraper_errors_name_the_endpoint_never_the_token(response: httpx.Response, message: str) -> None:
    async with client(lambda request: response) as http:
        scraper = MetricsScraper(f"http://user:pw@gw.test:8080/api/metrics?token={TOKEN}", TOKEN, http)
        with pytest.raises(ObserverError) as err:
            await scraper.snapshot()
    text = str(err.value)
    assert text.startswith("metrics endpoint at http://gw.test:8080/api/metrics: ")
    assert message in text
    assert TOKEN not in text and "pw" not in text


async def test_scraper_connection_refused_and_timeout() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    async with client(refuse) as http:
        with pytest.raises(ObserverError, match=r"^metrics endpoint at http://gw\.test/api/metrics: cannot connect "
                                                r"\(ConnectError: \[Errno 111\] Connection refused\)$"):
            await MetricsScraper("http://gw.test/api/metrics", TOKEN, http).snapshot()
    async with client(slow) as http:
        with pytest.raises(ObserverError, match=r"metrics endpoint at http://gw\.test/api/metrics: no answer before the timeout$"):
            await MetricsScraper("http://gw.test/api/metrics", TOKEN, http, timeout=0.5).snapshot()


# -- gateway log stream ---------------------------------------------------------------

LOG_LINES = [
    {"seq": 1, "timestamp": "2026-01-02T16:00:00.041Z", "level": "INFO", "event": "call_started", "message": "call started",
     "correlation_id": "c-1", "call_id": "call_a", "company_id": "cmp_1", "phone_hash": "sha256:0123456789ab"},
    {"seq": 2, "timestamp": "2026-01-02T16:00:00.052Z", "level": "INFO", "event": "availability_checked",
     "message": "3 slots", "correlation_id": "c-1", "call_id": "call_a", "company_id": "cmp_1"},
]


def log_server(lines: list[dict[str, object]], requests: list[httpx.Request]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        after = int(request.url.params["after"])
        page = [line for line in lines if int(str(line["seq"])) > after]
        return httpx.Response(200, json={"lines": page, "next": page[-1]["seq"] if page else after})

    return handler


async def test_log_stream_marks_then_reads_only_new_lines() -> None:
    lines = list(LOG_LINES)
    requests: list[httpx.Request] = []
    async with client(log_server(lines, requests)) as http:
        stream = GatewayLogStream("http://gw.test/api/logs", TOKEN, http)
        mark = await stream.mark()
        assert mark == 2
        lines.append({**LOG_LINES[1], "seq": 3, "event": "booking_created"})
        got, cursor = await stream.read(mark)
    assert cursor == 3
    assert [line.record["event"] for line in got] == ["booking_created"]
    assert json.loads(got[0].raw) == lines[2]
    assert got[0].seen_at > 0
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in requests)


async def test_log_stream_bad_shape_is_an_observer_error() -> None:
    async with client(lambda request: httpx.Response(200, json={"items": []})) as http:
        with pytest.raises(ObserverError) as err:
            await GatewayLogStream("http://gw.test/api/logs?x=1", TOKEN, http).read(0)
    assert str(err.value) == 'log stream at http://gw.test/api/logs: expected {"lines": [...], "next": <int>}, got [\'items\']'


# -- JSON-lines file --------------------------------------------------------------------


async def test_json_lines_file_skips_a_partial_last_line(tmp_path: Path) -> None:
    path = tmp_path / "gateway.log"
    path.write_text(json.dumps(LOG_LINES[0]) + "\n", encoding="utf-8")
    source = JsonLinesFile(path)
    mark = await source.mark()
    assert mark == path.stat().st_size
    with path.open("a", encoding="utf-8") as handle:
        handle.write("plain text, not JSON\n" + json.dumps(LOG_LINES[1]) + "\n" + '{"event": "half')
    got, cursor = await source.read(mark)
    assert [(line.record.get("event"), line.raw) for line in got] == [
        (None, "plain text, not JSON"),
        ("availability_checked", json.dumps(LOG_LINES[1])),
    ]
    assert got[0].record == {}
    with path.open("a", encoding="utf-8") as handle:
        handle.write('_written"}\n')
    rest, end = await source.read(cursor)
    assert [line.record for line in rest] == [{"event": "half_written"}]
    assert end == path.stat().st_size


async def test_json_lines_file_missing_then_rotated(tmp_path: Path) -> None:
    path = tmp_path / "later.log"
    source = JsonLinesFile(path)
    assert await source.mark() == 0
    assert await source.read(0) == ([], 0)
    path.write_text('{"event":"a"}\n', encoding="utf-8")
    got, cursor = await source.read(10_000)  # the file shrank below the cursor: it was rotated
    assert [line.record for line in got] == [{"event": "a"}] and cursor == path.stat().st_size


async def test_json_lines_file_in_a_folder_that_does_not_exist_is_a_wrong_path(tmp_path: Path) -> None:
    source = JsonLinesFile(tmp_path / "no-such-folder" / "gateway.log")
    with pytest.raises(ObserverError, match=r"gateway.log: its folder .*no-such-folder does not exist \(check logs.path"):
        await source.mark()


# -- alert sink ---------------------------------------------------------------------------


async def test_slack_sink_reads_posts_with_their_received_time() -> None:
    messages = [
        {"seq": 1, "received_at": 1767369600.25, "path": "/slack/T0/B0/x", "json": {"text": ":rotating_light: calendar_unavailable"}},
        {"seq": 2, "received_at": "2026-01-02T16:00:01.500Z", "path": "/slack/T0/B0/x", "json": {"text": "second"}},
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        after = int(request.url.params["after"])
        page = [m for m in messages if int(str(m["seq"])) > after]
        return httpx.Response(200, json={"messages": page, "next": page[-1]["seq"] if page else after})

    async with client(handler) as http:
        sink = SlackSink("http://sink.test/api/messages", http)
        posts, cursor = await sink.read(0)
        assert await sink.mark() == 2
    assert cursor == 2
    assert [p.payload["text"] for p in posts] == [":rotating_light: calendar_unavailable", "second"]
    assert posts[0].seen_at == 1767369600.25
    assert posts[1].seen_at == pytest.approx(1767369601.5)


def test_parse_received_at() -> None:
    assert parse_received_at(3) == 3.0
    assert parse_received_at("2026-01-02T16:00:00Z") == 1767369600.0
    assert parse_received_at("yesterday") is None
    assert parse_received_at(True) is None


# -- Cal.com journal ---------------------------------------------------------------------------

JOURNAL = [
    {"seq": 1, "at": 1767369600.1, "method": "GET", "path": "/v2/slots", "query": {"eventTypeId": "1001"},
     "headers": {"authorization": "[redacted]"}, "body": None, "status": 200, "response": {"status": "success"},
     "duration_ms": 3.2, "endpoint": "slots", "fault": None, "correlation_id": "c-1", "traceparent": None},
    {"seq": 2, "at": 1767369600.2, "method": "POST", "path": "/v2/bookings", "query": {}, "headers": {},
     "body": {"eventTypeId": 1001}, "status": 201, "response": {"status": "success"}, "duration_ms": 5.0,
     "endpoint": "bookings.create", "correlation_id": "c-1"},
]


async def test_calcom_journal_admin_calls_and_reads() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.url.path == "/__admin/journal":
            after = int(request.url.params["after"])
            page = [e for e in JOURNAL if int(str(e["seq"])) > after]
            return httpx.Response(200, json={"entries": page, "next": page[-1]["seq"] if page else after})
        return httpx.Response(204 if request.method == "PUT" else 200, json=None if request.method == "PUT" else {"status": "reset"})

    script = CalcomScript(rules=[CalcomRule(endpoint="bookings.create", fault=Fault.SLOT_TAKEN, times=1)])
    async with client(handler) as http:
        journal = CalcomJournal("http://calcom.test", http)
        await journal.reset()
        await journal.set_script(script)
        entries, cursor = await journal.read(0)
        assert await journal.mark() == 2
    assert [(r.method, r.url.path) for r in requests[:2]] == [("POST", "/__admin/reset"), ("PUT", "/__admin/script")]
    assert json.loads(requests[1].content) == script.model_dump(mode="json")
    assert cursor == 2
    assert all(isinstance(e, JournalEntry) for e in entries)
    assert [(e.endpoint, e.correlation_id) for e in entries] == [("slots", "c-1"), ("bookings.create", "c-1")]


async def test_calcom_journal_bad_entry_names_the_field() -> None:
    body = {"entries": [{"seq": 1, "method": "GET"}], "next": 1}
    async with client(lambda request: httpx.Response(200, json=body)) as http:
        with pytest.raises(ObserverError, match=r"^Cal\.com journal at http://calcom\.test/__admin/journal: "
                                                r"an entry does not fit JournalEntry \(at: Field required\)$"):
            await CalcomJournal("http://calcom.test/", http).read(0)


# -- polling -------------------------------------------------------------------------------------


async def test_poll_until_stops_as_soon_as_done() -> None:
    fetched: list[int] = []

    async def fetch() -> None:
        fetched.append(len(fetched))

    assert await poll_until(fetch, lambda: len(fetched) >= 3, deadline_s=5, interval_s=0) is True
    assert len(fetched) == 3


async def test_poll_until_fetches_once_and_gives_up_at_the_deadline() -> None:
    fetched: list[int] = []

    async def fetch() -> None:
        fetched.append(1)

    assert await poll_until(fetch, lambda: False, deadline_s=0) is False
    assert fetched == [1]
