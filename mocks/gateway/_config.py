"""Configuration of the reference gateway (one frozen value per app instance).

A gateway that starts with a value it cannot use answers every request with
a 500 later (an ``ftp://`` Cal.com URL, a NaN timeout, a log file in a folder
that does not exist), which a test run reads as a gateway defect. So
:class:`GatewayConfig` refuses such values when it is made, with a
:class:`~probes._errors.ConfigError` naming the field. Webhook URLs and DSNs
carry secrets: their messages name the field and the problem, never the value.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sentry_sdk.utils import BadDsn, Dsn

from probes._defaults import DEMO_METRICS_TOKEN
from probes._errors import ConfigError
from probes._signing import SIGNATURE_TOLERANCE_MS

from ._defects import Defect, validate_defects

__all__ = ["GatewayConfig"]

_HOST = re.compile(r"[A-Za-z0-9._:-]+")  # what httpx leaves of a usable host: names, IDNA (xn--), IPv4, IPv6


def _url_problem(value: object) -> str | None:
    """Why ``value`` is not an http(s) URL with a host and a usable port (``None``: it is).

    Parsed with httpx, the client that will use it; the reasons quote only
    the scheme and port, which are never secret.
    """
    if not isinstance(value, str):
        return f"must be a URL string, got {type(value).__name__}"
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL as exc:
        return "is not a URL" + (" (bad port)" if "port" in str(exc).lower() else "")
    if url.scheme not in ("http", "https"):
        return f"must be an http or https URL, not {url.scheme or 'scheme-less'!r}"
    host = url.raw_host.decode("ascii", "replace")  # as sent: IDNA names stay xn--
    if not host or not _HOST.fullmatch(host):
        return "has no usable host"
    if url.port is not None and not 1 <= url.port <= 65535:
        return f"has port {url.port}, outside 1-65535"
    return None


def _number_problem(value: object, *, minimum: float, inclusive: bool) -> str | None:
    """Why ``value`` is not a finite number at or above (or above) ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number, got {type(value).__name__}"
    if not math.isfinite(value):
        return f"must be a finite number, got {value}"
    if value < minimum or (value == minimum and not inclusive):
        return f"must be {'>=' if inclusive else '>'} {minimum:g}, got {value:g}"
    return None


def _log_file_problem(path: str) -> str | None:
    """Why the gateway could not append to ``path`` (``None``: it can)."""
    target = Path(path)
    folder = target.parent
    if target.is_dir():
        return f"{path} is a folder, not a file"
    if not folder.is_dir():
        return f"folder {folder} does not exist"
    if not os.access(folder, os.W_OK | os.X_OK) or (target.exists() and not os.access(target, os.W_OK)):
        return f"{path} is not writable"
    return None


@dataclass(frozen=True)
class GatewayConfig:
    """Everything a gateway instance needs; secrets are never rendered by ``repr``.

    ``defects`` names seeded defects from :data:`mocks.gateway.DEFECTS`; an
    unknown name raises :class:`probes._errors.ConfigError` at construction so
    a typo cannot start a clean gateway by accident. Every other field is
    checked then too (see the module docstring).
    """

    retell_api_key: str = field(repr=False)
    calcom_url: str = "https://api.cal.com"
    calcom_api_key: str | None = field(default=None, repr=False)
    event_type_id: int = 1001
    metrics_token: str = field(default=DEMO_METRICS_TOKEN, repr=False)
    alert_webhook_url: str | None = field(default=None, repr=False)
    log_file: str | None = None
    company_id: str = "default"
    calcom_timeout_s: float = 2.0
    alert_threshold: int = 1
    alert_window_s: float = 60
    alert_cooldown_s: float = 300
    otlp_endpoint: str | None = None  # OTLP/HTTP base URL; spans go to <otlp_endpoint>/v1/traces
    sentry_dsn: str | None = field(default=None, repr=False)  # a DSN carries a key: never rendered
    defects: frozenset[Defect] | frozenset[str] = frozenset()  # names are turned into Defect members
    # How old a signature may be. Retell's SDK allows 5 minutes; tests of long runs inject less
    # instead of waiting 5 minutes (a load run must sign at send time to pass either way).
    signature_tolerance_ms: int = SIGNATURE_TOLERANCE_MS

    def __post_init__(self) -> None:
        object.__setattr__(self, "defects", validate_defects(self.defects))
        if not self.retell_api_key:
            raise ConfigError("GatewayConfig.retell_api_key is empty: the gateway cannot verify X-Retell-Signature")
        if not self.metrics_token:
            raise ConfigError("GatewayConfig.metrics_token is empty: /api/metrics and /api/logs need a bearer token")
        self._check_urls()
        self._check_numbers()
        self._check_log_file()
        object.__setattr__(self, "calcom_url", self.calcom_url.rstrip("/"))
        if self.otlp_endpoint:
            object.__setattr__(self, "otlp_endpoint", self.otlp_endpoint.rstrip("/"))

    def _check_urls(self) -> None:
        """Cal.com, OTLP and alert webhook URLs are http(s) with a host; the DSN is one sentry-sdk accepts."""
        urls = {"calcom_url": self.calcom_url, "otlp_endpoint": self.otlp_endpoint,
                "alert_webhook_url": self.alert_webhook_url}
        for name, value in urls.items():
            problem = _url_problem(value) if value is not None else None
            if problem:
                raise ConfigError(f"GatewayConfig.{name} {problem}")
        if self.sentry_dsn is not None:
            try:
                Dsn(self.sentry_dsn)
            except (BadDsn, ValueError, TypeError):
                raise ConfigError("GatewayConfig.sentry_dsn is not a Sentry DSN (http(s)://<public key>@<host>/<project id>)") from None

    def _check_numbers(self) -> None:
        """Timeouts, windows and cooldowns are finite and positive; the threshold is a whole number >= 1."""
        limits = {"calcom_timeout_s": (0, False), "alert_window_s": (0, False), "alert_cooldown_s": (0, True),
                  "alert_threshold": (1, True), "signature_tolerance_ms": (0, True)}
        for name, (minimum, inclusive) in limits.items():
            problem = _number_problem(getattr(self, name), minimum=minimum, inclusive=inclusive)
            if problem:
                raise ConfigError(f"GatewayConfig.{name} {problem}")
        if not isinstance(self.alert_threshold, int):
            raise ConfigError(f"GatewayConfig.alert_threshold must be a whole number, got {self.alert_threshold:g}")

    def _check_log_file(self) -> None:
        """The log file can be appended to: a gateway that cannot write its log answers every request with 500."""
        problem = _log_file_problem(self.log_file) if self.log_file else None
        if problem:
            raise ConfigError(f"GatewayConfig.log_file: {problem}")

    def has(self, defect: Defect) -> bool:
        """True when the seeded defect is switched on."""
        return defect in self.defects
