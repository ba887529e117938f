"""``callprobe load`` and the locustfile, end to end: Locust runs as a child process, everything on loopback.

``import locust`` monkey-patches a process with gevent, so Locust never runs
inside pytest: every test here starts it (through ``callprobe load`` or plain
``locust -f locustfiles/calls.py``) as a subprocess, against a reference
gateway on 127.0.0.1, for a few seconds. Each exit code is reached for its own
reason: 0 (a clean run, exactly aggregated over a master and two workers),
1 (the slow-path defect; the concurrency-only defect the catalogue passes),
2 (no call completed; a configuration a load must refuse), 3 (a worker died).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from polling import wait_for

from mocks._serve import RunningServer, serve_in_thread
from mocks.gateway import GatewayConfig, create_app
from probes._cli import main
from probes._defaults import (
    DEMO_CALCOM_API_KEY,
    DEMO_METRICS_TOKEN,
    DEMO_RETELL_API_KEY,
)
from probes._embedded import EmbeddedWorld
from probes._evidence import MetricsSnapshot
from probes._observers import parse_exposition
from probes._plan import build_plan
from probes._profile import TargetProfile
from probes._scenario import load_scenario

SCENARIO = "tests/data/load-call.yaml"
# In the xdist group of the proof's first half: the load runs take a core each, one after another, and never
# while the proof's clean runs (which time the gateway's answers, and are in that half) are going on.
pytestmark = pytest.mark.xdist_group("proof-0")
RUN_TIMEOUT_S = 120  # guards against a hang only; each run takes seconds


def _write_profile(profile: TargetProfile, folder: Path) -> Path:
    path = folder / "target.yaml"
    path.write_text(yaml.safe_dump(profile.model_dump(mode="json")), encoding="utf-8")
    return path


def _metrics(profile: TargetProfile) -> MetricsSnapshot:
    url = profile.resolved_metrics_url
    assert url is not None
    text = httpx.get(url, headers={"Authorization": f"Bearer {DEMO_METRICS_TOKEN}"}, timeout=10).text
    return parse_exposition(text, time.time())


def _delta(before: MetricsSnapshot, after: MetricsSnapshot, name: str, **labels: str) -> float:
    return after.value(name, labels) - before.value(name, labels)


def _load(*args: str, folder: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any] | None]:
    verdict = folder / "verdict.json"
    argv = [sys.executable, "-m", "probes._cli", "load", *args, "--json", str(verdict)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)
    return proc, json.loads(verdict.read_text()) if verdict.exists() else None


def _threshold(verdict: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in verdict["thresholds"] if t["name"] == name)


def _aggregated(csv_prefix: Path, name: str = "Aggregated") -> int:
    with open(f"{csv_prefix}_stats.csv", newline="") as f:
        return next(int(row["Request Count"]) for row in csv.DictReader(f) if row["Name"] == name)


@pytest.fixture
def strict_gateway(world: EmbeddedWorld) -> Iterator[TargetProfile]:
    """A reference gateway that accepts signatures at most 300 ms old (Retell's 5 minutes, scaled down)."""
    calcom = world.calcom
    assert calcom is not None
    config = GatewayConfig(retell_api_key=DEMO_RETELL_API_KEY, calcom_url=calcom.url, calcom_api_key=DEMO_CALCOM_API_KEY,
                           metrics_token=DEMO_METRICS_TOKEN, signature_tolerance_ms=300)
    server: RunningServer = serve_in_thread(create_app(config))
    try:
        yield TargetProfile(name="strict", base_url=server.url, calcom_mock_url=calcom.url, demo_secrets=True)
    finally:
        server.stop()


def test_master_and_two_workers_add_up_exactly_and_sign_at_send_time(strict_gateway: TargetProfile, tmp_path: Path) -> None:
    """Exit 0 on a clean gateway, with one master and two workers: calls and requests, added up over the workers,
    equal the gateway's own counters; and calls spanning 2 s verify against a 300 ms signature tolerance, because
    each request is signed when it is sent (signed when planned, they would be refused)."""
    scenario = load_scenario(SCENARIO)
    planned = build_plan(scenario, api_key=DEMO_RETELL_API_KEY, start_ms=int(time.time() * 1000) - 1000).requests()[1]
    control = httpx.post(strict_gateway.base_url + planned.path, content=planned.body.encode(), headers=dict(planned.headers),
                         timeout=10)
    assert control.status_code == 401  # the short tolerance is in force: a signature made a second ago is refused

    before = _metrics(strict_gateway)
    proc, verdict = _load(SCENARIO, "--target", str(_write_profile(strict_gateway, tmp_path)), "--rate", "20", "--duration", "2s",
                          "--time-scale", "0.05", "--workers", "2", "--csv", str(tmp_path / "stats"), folder=tmp_path)
    after = _metrics(strict_gateway)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert verdict is not None and verdict["verdict"] == "PASS"
    tally = verdict["tally"]
    assert tally["completed"] == tally["started"] == tally["intended"] >= 30
    assert _delta(before, after, "askproai_calls_total", status="started") == tally["completed"]
    assert _delta(before, after, "askproai_webhooks_total", status="rejected") == 0
    gateway_requests = _delta(before, after, "askproai_http_requests_total", method="POST")
    assert _aggregated(tmp_path / "stats") == tally["requests"] == gateway_requests  # Locust's aggregated row: real requests
    assert _aggregated(tmp_path / "stats", "call load-call") == tally["completed"]  # the CALL entry is not in Aggregated
    assert tally["booked"] == tally["cancelled"] == _delta(before, after, "askproai_bookings_total", status="cancelled")
    assert "telemetry complete for" in proc.stdout and "verdict: PASS (exit 0)" in proc.stdout
    assert "corrected (ms)" in proc.stdout and "webhook call_started" in proc.stdout


def test_slow_path_breaches_the_latency_sla(tmp_path: Path) -> None:
    """Exit 1: check_availability sleeps 0.8 s (the embedded gateway started by callprobe load, with the defect)."""
    proc, verdict = _load(SCENARIO, "--rate", "10", "--duration", "1.5s", "--gateway-defect", "slow-path", folder=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr[-3000:]
    assert verdict is not None
    slow = _threshold(verdict, "p95 function requests")
    assert slow["verdict"] == "breach" and float(slow["seen"].split()[0]) >= 800
    assert _threshold(verdict, "telemetry complete")["verdict"] == "pass"  # nothing else is wrong
    assert "verdict: FAIL: SLA breached (exit 1)" in proc.stdout


def test_concurrency_only_defect_is_caught_by_telemetry_completeness(tmp_path: Path) -> None:
    """Exit 1: log lines carry the IDs of whichever call came in last; answers and latency are fine.

    The catalogue passes this gateway (tests/test_catalogue_proof.py, PASSED_BY_CATALOGUE).
    """
    proc, verdict = _load(SCENARIO, "--rate", "20", "--duration", "1.5s", "--gateway-defect", "log-context-shared",
                          folder=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr[-3000:]
    assert verdict is not None
    assert _threshold(verdict, "telemetry complete")["verdict"] == "breach"
    assert _threshold(verdict, "error ratio")["verdict"] == "pass"
    telemetry = verdict["telemetry"]
    assert telemetry["calls_complete"] < telemetry["calls_judged"]
    assert any("availability_checked" in line for line in telemetry["incomplete"])


def test_no_completed_call_is_no_data_never_a_pass(tmp_path: Path) -> None:
    """Exit 2: nothing answers on the target's port, so no call completes."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connections are refused
        profile = TargetProfile(name="nothing", base_url=f"http://127.0.0.1:{port}", demo_secrets=True)
        proc, verdict = _load(SCENARIO, "--target", str(_write_profile(profile, tmp_path)), "--rate", "10", "--duration", "1s",
                              folder=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr[-3000:]
    assert verdict is not None and verdict["tally"]["completed"] == 0 and verdict["tally"]["started"] > 0
    assert _threshold(verdict, "completed calls")["verdict"] == "no data"
    assert "verdict: NO DATA (exit 2)" in proc.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "{far}"], "is not loopback; a load run goes elsewhere only when the profile says load: {allowed: true}"),
        (["--rate", "500"], "--rate 500 is above the cap of 100 calls/s"),
        (["--gateway-defect", "no-such-defect"], "unknown gateway defect(s) no-such-defect"),
        (["--duration", "soon"], "--duration: 'soon' is not a duration"),
    ],
    ids=["not-loopback", "rate-cap", "unknown-defect", "bad-duration"],
)
def test_bad_configuration_is_one_line_and_exit_2(args: list[str], message: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Refused before Locust starts (so in this process: nothing here imports Locust)."""
    far = _write_profile(TargetProfile(name="far", base_url="http://192.0.2.10:8080", demo_secrets=True), tmp_path)
    verdict = tmp_path / "verdict.json"
    assert main(["load", SCENARIO, *[a.replace("{far}", str(far)) for a in args], "--json", str(verdict)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not verdict.exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_worker_that_dies_is_a_harness_error(world: EmbeddedWorld, tmp_path: Path) -> None:
    """Exit 3: plain ``locust -f locustfiles/calls.py``, a master and two workers; one worker is killed mid-run."""
    profile = world.gateway()
    target, port = _write_profile(profile, tmp_path), str(_free_port())
    common = ["-m", "locust", "-f", "locustfiles/calls.py"]
    master = subprocess.Popen([sys.executable, *common, "--master", "--headless", "--master-bind-host", "127.0.0.1",
                               "--master-bind-port", port, "--expect-workers", "2", "--expect-workers-max-wait", "30",
                               "--scenario", SCENARIO, "--target", str(target), "--rate", "10", "--duration", "2s",
                               "--streams", "2", "--callprobe-json", str(tmp_path / "v.json")],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    worker_argv = [sys.executable, *common, "--worker", "--master-host", "127.0.0.1", "--master-port", port]
    workers = [subprocess.Popen(worker_argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
    try:
        before = _metrics(profile)
        wait_for("2 calls started", lambda: _delta(before, _metrics(profile), "askproai_calls_total", status="started") >= 2, 30)
        workers[0].send_signal(signal.SIGKILL)
        out, _ = master.communicate(timeout=RUN_TIMEOUT_S)
        assert master.returncode == 3, out[-3000:]
        assert "sent no final report" in out and "verdict: ERROR: the harness failed (exit 3)" in out
        assert workers[1].wait(timeout=30) is not None  # the survivor quits with the master
    finally:
        for proc in (master, *workers):
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_ctrl_c_stops_cleanly_and_leaves_nothing_running(world: EmbeddedWorld, tmp_path: Path) -> None:
    """Ctrl-C mid-run: the run ends (its bookings cancelled, a verdict printed) and no process of it is left."""
    profile = world.gateway()
    argv = [sys.executable, "-m", "probes._cli", "load", SCENARIO, "--target", str(_write_profile(profile, tmp_path)),
            "--rate", "10", "--duration", "30s", "--workers", "2", "--json", str(tmp_path / "v.json")]
    before = _metrics(profile)
    front = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for("5 calls started", lambda: _delta(before, _metrics(profile), "askproai_calls_total", status="started") >= 5, 30)
        kids = _descendants(front.pid)  # the Locust master, its 2 workers and the telemetry reader
        assert len(kids) >= 4
        front.send_signal(signal.SIGINT)
        out, _ = front.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        if front.poll() is None:
            front.kill()
    assert front.returncode in (0, 2), out[-3000:]  # stopped early: a pass, or too few samples; never a harness error
    verdict = json.loads((tmp_path / "v.json").read_text())
    assert verdict["tally"]["booked"] == verdict["tally"]["cancelled"]  # what it booked, it cancelled
    assert "verdict:" in out
    assert not [pid for pid in kids if _alive(pid)]


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                    out.append(int(entry.name))
                    todo.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
