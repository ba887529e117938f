"""``callprobe exporter``: blackbox_exporter's /probe semantics, the reliability bar, deadlines and cleanup.

Every server binds 127.0.0.1; every wait polls with a deadline. Targets are one
long-lived embedded reference gateway (its profile, as a production target
would be named) and the broken ones of ``tests/stubs.py``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from polling import wait_for
from prometheus_client.parser import text_string_to_metric_families

from mocks._serve import serve_in_thread
from probes._defaults import DEMO_CALCOM_API_KEY, DEMO_METRICS_TOKEN, DEMO_RETELL_API_KEY
from probes._embedded import EmbeddedWorld
from probes._exporter._server import Exporter, create_app, probe_timeout
from probes._probeconfig import EMBEDDED, ExporterSettings, Module, ProbeConfig, Target, catalogue
from probes._profile import LogSourceConfig, TargetProfile
from probes._scenario import Scenario, parse_scenario
from tests import stubs

CATALOGUE = catalogue([Path("scenarios")])
SECRETS = (DEMO_RETELL_API_KEY, DEMO_METRICS_TOKEN, DEMO_CALCOM_API_KEY)
# Books a slot, then waits three real seconds before the call ends: a scrape deadline comes while it still holds a booking.
SLOW_BOOKING = parse_scenario({
    "name": "slow-booking", "production": "safe", "time_scale": 1.0, "caller": {"seed": 4242},
    "steps": [{"event": "call_started", "at": 0}, {"function": "check_availability", "at": 0.05, "outcome": "slots"},
              {"function": "book_appointment", "at": 0.1, "args_from": {"start": "check_availability.slots[0]"}, "outcome": "booked"},
              {"event": "call_ended", "at": 3.0}],
})


@pytest.fixture(scope="module")
def good(world: EmbeddedWorld) -> TargetProfile:
    """A long-lived reference gateway, named as a profile would name it (not the embedded per-probe one)."""
    return world.gateway(alert_cooldown_s=1.0).model_copy(update={"name": "good", "request_timeout_s": 3.0})


def make_config(targets: dict[str, TargetProfile | None], modules: dict[str, Scenario] | None = None, **settings: Any) -> ProbeConfig:
    chosen = modules or {name: CATALOGUE[name] for name in ("health", "happy-path-booking", "calcom-5xx-alerts-once")}
    return ProbeConfig({n: Module(n, s) for n, s in chosen.items()}, {n: Target(n, p) for n, p in targets.items()},
                       exporter=ExporterSettings(**settings))


@contextmanager
def serving(config: ProbeConfig, concurrency: int | None = None) -> Iterator[tuple[httpx.Client, Exporter, list[str]]]:
    lines: list[str] = []
    exporter = Exporter(config, concurrency=concurrency, log=lines.append)
    server = serve_in_thread(create_app(exporter))
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            yield client, exporter, lines
    finally:
        server.stop(timeout=60)
    assert not any("Traceback" in line for line in lines), lines


def metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in text_string_to_metric_families(text) for s in f.samples}


def scrape(client: httpx.Client, module: str, target: str, timeout: float | None = None, **params: str) -> httpx.Response:
    headers = {"X-Prometheus-Scrape-Timeout-Seconds": str(timeout)} if timeout is not None else {}
    return client.get("/probe", params={"module": module, "target": target, **params}, headers=headers)


@pytest.mark.parametrize(("header", "module", "expected"), [
    (None, None, 119.5),  # no header: blackbox's 120 s, minus the offset
    ("10", None, 9.5),
    ("10", 3.0, 3.0),  # the module's timeout when it is shorter
    ("10", 30.0, 9.5),
    ("0.2", 5.0, 5.0),  # offset larger than the scrape timeout: the module's
    ("nan", None, 119.5),
])
def test_timeout_is_blackbox_exporters(header: str | None, module: float | None, expected: float) -> None:
    assert probe_timeout(header, module, 0.5, 120.0) == pytest.approx(expected)
    with pytest.raises(ValueError):
        probe_timeout("ten", None, 0.5, 120.0)


def test_a_probe_answers_probe_metrics_and_the_exporter_its_own(good: TargetProfile) -> None:
    with serving(make_config({"good": good})) as (client, _, _):
        answer = scrape(client, "happy-path-booking", "good", timeout=15)
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain; version=")
        m = metrics(answer.text)
        assert m[("probe_success", ())] == 1 and m[("probe_timeout_seconds", ())] == 14.5
        assert 0 < m[("probe_duration_seconds", ())] < 14.5
        assert m[("probe_step_success", (("step", "book_appointment"),))] == 1
        assert m[("probe_check_success", (("check", "metric-delta"),))] == 1
        assert ("probe_time_to_telemetry_seconds", (("source", "logs"),)) in m and m[("probe_cleanup_success", ())] == 1
        assert not any(name == "probe_failure_info" for name, _ in m)
        own = metrics(client.get("/metrics").text)
        assert own[("callprobe_exporter_probes_total", (("module", "happy-path-booking"), ("result", "success"), ("target", "good")))] == 1
        assert own[("callprobe_exporter_bookings_cancelled_total", ())] == 1
        assert own[("process_resident_memory_bytes", ())] > 0
        page = client.get("/").text
        assert "happy-path-booking" in page and "logs?id=0" in page
        assert "Logs for the probe:" in client.get("/logs", params={"id": "0"}).text


def test_unknown_module_or_target_and_missing_parameters_are_400(good: TargetProfile) -> None:
    with serving(make_config({"good": good})) as (client, _, _):
        cases = {("nope", "good"): 'Unknown module "nope"', ("health", "nope"): 'Unknown target "nope"',
                 ("", "good"): "Module parameter is missing", ("health", ""): "Target parameter is missing",
                 ("../../etc/passwd", "good"): 'Unknown module "../../etc/passwd"'}
        for (module, target), text in cases.items():
            answer = scrape(client, module, target)
            assert (answer.status_code, answer.text) == (400, text + "\n")
        assert client.get("/logs", params={"id": "x"}).status_code == 404
        own = metrics(client.get("/metrics").text)
        assert own[("callprobe_exporter_unknown_requests_total", (("kind", "module"),))] == 2


def test_the_production_guard_refuses_with_one_line(good: TargetProfile) -> None:
    prod = good.model_copy(update={"name": "prod", "production": True})
    with serving(make_config({"prod": prod, "nomock": good.model_copy(update={"calcom_mock_url": None})})) as (client, _, _):
        answer = scrape(client, "calcom-5xx-alerts-once", "prod")
        assert answer.status_code == 400 and answer.text.count("\n") == 1
        assert answer.text.startswith("scenario calcom-5xx-alerts-once: refused on target prod: the target is marked production: true")
        faults = scrape(client, "calcom-5xx-alerts-once", "nomock")
        assert faults.status_code == 400 and "scripts Cal.com faults (server_error)" in faults.text
        assert scrape(client, "health", "prod").status_code == 200  # production: safe


def test_debug_shows_the_timeline_metrics_and_module_and_no_secret(good: TargetProfile) -> None:
    with serving(make_config({"good": good})) as (client, _, _):
        text = scrape(client, "happy-path-booking", "good", debug="true").text
    for part in ("Logs for the probe:", "timeline of call 1", "Metrics that would have been returned:", "probe_success 1.0",
                 "Module configuration:", "module: happy-path-booking"):
        assert part in text, part
    assert not any(secret in text for secret in SECRETS)


@contextmanager
def broken(kind: str, good: TargetProfile) -> Iterator[TargetProfile]:
    """A profile whose target (or one of its evidence sources) fails as ``kind`` says."""
    base = good.model_copy(update={"name": kind, "request_timeout_s": 3.0})
    if kind == "down":
        yield base.model_copy(update={"base_url": f"http://127.0.0.1:{stubs.closed_port()}"})
    elif kind == "html-502":
        with stubs.html_502() as server:
            yield base.model_copy(update={"base_url": server.url, "metrics_url": None, "logs": LogSourceConfig(kind="none")})
    elif kind == "reset":
        with stubs.resetting() as url:
            yield base.model_copy(update={"base_url": url, "metrics_url": None, "logs": LogSourceConfig(kind="none")})
    elif kind == "tls":
        yield base.model_copy(update={"base_url": good.base_url.replace("http://", "https://")})
    elif kind == "garbage-metrics":
        with stubs.garbage_metrics() as server:
            yield base.model_copy(update={"metrics_url": f"{server.url}/metrics"})
    else:  # log backend down
        down = f"http://127.0.0.1:{stubs.closed_port()}"
        yield base.model_copy(update={"logs": LogSourceConfig(kind="loki", url=down, query='{app="gateway"}')})


RELIABILITY = {"down": "connect_failed", "html-502": "target_http_5xx", "reset": "connection_reset", "tls": "tls_error",
               "garbage-metrics": "metrics_unreadable", "log-backend-down": "logs_unreadable"}


@pytest.mark.parametrize("kind", sorted(RELIABILITY))
def test_a_broken_target_is_probe_success_0_with_its_reason_and_the_exporter_keeps_serving(kind: str, good: TargetProfile) -> None:
    with broken(kind, good) as profile, serving(make_config({kind: profile, "good": good})) as (client, _, lines):
        answer = scrape(client, "happy-path-booking" if kind.endswith(("metrics", "down")) else "health", kind, timeout=20)
        assert answer.status_code == 200, answer.text
        m = metrics(answer.text)
        assert m[("probe_success", ())] == 0
        assert m.get(("probe_failure_info", (("reason", RELIABILITY[kind]),))) == 1, answer.text[-300:] + str(lines)
        assert "Traceback" not in answer.text
        assert metrics(scrape(client, "health", "good").text)[("probe_success", ())] == 1
    assert any(kind in line and RELIABILITY[kind] in line for line in lines), lines


def test_a_hanging_target_is_answered_within_the_timeout_and_the_probe_goes_on(good: TargetProfile) -> None:
    with stubs.hanging() as url:
        hang = good.model_copy(update={"name": "hang", "base_url": url, "metrics_url": None, "logs": LogSourceConfig(kind="none"),
                                       "request_timeout_s": 3.0})
        with serving(make_config({"hang": hang, "good": good})) as (client, exporter, _):
            started = time.monotonic()
            answer = scrape(client, "health", "hang", timeout=1.5)  # 1 s after the offset
            took = time.monotonic() - started
            m = metrics(answer.text)
            assert m[("probe_success", ())] == 0 and m[("probe_failure_info", (("reason", "target_timeout"),))] == 1
            assert 0.9 < took < 2.0 and m[("probe_timeout_seconds", ())] == 1.0
            assert metrics(client.get("/metrics").text)[("callprobe_exporter_probes_in_flight", ())] == 1  # it goes on
            assert metrics(scrape(client, "health", "good").text)[("probe_success", ())] == 1  # still serving meanwhile
            wait_for("the late probe to end", lambda: not exporter._tasks)
            late = [r for r in exporter.history.items() if r.late]
            assert late and not late[0].success and late[0].reason == "target_timeout"


def test_at_the_concurrency_limit_a_scrape_that_finds_no_slot_gets_503(good: TargetProfile) -> None:
    with stubs.hanging() as url:
        hang = good.model_copy(update={"name": "hang", "base_url": url, "metrics_url": None, "logs": LogSourceConfig(kind="none"),
                                       "request_timeout_s": 2.5})
        with serving(make_config({"hang": hang, "good": good}), concurrency=1) as (client, exporter, _):
            assert metrics(scrape(client, "health", "hang", timeout=1).text)[("probe_success", ())] == 0  # still holds the slot
            busy = scrape(client, "health", "good", timeout=1)
            assert busy.status_code == 503 and "probe slots stayed busy" in busy.text
            wait_for("the slot to free up", lambda: not exporter._tasks)
            assert metrics(scrape(client, "health", "good").text)[("probe_success", ())] == 1


def bookings(world: EmbeddedWorld) -> list[dict[str, Any]]:
    assert world.calcom is not None
    return list(httpx.get(f"{world.calcom.url}/__admin/bookings", timeout=5).json()["bookings"])


def booked_by(world: EmbeddedWorld, scenario: Scenario, status: str) -> list[dict[str, Any]]:
    return [b for b in bookings(world) if b["status"] == status and b.get("metadata", {}).get("call_id", "").startswith("call_")
            and b["attendees"][0]["email"].endswith("@callprobe.invalid")]


def test_cleanup_goes_on_after_the_answer(world: EmbeddedWorld, good: TargetProfile) -> None:
    before = {b["uid"] for b in bookings(world)}
    with serving(make_config({"good": good}, {"slow-booking": SLOW_BOOKING})) as (client, exporter, _):
        m = metrics(scrape(client, "slow-booking", "good", timeout=1.5).text)
        assert m[("probe_success", ())] == 0 and m[("probe_failure_info", (("reason", "probe_timeout"),))] == 1
        new = wait_for("the booking", lambda: [b for b in bookings(world) if b["uid"] not in before])
        assert new[0]["status"] == "accepted"  # answered while it still holds its booking
        wait_for("the cleanup after the answer", lambda: not exporter._tasks)
        assert [b["status"] for b in bookings(world) if b["uid"] not in before] == ["cancelled"]
        assert metrics(client.get("/metrics").text)[("callprobe_exporter_late_probes_total", ())] == 1


def test_shutdown_cancels_running_probes_and_their_bookings(world: EmbeddedWorld, good: TargetProfile) -> None:
    before = {b["uid"] for b in bookings(world)}
    with serving(make_config({"good": good}, {"slow-booking": SLOW_BOOKING}, shutdown_grace=0)) as (client, exporter, lines):
        scrape(client, "slow-booking", "good", timeout=1)
        wait_for("the booking", lambda: [b for b in bookings(world) if b["uid"] not in before])
        assert exporter._tasks  # still running when the server is told to stop
    assert [b["status"] for b in bookings(world) if b["uid"] not in before] == ["cancelled"]
    assert any("shutting down" in line for line in lines)


def test_sigterm_stops_the_exporter_after_its_probes_cleaned_up(world: EmbeddedWorld, good: TargetProfile, tmp_path: Path) -> None:
    profile = good.model_dump(mode="json", exclude_unset=True, exclude={"name"})
    (tmp_path / "good.yaml").write_text(yaml.safe_dump(profile), encoding="utf-8")
    (tmp_path / "slow.yaml").write_text(yaml.safe_dump(SLOW_BOOKING.model_dump(mode="json", exclude={"source"})), encoding="utf-8")
    (tmp_path / "callprobe.yml").write_text(yaml.safe_dump({
        "targets": {"good": {"profile": "good.yaml"}}, "modules": {"slow": {"scenario": "slow.yaml"}}, "scenario_dirs": []}))
    port = stubs.closed_port()
    before = {b["uid"] for b in bookings(world)}
    proc = subprocess.Popen([sys.executable, "-m", "probes._cli", "exporter", "--config", str(tmp_path / "callprobe.yml"),
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        wait_for("the exporter", lambda: _answers(f"http://127.0.0.1:{port}/-/healthy"), 20)
        answer = httpx.get(f"http://127.0.0.1:{port}/probe", params={"module": "slow", "target": "good"},
                           headers={"X-Prometheus-Scrape-Timeout-Seconds": "1.5"}, timeout=10)
        assert metrics(answer.text)[("probe_success", ())] == 0
        wait_for("the booking", lambda: [b for b in bookings(world) if b["uid"] not in before])
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert [b["status"] for b in bookings(world) if b["uid"] not in before] == ["cancelled"]
    assert "Traceback" not in err and "callprobe exporter on http://127.0.0.1" in out


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_embedded_target_needs_no_configuration() -> None:
    with serving(make_config({EMBEDDED: None})) as (client, _, _):
        assert metrics(scrape(client, "health", EMBEDDED).text)[("probe_success", ())] == 1
