"""The alert rules callprobe ships pass ``promtool check rules`` and their ``promtool test rules`` unit tests.

promtool comes with the Debian package ``prometheus``; CI installs it, so a
missing promtool is a failure here, never a skip.
"""

from __future__ import annotations

import subprocess

import yaml

from probes._stack import compress_rules, require_binary, shipped_rules_path

RULES = shipped_rules_path()
TESTS = RULES.with_name("gateway.rules.test.yml")
ALERTS = {"GatewayWebhookErrorRate", "GatewayWebhookLatencyHigh", "CalcomFailures", "NoCallsAnalyzed", "CallprobeProbeFailing"}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_binary("promtool"), *args], capture_output=True, text=True, timeout=60, cwd=RULES.parent)


def test_promtool_check_rules() -> None:
    done = promtool("check", "rules", RULES.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 5 rules found" in done.stdout


def test_promtool_test_rules() -> None:
    done = promtool("test", "rules", TESTS.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_rules_cover_the_issue_alerts_and_each_has_a_unit_test() -> None:
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"][0]["rules"]
    assert {r["alert"] for r in rules} == ALERTS
    tested = {t["alertname"] for case in yaml.safe_load(TESTS.read_text(encoding="utf-8"))["tests"] for t in case["alert_rule_test"]}
    assert tested == ALERTS


def test_compressed_rules_keep_the_logic_and_scale_minutes_to_seconds(tmp_path) -> None:  # type: ignore[no-untyped-def]
    text = compress_rules(RULES.read_text(encoding="utf-8"))
    assert "[5m]" not in text and "[5s]" in text and "[30s]" in text
    rules = {r["alert"]: r for r in yaml.safe_load(text)["groups"][0]["rules"]}
    assert rules["GatewayWebhookErrorRate"]["for"] == "2s"
    assert rules["CallprobeProbeFailing"]["expr"] == "callprobe_probe_success == 0"
    (tmp_path / "fast.yml").write_text(text, encoding="utf-8")
    done = subprocess.run([require_binary("promtool"), "check", "rules", str(tmp_path / "fast.yml")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
