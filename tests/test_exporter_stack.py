"""Scheduled probes under the real stack: Prometheus scrapes the exporter, a pytest run pushes, rules page.

The exporter, scraped by the real Prometheus of stack mode with the shipped
scrape config (docs/prometheus/callprobe-scrape.yml), turns a seeded defect
into ``probe_success 0`` and the shipped ``CallprobeProbeFailingRepeatedly``
into a firing alert in Alertmanager; a pytest run in stack mode pushes every
verdict to the stack's Pushgateway, and a failing one fires the shipped
``CallprobeProbeFailing``. Rules are loaded time-compressed (minutes become
seconds), as stack mode does. Needs the Debian packages; marked ``stack``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from polling import wait_for

from mocks._serve import RunningServer, serve_in_thread
from mocks.sinks import create_alertmanager_receiver_app
from probes import load_scenario
from probes._exporter._server import Exporter, create_app
from probes._probeconfig import ExporterSettings, Module, ProbeConfig, Target
from probes._stack import Stack, require_binary
from probes._targets import Targets

pytestmark = pytest.mark.stack

SCRAPE = Path("docs/prometheus/callprobe-scrape.yml")


def firing(stack: Stack, alertname: str, **labels: str) -> list[dict[str, Any]]:
    alerts = httpx.get(f"{stack.alertmanager_url}/api/v2/alerts", timeout=5).json()
    return [a for a in alerts if a["labels"].get("alertname") == alertname and all(a["labels"].get(k) == v for k, v in labels.items())]


def query(stack: Stack, promql: str) -> list[dict[str, Any]]:
    return list(httpx.get(f"{stack.prometheus_url}/api/v1/query", params={"query": promql}, timeout=5).json()["data"]["result"])


def test_the_example_scrape_config_is_valid_prometheus_config(tmp_path: Path) -> None:
    config = {"global": {"scrape_interval": "15s"}, **yaml.safe_load(SCRAPE.read_text())}
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    done = subprocess.run([require_binary("promtool"), "check", "config", "prometheus.yml"], check=False, capture_output=True,
                          text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def receiver() -> Iterator[RunningServer]:
    with serve_in_thread(create_alertmanager_receiver_app()) as server:
        yield server


def shipped_job(exporter: str, target: str) -> dict[str, Any]:
    """The shipped health job, pointed at this exporter and target, scraped every second (stack mode's pace)."""
    [job] = [j for j in yaml.safe_load(SCRAPE.read_text())["scrape_configs"] if j["job_name"] == "callprobe-health"]
    job["scrape_interval"] = job["scrape_timeout"] = "1s"
    job["static_configs"] = [{"targets": [target]}]
    job["relabel_configs"][-1]["replacement"] = exporter
    return dict(job)


def test_prometheus_scraping_the_exporter_turns_a_seeded_defect_into_a_firing_alert(receiver: RunningServer) -> None:
    modules = {"health": Module("health", load_scenario("scenarios/health.yaml"))}
    targets = {"broken": Target("broken", None, frozenset({"correlation-not-echoed"})), "fine": Target("fine", None)}
    exporter = Exporter(ProbeConfig(modules, targets, exporter=ExporterSettings(concurrency=4)), log=lambda line: None)
    server = serve_in_thread(create_app(exporter))
    jobs = (shipped_job(f"127.0.0.1:{server.port}", "broken"),
            {**shipped_job(f"127.0.0.1:{server.port}", "fine"), "job_name": "callprobe-health-fine"})
    stack = Stack(receiver_url=f"{receiver.url}/alertmanager", extra_scrape=jobs).start()
    try:
        wait_for("probe_success 0 for the defect",
                 lambda: any(r["value"][1] == "0" for r in query(stack, 'probe_success{job="callprobe-health",instance="broken"}')), 30)
        [alert] = wait_for("CallprobeProbeFailingRepeatedly in Alertmanager",
                           lambda: firing(stack, "CallprobeProbeFailingRepeatedly", instance="broken"), 30)
        assert alert["labels"]["module"] == "health" and alert["labels"]["job"] == "callprobe-health"
        assert alert["annotations"]["summary"] == "synthetic call health keeps failing on broken"
        reasons = query(stack, 'probe_failure_info{instance="broken"}')
        assert {r["metric"]["reason"] for r in reasons} == {"correlation_lost"}
        assert all(r["value"][1] == "1" for r in query(stack, 'probe_success{instance="fine"}'))
        assert not firing(stack, "CallprobeProbeFailingRepeatedly", instance="fine")
    finally:
        stack.stop()
        server.stop(timeout=60)


def test_a_stack_mode_run_pushes_its_verdicts_and_a_failure_pages() -> None:
    """What ``pytest scenarios/ --stack`` does with each verdict: the Pushgateway gets it, the shipped rule fires on a failure."""
    targets = Targets(target=None, defects=frozenset({"correlation-not-echoed"}), stack=True)
    try:
        verdict, profile = targets.submit(load_scenario("scenarios/health.yaml")).result(120)
        assert not verdict.passed and not verdict.evidence.notes
        stack = targets._stack.stack  # type: ignore[union-attr]
        text = httpx.get(f"{stack.pushgateway_url}/metrics", timeout=5).text
        key = f'job="callprobe",location="pytest",probe="health",target="{profile.name}"'
        assert profile.name == "embedded (defects: correlation-not-echoed)"
        assert f'callprobe_probe_success{{instance="",{key}}} 0' in text and f'push_time_seconds{{instance="",{key}}}' in text
        [alert] = wait_for("CallprobeProbeFailing in Alertmanager", lambda: firing(stack, "CallprobeProbeFailing", probe="health"), 30)
        assert alert["annotations"]["summary"] == f"synthetic call health failed on {profile.name} (pytest)"
    finally:
        targets.close()
