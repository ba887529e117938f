"""The alert rules callprobe ships pass ``promtool check rules`` and their ``promtool test rules`` unit tests,
rendered in the contract's default words and in another gateway's words.

promtool comes with the Debian package ``prometheus``; CI installs it, so a
missing promtool is a failure here, never a skip.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from probes._contract import Contract
from probes._errors import UnmappedRole
from probes._rules import compress_rules, render_rules, rules_template_path
from probes._stack import require_binary

pytestmark = pytest.mark.stack

TESTS = rules_template_path().with_name("gateway.rules.test.yml")
ALERTS = {"GatewayWebhookErrorRate", "GatewayWebhookLatencyHigh", "CalcomFailures", "NoCallsAnalyzed", "CallprobeProbeFailing",
          "CallprobeProbeFailingRepeatedly", "CallprobeTimeToTelemetrySlow", "CallprobeProbeNotPushing", "CallprobeBookingLeftBehind"}
OTHER = Contract.model_validate({
    "metrics": {
        "webhooks": {"name": "othergw_retell_requests_total", "labels": {
            "provider": {"name": None}, "event": {"name": "kind"},
            "status": {"name": "outcome", "values": {"processed": "ok", "duplicate": "dup", "rejected": "bad_signature"}}}},
        "webhook_duration": {"name": "othergw_retell_request_seconds"},
        "errors": {"name": "othergw_failures_total", "labels": {"type": {"name": "kind", "values": {
            "calendar_unavailable": "calendar_down", "calendar_timeout": "calendar_slow", "rate_limited": "calendar_busy"}}}},
        "calls": {"name": "othergw_calls_total", "labels": {"status": {"name": "phase", "values": {"started": "live"}}}},
    },
    "sla": {"webhook_p95_ms": 800},
})


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default rendering beside its unit tests, as a user would save it."""
    folder = tmp_path_factory.mktemp("rules")
    (folder / "gateway.rules.yml").write_text(render_rules(), encoding="utf-8")
    shutil.copy(TESTS, folder / TESTS.name)
    return folder


def promtool(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_binary("promtool"), *args], capture_output=True, text=True, timeout=60, cwd=folder)


def test_promtool_check_rules(rendered: Path) -> None:
    done = promtool(rendered, "check", "rules", "gateway.rules.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in done.stdout


def test_promtool_test_rules(rendered: Path) -> None:
    done = promtool(rendered, "test", "rules", TESTS.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_rules_cover_the_issue_alerts_and_each_has_a_unit_test() -> None:
    rules = yaml.safe_load(render_rules())["groups"][0]["rules"]
    assert {r["alert"] for r in rules} == ALERTS
    tested = {t["alertname"] for case in yaml.safe_load(TESTS.read_text(encoding="utf-8"))["tests"] for t in case["alert_rule_test"]}
    assert tested == ALERTS


def test_the_template_names_no_word_of_the_reference_gateway() -> None:
    text = rules_template_path().read_text(encoding="utf-8")
    for word in ("askproai_", "> 0.5"):
        assert word not in text.split("groups:", 1)[1], word


def test_rules_render_in_another_gateways_words(tmp_path: Path) -> None:
    text = render_rules(OTHER)
    rules = {r["alert"]: r["expr"] for r in yaml.safe_load(text)["groups"][0]["rules"]}
    assert 'othergw_retell_requests_total{outcome!~"ok|dup"}' in rules["GatewayWebhookErrorRate"]
    assert "othergw_retell_request_seconds_bucket" in rules["GatewayWebhookLatencyHigh"]
    assert "> 0.8" in rules["GatewayWebhookLatencyHigh"]
    assert 'othergw_failures_total{kind=~"calendar_down|calendar_slow|calendar_busy"}' in rules["CalcomFailures"]
    assert 'othergw_calls_total{phase="live"}' in rules["NoCallsAnalyzed"]
    (tmp_path / "other.yml").write_text(text, encoding="utf-8")
    done = promtool(tmp_path, "check", "rules", "other.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_role_the_target_lacks_is_named_not_rendered_wrong() -> None:
    lacking = Contract.model_validate({"metrics": {"errors": {"name": None}}})
    with pytest.raises(UnmappedRole, match=r"contract\.metrics\.errors\.name"):
        render_rules(lacking)


def test_compressed_rules_keep_the_logic_and_scale_minutes_to_seconds(tmp_path: Path) -> None:
    text = compress_rules(render_rules())
    assert "[5m]" not in text and "[5s]" in text and "[30s]" in text
    rules = {r["alert"]: r for r in yaml.safe_load(text)["groups"][0]["rules"]}
    assert rules["GatewayWebhookErrorRate"]["for"] == "2s"
    assert rules["CallprobeProbeFailing"]["expr"] == "callprobe_probe_success == 0"
    (tmp_path / "fast.yml").write_text(text, encoding="utf-8")
    done = promtool(tmp_path, "check", "rules", "fast.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_callprobe_rules_prints_them_for_a_profile_and_leaves_out_what_it_cannot_express(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from probes._cli import main

    profile = tmp_path / "p.yaml"
    profile.write_text("base_url: http://127.0.0.1:9\ncontract: {metrics: {errors: {name: null}}}\n", encoding="utf-8")
    assert main(["rules", "--target", str(profile), "-o", str(tmp_path / "out.yml")]) == 0
    rules = yaml.safe_load((tmp_path / "out.yml").read_text(encoding="utf-8"))["groups"][0]["rules"]
    assert {r["alert"] for r in rules} == ALERTS - {"CalcomFailures"}
    assert "CalcomFailures left out: metric 'errors' is mapped to null" in capsys.readouterr().err
    assert main(["rules"]) == 0
    assert "askproai_errors_total" in capsys.readouterr().out
