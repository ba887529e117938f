"""Place one scenario's synthetic calls against a target and return a Verdict.

This is the pipeline in one place: script the Cal.com mock, mark every
evidence source, replay the plan, collect telemetry until the expectations are
visible or the deadline passes, run the checks, and clean up (cancel what was
booked, clear the script) whatever happened. A failed probe still reports:
an evidence source that cannot be read (metrics endpoint down, log backend
gone) is recorded in the evidence and dropped for the rest of the run, and the
``telemetry-reachable`` check says which and why, beside whatever the missing
evidence made fail.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from dataclasses import dataclass, fields
from typing import TypeVar

import httpx

from ._calcom import CalcomScript
from ._checks import TELEMETRY_CHECKS, delta_of, holds, metric_targets, run_checks, telemetry_limits, telemetry_seen_at
from ._errors import ObserverError, UnmappedRole
from ._evidence import CheckResult, Evidence, Exchange, Verdict
from ._gate import OPEN, Gate, is_timed
from ._observers import (
    CalcomJournal,
    LogSource,
    MetricsScraper,
    SentrySink,
    SlackSink,
    TraceSource,
    error_source,
    log_source,
    poll_until,
    trace_source,
)
from ._plan import Plan, build_plan
from ._profile import TargetProfile
from ._runner import RunOptions, cancel_bookings, run_plan
from ._scenario import Scenario
from ._stack_watch import StackWatch
from ._tls import tls_context

__all__ = ["Observers", "probe", "probe_sync"]

T = TypeVar("T")
POLL_MAX_S = 0.25  # the pause between polls grows to this: a second of waiting costs about eight polls
LATE_MARGIN_S = 1.0  # how long past a time-to-telemetry limit the probe keeps looking, to tell late from never
MAX_WAIT_FOR_LATE_S = 60.0  # limits beyond this are not waited out: what has not come by the deadline is "never"


@dataclass
class Observers:
    """The evidence sources a profile makes available (None = not observed)."""

    metrics: MetricsScraper | None
    logs: LogSource | None
    alerts: SlackSink | None
    calcom: CalcomJournal | None
    traces: TraceSource | None = None
    errors: SentrySink | None = None
    prometheus: StackWatch | None = None  # stack mode: Prometheus, Alertmanager and its receiver

    @classmethod
    def from_profile(cls, profile: TargetProfile, client: httpx.AsyncClient, token: str | None) -> Observers:
        metrics_url = profile.resolved_metrics_url
        return cls(
            metrics=MetricsScraper(metrics_url, token, client) if metrics_url else None,
            logs=log_source(profile, client, token),
            traces=trace_source(profile, client),
            errors=error_source(profile, client),
            alerts=SlackSink(profile.alert_sink_url, client) if profile.alert_sink_url else None,
            calcom=CalcomJournal(profile.calcom_mock_url, client) if profile.calcom_mock_url else None,
            prometheus=StackWatch.connect(client, profile.prometheus_url, profile.alertmanager_url, profile.alert_receiver_url,
                                          profile.contract)
            if profile.prometheus_url else None,
        )

    def names(self) -> tuple[str, ...]:
        """The sources this run reads, in a fixed order."""
        return tuple(f.name for f in fields(self) if getattr(self, f.name) is not None)

    async def guard(self, ev: Evidence, name: str, op: Awaitable[T]) -> T | None:
        """``await op``; if the source ``name`` cannot be read, record why in ``ev`` and stop using it."""
        try:
            return await op
        except ObserverError as exc:
            ev.source_errors.setdefault(name, str(exc))
            setattr(self, name, None)
            return None


async def _marks(obs: Observers, ev: Evidence) -> dict[str, int]:
    marks = {}
    for name in ("logs", "alerts", "calcom", "traces", "errors"):
        source = getattr(obs, name)
        if source is not None and (mark := await obs.guard(ev, name, source.mark())) is not None:
            marks[name] = mark
    return marks


def collection_deadline_s(scenario: Scenario, profile: TargetProfile) -> float:
    """How long to wait for telemetry: the profile's deadline, but past every time-to-telemetry limit.

    Waiting only until a limit would report late telemetry as missing; one
    second past the largest limit lets time-to-telemetry say "late" instead.
    """
    timed = [limit.limit_ms / 1000 for limit in telemetry_limits(scenario, profile.contract)]
    return max([profile.telemetry_deadline_s] + [t + LATE_MARGIN_S for t in timed if t <= MAX_WAIT_FOR_LATE_S])


async def _collect(scenario: Scenario, profile: TargetProfile, obs: Observers, ev: Evidence, marks: dict[str, int],
                   gate: Gate) -> None:
    """Poll every source until the telemetry checks have settled or the deadline passes."""

    async def fetch() -> None:
        async with gate.shared(io=True):
            await _fetch()

    timed_kinds = [limit.kind for limit in telemetry_limits(scenario, profile.contract)]

    needed = _needed_streams(scenario)

    async def _fetch() -> None:
        started = time.time()
        sources = (("logs", ev.logs), ("alerts", ev.alerts), ("calcom", ev.calcom), ("traces", ev.spans), ("errors", ev.error_events))
        for name, target in sources:
            if name not in needed:
                continue
            source = getattr(obs, name)
            if source is not None and (page := await obs.guard(ev, name, source.read(marks[name]))) is not None:
                items, marks[name] = page
                target.extend(items)
        if obs.metrics is not None and not _metrics_settled(scenario, ev) and (
                after := await obs.guard(ev, "metrics", obs.metrics.snapshot())) is not None:
            ev.metrics_after = after
            _note_metric_times(scenario, profile, ev)
        ev.collected_at = time.time()
        for kind in timed_kinds:  # what this read did not show was not visible when it began
            if telemetry_seen_at(kind, scenario, ev, profile.contract) is None:
                ev.unseen_at[kind] = started

    def telemetry_done() -> bool:
        return all(settled(r) for r in run_checks(scenario, ev, profile.contract, only=TELEMETRY_CHECKS))

    await poll_until(fetch, telemetry_done, collection_deadline_s(scenario, profile), max_interval_s=POLL_MAX_S)
    if scenario.expect.alerts is not None and obs.alerts is not None:
        # An alert that must not come (or must come only once) needs a quiet period to be believed.
        await poll_until(fetch, lambda: False, profile.quiet_period_s, max_interval_s=POLL_MAX_S)


def _needed_streams(scenario: Scenario) -> frozenset[str]:
    """The cursor sources a scenario's checks read while polling: spans and error events only when it expects them."""
    extra = {"traces"} if scenario.expect.traces is not None else set()
    extra |= {"errors"} if scenario.expect.errors is not None else set()
    return frozenset({"logs", "alerts", "calcom", *extra})


