"""``callprobe plan``: the printed requests verify with the official retell-sdk."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from retell.lib.webhook_auth import verify as sdk_verify

from probes import build_plan, load_scenario
from probes._cli import main

KEY = "key_test_plan_cli_not_a_secret"
HAPPY = "scenarios/happy-path-booking.yaml"


def _plan_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main(["plan", HAPPY, "--format", "json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_every_printed_request_verifies_with_the_sdk(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RETELL_API_KEY", KEY)
    doc = _plan_json(capsys, "--seed", "7")
    assert doc["requests"], "a plan has requests"
    for req in doc["requests"]:
        sig = req["headers"]["X-Retell-Signature"]
        assert sdk_verify(req["body"], KEY, sig), req["step"]
        tampered = req["body"][:-1] + ("]" if req["body"][-1] != "]" else "}")
        assert not sdk_verify(tampered, KEY, sig), f"{req['step']}: a one-byte change must break the signature"
        assert req["method"] == "POST" and req["path"].startswith("/api/retell/")
        assert isinstance(req["send_offset_s"], float | int)


def test_same_seed_same_requests(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RETELL_API_KEY", KEY)
    a = _plan_json(capsys, "--seed", "3", "--start", "2026-01-02T16:00:00Z")
    b = _plan_json(capsys, "--seed", "3", "--start", "2026-01-02T16:00:00Z")
    c = _plan_json(capsys, "--seed", "4", "--start", "2026-01-02T16:00:00Z")
    assert a == b
    assert a["requests"][0]["body"] != c["requests"][0]["body"]


def test_redact_hides_signatures(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RETELL_API_KEY", KEY)
    doc = _plan_json(capsys, "--redact")
    assert {r["headers"]["X-Retell-Signature"] for r in doc["requests"]} == {"[redacted]"}
    assert KEY not in json.dumps(doc)


def test_scenario_name_resolves_from_catalogue(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RETELL_API_KEY", KEY)
    assert main(["plan", "happy-path-booking"]) == 0
    out = capsys.readouterr().out
    assert "POST /api/retell/webhook" in out and "check_availability" in out


def test_bad_scenario_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsteps:\n  - event: call_startd\n")
    assert main(["plan", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"callprobe: error: {bad}:3: steps[0].event: Input should be")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_console_script_runs_without_traceback() -> None:
    proc = subprocess.run([sys.executable, "-m", "probes._cli", "plan", "does-not-exist"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "does-not-exist: cannot read the file" in proc.stderr and "Traceback" not in proc.stderr


def test_stale_and_forged_modes_do_not_verify() -> None:
    scenario = load_scenario("scenarios/signatures-rejected.yaml")
    plan = build_plan(scenario, api_key=KEY, seed=1)
    for req in plan.requests():
        sig = req.headers.get("X-Retell-Signature")
        valid = sig is not None and sdk_verify(req.body, KEY, sig)
        assert valid == (req.step.signature == "valid"), req.label


@pytest.mark.parametrize(("start", "why"), [
    ("9999-12-31T23:59:59Z", "is outside 1970-01-01 … 9998-12-31"),
    ("0001-01-01T00:00:00Z", "is outside 1970-01-01 … 9998-12-31"),
    ("1969-12-31T23:59:59Z", "is outside 1970-01-01 … 9998-12-31"),
    ("10000-01-01T00:00:00Z", "is not an ISO 8601 time"),
    ("2026-02-30T10:00:00Z", "is not an ISO 8601 time"),
    ("tomorrow", "is not an ISO 8601 time"),
])
def test_a_start_no_call_can_have_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                                     start: str, why: str) -> None:
    monkeypatch.setenv("RETELL_API_KEY", KEY)
    assert main(["plan", HAPPY, "--start", start]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"callprobe: error: --start: {start!r} {why}")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("start", ["1970-01-01T00:00:00Z", "9998-12-31T23:59:59Z", "2026-01-02T16:00:00+01:00"])
def test_starts_at_the_edges_still_plan(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], start: str) -> None:
    monkeypatch.setenv("RETELL_API_KEY", KEY)
    assert _plan_json(capsys, "--start", start)["requests"]
