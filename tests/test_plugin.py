"""The pytest plugin, driven through pytester as a user would drive it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parent.parent
INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
HAPPY = (ROOT / "scenarios" / "happy-path-booking.yaml").read_text()
SIGNATURES = (ROOT / "scenarios" / "signatures-rejected.yaml").read_text()


@pytest.fixture
def catalogue(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    d = pytester.mkdir("scenarios")
    (d / "happy-path-booking.yaml").write_text(HAPPY)
    (d / "signatures-rejected.yaml").write_text(SIGNATURES)
    return pytester


def test_collects_and_passes(catalogue: pytest.Pytester) -> None:
    result = catalogue.runpytest("scenarios", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_marker_selection(catalogue: pytest.Pytester) -> None:
    result = catalogue.runpytest("scenarios", "-m", "signatures")
    result.assert_outcomes(passed=1, deselected=1)


def test_failure_reads_like_an_assertion_diff(catalogue: pytest.Pytester) -> None:
    result = catalogue.runpytest("scenarios", "-k", "happy", "--gateway-defect", "correlation-not-echoed")
    result.assert_outcomes(failed=1)
    result.stdout.re_match_lines([r".*✗ correlation-echoed — .*", r".*expected: .*", r".*seen: .*"], consecutive=False)
    assert "Traceback" not in result.stdout.str()


def test_bad_scenario_is_a_collection_error_naming_file_and_field(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    d = pytester.mkdir("scenarios")
    (d / "broken.yaml").write_text("name: broken\nsteps:\n  - {event: call_started, expect: {status: two}}\n")
    result = pytester.runpytest("scenarios")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*broken.yaml:3: steps[[]0[]].expect.status*"])
    assert "Traceback" not in result.stdout.str()


def test_unknown_defect_is_a_usage_error(catalogue: pytest.Pytester) -> None:
    result = catalogue.runpytest("scenarios", "--gateway-defect", "nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown gateway defect(s) nope; known*"])


def test_bad_profile_is_a_usage_error(catalogue: pytest.Pytester) -> None:
    (catalogue.path / "p.yaml").write_text("base_url: 3\nbogus: 1\n")
    result = catalogue.runpytest("scenarios", "--target", "p.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*p.yaml:1: base_url: Input should be a valid string; got 3 (and 1 more)"])


def test_python_scenario_with_fixture(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(
        """
        def test_started_only(callprobe):
            verdict = callprobe.assert_passes({"name": "py", "steps": [{"event": "call_started", "expect": {"status": 204}}]})
            assert "step-status" in {r.check for r in verdict.results}
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def separate_gateway(tmp_path: Path) -> Iterator[Path]:
    """The README's recipe: mock, sink and gateway started as separate processes."""
    cli = [sys.executable, "-m", "probes._cli"]
    ports = {name: _free_port() for name in ("calcom", "sink", "otlp", "sentry", "gateway")}
    env = {
        **os.environ,
        "CALLPROBE_ALERT_WEBHOOK_URL": f"http://127.0.0.1:{ports['sink']}/slack/alerts",
        "CALLPROBE_SENTRY_DSN": f"http://public@127.0.0.1:{ports['sentry']}/1",
    }
    procs = [
        subprocess.Popen([*cli, "mock", "calcom", "--port", str(ports["calcom"])]),
        subprocess.Popen([*cli, "sink", "--port", str(ports["sink"])]),
        subprocess.Popen([*cli, "sink", "--kind", "otlp", "--port", str(ports["otlp"])]),
        subprocess.Popen([*cli, "sink", "--kind", "sentry", "--port", str(ports["sentry"])]),
        subprocess.Popen(
            [*cli, "gateway", "--port", str(ports["gateway"]), "--calcom-url", f"http://127.0.0.1:{ports['calcom']}",
             "--otlp-endpoint", f"http://127.0.0.1:{ports['otlp']}", "--alert-cooldown", "1"],
            env=env,
        ),
    ]
    try:
        for name, url in (("gateway", "/health"), ("calcom", "/__admin/health"), ("sink", "/api/messages"),
                          ("otlp", "/api/spans"), ("sentry", "/api/events")):
            _wait_up(f"http://127.0.0.1:{ports[name]}{url}")
        profile = tmp_path / "separate.yaml"
        profile.write_text(
            f"base_url: http://127.0.0.1:{ports['gateway']}\n"
            f"alert_sink_url: http://127.0.0.1:{ports['sink']}/api/messages\n"
            f"calcom_mock_url: http://127.0.0.1:{ports['calcom']}\n"
            f"traces: {{kind: receiver, url: 'http://127.0.0.1:{ports['otlp']}'}}\n"
            f"errors: {{kind: sentry_receiver, url: 'http://127.0.0.1:{ports['sentry']}'}}\n"
            "demo_secrets: true\n"
        )
        yield profile
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=20)


