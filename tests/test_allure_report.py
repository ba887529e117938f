"""The Allure report as a person sees it, and proof that it holds no secret.

One small run serves both tests: two catalogue scenarios against a reference
gateway started here with planted secrets (Retell key, metrics token, Cal.com
key, a Slack webhook path) and the ``no-alert-on-calcom-failure`` defect, so
``calcom-5xx-alerts-once`` fails. The run writes Allure results, Allure 3
renders them as one offline HTML file, and headless Chromium reads it. A
missing ``chromium`` or ``npx`` fails these tests: CI installs both
(``.ci/system-deps``, Node 20).
"""

from __future__ import annotations

import base64
import html
import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from mocks._serve import serve_in_thread
from mocks.calcom import create_app as create_calcom_app
from mocks.gateway import GatewayConfig
from mocks.gateway import create_app as create_gateway_app
from mocks.sinks import create_sink_app
from probes._allure_render import render_report
from probes._pii import national_digits
from probes._plan import build_plan
from probes._scenario import load_scenario

pytestmark = pytest.mark.report

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ("happy-path-booking", "calcom-5xx-alerts-once")
FAILING = "calcom-5xx-alerts-once"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--virtual-time-budget=10000"]


@dataclass
class Run:
    results: Path
    report: Path
    secrets: dict[str, str]
    phones: list[str]
    pytest_output: str
    render_s: float


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise RuntimeError(f"{tool} is not installed: the report tests need it (CI installs it via .ci/system-deps / Node 20)")
    return path


def _write_catalogue(root: Path) -> None:
    (root / "scenarios").mkdir()
    for name in SCENARIOS:
        shutil.copy(ROOT / "scenarios" / f"{name}.yaml", root / "scenarios" / f"{name}.yaml")
    (root / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n", encoding="utf-8")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    _require("chromium")
    _require("npx")
    root = tmp_path_factory.mktemp("report-run")
    _write_catalogue(root)
    planted = {name: f"{name}-planted-{secrets.token_hex(12)}" for name in ("retell", "metrics")}
    planted["calcom"] = f"cal_live_planted_{secrets.token_hex(12)}"  # the mock takes only cal_… keys, like Cal.com
    planted["webhook_path"] = f"T0PLANTED/B0PLANTED/{secrets.token_hex(12)}"
    calcom, sink = serve_in_thread(create_calcom_app()), serve_in_thread(create_sink_app())
    config = GatewayConfig(retell_api_key=planted["retell"], calcom_url=calcom.url, calcom_api_key=planted["calcom"],
                           metrics_token=planted["metrics"], alert_webhook_url=f"{sink.url}/slack/{planted['webhook_path']}",
                           alert_cooldown_s=1, defects=frozenset({"no-alert-on-calcom-failure"}))
    gateway = serve_in_thread(create_gateway_app(config))
    try:
        profile = {"name": "planted", "base_url": gateway.url, "retell_api_key_env": "CALLPROBE_TEST_PLANTED_KEY",
                   "metrics_token_env": "CALLPROBE_TEST_PLANTED_TOKEN", "alert_sink_url": f"{sink.url}/api/messages",
                   "calcom_mock_url": calcom.url, "telemetry_deadline_s": 2, "quiet_period_s": 0.3}
        (root / "target.yaml").write_text(yaml.safe_dump(profile), encoding="utf-8")
        env = {**os.environ, "CALLPROBE_TEST_PLANTED_KEY": planted["retell"], "CALLPROBE_TEST_PLANTED_TOKEN": planted["metrics"]}
        env.pop("CALLPROBE_TARGET_URL", None)
        done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "scenarios/", "--target", "target.yaml",
                               "--alluredir", "allure-results", "--callprobe-timeline-dir", "allure-results/timelines"],
                              cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False)
    finally:
        for server in (gateway, sink, calcom):
            server.stop()
    # Only the planted failure is asserted: the other scenario's outcome is the gateway's business, not the report's.
    assert done.returncode == 1 and f"FAILED scenarios/{FAILING}.yaml" in done.stdout, f"expected the planted failure:\n{done.stdout}\n{done.stderr}"
    phones = []
    for name in SCENARIOS:
        plan = build_plan(load_scenario(root / "scenarios" / f"{name}.yaml"), api_key="x")
        phones += [p for c in plan.calls for p in (c.caller.phone, c.caller.practice_phone)]
    seconds = render_report(root / "allure-results", root / "allure-report")
    yield Run(root / "allure-results", root / "allure-report", planted, phones, done.stdout, seconds)


