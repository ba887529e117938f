"""``GatewayConfig`` refuses what the gateway could not use, naming the field, never a secret.

Each value below used to start a gateway that answered 500 (or failed to
export) on the first request that needed it; now it is a ``ConfigError`` at
construction, which the CLI prints as one line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from mocks.gateway import GatewayConfig
from probes._errors import ConfigError

KEY = "key_test_gateway_config_not_a_secret"
SECRET_HOST = "hooks.slack.example"
SECRET_HOOK = f"{SECRET_HOST}/services/T0001/B0001/s3cr3tt0ken"


def config(**changes: Any) -> GatewayConfig:
    return GatewayConfig(retell_api_key=KEY, **changes)


@pytest.mark.parametrize("field", ["calcom_url", "otlp_endpoint", "alert_webhook_url"])
@pytest.mark.parametrize(("url", "problem"), [
    ("ftp://calcom.example", "must be an http or https URL, not 'ftp'"),
    ("calcom.example:8080", "must be an http or https URL, not 'calcom.example'"),
    ("/v2/slots", "must be an http or https URL, not 'scheme-less'"),
    ("http://", "has no usable host"),
    ("http:///v2", "has no usable host"),
    ("http://cal com.example", "has no usable host"),
    ("http://calcom.example:99999", "has port 99999, outside 1-65535"),
    ("http://calcom.example:0", "has port 0, outside 1-65535"),
    ("http://calcom.example:http", "is not a URL (bad port)"),
    ("http://calcom.example\n/x", "is not a URL"),
])
def test_unusable_urls_are_refused_by_field(field: str, url: str, problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        config(**{field: url})
    assert str(err.value) == f"GatewayConfig.{field} {problem}"


@pytest.mark.parametrize("url", ["http://127.0.0.1:8090", "https://api.cal.com/", "http://[::1]:4318", "http://xn--bcher-kva.example"])
def test_usable_urls_pass(url: str) -> None:
    made = config(calcom_url=url, otlp_endpoint=url, alert_webhook_url=url)
    assert made.calcom_url == url.rstrip("/")


@pytest.mark.parametrize(("field", "value"), [("alert_webhook_url", f"ftp://{SECRET_HOOK}"),
                                              ("alert_webhook_url", f"https://{SECRET_HOST}:99999/services/T0001/B0001/s3cr3tt0ken"),
                                              ("sentry_dsn", f"http://{SECRET_HOOK}"),
                                              ("sentry_dsn", "https://s3cr3tpublickey@sentry.example/not-a-project")])
def test_secret_urls_are_never_echoed(field: str, value: str) -> None:
    with pytest.raises(ConfigError) as err:
        config(**{field: value})
    message = str(err.value)
    assert message.startswith(f"GatewayConfig.{field} ")
    assert "s3cr3t" not in message and "hooks.slack" not in message


@pytest.mark.parametrize(("field", "value", "problem"), [
    ("alert_cooldown_s", float("nan"), "must be a finite number, got nan"),
    ("alert_cooldown_s", float("inf"), "must be a finite number, got inf"),
    ("alert_cooldown_s", -1.0, "must be >= 0, got -1"),
    ("alert_window_s", float("nan"), "must be a finite number, got nan"),
    ("alert_window_s", 0, "must be > 0, got 0"),
    ("alert_window_s", -60, "must be > 0, got -60"),
    ("alert_threshold", float("nan"), "must be a finite number, got nan"),
    ("alert_threshold", 0, "must be >= 1, got 0"),
    ("alert_threshold", 2.5, "must be a whole number, got 2.5"),
    ("alert_threshold", True, "must be a number, got bool"),
    ("calcom_timeout_s", float("nan"), "must be a finite number, got nan"),
    ("calcom_timeout_s", float("-inf"), "must be a finite number, got -inf"),
    ("calcom_timeout_s", 0, "must be > 0, got 0"),
    ("calcom_timeout_s", "2", "must be a number, got str"),
])
def test_numbers_are_finite_and_in_range(field: str, value: Any, problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        config(**{field: value})
    assert str(err.value) == f"GatewayConfig.{field} {problem}"


def test_zero_cooldown_and_fractional_seconds_pass() -> None:
    made = config(alert_cooldown_s=0, alert_window_s=0.5, calcom_timeout_s=0.25, alert_threshold=3)
    assert (made.alert_cooldown_s, made.alert_window_s) == (0, 0.5)


def test_log_file_folder_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        config(log_file=str(tmp_path / "missing" / "gateway.jsonl"))
    assert str(err.value) == f"GatewayConfig.log_file: folder {tmp_path / 'missing'} does not exist"
    with pytest.raises(ConfigError, match="is a folder, not a file"):
        config(log_file=str(tmp_path))
    assert config(log_file=str(tmp_path / "gateway.jsonl")).log_file == str(tmp_path / "gateway.jsonl")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_log_file_folder_must_be_writable(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        with pytest.raises(ConfigError) as err:
            config(log_file=str(locked / "gateway.jsonl"))
        assert str(err.value) == f"GatewayConfig.log_file: {locked / 'gateway.jsonl'} is not writable"
    finally:
        locked.chmod(0o700)
