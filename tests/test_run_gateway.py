"""The README's separately started reference gateway, probed by ``callprobe run`` as a new user would.

Every server is the real console script (``python -m probes._cli``) on a free
loopback port: the Cal.com mock, the three sinks and the gateway; then
``callprobe run`` (in this process, saving an interpreter start per run) twice against the same long-lived gateway (every run is a
new call, so the second is not taken for a duplicate delivery) and once
against the gateway restarted with a seeded defect (exit 1, naming the check).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from probes._cli import main
from probes._exitcodes import EXIT_FAILED, EXIT_OK
from probes._stack import free_port, port_open
from tests.test_exporter import wait_for

ENV = {**os.environ, "PYTHONPATH": os.getcwd()}


def callprobe(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "probes._cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env or ENV)


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()


@pytest.fixture(scope="module")
def helpers() -> Iterator[dict[str, int]]:
    """The Cal.com mock and the three sinks, as the README starts them."""
    ports = {name: free_port() for name in ("calcom", "slack", "otlp", "sentry")}
    procs = [callprobe("mock", "calcom", "--port", str(ports["calcom"])), callprobe("sink", "--port", str(ports["slack"])),
             callprobe("sink", "--kind", "otlp", "--port", str(ports["otlp"])),
             callprobe("sink", "--kind", "sentry", "--port", str(ports["sentry"]))]
    try:
        for port in ports.values():
            wait_for(f"port {port}", lambda port=port: port_open(port), 30)
        yield ports
    finally:
        for proc in procs:
            stop(proc)


def gateway(ports: dict[str, int], port: int, *defects: str) -> subprocess.Popen[str]:
    env = {**ENV, "CALLPROBE_ALERT_WEBHOOK_URL": f"http://127.0.0.1:{ports['slack']}/slack/alerts",
           "CALLPROBE_SENTRY_DSN": f"http://public@127.0.0.1:{ports['sentry']}/1"}
    args = ["gateway", "--port", str(port), "--calcom-url", f"http://127.0.0.1:{ports['calcom']}",
            "--otlp-endpoint", f"http://127.0.0.1:{ports['otlp']}", "--alert-cooldown", "1"]
    proc = callprobe(*args, *(a for d in defects for a in ("--defect", d)), env=env)
    wait_for("the gateway", lambda: port_open(port), 30)
    return proc


def profile(tmp_path: Path, ports: dict[str, int], port: int) -> Path:
    """tests/data/local-gateway.yaml, on this test's ports."""
    data = yaml.safe_load(Path("tests/data/local-gateway.yaml").read_text())
    text = yaml.safe_dump(data)
    for default, name in ((8090, "calcom"), (8091, "slack"), (8092, "otlp"), (8093, "sentry")):
        text = text.replace(f"127.0.0.1:{default}", f"127.0.0.1:{ports[name]}")
    path = tmp_path / "local-gateway.yaml"
    path.write_text(text.replace("127.0.0.1:8080", f"127.0.0.1:{port}"), encoding="utf-8")
    return path


def run(target: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``callprobe run scenarios/happy-path-booking.yaml --target …``, in this process (the servers are the processes)."""
    code = main(["run", "scenarios/happy-path-booking.yaml", "--target", str(target)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err, captured.err
    return code, captured.out


def test_a_separately_started_gateway_passes_twice_and_a_defect_fails_naming_the_check(helpers: dict[str, int], tmp_path: Path,
                                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    target = profile(tmp_path, helpers, port)
    clean = gateway(helpers, port)
    try:
        for _ in range(2):  # the same story twice against one long-lived gateway: two new calls
            code, out = run(target, capsys)
            assert code == EXIT_OK, out
            assert out.startswith("✓ happy-path-booking: 57 checks passed")
    finally:
        stop(clean)
    broken = gateway(helpers, port, "booking-not-logged")
    try:
        code, out = run(target, capsys)
    finally:
        stop(broken)
    assert code == EXIT_FAILED
    assert out.startswith("✗ happy-path-booking: ")
    assert '✗ log-present — expected at least 1 log line(s) with event="booking_created"' in out
