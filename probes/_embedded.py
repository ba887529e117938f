"""The embedded default target: reference gateway, Cal.com mock and alert sink on loopback.

Part of the fronts (it imports ``mocks``): the pytest plugin and the CLI use
it when no target is configured. The Cal.com mock and the sink live for the
whole session; each scenario gets a fresh gateway so one scenario's alert
cooldown or idempotency memory cannot leak into the next.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from mocks._serve import RunningServer, serve_in_thread
from mocks.calcom import create_app as create_calcom_app
from mocks.gateway import GatewayConfig, validate_defects
from mocks.gateway import create_app as create_gateway_app
from mocks.sinks import create_otlp_app, create_sentry_app, create_sink_app

from ._defaults import DEMO_CALCOM_API_KEY, DEMO_METRICS_TOKEN, DEMO_RETELL_API_KEY
from ._contract import Contract
from ._profile import ErrorSourceConfig, TargetProfile, TraceSourceConfig

__all__ = ["EMBEDDED_SLA", "EmbeddedWorld"]

EMBEDDED_SLA = {"logs_ms": 1000.0, "metrics_ms": 1000.0, "alerts_ms": 1000.0}


@dataclass
class EmbeddedWorld:
    """Cal.com mock + sink, and a factory for reference gateways wired to them."""

    defects: frozenset[str] = frozenset()
    calcom: RunningServer | None = None
    sink: RunningServer | None = None
    otlp: RunningServer | None = None
    sentry: RunningServer | None = None
    _gateways: list[RunningServer] = field(default_factory=list)
    _session_profile: TargetProfile | None = None

    def __post_init__(self) -> None:
        validate_defects(self.defects)  # a typo must not start a clean gateway

    def start(self) -> EmbeddedWorld:
        self.calcom = serve_in_thread(create_calcom_app())
        self.sink = serve_in_thread(create_sink_app())
        self.otlp = serve_in_thread(create_otlp_app())  # traces and error reports are on by default
        self.sentry = serve_in_thread(create_sentry_app())
        return self

    def session_gateway(self) -> TargetProfile:
        """One long-lived gateway for the whole session (the same one on every call).

        Stack mode needs it: Prometheus scrapes a stable target and its rules
        see every scenario's counters. Alert cooldown 1 s, as for any
        long-lived gateway that runs the catalogue (see README).
        """
        if self._session_profile is None:
            self._session_profile = self.gateway(alert_cooldown_s=1.0)
        return self._session_profile

    def gateway(self, defects: Collection[str] | None = None, *, alert_cooldown_s: float | None = None) -> TargetProfile:
        """Start a fresh reference gateway and return the profile that reaches it."""
        assert self.calcom is not None and self.sink is not None, "start() the world first"
        config = GatewayConfig(
            retell_api_key=DEMO_RETELL_API_KEY,
            calcom_url=self.calcom.url,
            calcom_api_key=DEMO_CALCOM_API_KEY,
            metrics_token=DEMO_METRICS_TOKEN,
            alert_webhook_url=f"{self.sink.url}/slack/alerts",
            otlp_endpoint=self.otlp.url if self.otlp is not None else None,
            sentry_dsn=f"http://public@{self.sentry.host}:{self.sentry.port}/1" if self.sentry is not None else None,
            defects=frozenset(self.defects if defects is None else defects),
            **({"alert_cooldown_s": alert_cooldown_s} if alert_cooldown_s is not None else {}),
        )
        for old in self._gateways:
            old.stop(wait=False)  # joined in stop(); no need to wait here
        # Forget the ones that have exited: a long session starts hundreds of gateways, and
        # keeping their apps alive makes every garbage collection slower (and latency noisy).
        self._gateways = [old for old in self._gateways if old.running]
        self._gateways.append(serve_in_thread(create_gateway_app(config)))
        return TargetProfile(
            name="embedded" + (f" (defects: {', '.join(sorted(config.defects))})" if config.defects else ""),
            base_url=self._gateways[-1].url,
            alert_sink_url=f"{self.sink.url}/api/messages",
            calcom_mock_url=self.calcom.url,
            traces=TraceSourceConfig(kind="receiver", url=self.otlp.url) if self.otlp is not None else TraceSourceConfig(),
            errors=ErrorSourceConfig(kind="sentry_receiver", url=self.sentry.url) if self.sentry is not None else ErrorSourceConfig(),
            demo_secrets=True,
            # On loopback the gateway's logs and metrics are written before it answers and
            # alerts are posted within milliseconds: a second is a generous time-to-telemetry
            # SLA, and waiting much longer only slows failing runs (the probe waits one second
            # past the SLA, so late telemetry is told from missing telemetry).
            contract=Contract(sla=EMBEDDED_SLA),
            telemetry_deadline_s=1.5,
            quiet_period_s=0.3,
            retell_api_key_env="CALLPROBE_EMBEDDED_UNUSED_KEY",
            metrics_token_env=None,
        )

    def stop(self) -> None:
        if self.calcom is not None:
            self.calcom.app.state.mock.release()  # hung requests would hold up the shutdown
        for server in (*self._gateways, self.sink, self.calcom, self.otlp, self.sentry):
            if server is not None:
                server.stop()
        self._gateways = []
        self._session_profile = None
