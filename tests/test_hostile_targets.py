"""Hostile targets: an answer that never ends, one of 50 MB, a series exposed twice, control bytes in answers and logs.

Each target is a raw HTTP server on 127.0.0.1 in the test's own event loop
that answers every request (Retell requests, the metrics scrape, the log
stream) the same hostile way. The probe must end within a bound, with a
failed scenario whose reasons name the endpoint, and print nothing a terminal
would obey. Timeouts are per read in httpx, so before every request had an
overall deadline the endless answer hung the probe; a 50 MB answer was read
whole and quoted.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from test_checks import make_evidence, make_scenario

from probes._bounded import MAX_ANSWER_BYTES, MAX_SOURCE_BYTES
from probes._checks import run_checks
from probes._errors import ObserverError
from probes._evidence import MetricsSnapshot, Verdict
from probes._observers import parse_exposition
from probes._observers._http import request_json
from probes._probe import probe
from probes._profile import Contract, TargetProfile
from probes._redact import Redactor
from probes._report import format_failure
from probes._scenario import parse_scenario
from probes._timeline import build_timelines, timeline_to_text

Respond = Callable[[bytes, asyncio.StreamWriter], Awaitable[None]]
SCENARIO = parse_scenario({"name": "hostile", "steps": [{"event": "call_started"}]})
BOUND_S = 20.0  # the whole probe; it ends in a few seconds when every request has a deadline
RAW_CONTROLS = ("\x1b", "\x07", "\x9b", "\r", "\u202e")


@asynccontextmanager
async def raw_server(respond: Respond) -> AsyncIterator[str]:
    """Answer every request on 127.0.0.1 with ``respond(request head, writer)``; yields the base URL."""
    handlers: set[asyncio.Task[Any]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0)
            await reader.readexactly(length)
            await respond(head, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()
            handlers.discard(task)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        for task in list(handlers):
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)


def _profile(url: str) -> TargetProfile:
    return TargetProfile(name="hostile", base_url=url, demo_secrets=True, request_timeout_s=0.5, telemetry_deadline_s=0.3,
                         quiet_period_s=0)


async def _probe(url: str) -> tuple[Verdict, float]:
    started = time.monotonic()
    async with asyncio.timeout(BOUND_S):
        verdict = await probe(SCENARIO, _profile(url))
    return verdict, time.monotonic() - started


def _reasons(verdict: Verdict, check: str) -> list[str]:
    return [r.reason for r in verdict.failures if r.check == check]


async def _endless(head: bytes, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n")
    while True:  # one byte now and then: never a read timeout, never an end
        writer.write(b"1\r\n \r\n")
        await writer.drain()
        await asyncio.sleep(0.02)


async def _huge(head: bytes, writer: asyncio.StreamWriter) -> None:
    size = 50 * 1024 * 1024
    status = b"200 OK" if head.startswith(b"GET") else b"500 Internal Server Error"  # evidence sources read on success only
    writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % size)
    piece = b"x" * (1024 * 1024)
    for _ in range(size // len(piece)):
        writer.write(piece)
        await writer.drain()


async def test_an_endless_answer_ends_at_the_request_deadline() -> None:
    async with raw_server(_endless) as url:
        verdict, took = await _probe(url)
    assert not verdict.passed and took < BOUND_S
    reachable = _reasons(verdict, "target-reachable")
    assert reachable and all("POST /api/retell/webhook" in r and "no complete answer within 0.5 s (status 200 came" in r
                             for r in reachable), reachable
    telemetry = " ".join(_reasons(verdict, "telemetry-reachable"))
    assert f"metrics endpoint at {url}/api/metrics: no complete answer within 0.5 s" in telemetry, telemetry
    assert f"log stream at {url}/api/logs: no complete answer within 0.5 s" in telemetry, telemetry


async def test_a_50_mb_answer_is_read_no_further_than_the_limit_and_quoted_in_a_line() -> None:
    async with raw_server(_huge) as url:
        verdict, took = await _probe(url)
    assert not verdict.passed and took < BOUND_S
    reachable = _reasons(verdict, "target-reachable")
    assert reachable and all(f"answered 500 with more than {MAX_ANSWER_BYTES:,} bytes; callprobe read no further" in r
                             for r in reachable), reachable
    telemetry = " ".join(_reasons(verdict, "telemetry-reachable"))
    assert f"metrics endpoint at {url}/api/metrics: the answer is larger than {MAX_SOURCE_BYTES:,} bytes" in telemetry, telemetry
    assert f"log stream at {url}/api/logs: the answer is larger than {MAX_SOURCE_BYTES:,} bytes" in telemetry, telemetry
    assert all(len(x.response_body) <= MAX_ANSWER_BYTES for x in verdict.evidence.exchanges)
    text = format_failure(verdict) + timeline_to_text(build_timelines(verdict))
    assert len(text) < 20_000, len(text)


async def _controls(head: bytes, writer: asyncio.StreamWriter) -> None:
    nasty = "\x1b[2J\x1b]0;pwned\x07 \x9b31m red\r ok \u202eevil"
    if head.startswith(b"GET /api/logs"):
        line = {"level": "ERROR\x1b[5m", "event": "booking_failed", "message": nasty}
        body = json.dumps({"lines": [line], "next": 1}).encode()
        status = b"200 OK"
    elif head.startswith(b"GET /api/metrics"):
        body = f'# TYPE m counter\nm_total{{x="{nasty}"}} 1\n'.encode()
        status = b"200 OK"
    else:
        body = json.dumps({"error": nasty}, ensure_ascii=False).encode()
        status = b"500 Internal Server Error"
    writer.write(b"HTTP/1.1 " + status + b"\r\nX-Correlation-ID: \x1b[31mred\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    await writer.drain()


async def test_control_bytes_from_a_target_are_escaped_in_everything_printed() -> None:
    async with raw_server(_controls) as url:
        verdict, _ = await _probe(url)
    assert not verdict.passed
    text = format_failure(verdict) + "\n" + timeline_to_text(build_timelines(verdict))
    assert not [c for c in RAW_CONTROLS if c in text], text
    assert "\\x1b[2J" in text and "\\x9b31m" in text and "\\u202eevil" in text, text


def test_a_series_exposed_twice_keeps_the_first_value_and_fails_metric_cardinality() -> None:
    """Prometheus keeps the first sample of a series in one scrape and drops the rest; a probe must count the same."""
    family = '# TYPE askproai_bookings_total counter\naskproai_bookings_total{{status="created",source="retell"}} {}\n'
    before = parse_exposition(family.format(1) + 'askproai_bookings_total{source="retell",status="created"} 1\n', 1.0)
    after = parse_exposition(family.format(1) + 'askproai_bookings_total{source="retell",status="created"} 2\n', 2.0)
    assert after.value("askproai_bookings_total", {"status": "created"}) == 1.0 and len(after.duplicates) == 1
    scenario = make_scenario([{"event": "call_started"}],
                             expect={"metrics": [{"metric": "bookings", "labels": {"status": "created"}, "delta": 1}]})
    evidence = make_evidence(scenario, metrics_before=before, metrics_after=after)
    results = {r.check: r for r in run_checks(scenario, evidence, Contract()) if r.check in ("metric-delta", "metric-cardinality")}
    assert not results["metric-delta"].passed, results["metric-delta"].reason
    card = results["metric-cardinality"]
    assert not card.passed and "1 series exposed twice (askproai_bookings_total; Prometheus keeps the first value)" in card.reason


@pytest.mark.parametrize(("body", "message"), [
    (b"[" * 100_000 + b"]" * 100_000, "the answer is not JSON (nested deeper than 100 levels"),
    (b'{"lines": [NaN], "next": 1}', "the answer is not JSON (NaN is not a JSON value"),
    (b'{"lines": [1e999], "next": 1}', "the answer is not JSON (number out of range (inf)"),
    (b'\x1b[2J{"lines"', "the answer is not JSON (Expecting value: line 1 column 1 (char 0): '\\x1b[2J{\"lines\"')"),
], ids=["deep", "NaN", "1e999", "ANSI"])
async def test_an_evidence_source_answering_hostile_json_is_an_observer_error(body: bytes, message: str) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    async with httpx.AsyncClient(transport=transport, timeout=1.0) as client:
        with pytest.raises(ObserverError) as err:
            await request_json(client, "GET", "http://gw.test/api/logs?after=1", what="log stream")
    assert str(err.value).startswith(f"log stream at http://gw.test/api/logs: {message}"), err.value
    assert len(str(err.value)) < 300


def test_the_terminal_form_of_a_snapshot_never_needs_the_whole_answer() -> None:
    """A reason that quotes a body quotes a line of it (the step-status excerpt), whatever the body's size."""
    scenario = make_scenario([{"event": "call_started"}])
    evidence = make_evidence(scenario, {"call_started": {"status": 500, "response_body": "y" * MAX_ANSWER_BYTES}},
                             metrics_before=MetricsSnapshot(0.0, {}), metrics_after=MetricsSnapshot(1.0, {}))
    verdict = Verdict("unit", run_checks(scenario, evidence, Contract()), evidence)
    assert len(format_failure(verdict, Redactor())) < 5_000


