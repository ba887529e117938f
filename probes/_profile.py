"""Target profiles: where a gateway is and what its contract is called.

The catalogue is written in the contract's roles (docs/contract.md); a
profile says where the gateway listens, where its metrics, logs, alerts and
Cal.com mock can be read, and how the contract names differ. Secrets are never
stored in the file: the profile names the environment variables that hold them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ._contract import Contract
from ._defaults import DEMO_CALCOM_API_KEY, DEMO_METRICS_TOKEN, DEMO_RETELL_API_KEY, ENV_METRICS_TOKEN, ENV_RETELL_API_KEY
from ._errors import ConfigError
from ._plan import Paths
from ._printable import clip
from ._yaml import YamlDocument, YamlProblem, field_path, first_problem, load_yaml_file, plain_problem

__all__ = [
    "Contract",
    "ErrorSourceConfig",
    "LoadPolicy",
    "LogSourceConfig",
    "Secrets",
    "TargetProfile",
    "TraceSourceConfig",
    "load_profile",
    "profile_from_env",
    "read_config_yaml",
]


MAX_WAIT_S = 600.0  # the longest a request timeout, telemetry deadline or quiet period may be
_HOST = re.compile(r"[A-Za-z0-9._-]+|[0-9A-Fa-f:.]+")  # a name, an IPv4 or an IPv6 address (httpx drops the brackets)
_ENV_FIELDS = {"base_url": "CALLPROBE_TARGET_URL", "metrics_url": "CALLPROBE_METRICS_URL", "logs": "CALLPROBE_LOG_FILE",
               "alert_sink_url": "CALLPROBE_ALERT_SINK_URL", "calcom_mock_url": "CALLPROBE_CALCOM_MOCK_URL"}


def http_url(value: str | None) -> str | None:
    """``value`` when it is an absolute http(s) URL with a host and a port in 1-65535; ValueError naming what is wrong.

    httpx takes ``localhost:8080`` (scheme ``localhost``) and port 99999
    without complaint and fails only when the first request is made.
    """
    if value is None:
        return None
    try:
        url = httpx.URL(value)
        port = url.port
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValueError(f"{clip(repr(value), 80)} is not a URL ({exc})") from None
    if url.scheme not in ("http", "https"):
        raise ValueError(f"{clip(repr(value), 80)} is not an http:// or https:// URL")
    if not url.host or not _HOST.fullmatch(url.host):
        raise ValueError(f"{clip(repr(value), 80)} has no valid host")
    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"{clip(repr(value), 80)} has port {port}, outside 1-65535")
    return value


def _urls(*fields: str) -> Any:
    """A field validator that checks ``fields`` with :func:`http_url`."""
    return field_validator(*fields)(lambda cls, value: http_url(value))


class _Model(BaseModel):
    # A NaN or infinite timeout is never meant: NaN turns every wait into no wait, infinity into a hang.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class PathsConfig(_Model):
    """Where the target listens: Retell's three kinds of request, and the path roles of plain steps."""

    webhook: str = "/api/retell/webhook"
    inbound: str = "/api/retell/inbound"
    function: str = Field(default="/api/retell/functions/{name}", description="{name} is replaced by the function's name")
    health: str = "/health"
    ready: str = "/health/ready"

    @model_validator(mode="after")
    def _shapes(self) -> PathsConfig:
        for name, value in self.model_dump().items():
            if not value.startswith("/"):
                raise ValueError(f"paths.{name}: {value!r} must start with /")
        if "{name}" not in self.function:
            raise ValueError(f"paths.function: {self.function!r} has no {{name}} placeholder for the function's name")
        return self

    def to_paths(self) -> Paths:
        return Paths(**self.model_dump())


class LogSourceConfig(_Model):
    kind: Literal["gateway", "file", "loki", "elasticsearch", "none"] = "gateway"
    url: str | None = Field(default=None, description="log stream (kind=gateway), default <base_url>/api/logs; Loki/Elasticsearch base URL")
    path: str | None = Field(default=None, description="JSON-lines file (kind=file)")
    query: str | None = Field(default=None, description="LogQL stream selector (kind=loki), e.g. {app=\"gateway\"}")
    index: str | None = Field(default=None, description="index or pattern (kind=elasticsearch), e.g. gateway-logs-*")
    timestamp_field: str = Field(default="@timestamp", description="kind=elasticsearch: the date field to range and sort on")

    _url = _urls("url")

    @model_validator(mode="after")
    def _complete(self) -> LogSourceConfig:
        needs = {"file": ("path",), "loki": ("url", "query"), "elasticsearch": ("url", "index")}.get(self.kind, ())
        missing = [name for name in needs if not getattr(self, name)]
        if missing:
            raise ValueError(f"logs.kind={self.kind} needs {' and '.join(missing)}")
        return self


