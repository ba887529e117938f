"""Place one scenario's synthetic calls against a target and return a Verdict.

This is the pipeline in one place: script the Cal.com mock, mark every
evidence source, replay the plan, collect telemetry until the expectations are
visible or the deadline passes, run the checks, and clean up (cancel what was
booked, clear the script) whatever happened. A failed probe still reports.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from ._calcom import CalcomScript
from ._checks import TELEMETRY_CHECKS, run_checks
from ._evidence import Evidence, Exchange, Verdict
from ._observers import CalcomJournal, MetricsScraper, SentrySink, SlackSink, poll_until
from ._observers._select import LogSource, TraceSource, error_source, log_source, trace_source
from ._plan import Plan, build_plan
from ._profile import TargetProfile
from ._runner import RunOptions, cancel_bookings, run_plan
from ._scenario import Scenario
from ._stack_watch import StackWatch

__all__ = ["Observers", "probe", "probe_sync"]


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
            prometheus=StackWatch.connect(client, profile.prometheus_url, profile.alertmanager_url, profile.alert_receiver_url)
            if profile.prometheus_url else None,
        )


async def _marks(obs: Observers) -> dict[str, int]:
    marks = {}
    for name in ("logs", "alerts", "calcom", "traces", "errors"):
        source = getattr(obs, name)
        if source is not None:
            marks[name] = await source.mark()
    return marks


async def _collect(scenario: Scenario, profile: TargetProfile, obs: Observers, ev: Evidence, marks: dict[str, int]) -> None:
    """Poll every source until the telemetry checks pass or the deadline passes."""

    async def fetch() -> None:
        sources = (("logs", ev.logs), ("alerts", ev.alerts), ("calcom", ev.calcom), ("traces", ev.spans), ("errors", ev.error_events))
        for name, target in sources:
            source = getattr(obs, name)
            if source is not None:
                items, marks[name] = await source.read(marks[name])
                target.extend(items)
        if obs.metrics is not None:
            ev.metrics_after = await obs.metrics.snapshot()
            _note_metric_times(scenario, profile, ev)

    def telemetry_done() -> bool:
        results = run_checks(scenario, ev, profile.contract)
        return all(r.passed for r in results if r.check in TELEMETRY_CHECKS)

    await poll_until(fetch, telemetry_done, profile.telemetry_deadline_s)
    if scenario.expect.alerts is not None and obs.alerts is not None:
        # An alert that must not come (or must come only once) needs a quiet period to be believed.
        await poll_until(fetch, lambda: False, profile.quiet_period_s)


def _note_metric_times(scenario: Scenario, profile: TargetProfile, ev: Evidence) -> None:
    if ev.metrics_before is None or ev.metrics_after is None:
        return
    c = profile.contract
    for i, m in enumerate(scenario.expect.metrics):
        if i in ev.metric_seen_at:
            continue
        name = c.metric(m.name) + ("_count" if m.count_delta is not None else "")
        want = m.delta if m.delta is not None else m.count_delta
        if want is None:
            continue
        labels = c.labels(m.labels)
        if ev.metrics_after.value(name, labels) - ev.metrics_before.value(name, labels) >= want > 0:
            ev.metric_seen_at[i] = ev.metrics_after.taken_at


async def probe(
    scenario: Scenario, profile: TargetProfile, *, seed: int | None = None, client: httpx.AsyncClient | None = None
) -> Verdict:
    """Run ``scenario`` (all its calls and runs) against ``profile``'s target."""
    secrets = profile.secrets()
    own = client is None
    http = client or httpx.AsyncClient(timeout=profile.request_timeout_s)
    try:
        obs = Observers.from_profile(profile, http, secrets.metrics_token)
        if obs.calcom is not None:
            await obs.calcom.set_script(scenario.calcom)
        marks = await _marks(obs)
        if obs.prometheus is not None:
            await obs.prometheus.before(scenario)
        opts = RunOptions(base_url=profile.base_url, api_key=secrets.retell_api_key, time_scale=scenario.time_scale, timeout_s=profile.request_timeout_s)
        first = build_plan(scenario, api_key=secrets.retell_api_key, seed=seed, paths=profile.paths.to_paths())
        ev = Evidence(plan=first, started_at=time.time(), traces_observed=obs.traces is not None, errors_observed=obs.errors is not None)
        ev.metrics_before = await obs.metrics.snapshot() if obs.metrics is not None else None
        pending: tuple[Plan, list[Exchange]] | None = None
        try:
            for run in range(scenario.runs):
                plan = first if run == 0 else build_plan(scenario, api_key=secrets.retell_api_key, seed=seed, paths=profile.paths.to_paths(), run_index=run)
                pending = (plan, await run_plan(plan, http, opts))
                ev.exchanges.extend(pending[1])
                if run < scenario.runs - 1:
                    ev.cleanup.extend(await cancel_bookings(*pending, http, opts))
            await _collect(scenario, profile, obs, ev, marks)
        finally:
            if obs.calcom is not None:
                await obs.calcom.set_script(CalcomScript())
            if pending is not None:
                ev.cleanup.extend(await cancel_bookings(*pending, http, opts, extra=_journal_bookings(pending[0], ev)))
        if obs.prometheus is not None:  # after the fault is lifted, so resolution can be seen
            await obs.prometheus.after(scenario, ev)
        ev.finished_at = time.time()
        return Verdict(scenario=scenario.name, results=run_checks(scenario, ev, profile.contract), evidence=ev)
    finally:
        if own:
            await http.aclose()


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
