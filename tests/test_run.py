"""``callprobe run``: exit codes, the failure text and timeline, JSON/JUnit, retries, deadlines, refusals, push and textfile.

In-process through ``probes._cli.main`` against the embedded target (the
cheap ``health`` scenario wherever the point is the front, not the call), and
as a subprocess where a signal is the point.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from probes._cli import main
from probes._defaults import DEMO_CALCOM_API_KEY, DEMO_METRICS_TOKEN, DEMO_RETELL_API_KEY
from probes._embedded import EmbeddedWorld
from probes._exitcodes import EXIT_FAILED, EXIT_HARNESS, EXIT_OK, EXIT_USAGE
from probes._profile import TargetProfile
from tests import stubs
from tests.test_exporter import SLOW_BOOKING, wait_for
from tests.test_measures import FakePushgateway

SECRETS = (DEMO_RETELL_API_KEY, DEMO_METRICS_TOKEN, DEMO_CALCOM_API_KEY)


def profile_file(tmp_path: Path, name: str, **fields: Any) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"demo_secrets": True, **fields}), encoding="utf-8")
    return path


def test_a_passing_scenario_exits_0_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "scenarios/health.yaml"]) == EXIT_OK
    out = capsys.readouterr().out
    assert out.startswith("✓ health: 11 checks passed (in ") and out.endswith("target embedded)\n")


def test_a_failing_scenario_exits_1_with_the_failure_text_and_timeline(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "health", "--gateway-defect", "correlation-not-echoed"]) == EXIT_FAILED
    out = capsys.readouterr().out
    assert out.startswith("✗ health: 1 of 11 checks failed")
    assert "✗ correlation-echoed — " in out and "timeline of call 1" in out and "GET /health (health)" in out


def test_json_junit_and_retries_keep_the_first_attempt(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["run", "health", "scenarios/health.yaml", "--gateway-defect", "correlation-not-echoed", "--retries", "1",
            "--json", str(tmp_path / "v.json"), "--junitxml", str(tmp_path / "j.xml")]
    assert main(args) == EXIT_FAILED
    assert "health: attempt 1 failed (correlation-echoed); retrying" in capsys.readouterr().err
    doc = json.loads((tmp_path / "v.json").read_text())
    assert doc["schema_version"] == 1 and doc["exit_code"] == EXIT_FAILED and not doc["passed"]
    [first, second] = doc["verdicts"]
    assert first["attempts"] == 2 and first["first_attempt"]["failed_checks"] == ["correlation-echoed"]
    assert first["reason"] == "correlation_lost" and first["target"] == "embedded" and second["scenario"] == "health"
    text = json.dumps(doc)
    assert not any(secret in text for secret in SECRETS)
    suite = ET.parse(tmp_path / "j.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "2" and suite.get("failures") == "2"
    case = suite.find("testcase")
    assert case is not None and case.get("classname") == "callprobe.embedded" and case.get("name") == "health"
    failure = case.find("failure")
    assert failure is not None and failure.get("type") == "correlation-echoed" and "timeline of call 1" in (failure.text or "")
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props == {"attempts": "2", "first_attempt": "failed: correlation-echoed"}


def test_refusals_are_one_line_each_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prod = profile_file(tmp_path, "prod", base_url="http://127.0.0.1:9", production=True)
    assert main(["run", "calcom-5xx-alerts-once", "health", "--target", str(prod)]) == EXIT_USAGE
    err = capsys.readouterr().err.splitlines()
    assert err == [("callprobe: error: scenario calcom-5xx-alerts-once: refused on target prod: the target is marked production: "
                    "true and the scenario is not marked production: safe (it may script faults, page someone or book more than "
                    "it should on a target real callers share)")]
    staging = profile_file(tmp_path, "staging", base_url="http://127.0.0.1:9")
    assert main(["run", "no-slots", "--target", str(staging)]) == EXIT_USAGE
    assert "scripts Cal.com faults (no_slots) and the target profile names no Cal.com mock (calcom_mock_url)" in capsys.readouterr().err


@pytest.mark.parametrize(("args", "message"), [
    (["run", "nope"], "scenario 'nope': no such file, and no module or scenario of that name in <defaults>"),
    (["run", "health", "--target", "nope"], "--target 'nope': neither a target of <defaults> nor a profile file"),
    (["run", "health", "--retries", "99"], "argument --retries: 99 is outside 0-10"),
    (["run", "health", "--timeout", "soon"], "argument --timeout: 'soon' is not a duration such as 90s, 15m or 2h"),
    (["run", "health", "--gateway-defect", "nope"], "unknown gateway defect(s) nope"),
    (["janitor", "--target", "embedded"], "janitor: target 'embedded' needs calcom_api_url"),
])
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's own usage errors
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert code == EXIT_USAGE
    assert err.startswith("callprobe: error: ") and message in err and err.count("\n") == 1, err


def test_timeout_on_a_hanging_target_reports_what_was_seen_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with stubs.hanging() as url:
        hang = profile_file(tmp_path, "hang", base_url=url, metrics_url=f"{url}/metrics", logs={"kind": "none"}, request_timeout_s=30)
        started = time.monotonic()
        code = main(["run", "health", "--target", str(hang), "--timeout", "1s", "--json", str(tmp_path / "v.json")])
        took = time.monotonic() - started
    assert code == EXIT_FAILED and took < 6
    out = capsys.readouterr().out
    assert "✗ probe-deadline — the probe did not finish within 1 s" in out
    assert "it was still reading metrics (target_timeout)" in out  # its own metrics endpoint hangs too
    assert json.loads((tmp_path / "v.json").read_text())["verdicts"][0]["reason"] == "target_timeout"


def test_push_and_textfile_report_every_probe(tmp_path: Path) -> None:
    from mocks._serve import serve_in_thread

    fake = FakePushgateway()
    with serve_in_thread(fake.app()) as pushgateway:
        code = main(["run", "health", "--push", pushgateway.url, "--textfile", str(tmp_path), "--location", "ci", "--job", "callprobe-ci"])
    assert code == EXIT_OK
    [(path, body)] = fake.puts
    assert path == "/metrics/job/callprobe-ci/location/ci/probe/health/target/embedded" and "callprobe_probe_success 1.0" in body
    assert 'callprobe_probe_success{job="callprobe-ci",location="ci",probe="health",target="embedded"} 1.0' in (
        tmp_path / "callprobe-ci_health_embedded.prom").read_text()


def test_an_unreachable_pushgateway_is_exit_3_after_the_probe(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "health", "--push", f"http://127.0.0.1:{stubs.closed_port()}"]) == EXIT_HARNESS
    captured = capsys.readouterr()
    assert captured.out.startswith("✓ health") and "push to the Pushgateway failed" in captured.err


def test_live_shows_the_call_and_ends_with_the_usual_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "happy-path-booking", "--live"]) == EXIT_OK
    out = capsys.readouterr().out
    for part in ("callprobe happy-path-booking → embedded", "request", "POST /api/retell/functions/book_appointment",
                 "[INFO] booking_created", "bookings{status=created,source=retell} +1 (as expected)", "clock +",
                 "cleanup", "✓ happy-path-booking: 57 checks passed"):
        assert part in out, part


@pytest.fixture(scope="module")
def long_lived() -> Iterator[tuple[EmbeddedWorld, TargetProfile]]:
    world = EmbeddedWorld().start()
    try:
        yield world, world.gateway(alert_cooldown_s=1.0)
    finally:
        world.stop()


def test_sigterm_cancels_what_was_booked_and_exits_3(long_lived: tuple[EmbeddedWorld, TargetProfile], tmp_path: Path) -> None:
    world, gateway = long_lived
    (tmp_path / "slow.yaml").write_text(yaml.safe_dump(SLOW_BOOKING.model_dump(mode="json", exclude={"source"})), encoding="utf-8")
    target = profile_file(tmp_path, "gw", **gateway.model_dump(mode="json", exclude_unset=True, exclude={"name", "demo_secrets"}))
    admin = f"{world.calcom.url}/__admin/bookings"  # type: ignore[union-attr]
    before = {b["uid"] for b in httpx.get(admin, timeout=5).json()["bookings"]}
    proc = subprocess.Popen([sys.executable, "-m", "probes._cli", "run", str(tmp_path / "slow.yaml"), "--target", str(target),
                             "--json", str(tmp_path / "v.json")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        wait_for("the probe's booking", lambda: [b for b in httpx.get(admin, timeout=5).json()["bookings"] if b["uid"] not in before], 30)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == EXIT_HARNESS, err
    mine = [b for b in httpx.get(admin, timeout=5).json()["bookings"] if b["uid"] not in before]
    assert [b["status"] for b in mine] == ["cancelled"]
    assert "interrupted by SIGTERM; bookings made so far were cancelled" in err and "Traceback" not in err
    assert "! slow-booking: interrupted by SIGTERM" in out
    doc = json.loads((tmp_path / "v.json").read_text())["verdicts"][0]
    assert doc["cleanup"]["cancellations"][0]["status"] == 200


def test_every_run_is_a_new_call_against_a_long_lived_gateway(long_lived: tuple[EmbeddedWorld, TargetProfile], tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """The seed pins the story; the call_id (and so the correlation ID) is new every run, so a scheduled probe never
    looks like a duplicate delivery to the gateway it probed a minute ago."""
    _, gateway = long_lived
    target = profile_file(tmp_path, "gw", **gateway.model_dump(mode="json", exclude_unset=True, exclude={"name", "demo_secrets"}))
    ids = []
    for _ in range(2):
        assert main(["run", "happy-path-booking", "--target", str(target), "--seed", "7", "--json", str(tmp_path / "v.json")]) == EXIT_OK
        ids.append(json.loads((tmp_path / "v.json").read_text())["verdicts"][0]["exchanges"][0]["call_id"])
    assert ids[0] != ids[1]
    assert capsys.readouterr().out.count("✓ happy-path-booking: 57 checks passed") == 2