class TraceSourceConfig(_Model):
    """Where spans are read: callprobe's OTLP receiver, a Jaeger or a Tempo query API."""

    kind: Literal["receiver", "jaeger", "tempo", "none"] = "none"
    url: str | None = Field(default=None, description="receiver base URL, Jaeger query (:16686) or Tempo (:3200)")
    service: str = Field(default="callprobe-reference-gateway", description="the gateway's service.name (jaeger/tempo search)")

    _url = _urls("url")


class ErrorSourceConfig(_Model):
    """Where error events are read: callprobe's Sentry envelope receiver."""

    kind: Literal["sentry_receiver", "none"] = "none"
    url: str | None = Field(default=None, description="the receiver's base URL (GET <url>/api/events)")

    _url = _urls("url")


class LoadPolicy(_Model):
    """Whether callprobe may load this target: loopback always, any other host only when allowed here."""

    allowed: bool = Field(default=False, description="a load run may target this (non-loopback) host")
    max_rate: float | None = Field(default=None, gt=0, description="calls/s a load run may start at most (default: callprobe load's cap)")


class TargetProfile(_Model):
    name: str = "embedded"
    base_url: str
    paths: PathsConfig = Field(default_factory=PathsConfig)
    retell_api_key_env: str = ENV_RETELL_API_KEY
    metrics_url: str | None = Field(default=None, description="default <base_url>/api/metrics; null disables")
    metrics_token_env: str | None = ENV_METRICS_TOKEN
    logs: LogSourceConfig = Field(default_factory=LogSourceConfig)
    traces: TraceSourceConfig = Field(default_factory=TraceSourceConfig)
    errors: ErrorSourceConfig = Field(default_factory=ErrorSourceConfig)
    alert_sink_url: str | None = Field(default=None, description="the sink's messages API (GET …/api/messages)")
    calcom_mock_url: str | None = Field(default=None, description="admin API base of the Cal.com mock the target uses")
    contract: Contract = Field(default_factory=Contract)
    shared: bool = Field(default=False,
                         description="the target serves other traffic too: counter deltas are lower bounds (docs/contract.md)")
    request_timeout_s: float = Field(default=10.0, gt=0)
    telemetry_deadline_s: float = Field(default=5.0, gt=0, description="how long to wait for logs, metrics and alerts")
    quiet_period_s: float = Field(default=0.6, ge=0, description="how long to watch for alerts that must not come")
    demo_secrets: bool = Field(default=False, description="use the embedded target's public demo keys")
    prometheus_url: str | None = Field(default=None, description="stack mode: a Prometheus scraping this target (job gateway)")
    alertmanager_url: str | None = Field(default=None, description="stack mode: the Alertmanager that Prometheus sends to")
    alert_receiver_url: str | None = Field(default=None, description="stack mode: the Alertmanager webhook receiver's messages API")
    production: bool = Field(default=False, description="real callers share this target: only scenarios marked production: safe may run")
    calcom_api_url: str | None = Field(default=None, description="the Cal.com API the target books in (https://api.cal.com): "
                                       "cleanup and callprobe janitor; default calcom_mock_url")
    calcom_api_key_env: str = Field(default="CALCOM_API_KEY", description="environment variable holding that API's key (Bearer)")
    cleanup: Literal["gateway", "calcom"] = Field(
        default="gateway", description="cancel what a probe booked through the gateway's cancel_appointment (falling back to "
                                       "the Cal.com API when it is configured) or through the Cal.com API alone")
    load: LoadPolicy = Field(default_factory=LoadPolicy, description="load runs (callprobe load): allowed hosts and rate cap")

    _url = _urls("base_url", "metrics_url", "alert_sink_url", "calcom_mock_url", "prometheus_url", "alertmanager_url",
                 "alert_receiver_url", "calcom_api_url")

    @field_validator("request_timeout_s", "telemetry_deadline_s", "quiet_period_s")
    @classmethod
    def _wait(cls, seconds: float) -> float:
        if seconds > MAX_WAIT_S:
            raise ValueError(f"{seconds:g} s is longer than the {MAX_WAIT_S:g} s a probe waits for anything")
        return seconds

    @property
    def resolved_metrics_url(self) -> str | None:
        if self.metrics_url is None and "metrics_url" in self.model_fields_set:
            return None  # written as null: the target has no metrics endpoint to read
        return self.metrics_url if self.metrics_url is not None else f"{self.base_url.rstrip('/')}/api/metrics"

    @property
    def resolved_log_url(self) -> str:
        return self.logs.url or f"{self.base_url.rstrip('/')}/api/logs"

    @property
    def resolved_calcom_api_url(self) -> str | None:
        return self.calcom_api_url or self.calcom_mock_url

    def calcom_api_key(self) -> str | None:
        """The Cal.com API key (``calcom_api_key_env``; the embedded demo key with ``demo_secrets``), or None."""
        return os.environ.get(self.calcom_api_key_env) or (DEMO_CALCOM_API_KEY if self.demo_secrets else None)

    def secrets(self) -> Secrets:
        key = os.environ.get(self.retell_api_key_env) or (DEMO_RETELL_API_KEY if self.demo_secrets else "")
        if not key:
            raise ConfigError(f"target {self.name!r}: the Retell API key is not set (environment variable {self.retell_api_key_env})")
        token = os.environ.get(self.metrics_token_env) if self.metrics_token_env else None
        if token is None and self.demo_secrets:
            token = DEMO_METRICS_TOKEN
        return Secrets(retell_api_key=key, metrics_token=token, calcom_api_key=self.calcom_api_key())

    def secret_values(self) -> list[str]:
        """The resolved secret values (none when unset), for a redactor to mask wherever they appear."""
        try:
            return self.secrets().values()
        except ConfigError:
            return []


