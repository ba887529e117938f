"""The embedded default target: reference gateway, Cal.com mock and alert sink on loopback.

Part of the fronts (it imports ``mocks``): the pytest plugin and the CLI use
it when no target is configured. Each scenario gets a fresh gateway, so one
scenario's alert cooldown or idempotency memory cannot leak into the next.

Scenarios may run concurrently: each one then *leases* a lane of its own, a
Cal.com mock and an alert sink that no other running scenario touches (a
scripted Cal.com fault or an alert must not reach a neighbour), with a fresh
gateway wired to them. Lanes are kept for the session and reused; the trace
and error receivers are shared, since their evidence is keyed by trace id and
call tags.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from mocks._serve import RunningServer, serve_in_thread
from mocks.calcom import create_app as create_calcom_app
from mocks.gateway import GatewayConfig, validate_defects
from mocks.gateway import create_app as create_gateway_app
from mocks.sinks import create_otlp_app, create_sentry_app, create_sink_app

from ._contract import Contract
from ._defaults import DEMO_CALCOM_API_KEY, DEMO_METRICS_TOKEN, DEMO_RETELL_API_KEY
from ._gate import OPEN, Gate
from ._profile import ErrorSourceConfig, TargetProfile, TraceSourceConfig

__all__ = ["EMBEDDED_SLA", "EmbeddedWorld", "Lane"]

EMBEDDED_SLA = {"logs_ms": 1000.0, "metrics_ms": 1000.0, "alerts_ms": 1000.0}


@dataclass
class Lane:
    """A Cal.com mock and an alert sink used by one scenario at a time, and the gateways started on them."""

    calcom: RunningServer
    sink: RunningServer
    gateways: list[RunningServer] = field(default_factory=list)

    def stop(self) -> None:
        self.calcom.app.state.mock.release()  # hung requests would hold up the shutdown
        for server in (*self.gateways, self.sink, self.calcom):
            server.stop()
        self.gateways = []


@dataclass
class EmbeddedWorld:
    """Lanes of Cal.com mock + sink, shared trace and error receivers, and reference gateways wired to them."""

    defects: frozenset[str] = frozenset()
    otlp: RunningServer | None = None
    sentry: RunningServer | None = None
    _lanes: list[Lane] = field(default_factory=list)
    _free: list[Lane] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _session_profile: TargetProfile | None = None

    def __post_init__(self) -> None:
        validate_defects(self.defects)  # a typo must not start a clean gateway

    @property
    def calcom(self) -> RunningServer | None:
        """The first lane's Cal.com mock (the one :meth:`gateway` uses)."""
        return self._lanes[0].calcom if self._lanes else None

    @property
    def sink(self) -> RunningServer | None:
        return self._lanes[0].sink if self._lanes else None

    def start(self) -> EmbeddedWorld:
        self.otlp = serve_in_thread(create_otlp_app())  # traces and error reports are on by default
        self.sentry = serve_in_thread(create_sentry_app())
        self._lanes.append(self._new_lane())
        return self

    def _new_lane(self) -> Lane:
        return Lane(calcom=serve_in_thread(create_calcom_app()), sink=serve_in_thread(create_sink_app()))

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
        """Start a fresh reference gateway on the first lane (stopping its earlier ones) and return its profile."""
        assert self._lanes, "start() the world first"
        lane = self._lanes[0]
        for old in lane.gateways:
            old.stop(wait=False)  # joined in stop(); no need to wait here
        # Forget the ones that have exited: a long session starts hundreds of gateways, and
        # keeping their apps alive makes every garbage collection slower (and latency noisy).
        lane.gateways = [old for old in lane.gateways if old.running]
        return self._start_gateway(lane, defects, alert_cooldown_s)

    def _start_gateway(self, lane: Lane, defects: Collection[str] | None, alert_cooldown_s: float | None) -> TargetProfile:
        config = GatewayConfig(
            retell_api_key=DEMO_RETELL_API_KEY,
            calcom_url=lane.calcom.url,
            calcom_api_key=DEMO_CALCOM_API_KEY,
            metrics_token=DEMO_METRICS_TOKEN,
            alert_webhook_url=f"{lane.sink.url}/slack/alerts",
            otlp_endpoint=self.otlp.url if self.otlp is not None else None,
            sentry_dsn=f"http://public@{self.sentry.host}:{self.sentry.port}/1" if self.sentry is not None else None,
            defects=frozenset(self.defects if defects is None else defects),
            alert_cooldown_s=GatewayConfig.alert_cooldown_s if alert_cooldown_s is None else alert_cooldown_s,
        )
        lane.gateways.append(serve_in_thread(create_gateway_app(config)))
        return self._profile(lane, lane.gateways[-1], config.defects)

    def _profile(self, lane: Lane, gateway: RunningServer, defects: frozenset[str]) -> TargetProfile:
        return TargetProfile(
            name="embedded" + (f" (defects: {', '.join(sorted(defects))})" if defects else ""),
            base_url=gateway.url,
            alert_sink_url=f"{lane.sink.url}/api/messages",
            calcom_mock_url=lane.calcom.url,
            traces=TraceSourceConfig(kind="receiver", url=self.otlp.url) if self.otlp is not None else TraceSourceConfig(),
            errors=ErrorSourceConfig(kind="sentry_receiver", url=self.sentry.url) if self.sentry is not None else ErrorSourceConfig(),
            demo_secrets=True,
            # On loopback the gateway's logs and metrics are written before it answers and
            # alerts are posted within milliseconds: a second is a generous time-to-telemetry
            # SLA, and waiting much longer only slows failing runs (the probe waits one second
            # past the SLA, so late telemetry is told from missing telemetry).
            contract=Contract.model_validate({"sla": EMBEDDED_SLA}),
            telemetry_deadline_s=1.5,
            quiet_period_s=0.3,
            retell_api_key_env="CALLPROBE_EMBEDDED_UNUSED_KEY",
            metrics_token_env=None,
        )

    @asynccontextmanager
    async def lease(self, defects: Collection[str] | None = None, *, gate: Gate = OPEN) -> AsyncIterator[TargetProfile]:
        """A fresh gateway on a lane no other running scenario uses; the lane is returned afterwards.

        Servers start and stop in a worker thread inside ``gate.shared()``: the
        probes' event loop never blocks on them, and no timed probe is measured
        while they do.
        """
        async with gate.shared():
            lane = await asyncio.to_thread(self._take_lane)
        try:
            async with gate.shared():
                profile = await asyncio.to_thread(self._start_gateway, lane, defects, None)
            yield profile
        finally:
            for server in lane.gateways:
                server.stop(wait=False)
            lane.gateways = [g for g in lane.gateways if g.running]
            with self._lock:
                self._free.append(lane)

    def _take_lane(self) -> Lane:
        with self._lock:
            if self._free:
                return self._free.pop()
        lane = self._new_lane()
        with self._lock:
            self._lanes.append(lane)
        return lane

    def stop(self) -> None:
        for lane in self._lanes:
            lane.stop()
        for server in (self.otlp, self.sentry):
            if server is not None:
                server.stop()
        self._lanes, self._free = [], []
        self._session_profile = None
