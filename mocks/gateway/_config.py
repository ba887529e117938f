"""Configuration of the reference gateway (one frozen value per app instance)."""

from __future__ import annotations

from dataclasses import dataclass, field

from probes._defaults import DEMO_METRICS_TOKEN
from probes._errors import ConfigError

from ._defects import validate_defects

__all__ = ["GatewayConfig"]


@dataclass(frozen=True)
class GatewayConfig:
    """Everything a gateway instance needs; secrets are never rendered by ``repr``.

    ``defects`` names seeded defects from :data:`mocks.gateway.DEFECTS`; an
    unknown name raises :class:`probes._errors.ConfigError` at construction so
    a typo cannot start a clean gateway by accident.
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
    defects: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "defects", validate_defects(self.defects))
        object.__setattr__(self, "calcom_url", self.calcom_url.rstrip("/"))
        if self.otlp_endpoint:
            object.__setattr__(self, "otlp_endpoint", self.otlp_endpoint.rstrip("/"))
        if not self.retell_api_key:
            raise ConfigError("GatewayConfig.retell_api_key is empty: the gateway cannot verify X-Retell-Signature")
        if not self.metrics_token:
            raise ConfigError("GatewayConfig.metrics_token is empty: /api/metrics and /api/logs need a bearer token")
        if self.alert_threshold < 1:
            raise ConfigError(f"GatewayConfig.alert_threshold must be >= 1, got {self.alert_threshold}")
        if self.calcom_timeout_s <= 0:
            raise ConfigError(f"GatewayConfig.calcom_timeout_s must be > 0, got {self.calcom_timeout_s}")

    def has(self, defect: str) -> bool:
        """True when the named seeded defect is switched on."""
        return defect in self.defects
