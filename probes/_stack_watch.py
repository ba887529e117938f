"""Stack-mode evidence: PromQL answers and Alertmanager alerts around one scenario run.

The probe calls :meth:`StackWatch.before` before placing the calls and
:meth:`StackWatch.after` once they are done and the Cal.com fault is lifted.
``before`` lets alerts left over from an earlier scenario settle (a long-lived
target keeps its counters) and marks the webhook receiver; ``after`` waits
for a scrape that saw the whole run, then polls Prometheus, Alertmanager's
API and the receiver until every stack expectation holds or its deadline
passes. Nothing here sleeps blindly: every wait is a poll with a deadline.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from ._checks import promql_holds, stack_alert_holds, substitute_window
from ._contract import Contract, render_promql
from ._errors import ObserverError, UnmappedRole
from ._evidence import AlertPost, Evidence, PromqlEvaluation, StackAlertSeen
from ._observers import AlertmanagerAPI, PrometheusAPI, SlackSink, parse_go_time, poll_until
from ._scenario import PromqlExpectation, Scenario

__all__ = ["StackWatch"]

LOOKBACK_S = 1.0  # one scrape interval before the run, so rate() over $window has a sample from before it
SETTLE_DEADLINE_S = 30.0
PROMQL_DEADLINE_S = 10.0
CLOCK_SLACK_S = 0.5  # Prometheus stamps ActiveAt at an evaluation, which may precede our clock reading


@dataclass
class StackWatch:
    """Prometheus (+ Alertmanager API and its webhook receiver) for one target."""

    prometheus: PrometheusAPI
    alertmanager: AlertmanagerAPI | None = None
    receiver: SlackSink | None = None
    contract: Contract = field(default_factory=Contract)
    gateway_job: str = "gateway"
    _mark: int = 0
    _posts: list[AlertPost] = field(default_factory=list)

    @classmethod
    def connect(cls, client: httpx.AsyncClient, prometheus_url: str, alertmanager_url: str | None,
                receiver_url: str | None, contract: Contract | None = None) -> StackWatch:
        return cls(
            prometheus=PrometheusAPI(prometheus_url, client),
            alertmanager=AlertmanagerAPI(alertmanager_url, client) if alertmanager_url else None,
            receiver=SlackSink(receiver_url, client) if receiver_url else None,
            contract=contract or Contract(),
        )

    async def before(self, scenario: Scenario) -> None:
        """Wait until the scenario's alert rules are quiet, then mark the receiver."""
        names = sorted({a.alertname for a in scenario.expect.stack_alerts})
        if names:
            await self._settle(names)
        if self.receiver is not None:
            self._mark = await self.receiver.mark()

    async def _settle(self, names: list[str]) -> None:
        t0 = time.time()
        state: dict[str, Any] = {}
        selector = "|".join(names)

        async def fetch() -> None:
            state["scrape"] = await self.prometheus.last_scrape(self.gateway_job)
            state["eval"] = await self.prometheus.last_evaluation()
            state["active"] = await self.prometheus.query(f'ALERTS{{alertname=~"{selector}"}}')

        def quiet() -> bool:
            scrape, evaluated = state.get("scrape"), state.get("eval")
            return scrape is not None and scrape > t0 and evaluated is not None and evaluated > scrape and not state["active"]

        if not await poll_until(fetch, quiet, SETTLE_DEADLINE_S, interval_s=0.1):
            raise ObserverError(f"Prometheus: alerts {', '.join(names)} still active {SETTLE_DEADLINE_S:.0f} s before the run "
                                f"(left over from an earlier run): {[s.text() for s in state.get('active', [])]}")

    async def after(self, scenario: Scenario, ev: Evidence) -> None:
        """Poll until every promql/stack_alerts expectation holds or its deadline passes."""
        exp = scenario.expect
        if not exp.promql and not exp.stack_alerts:
            return
        run_end = max((x.sent_at + (x.latency_ms or 0) / 1000 for x in ev.exchanges), default=time.time())
        await self._scraped_after(run_end)
        quiet_for = max((a.within_s for a in exp.stack_alerts if not a.fired), default=0.0)
        deadline = max([PROMQL_DEADLINE_S if exp.promql else 0.0, quiet_for]
                       + [a.within_s + (a.resolved_within_s or 0) for a in exp.stack_alerts if a.fired])
        watch_start = time.time()

        async def fetch() -> None:
            await self._evaluate(exp.promql, ev)
            await self._alerts(scenario, ev, run_end)

        def done() -> bool:
            found = {e.index: e for e in ev.promql}
            promql_ok = all(promql_holds(item, found.get(i)) for i, item in enumerate(exp.promql))
            seen = {s.alertname: s for s in ev.stack_alerts}
            alerts_ok = all(stack_alert_holds(a, seen.get(a.alertname)) for a in exp.stack_alerts)
            return promql_ok and alerts_ok and time.time() - watch_start >= quiet_for

        await poll_until(fetch, done, deadline, interval_s=0.1)

    async def _scraped_after(self, when: float) -> None:
        """Wait for a scrape of the target that happened after ``when``: then Prometheus has seen the run."""
        state: dict[str, float | None] = {}

        async def fetch() -> None:
            state["scrape"] = await self.prometheus.last_scrape(self.gateway_job)

        def done() -> bool:
            scrape = state.get("scrape")
            return scrape is not None and scrape > when

        if not await poll_until(fetch, done, PROMQL_DEADLINE_S, interval_s=0.1):
            raise ObserverError(f"Prometheus at {self.prometheus.url}: no scrape of job {self.gateway_job!r} after the run "
                                f"within {PROMQL_DEADLINE_S:.0f} s (is the target up? last scrape: {state.get('scrape')})")

    async def _evaluate(self, items: list[PromqlExpectation], ev: Evidence) -> None:
        """Evaluate each expectation not yet satisfied; keep the latest answer in the evidence."""
        current = {e.index: e for e in ev.promql}
        for i, item in enumerate(items):
            if promql_holds(item, current.get(i)):
                continue
            now = time.time()
            window = math.ceil(now - ev.started_at + LOOKBACK_S)
            try:
                query = substitute_window(render_promql(self.contract, item.query), window)
            except UnmappedRole:
                continue  # the check reports it as not observed
            try:
                if item.range:
                    found = await self.prometheus.query_range(query, ev.started_at, now)
                    values = tuple((s.text(), v) for s in found for _, v in s.values)
                else:
                    values = tuple((s.text(), s.last) for s in await self.prometheus.query(query, at=now))
                current[i] = PromqlEvaluation(i, query, now, window, values)
            except ObserverError as exc:
                current[i] = PromqlEvaluation(i, query, now, window, (), error=str(exc))
        ev.promql = [current[i] for i in sorted(current)]

    async def _alerts(self, scenario: Scenario, ev: Evidence, run_end: float) -> None:
        """Fold what Alertmanager's API and the receiver show into one record per expected alert."""
        if self.receiver is not None:
            posts, self._mark = await self.receiver.read(self._mark)
            self._posts.extend(posts)
        api = await self.alertmanager.alerts() if self.alertmanager is not None else []
        records = {s.alertname: s for s in ev.stack_alerts}
        for item in scenario.expect.stack_alerts:
            rec = records.get(item.alertname) or StackAlertSeen(item.alertname, ev.started_at, run_end)
            since = rec.fault_at - CLOCK_SLACK_S
            if rec.firing_api_at is None and any(a.name == item.alertname and (a.starts_at or 0) >= since for a in api):
                rec = replace(rec, firing_api_at=time.time())
            records[item.alertname] = _from_posts(rec, self._posts, since)
        ev.stack_alerts = list(records.values())


def _from_posts(rec: StackAlertSeen, posts: list[AlertPost], since: float) -> StackAlertSeen:
    """Firing/resolved times and grouping of ``rec``'s alert from Alertmanager webhook posts."""
    for post in posts:
        body = post.payload
        ours = [a for a in body.get("alerts", []) if isinstance(a, dict) and (a.get("labels") or {}).get("alertname") == rec.alertname
                and (parse_go_time(a.get("startsAt")) or 0) >= since]
        if not ours:
            continue
        grouped = body.get("groupLabels") == {"alertname": rec.alertname}
        rec = replace(rec, grouped=grouped if rec.grouped is not False else False, group_key=str(body.get("groupKey")))
        if rec.firing_webhook_at is None and any(a.get("status") == "firing" for a in ours):
            rec = replace(rec, firing_webhook_at=post.seen_at)
        if rec.resolved_webhook_at is None and any(a.get("status") == "resolved" for a in ours):
            rec = replace(rec, resolved_webhook_at=post.seen_at)
    return rec
