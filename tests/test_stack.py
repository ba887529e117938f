"""Stack mode against the real binaries: clean start/stop, fault → alert → resolved, Pushgateway.

Prometheus, Alertmanager and Pushgateway come from the Debian packages CI
installs; a missing binary fails these tests (never skips). Every wait polls
with a deadline. The fault → alert times are printed (``-s`` shows them) and
their median is asserted against a generous bound.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from polling import wait_for

from mocks._serve import serve_in_thread
from mocks.sinks import create_alertmanager_receiver_app
from probes import TargetProfile, Verdict, load_scenario, probe
from probes._checks._stack_alerts import fault_to_alert_s
from probes._embedded import EmbeddedWorld
from probes._errors import ConfigError
from probes._observers import parse_exposition
from probes._pushgateway import PushKey, delete_verdict, push_verdict
from probes._stack import Stack, port_open
from probes._stack_session import StackSession

pytestmark = pytest.mark.stack

OUTAGE = load_scenario(Path("scenarios/stack-calcom-outage-alert.yaml"))
P95 = load_scenario(Path("scenarios/stack-webhook-p95.yaml"))
FAULT_RUNS = int(os.environ.get("CALLPROBE_STACK_FAULT_RUNS", "3"))


def gone(pid: int) -> bool:
    try:
        os.killpg(pid, 0)  # the stack's children lead their own process group
    except ProcessLookupError:
        return True
    return False


def test_stack_starts_and_stops_cleanly() -> None:
    with serve_in_thread(create_alertmanager_receiver_app()) as receiver:
        stack = Stack(receiver_url=f"{receiver.url}/alertmanager").start()
        pids, ports = stack.pids, stack.ports
        try:
            assert len(pids) == 3 and all(port_open(p) for p in ports)
            for url in (stack.prometheus_url, stack.alertmanager_url, stack.pushgateway_url):
                assert httpx.get(f"{url}/-/ready", timeout=5).status_code == 200
            status = httpx.get(f"{stack.alertmanager_url}/api/v2/status", timeout=5).json()
            assert status["cluster"]["status"] == "disabled"  # no gossip listener on *:9094
        finally:
            stack.stop()
    assert all(gone(pid) for pid in pids), pids
    assert not any(port_open(p) for p in ports), ports
    assert stack.processes == {}


def test_missing_binary_is_a_config_error_naming_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ConfigError, match=r"^prometheus not found: install the Debian package prometheus "):
        Stack(receiver_url="http://127.0.0.1:9/alertmanager").start()


@pytest.fixture(scope="module")
def stacked() -> Iterator[tuple[TargetProfile, StackSession]]:
    world = EmbeddedWorld().start()
    session = StackSession()
    try:
        yield session.attach(world.session_gateway()), session
    finally:
        pids = session.stack.pids if session.stack else []
        session.close()
        world.stop()
        assert all(gone(pid) for pid in pids)


def run(scenario_profile: tuple[TargetProfile, StackSession], scenario: object) -> Verdict:
    return asyncio.run(probe(scenario, scenario_profile[0]))  # type: ignore[arg-type]


def test_calcom_outage_fires_and_resolves_through_the_real_pipeline(stacked: tuple[TargetProfile, StackSession]) -> None:
    times = []
    for _ in range(FAULT_RUNS):
        verdict = run(stacked, OUTAGE)
        assert verdict.passed, [f"{r.check}: {r.reason}" for r in verdict.failures]
        [seen] = verdict.evidence.stack_alerts
        assert seen.grouped and seen.group_key == '{}:{alertname="CalcomFailures"}'
        elapsed = fault_to_alert_s(seen)
        assert elapsed is not None and seen.resolved_webhook_at is not None
        times.append(elapsed)
    median = statistics.median(times)
    print(f"\nfault → alert (Cal.com 5xx → errors_total → rule → Alertmanager → webhook): "
          f"{', '.join(f'{t:.2f}' for t in times)} s; median {median:.2f} s")
    assert median < 6.0


def test_happy_path_is_silent_and_promql_holds(stacked: tuple[TargetProfile, StackSession]) -> None:
    verdict = run(stacked, P95)
    assert verdict.passed, [f"{r.check}: {r.reason}" for r in verdict.failures]
    checked = [r for r in verdict.results if r.check in ("promql", "alertmanager-alert")]
    assert len(checked) == len(P95.expect.promql) + len(P95.expect.stack_alerts)
    assert all("`" in r.reason for r in checked if r.check == "promql")  # the query is quoted


def test_promql_failure_quotes_query_and_result(stacked: tuple[TargetProfile, StackSession]) -> None:
    data = P95.model_dump(exclude={"source"})
    data["expect"]["promql"] = [{"query": "sum(increase(askproai_calls_total{status=\"analyzed\"}[$window]))", "op": ">", "value": 1000}]
    data["expect"]["stack_alerts"] = []
    data["runs"] = 1
    scenario = type(P95).model_validate(data)
    verdict = run(stacked, scenario)
    [failure] = [r for r in verdict.failures if r.check == "promql"]
    assert 'instant query `sum(increase(askproai_calls_total{status="analyzed"}[' in failure.reason
    assert failure.reason.endswith("expected > 1000") and failure.expected == "> 1000"


def test_pushed_failing_verdict_reaches_alertmanager(stacked: tuple[TargetProfile, StackSession]) -> None:
    verdict = run(stacked, P95)
    session = stacked[1]
    assert session.stack is not None
    failing = Verdict(scenario="callprobe-selftest", results=[*verdict.results[:1]], evidence=verdict.evidence)
    failing.results[0] = type(failing.results[0])(check="step-status", passed=False, reason="forced", expected="x", seen="y")
    key = PushKey(probe="callprobe-selftest", target="selftest", location="ci")
    push_verdict(session.stack.pushgateway_url, failing, key)
    try:
        pushed = parse_exposition(httpx.get(f"{session.stack.pushgateway_url}/metrics", timeout=5).text, time.time())
        ours = {"job": "callprobe", "probe": "callprobe-selftest", "target": "selftest", "location": "ci"}
        assert pushed.label_sets("callprobe_probe_success") and pushed.value("callprobe_probe_success", ours) == 0
        assert pushed.value("callprobe_probe_check_success", {**ours, "check": "step-status"}) == 0
        assert pushed.value("callprobe_probe_failure_info", {**ours, "reason": "wrong_answer"}) == 1
        assert pushed.label_sets("callprobe_probe_duration_seconds") and pushed.label_sets("push_time_seconds")

        def firing() -> bool:
            alerts = httpx.get(f"{session.stack.alertmanager_url}/api/v2/alerts", timeout=5).json()  # type: ignore[union-attr]
            return any(a["labels"].get("alertname") == "CallprobeProbeFailing" and a["labels"].get("probe") == "callprobe-selftest"
                       for a in alerts)

        wait_for("CallprobeProbeFailing in Alertmanager", firing, 15)
    finally:
        delete_verdict(session.stack.pushgateway_url, key)
    text = httpx.get(f"{session.stack.pushgateway_url}/metrics", timeout=5).text
    assert "callprobe-selftest" not in text


# defect → (stack scenario, the Prometheus-backed checks that must catch it)
STACK_DETECTED_BY = {
    "calcom-errors-not-counted": (OUTAGE, {"promql", "alertmanager-alert"}),
    "slow-path": (P95, {"promql"}),
}


@pytest.mark.parametrize("defect", sorted(STACK_DETECTED_BY))
def test_stack_checks_catch_their_defects(defect: str) -> None:
    # A world and stack of its own: the module's session gateway must stay clean for the tests above.
    scenario, checks = STACK_DETECTED_BY[defect]
    world = EmbeddedWorld().start()
    session = StackSession()
    try:
        verdict = asyncio.run(probe(scenario, session.attach(world.gateway({defect}, alert_cooldown_s=1.0))))
    finally:
        session.close()
        world.stop()
    failed = {r.check: r for r in verdict.failures}
    assert checks <= failed.keys(), f"{defect}: expected {sorted(checks)} to fail; failures were {sorted(failed)}"
    assert all(failed[c].reason and failed[c].expected and failed[c].seen for c in checks), [failed[c].reason for c in checks]