def _dom(url: str, profile: Path) -> str:
    done = subprocess.run([_require("chromium"), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.stdout.strip(), f"chromium printed no DOM (exit {done.returncode}): {done.stderr[-500:]}"
    return done.stdout


def _visible_text(dom: str) -> str:
    """The DOM's text, plus the srcdoc of iframes (Allure shows the description in one)."""
    frames = " ".join(html.unescape(m) for m in re.findall(r'srcdoc="([^"]*)"', dom))
    body = re.sub(r"<(script|style)\b[\s\S]*?</\1>", " ", dom + frames)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def _test_result_id(report: Path, name: str) -> str:
    import json

    data = json.loads((report / "test-results.json").read_text(encoding="utf-8"))
    return next(tid for tid, tr in data["byId"].items() if tr["name"] == name)


def test_failing_scenario_timeline_and_category_are_visible(run: Run, tmp_path: Path) -> None:
    index = run.report / "index.html"
    page = index.read_text(encoding="utf-8")
    assert "googletagmanager" not in page and not re.search(r"<script[^>]*src=[\"']https?:", page)
    overview = _visible_text(_dom(index.as_uri(), tmp_path / "chrome-overview"))
    assert "Total 2" in overview and "Failed" in overview and FAILING in overview
    url = f"{index.as_uri()}#/{_test_result_id(run.report, FAILING)}"
    text = _visible_text(_dom(url, tmp_path / "chrome-test"))
    assert FAILING in text
    assert "Category: Alert missing or spam" in text
    assert "[alert-count] scenario calcom-5xx-alerts-once" in text
    assert "timeline of call 1" in text and "Cal.com GET /v2/slots (slots) → 500, fault server_error" in text
    assert "call timeline — calcom-5xx-alerts-once" in text  # the HTML timeline, shown as the description
    assert "Severity" in text or "Blocker" in text
    shot = tmp_path / "report-screenshot.png"
    done = subprocess.run([_require("chromium"), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chrome-shot'}",
                           f"--screenshot={shot}", "--window-size=1280,900", url], capture_output=True, timeout=120, check=False)
    assert shot.is_file() and shot.stat().st_size > 10_000, done.stderr[-500:]
    artifacts = ROOT / "allure-artifacts"
    artifacts.mkdir(exist_ok=True)
    shutil.copy(shot, artifacts / "report-screenshot.png")


def _texts(path: Path) -> Iterator[str]:
    """A file's text, and for the single-file report also every embedded base64 data blob, decoded."""
    raw = path.read_bytes().decode("utf-8", errors="replace")
    yield raw
    for blob in re.findall(r'd\("[^"]+","([A-Za-z0-9+/=]+)"\)', raw):
        yield base64.b64decode(blob).decode("utf-8", errors="replace")


def test_no_secret_in_results_or_report(run: Run) -> None:
    files = [p for p in (*run.results.rglob("*"), *run.report.rglob("*")) if p.is_file()]
    assert len(files) > 20 and any(p.name.endswith("-attachment.html") for p in files)
    assert any(p.suffix == ".json" and p.parent.name == "timelines" for p in files)
    needles = {**run.secrets}
    for i, phone in enumerate(run.phones):
        needles[f"phone{i}"] = national_digits(phone)
    signature = re.compile(r"v=\d{10,13},d=[0-9a-f]{64}")
    leaks = []
    for path in files:
        for text in _texts(path):
            leaks += [f"{path.name}: {what}" for what, value in needles.items() if value in text]
            if signature.search(text):
                leaks.append(f"{path.name}: a Retell signature")
    assert not leaks, leaks
    # The run really exercised the secrets: the failing scenario talked to the gateway with them.
    assert "[alert-count]" in run.pytest_output
