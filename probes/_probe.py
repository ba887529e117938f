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

import gc
import time
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import TypeVar

import httpx

from ._calcom import CalcomScript
from ._checks import TELEMETRY_CHECKS, run_checks
from ._checks._metrics import delta_of, holds
from ._checks._metrics import targets as metric_targets
from ._checks._telemetry import limits as telemetry_limits
from ._errors import ObserverError, UnmappedRole
from ._evidence import CheckResult, Evidence, Exchange, Verdict
from ._observers import CalcomJournal, MetricsScraper, SentrySink, SlackSink, poll_until
from ._observers._select import LogSource, TraceSource, error_source, log_source, trace_source
from ._plan import Plan, build_plan
from ._profile import TargetProfile
from ._runner import RunOptions, cancel_bookings, run_plan
from ._scenario import Scenario
from ._stack_watch import StackWatch

__all__ = ["Observers", "probe", "probe_sync"]

T = TypeVar("T")
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


async def _collect(scenario: Scenario, profile: TargetProfile, obs: Observers, ev: Evidence, marks: dict[str, int]) -> None:
    """Poll every source until the telemetry checks have settled or the deadline passes."""

    async def fetch() -> None:
        sources = (("logs", ev.logs), ("alerts", ev.alerts), ("calcom", ev.calcom), ("traces", ev.spans), ("errors", ev.error_events))
        for name, target in sources:
            source = getattr(obs, name)
            if source is not None and (page := await obs.guard(ev, name, source.read(marks[name]))) is not None:
                items, marks[name] = page
                target.extend(items)
        if obs.metrics is not None and (after := await obs.guard(ev, "metrics", obs.metrics.snapshot())) is not None:
            ev.metrics_after = after
            _note_metric_times(scenario, profile, ev)
        ev.collected_at = time.time()

    def telemetry_done() -> bool:
        return all(settled(r) for r in run_checks(scenario, ev, profile.contract, only=TELEMETRY_CHECKS))

    await poll_until(fetch, telemetry_done, collection_deadline_s(scenario, profile))
    if scenario.expect.alerts is not None and obs.alerts is not None:
        # An alert that must not come (or must come only once) needs a quiet period to be believed.
        await poll_until(fetch, lambda: False, profile.quiet_period_s)


def settled(result: CheckResult) -> bool:
    """More waiting cannot change this result: it passed, or it measured telemetry that came late."""
    if result.passed:
        return True
    return result.check == "time-to-telemetry" and isinstance(result.evidence, dict) and result.evidence.get("measured_ms") is not None


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


_paused = 0  # probes in this process inside their measured window
_gc_was_enabled = True  # the collector's state when the first of them entered


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No automatic garbage collection while calls are timed (as ``timeit`` does).

    A full collection stops every thread for 100 ms or more; when the target
    runs in this process (the embedded default) or the harness is busy, that
    pause would be charged to the gateway's latency. Nested probes share the
    pause; collection resumes, and runs once, when the last one leaves.
    """
    global _paused, _gc_was_enabled
    if _paused == 0:
        _gc_was_enabled = gc.isenabled()
    _paused += 1
    gc.disable()
    try:
        yield
    finally:
        _paused -= 1
        if _paused == 0 and _gc_was_enabled:
            gc.enable()


async def probe(
    scenario: Scenario, profile: TargetProfile, *, seed: int | None = None, client: httpx.AsyncClient | None = None
) -> Verdict:
    """Run ``scenario`` (all its calls and runs) against ``profile``'s target."""
    secrets = profile.secrets()
    own = client is None
    http = client or httpx.AsyncClient(timeout=profile.request_timeout_s)
    try:
        obs = Observers.from_profile(profile, http, secrets.metrics_token)
        first = _plan(scenario, profile, secrets.retell_api_key, seed, 0)
        ev = Evidence(plan=first, sources=obs.names(), shared=profile.shared)
        if obs.calcom is not None:
            await obs.guard(ev, "calcom", obs.calcom.set_script(scenario.calcom))
        marks = await _marks(obs, ev)
        if obs.prometheus is not None:
            await obs.guard(ev, "prometheus", obs.prometheus.before(scenario))
        opts = RunOptions(base_url=profile.base_url, api_key=secrets.retell_api_key, time_scale=scenario.time_scale,
                          timeout_s=profile.request_timeout_s, contract=profile.contract)
        ev.started_at = time.time()
        ev.metrics_before = await obs.guard(ev, "metrics", obs.metrics.snapshot()) if obs.metrics is not None else None
        pending: tuple[Plan, list[Exchange]] | None = None
        try:
            for run in range(scenario.runs):
                plan = first if run == 0 else _plan(scenario, profile, secrets.retell_api_key, seed, run)
                with _gc_paused():
                    pending = (plan, await run_plan(plan, http, opts))
                ev.exchanges.extend(pending[1])
                if run < scenario.runs - 1:
                    ev.cleanup.extend(await cancel_bookings(*pending, http, opts))
            await _collect(scenario, profile, obs, ev, marks)
        finally:
            if obs.calcom is not None:
                await obs.guard(ev, "calcom", obs.calcom.set_script(CalcomScript()))
            if pending is not None:
                ev.cleanup.extend(await cancel_bookings(*pending, http, opts, extra=_journal_bookings(pending[0], ev)))
        if obs.prometheus is not None:  # after the fault is lifted, so resolution can be seen
            await obs.guard(ev, "prometheus", obs.prometheus.after(scenario, ev))
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