def test_printable_escapes_what_a_terminal_would_obey_and_keeps_the_rest() -> None:
    from probes._printable import clip, printable

    assert printable("a\x1b[31mb\x07c\rd\x9be\u202ef\tg\nh é ✓") == "a\\x1b[31mb\\x07c\\rd\\x9be\\u202ef\tg\nh é ✓".replace("\\r", "\\x0d")
    assert clip("x" * 10, 4) == "xxxx… (6 more characters)" and clip("short", 10) == "short"


def test_timeline_files_of_two_names_never_collide() -> None:
    from probes._reporters import timeline_file_name

    names = ["a b", "a_b", "a/b", "..", "happy-path"]
    files = [timeline_file_name(n) for n in names]
    assert len(set(files)) == len(files) and files[-1] == "happy-path.timeline.json", files
    assert all("/" not in f and not f.startswith(".") for f in files), files


async def test_a_source_that_closed_an_idle_keep_alive_connection_is_read_again_on_a_new_one() -> None:
    """The server's keep-alive timeout racing the next poll: the pooled connection fails before any answer."""
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(len(connections))
        first = len(connections) == 1
        try:
            await reader.readuntil(b"\r\n\r\n")
            body = b'{"lines": [], "next": 1}'
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()
            if first:  # keep the connection open, then close it as the second request arrives
                await reader.readuntil(b"\r\n\r\n")
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            url = f"http://127.0.0.1:{port}/api/logs"
            assert await request_json(client, "GET", url, what="log stream") == {"lines": [], "next": 1}
            assert await request_json(client, "GET", url, what="log stream") == {"lines": [], "next": 1}
        assert len(connections) == 2  # the second read went out again, on a connection of its own
    finally:
        server.close()
        await server.wait_closed()