class Secrets:
    """Keys resolved from the environment; ``repr`` never shows them."""

    __slots__ = ("calcom_api_key", "metrics_token", "retell_api_key")

    def __init__(self, *, retell_api_key: str, metrics_token: str | None, calcom_api_key: str | None = None) -> None:
        self.retell_api_key = retell_api_key
        self.metrics_token = metrics_token
        self.calcom_api_key = calcom_api_key

    def __repr__(self) -> str:
        return "Secrets(retell_api_key=[redacted], metrics_token=[redacted], calcom_api_key=[redacted])"

    def values(self) -> list[str]:
        return [v for v in (self.retell_api_key, self.metrics_token, self.calcom_api_key) if v]


def read_config_yaml(path: Path, what: str) -> YamlDocument:
    """A hand-written configuration file (``what``: "the target profile", "the config file"), read by probes._yaml.

    A file that cannot be read or is not safe YAML is a ConfigError naming the file and line.
    """
    try:
        return load_yaml_file(path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    except YamlProblem as exc:
        raise ConfigError(f"{path}{f':{exc.line}' if exc.line else ''}: {exc}") from None


def load_profile(path: str | Path) -> TargetProfile:
    """Read a profile YAML file; errors name the file, the line and the field."""
    p = Path(path)
    doc = read_config_yaml(p, "the target profile")
    data = doc.data
    if not isinstance(data, dict):
        raise ConfigError(f"{p}:1: a target profile is a mapping with at least base_url")
    problem = plain_problem(data)
    if problem is not None:
        raise ConfigError(f"{p}:{doc.line_of(problem[0])}: {field_path(problem[0])}: {problem[1]}")
    try:
        return TargetProfile.model_validate({"name": p.stem, **data})
    except ValidationError as exc:
        loc, message = first_problem(exc)
        raise ConfigError(f"{p}:{doc.line_of(loc)}: {field_path(loc)}: {message}") from None


def profile_from_env(environ: dict[str, str] | None = None) -> TargetProfile | None:
    """A profile from ``CALLPROBE_TARGET_URL`` & co., or None when that is unset."""
    env = os.environ if environ is None else environ
    url = env.get("CALLPROBE_TARGET_URL")
    if not url:
        return None
    logs: dict[str, Any] = {"kind": "file", "path": env["CALLPROBE_LOG_FILE"]} if env.get("CALLPROBE_LOG_FILE") else {}
    try:
        metrics = {"metrics_url": env["CALLPROBE_METRICS_URL"]} if env.get("CALLPROBE_METRICS_URL") else {}  # unset: the default
        return TargetProfile.model_validate({
            "name": "env",
            "base_url": url,
            **metrics,
            "logs": logs,
            "alert_sink_url": env.get("CALLPROBE_ALERT_SINK_URL"),
            "calcom_mock_url": env.get("CALLPROBE_CALCOM_MOCK_URL"),
        })
    except ValidationError as exc:
        loc, message = first_problem(exc)
        raise ConfigError(f"{_ENV_FIELDS.get(str(loc[0]) if loc else '', 'CALLPROBE_TARGET_URL')}: {message}") from None