def _wait_up(url: str, deadline_s: float = 20.0) -> None:
    import time

    until = time.monotonic() + deadline_s
    while True:
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > until:
            raise RuntimeError(f"{url} did not come up within {deadline_s:.0f} s")
        __import__("threading").Event().wait(0.05)


def test_catalogue_against_a_separately_started_gateway(separate_gateway: Path, tmp_path: Path) -> None:
    shutil.copytree(ROOT / "scenarios", tmp_path / "scenarios")
    (tmp_path / "pytest.ini").write_text(INI)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "scenarios", "--target", str(separate_gateway), "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout


def one_scenario(pytester: pytest.Pytester, name: str, text: str) -> None:
    pytester.makeini(INI)
    (pytester.mkdir("scenarios") / f"{name}.yaml").write_text(f"name: {name}\n{text}")


def test_a_step_that_cannot_be_sent_still_yields_a_verdict(pytester: pytest.Pytester) -> None:
    one_scenario(
        pytester, "no-slot-to-book",
        "calcom: {rules: [{endpoint: slots, fault: no_slots}]}\n"
        "steps:\n"
        "  - {event: call_started}\n"
        "  - {function: check_availability, at: 5}\n"
        "  - {function: book_appointment, at: 9, args_from: {start: 'check_availability.slots[0]'}}\n"
    )
    result = pytester.runpytest("scenarios")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*✗ target-reachable*not sent:*check_availability.slots has no item 0*"])


def test_expectations_the_target_cannot_show_are_listed_and_fail_when_strict(pytester: pytest.Pytester,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CALLPROBE_STRICT", raising=False)
    one_scenario(pytester, "p95", "steps: [{event: call_started}]\nexpect: {promql: [{query: 'up', op: '==', value: 1}]}\n")
    result = pytester.runpytest("scenarios", "--alluredir", "allure-results")
    result.assert_outcomes(passed=1)
    [written] = [json.loads(f.read_text()) for f in (pytester.path / "allure-results").glob("*-result.json")]
    [checks] = [s for s in written["steps"] if s["name"].startswith("checks: ")]
    assert checks["name"].endswith(", 1 not observed") and checks["status"] == "passed"
    [promql] = [s for s in checks["steps"] if "promql" in s["name"]]
    assert promql["status"] == "skipped" and promql["name"].startswith("– promql: not observed")
    result.stdout.fnmatch_lines(["*callprobe: expectations not observed*",
                                 "promql: the target profile names no Prometheus (run with --stack, or set prometheus_url in the profile) — p95",
                                 "*--callprobe-strict makes them failures*"])
    strict = pytester.runpytest("scenarios", "--callprobe-strict")
    strict.assert_outcomes(failed=1)
    strict.stdout.fnmatch_lines(["*✗ promql — not observed: the target profile names no Prometheus*"])


def test_a_target_that_is_down_still_yields_a_verdict(catalogue: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:  # a loopback port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    catalogue.makefile(".yaml", down=f"base_url: http://127.0.0.1:{port}\n")
    monkeypatch.setenv("RETELL_API_KEY", "key_test_down_not_a_secret")
    result = catalogue.runpytest("scenarios", "-k", "happy", "--target", "down.yaml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "[[]target-reachable[]] scenario happy-path-booking: * checks failed",
        f"✗ telemetry-reachable — metrics endpoint at http://127.0.0.1:{port}/api/metrics: cannot connect (ConnectError*",
    ], consecutive=False)
    assert "Traceback" not in result.stdout.str()


def test_a_yaml_file_is_a_scenario_only_in_the_scenario_folders_or_with_the_scenario_suffix(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI + "callprobe_scenario_dirs =\n    probes_catalogue\n")
    minimal = "name: {name}\nsteps: [{{http: health, method: GET}}]\n"
    (pytester.mkdir("probes_catalogue") / "a.yaml").write_text(minimal.format(name="in-the-folder"))
    (pytester.mkdir("scenarios") / "b.yaml").write_text("not: a scenario\n")  # a folder named scenarios is not enough
    (pytester.mkdir("elsewhere") / "c.scenario.yaml").write_text(minimal.format(name="by-its-suffix"))
    (pytester.path / "elsewhere" / "d.yaml").write_text("neither: one\n")
    result = pytester.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(["*c.scenario.yaml::by-its-suffix", "*a.yaml::in-the-folder"])
    assert "b.yaml" not in result.stdout.str() and "d.yaml" not in result.stdout.str()