def settled(result: CheckResult) -> bool:
    """More waiting cannot change this result: it passed, or it measured telemetry that came late."""
    if result.passed and result.observed:
        return True
    return result.check == "time-to-telemetry" and isinstance(result.evidence, dict) and result.evidence.get("measured_ms") is not None


def _metrics_settled(scenario: Scenario, ev: Evidence) -> bool:
    """Every expected metric change has been seen: another scrape (the parser's work) would tell nothing new."""
    return ev.metrics_after is not None and all(i in ev.metric_seen_at for i in range(len(scenario.expect.metrics)))


def _note_metric_times(scenario: Scenario, profile: TargetProfile, ev: Evidence) -> None:
    """When each metric expectation first held, judged exactly as metric-delta judges it."""
    before, after = ev.metrics_before, ev.metrics_after
    if before is None or after is None:
        return
    for i, item in enumerate(scenario.expect.metrics):
        if i in ev.metric_seen_at:
            continue
        try:
            found = metric_targets(item, profile.contract, after)
        except UnmappedRole:
            continue
        if all(holds(t, delta_of(t, before, after), ev.shared) for t in found):
            ev.metric_seen_at[i] = after.taken_at


async def probe(
    scenario: Scenario, profile: TargetProfile, *, seed: int | None = None, client: httpx.AsyncClient | None = None,
    gate: Gate | None = None,
) -> Verdict:
    """Run ``scenario`` (all its calls and runs) against ``profile``'s target.

    ``gate`` is shared by probes that run concurrently in one process: a probe
    that asserts a tight latency bound sends its calls alone (see
    :class:`~probes._gate.TimingGate`).
    """
    secrets = profile.secrets()
    own = client is None
    http = client or httpx.AsyncClient(timeout=profile.request_timeout_s, verify=tls_context())
    gate = gate or OPEN
    timed = is_timed(scenario)
    try:
        obs = Observers.from_profile(profile, http, secrets.metrics_token)
        async with gate.shared():
            first = _plan(scenario, profile, secrets.retell_api_key, seed, 0)
            ev = Evidence(plan=first, sources=obs.names(), shared=profile.shared)
            if obs.calcom is not None:
                await obs.guard(ev, "calcom", obs.calcom.set_script(scenario.calcom))
            marks = await _marks(obs, ev)
        if obs.prometheus is not None:
            await obs.guard(ev, "prometheus", obs.prometheus.before(scenario))
        opts = RunOptions(base_url=profile.base_url, api_key=secrets.retell_api_key, time_scale=scenario.time_scale,
                          timeout_s=profile.request_timeout_s, contract=profile.contract, gate=gate, timed=timed)
        async with gate.shared():
            ev.started_at = time.time()
            ev.metrics_before = await obs.guard(ev, "metrics", obs.metrics.snapshot()) if obs.metrics is not None else None
        pending: tuple[Plan, list[Exchange]] | None = None
        try:
            for run in range(scenario.runs):
                async with gate.shared():
                    plan = first if run == 0 else _plan(scenario, profile, secrets.retell_api_key, seed, run)
                pending = (plan, await run_plan(plan, http, opts))  # each request passes the gate (probes._runner)
                ev.exchanges.extend(pending[1])
                if run < scenario.runs - 1:
                    async with gate.shared():
                        ev.cleanup.extend(await cancel_bookings(*pending, http, opts))
            await _collect(scenario, profile, obs, ev, marks, gate)
        finally:
            async with gate.shared():
                if obs.calcom is not None:
                    await obs.guard(ev, "calcom", obs.calcom.set_script(CalcomScript()))
                if pending is not None:
                    ev.cleanup.extend(await cancel_bookings(*pending, http, opts, extra=_journal_bookings(pending[0], ev)))
        if obs.prometheus is not None:  # after the fault is lifted, so resolution can be seen
            await obs.guard(ev, "prometheus", obs.prometheus.after(scenario, ev))
        async with gate.shared():
            ev.finished_at = time.time()
            return Verdict(scenario=scenario.name, results=run_checks(scenario, ev, profile.contract), evidence=ev)
    finally:
        if own:
            await http.aclose()


def _plan(scenario: Scenario, profile: TargetProfile, key: str, seed: int | None, run: int) -> Plan:
    return build_plan(scenario, api_key=key, seed=seed, paths=profile.paths.to_paths(), run_index=run,
                      correlation_header=profile.contract.correlation_header)


def _journal_bookings(plan: Plan, ev: Evidence) -> list[tuple[int, str]]:
    """Bookings the Cal.com journal shows for this plan's calls (by the call_id in their metadata)."""
    index = {c.call_id: c.index for c in plan.calls}
    out = []
    for entry in ev.calcom:
        body, response = entry.body, entry.response
        if entry.endpoint != "bookings.create" or entry.status != 201 or not isinstance(body, dict) or not isinstance(response, dict):
            continue
        call_id = (body.get("metadata") or {}).get("call_id")
        uid = (response.get("data") or {}).get("uid") if isinstance(response.get("data"), dict) else None
        if call_id in index and uid:
            out.append((index[call_id], str(uid)))
    return out


def probe_sync(scenario: Scenario, profile: TargetProfile, *, seed: int | None = None) -> Verdict:
    """:func:`probe` for synchronous callers (CLI, pytest items)."""
    import asyncio

    return asyncio.run(probe(scenario, profile, seed=seed))
