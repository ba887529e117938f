"""A verdict as numbers: the bounded failure reason, the probe_* / callprobe_probe_* gauges, push and textfile output."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mocks._serve import RunningServer, serve_in_thread
from probes._deadline import DEADLINE_CHECK, Recorder
from probes._errors import ConfigError, TargetError
from probes._evidence import CheckResult, Evidence, Exchange, Verdict
from probes._measures import REASONS, Measures, failure_reason, measure, measures_registry
from probes._plan import build_plan
from probes._progress import ProbeEvent
from probes._pushgateway import PushKey, push_measures, textfile_path, write_textfile
from probes._report import VERDICT_SCHEMA_VERSION, verdict_to_json
from probes._scenario import StepExpectation, parse_scenario

SCENARIO = parse_scenario({"name": "unit", "steps": [{"event": "call_started"}, {"function": "check_availability", "at": 1}]})
T0 = 1767369600.0


def exchange(step: str = "call_started", *, status: int | None = 204, error: str | None = None, latency_ms: float = 4.0) -> Exchange:
    return Exchange(call_index=0, call_id="call_1", step_index=0, step=step, delivery=1, kind="webhook", method="POST",
                    path="/api/retell/webhook", request_headers={}, request_body="{}", sent_at=T0, expect=StepExpectation(),
                    latency_ms=None if error else latency_ms, status=None if error else status, error=error)


def verdict(*results: CheckResult, exchanges: tuple[Exchange, ...] = (), **fields: Any) -> Verdict:
    ev = Evidence(plan=build_plan(SCENARIO, api_key="k", seed=1), exchanges=list(exchanges), started_at=T0, finished_at=T0 + 2,
                  **fields)
    return Verdict("unit", list(results) or [CheckResult("step-status", True, "ok")], ev)


def samples(registry: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for m in registry.collect() for s in m.samples}


FAILED = CheckResult("step-status", False, "expected 204, got 500", step="call_started")


@pytest.mark.parametrize(("error", "reason"), [
    ("no answer within 10 s (timeout)", "target_timeout"),
    ("no complete answer within 10 s (no answer began)", "target_timeout"),
    ("ConnectError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", "tls_error"),
    ("ReadError: [Errno 104] Connection reset by peer", "connection_reset"),
    ("RemoteProtocolError: Server disconnected without sending a response.", "connection_reset"),
    ("ConnectError: All connection attempts failed (ConnectionRefusedError)", "connect_failed"),
    ("ConnectError: All connection attempts failed (ConnectionResetError)", "connection_reset"),
])
def test_a_transport_failure_is_named_first(error: str, reason: str) -> None:
    v = verdict(CheckResult("target-reachable", False, error), FAILED, exchanges=(exchange(error=error),))
    assert failure_reason(v) == reason and reason in REASONS


def test_a_5xx_answer_an_unreadable_source_and_a_failed_check_each_have_their_reason() -> None:
    assert failure_reason(verdict(FAILED, exchanges=(exchange(status=502),))) == "target_http_5xx"
    unreadable = verdict(CheckResult("telemetry-reachable", False, "metrics endpoint …: not Prometheus text"),
                         source_errors={"metrics": "not Prometheus text"}, sources=("metrics",))
    assert failure_reason(unreadable) == "metrics_unreadable"
    assert failure_reason(verdict(CheckResult("log-present", False, "found 0"))) == "log_wrong"
    assert failure_reason(verdict(CheckResult("correlation-echoed", False, "no header"))) == "correlation_lost"
    assert failure_reason(verdict(CheckResult(DEADLINE_CHECK, False, "late"))) == "probe_timeout"
    assert failure_reason(verdict()) is None
    with pytest.raises(AssertionError):
        Measures.failed("anything goes", 1.0)  # reasons are a closed set: a label, not free text


def test_measures_name_steps_checks_telemetry_and_leave_out_what_was_not_observed() -> None:
    ttt = CheckResult("time-to-telemetry", True, "ok", evidence={"kind": "logs", "measured_ms": 120.0, "limit_ms": 5000.0})
    never = CheckResult("time-to-telemetry", False, "never", evidence={"kind": "alerts", "measured_ms": None, "limit_ms": 10000.0})
    unobserved = CheckResult("trace-continuity", True, "not observed: no backend", observed=False)
    v = verdict(ttt, never, unobserved, FAILED, exchanges=(exchange(latency_ms=12.5), exchange("check_availability", status=200)),
                booked=["b1"], cleanup_left=["b1"])
    m = measure(v)
    assert not m.success and m.duration_s == 2 and m.reason == "sla_breach" and not m.cleanup_ok  # the first failure
    assert m.steps == {"call_started": (0.0125, False), "check_availability": (0.004, True)}
    assert m.checks == {"time-to-telemetry": False, "step-status": False}  # no gauge for what was not observed
    assert m.telemetry == {"logs": (0.12, 5.0), "alerts": (math.inf, 10.0)}
    exporter = samples(measures_registry(m, timeout_s=9.5))
    assert exporter[("probe_success", ())] == 0 and exporter[("probe_timeout_seconds", ())] == 9.5
    assert exporter[("probe_step_success", (("step", "call_started"),))] == 0
    assert exporter[("probe_time_to_telemetry_seconds", (("source", "alerts"),))] == math.inf
    assert exporter[("probe_failure_info", (("reason", "sla_breach"),))] == 1
    assert exporter[("probe_cleanup_success", ())] == 0
    pushed = samples(measures_registry(m, prefix="callprobe_"))
    assert {name for name, _ in pushed} == {f"callprobe_{name}" for name, _ in exporter} - {"callprobe_probe_timeout_seconds"}


def test_the_json_verdict_has_a_schema_version_reason_cleanup_and_the_first_attempt() -> None:
    final, first = verdict(), verdict(FAILED, exchanges=(exchange(status=500),))
    doc = verdict_to_json(final, target="prod", first_attempt=first, attempts=2)
    assert doc["schema_version"] == VERDICT_SCHEMA_VERSION == 1
    assert doc["target"] == "prod" and doc["passed"] and doc["reason"] is None and doc["attempts"] == 2
    assert doc["first_attempt"]["passed"] is False and doc["first_attempt"]["reason"] == "target_http_5xx"
    assert doc["cleanup"] == {"booked": [], "left": [], "cancellations": []}


class FakePushgateway:
    """Records each PUT as the real one would receive it (path = job and grouping key)."""

    def __init__(self) -> None:
        self.puts: list[tuple[str, str]] = []

    def app(self) -> Starlette:
        async def put(request: Request) -> Response:
            self.puts.append((request.url.path, (await request.body()).decode()))
            return Response(status_code=200)

        return Starlette(routes=[Route("/metrics/{rest:path}", put, methods=["PUT", "POST"])])


@pytest.fixture
def pushgateway() -> Iterator[tuple[RunningServer, FakePushgateway]]:
    fake = FakePushgateway()
    with serve_in_thread(fake.app()) as server:
        yield server, fake


def test_push_uses_the_grouping_key_job_probe_target_location(pushgateway: tuple[RunningServer, FakePushgateway]) -> None:
    server, fake = pushgateway
    push_measures(server.url, measure(verdict(FAILED)), PushKey(probe="happy-path-booking", target="prod", location="eu-west"))
    [(path, body)] = fake.puts
    assert path == "/metrics/job/callprobe/location/eu-west/probe/happy-path-booking/target/prod"
    assert "callprobe_probe_success 0.0" in body and 'callprobe_probe_failure_info{reason="wrong_answer"} 1.0' in body


def test_a_pushgateway_that_is_down_is_one_target_error() -> None:
    with pytest.raises(TargetError, match=r"^http://127\.0\.0\.1:9: push to the Pushgateway failed"):
        push_measures("http://127.0.0.1:9", measure(verdict()), PushKey(probe="p"), timeout=2)


def test_textfile_is_written_atomically_with_the_key_as_labels(tmp_path: Path) -> None:
    key = PushKey(probe="happy path/booking", target="prod", location="eu")
    path = write_textfile(tmp_path, measure(verdict()), key)
    assert path == textfile_path(tmp_path, key) == tmp_path / "callprobe_happy_path_booking_prod.prom"
    text = path.read_text()
    assert 'callprobe_probe_success{job="callprobe",location="eu",probe="happy path/booking",target="prod"} 1.0' in text
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left beside it
    write_textfile(tmp_path, measure(verdict(FAILED)), key)  # the next run replaces it
    assert "callprobe_probe_success{" in path.read_text() and "} 0.0" in path.read_text()
    with pytest.raises(ConfigError, match="is not a folder"):
        write_textfile(tmp_path / "missing", measure(verdict()), key)


def test_at_a_deadline_a_read_or_request_just_begun_is_busy_and_one_pending_long_is_hanging() -> None:
    now = time.time()
    busy = Recorder()
    busy(ProbeEvent("read", now - 0.01, "calcom"))
    assert busy.deadline_reason(2.0) == "probe_timeout"
    stuck = Recorder()
    stuck(ProbeEvent("read", now - 1.5, "logs"))
    assert stuck.deadline_reason(2.0) == "logs_unreadable"
    assert stuck.deadline_reason(2.0, target_hosts=("logs",)) == "target_timeout"  # the target's own log stream
    waiting = Recorder()
    waiting(ProbeEvent("request", now, replace(exchange(), sent_at=now - 1.2)))
    assert waiting.deadline_reason(2.0) == "target_timeout"
    waiting.freeze()
    waiting(ProbeEvent("read", time.time(), None))  # the cancellation unwinding: what was pending at the deadline stays
    assert waiting.deadline_reason(2.0) == "target_timeout"


def test_the_unreadable_reasons_cover_every_source_telemetry_reachable_names() -> None:
    from probes._checks._sources import SOURCE_NAMES
    from probes._measures import SOURCES

    assert set(SOURCES) == set(SOURCE_NAMES)
