"""Target profiles from a hostile-input corpus: one ConfigError naming file, line and field; a usage error in pytest.

A non-UTF-8 profile was a pytest INTERNALERROR, a base URL with port 99999 or
without a scheme a traceback at the first request, and NaN, infinite or
negative timeouts were taken (NaN: no waiting at all; infinity: a hang).
Every URL in a profile is checked the same way, and so are the
``CALLPROBE_*`` environment variables that make a profile without a file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from probes import ConfigError, load_profile
from probes._profile import profile_from_env

pytest_plugins = ["pytester"]
INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
OK = "base_url: http://127.0.0.1:8080\n"
URL_FIELDS = ["base_url", "metrics_url", "alert_sink_url", "calcom_mock_url", "prometheus_url", "alertmanager_url", "alert_receiver_url"]
BAD_URLS = {
    "no scheme": ("localhost:8080", "is not an http:// or https:// URL"),
    "port 99999": ("http://127.0.0.1:99999", "has port 99999, outside 1-65535"),
    "port 0": ("http://127.0.0.1:0/x", "has port 0, outside 1-65535"),
    "port not a number": ("http://gw:eighty", "is not a URL (Invalid port"),
    "no host": ("http:///api", "has no valid host"),
    "space in host": ("http://gate way/", "has no valid host"),
    "other scheme": ("file:///etc/passwd", "is not an http:// or https:// URL"),
    "control character": ("http://gw/\x1b[2J", "is not a URL"),
}


def _write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "target.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def _error(path: Path) -> str:
    with pytest.raises(ConfigError) as err:
        load_profile(path)
    text = str(err.value)
    assert "\n" not in text and len(text) < 400, text
    return text


@pytest.mark.parametrize("field", URL_FIELDS)
@pytest.mark.parametrize("bad", list(BAD_URLS), ids=str)
def test_every_url_is_checked_when_the_profile_is_read(tmp_path: Path, field: str, bad: str) -> None:
    value, message = BAD_URLS[bad]
    text = (f"{field}: {value!r}\n" if field == "base_url" else f"{OK}{field}: {value!r}\n").replace("'", '"')
    line = 1 if field == "base_url" else 2
    got = _error(_write(tmp_path, text.replace("\x1b", "\\e")))
    assert got.startswith(f"{tmp_path / 'target.yaml'}:{line}: {field}: ") and message in got, got
    assert "\x1b" not in got


@pytest.mark.parametrize(("block", "field"), [
    ("logs: {kind: loki, url: 'loki:3100', query: '{app=\"gw\"}'}", "logs.url"),
    ("traces: {kind: jaeger, url: 'http://jaeger:99999'}", "traces.url"),
    ("errors: {kind: sentry_receiver, url: 'sentry'}", "errors.url"),
])
def test_urls_of_evidence_sources_are_checked_too(tmp_path: Path, block: str, field: str) -> None:
    got = _error(_write(tmp_path, f"{OK}{block}\n"))
    assert got.startswith(f"{tmp_path / 'target.yaml'}:2: {field}: "), got


@pytest.mark.parametrize(("text", "line", "field", "message"), [
    ("request_timeout_s: .nan", 2, "request_timeout_s", "nan is not a finite number"),
    ("telemetry_deadline_s: .inf", 2, "telemetry_deadline_s", "inf is not a finite number"),
    ("quiet_period_s: -1", 2, "quiet_period_s", "greater than or equal to 0"),
    ("request_timeout_s: 0", 2, "request_timeout_s", "greater than 0"),
    ("request_timeout_s: 100000", 2, "request_timeout_s", "longer than the 600 s"),
    ("contract:\n  sla: {webhook_p95_ms: .nan, histogram_edges_ms: [500], logs_ms: 1, metrics_ms: 1, alerts_ms: 1}", 3,
     "contract.sla.webhook_p95_ms", "nan is not a finite number"),
    ("paths:\n  function: /api/functions/{fn}", 3, "paths.function", "has no {name} placeholder"),
    ("base_url: http://other", 2, None, "key 'base_url' appears twice in one mapping"),
    ("shared: !!binary aGk=", 2, "shared", "binary data (!!binary) is not a JSON value"),
], ids=["nan timeout", "inf deadline", "negative quiet period", "zero timeout", "timeout of a day", "nan SLA",
        "function path without {name}", "two base URLs", "binary"])
def test_bad_values_name_line_and_field(tmp_path: Path, text: str, line: int, field: str | None, message: str) -> None:
    got = _error(_write(tmp_path, f"{OK}{text}\n"))
    where = f"{tmp_path / 'target.yaml'}:{line}: " + (f"{field}: " if field else "")
    assert got.startswith(where) and message in got, got


@pytest.mark.parametrize(("raw", "message"), [
    (b"name: caf\xe9\nbase_url: http://gw\n", ":1: not UTF-8 text (byte 0xe9)"),
    (b"base_url: http://gw\nshared: [" + b"[" * 10_000 + b"]" * 10_001 + b"\n", ":2: nested deeper than 64 levels"),
    (b"base_url: [http://gw\n", ":2: not valid YAML: "),
    (b"- http://gw\n", ":1: a target profile is a mapping"),
], ids=["latin-1", "deep", "syntax", "a list"])
def test_unreadable_profiles_are_one_line(tmp_path: Path, raw: bytes, message: str) -> None:
    assert message in _error(_write(tmp_path, raw))


@pytest.mark.parametrize(("env", "message"), [
    ({"CALLPROBE_TARGET_URL": "http://gw:99999"}, "CALLPROBE_TARGET_URL: 'http://gw:99999' has port 99999"),
    ({"CALLPROBE_TARGET_URL": "gw:8080"}, "CALLPROBE_TARGET_URL: 'gw:8080' is not an http:// or https:// URL"),
    ({"CALLPROBE_TARGET_URL": "http://gw", "CALLPROBE_METRICS_URL": "metrics"}, "CALLPROBE_METRICS_URL: 'metrics' is not an http"),
    ({"CALLPROBE_TARGET_URL": "http://gw", "CALLPROBE_ALERT_SINK_URL": "http://:1/"}, "CALLPROBE_ALERT_SINK_URL: 'http://:1/' has no"),
])
def test_a_profile_from_the_environment_names_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        profile_from_env(env)
    assert str(err.value).startswith(message), err.value


def test_pytest_reports_a_non_utf8_profile_as_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    (pytester.mkdir("scenarios") / "s.yaml").write_text("name: s\nsteps: [{event: call_started}]\n")
    (pytester.path / "target.yaml").write_bytes(b"base_url: http://127.0.0.1:1/caf\xe9\n")
    result = pytester.runpytest("scenarios", "--target", "target.yaml", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: target.yaml:1: not UTF-8 text (byte 0xe9); save the file as UTF-8"])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


def test_pytest_reports_a_bad_target_url_variable_as_a_usage_error(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makeini(INI)
    (pytester.mkdir("scenarios") / "s.yaml").write_text("name: s\nsteps: [{event: call_started}]\n")
    monkeypatch.setenv("CALLPROBE_TARGET_URL", "http://127.0.0.1:70000")
    result = pytester.runpytest("scenarios", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: CALLPROBE_TARGET_URL: 'http://127.0.0.1:70000' has port 70000, outside 1-65535"])
