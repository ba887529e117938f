"""Telemetry completeness under load: did every call's logs, metrics and alerts survive it?

Load tools measure response times and error codes; this compares what the run
sent with what the target shows, with the catalogue's own checks:

- per Retell event, the webhook counter moved by the events answered 2xx
  (``metric-delta``); the booking counter by the bookings confirmed, and again
  by those cancelled; the Cal.com mock's journal holds exactly that many
  successful booking and cancel requests (``calcom-requests``);
- no alert fired (``alert-count``), when the scenario expects none;
- for every call (the newest ``--telemetry-sample`` of them), its log lines
  exist and carry its own correlation ID (``correlation-in-logs``), the
  scenario's ``expect.logs`` are there for each call whose answers were all as
  expected (``log-present``), and no line with its correlation ID names
  another call.

Words come from the profile's contract (metric roles, log fields, correlation
header); nothing here knows the reference gateway's names.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .._calcom import JournalEntry
from .._checks import run_checks
from .._contract import Contract
from .._evidence import (
    AlertPost,
    CheckResult,
    Evidence,
    Exchange,
    LogLine,
    MetricsSnapshot,
)
from .._plan import Plan
from .._scenario import (
    AlertExpectation,
    CalcomExpectation,
    Expectations,
    MetricExpectation,
    Scenario,
)
from ._ledger import CallRecord, Tally

__all__ = ["Observed", "judge", "run_expectations"]

MAX_INCOMPLETE = 20
RUN_CHECKS = frozenset({"metric-delta", "calcom-requests", "alert-count"})
CALL_CHECKS = frozenset({"correlation-in-logs", "log-present"})  # log-present only for calls whose answers were all right


@dataclass
class Observed:
    """What the target showed after the run: metric snapshots and the streams read since the mark."""

    sources: tuple[str, ...]
    source_errors: dict[str, str] = field(default_factory=dict)
    before: MetricsSnapshot | None = None
    after: MetricsSnapshot | None = None
    logs: list[LogLine] = field(default_factory=list)
    calcom: list[JournalEntry] = field(default_factory=list)
    alerts: list[AlertPost] = field(default_factory=list)


def run_expectations(scenario: Scenario, tally: Tally) -> Expectations:
    """What the whole run must have left in the target's counters, Cal.com journal and alert sink."""
    metrics = [MetricExpectation(metric="webhooks", labels={"provider": "retell", "event": event, "status": "processed"}, delta=n)
               for event, n in sorted(tally.processed.items())]
    metrics.append(MetricExpectation(metric="bookings", labels={"status": "created"}, delta=tally.booked))
    metrics.append(MetricExpectation(metric="bookings", labels={"status": "cancelled"}, delta=tally.cancelled))
    calcom = [CalcomExpectation(endpoint="bookings.create", count=tally.booked),
              CalcomExpectation(endpoint="bookings.cancel", count=tally.cancelled)]
    quiet = scenario.expect.alerts is None or not scenario.expect.alerts.count
    alerts = AlertExpectation(count=0) if quiet else None
    return Expectations(metrics=metrics, calcom=calcom, alerts=alerts, pii_free_logs=False)


def _kind(scenario: Scenario, index: int) -> str:
    step = scenario.steps[index]
    return "http" if step.http is not None else "function" if step.function is not None else "webhook"


def exchanges_of(scenario: Scenario, record: CallRecord, header: str) -> list[Exchange]:
    """The call's requests as the checks know them (status and correlation header; bodies are not kept)."""
    out = []
    for q in record.requests:
        step = scenario.steps[q.step_index]
        out.append(Exchange(
            call_index=0, call_id=record.call_id, step_index=q.step_index, step=step.label, delivery=q.delivery,
            kind=_kind(scenario, q.step_index), method=step.method, path="", request_headers={}, request_body="",
            sent_at=q.sent_at, expect=step.expect, status=q.status or None, abandoned=q.status == 0,
            response_headers={header: q.correlation_id} if q.correlation_id else {},
        ))
    return out


def _as_json(result: CheckResult) -> dict[str, Any]:
    return {"check": result.check, "passed": result.passed, "observed": result.observed, "reason": result.reason}


def _succeeded(entries: Iterable[JournalEntry]) -> list[JournalEntry]:
    return [e for e in entries if e.status is not None and 200 <= e.status < 300]


def _run_results(scenario: Scenario, plan: Plan, contract: Contract, tally: Tally, observed: Observed, shared: bool,
                 exchanges: list[Exchange]) -> list[CheckResult]:
    expect = run_expectations(scenario, tally)
    run = scenario.model_copy(update={"expect": expect})
    ev = Evidence(plan=plan, exchanges=exchanges, metrics_before=observed.before, metrics_after=observed.after,
                  calcom=_succeeded(observed.calcom), alerts=observed.alerts, sources=observed.sources,
                  source_errors=observed.source_errors, shared=shared)
    return run_checks(run, ev, contract, only=RUN_CHECKS)


class _LogIndex:
    """Log lines by call_id and by correlation ID (the contract's field names)."""

    def __init__(self, lines: list[LogLine], contract: Contract) -> None:
        self.cid_field, self.corr_field = contract.log_field("call_id"), contract.log_field("correlation_id")
        self.by_cid: dict[Any, list[LogLine]] = defaultdict(list)
        self.by_corr: dict[Any, list[LogLine]] = defaultdict(list)
        for line in lines:
            self.by_cid[line.record.get(self.cid_field)].append(line)
            self.by_corr[line.record.get(self.corr_field)].append(line)

    def of(self, call_id: str, corr: str | None) -> list[LogLine]:
        seen = {id(x): x for x in self.by_cid.get(call_id, []) + (self.by_corr.get(corr, []) if corr else [])}
        return sorted(seen.values(), key=lambda line: line.seen_at)


def _main_correlation(exchanges: list[Exchange], header: str) -> str | None:
    seen = Counter(v for x in exchanges if x.kind != "http" and (v := x.header(header)))
    return seen.most_common(1)[0][0] if seen else None


def _call_results(scenario: Scenario, plan: Plan, contract: Contract, record: CallRecord, exchanges: list[Exchange],
                  index: _LogIndex, observed: Observed, shared: bool, ours: set[str]) -> list[CheckResult]:
    corr = _main_correlation(exchanges, contract.correlation_header)
    lines = index.of(record.call_id, corr)
    ev = Evidence(plan=plan, exchanges=exchanges, logs=lines, sources=observed.sources, source_errors=observed.source_errors,
                  shared=shared)
    out = run_checks(scenario, ev, contract, only=CALL_CHECKS if record.ok else CALL_CHECKS - {"log-present"})
    foreign = [line for line in index.by_corr.get(corr, []) if line.record.get(index.cid_field) not in (None, record.call_id)
               and line.record.get(index.cid_field) in ours] if corr else []
    if foreign:
        other = foreign[0].record.get(index.cid_field)
        out.append(CheckResult("correlation-in-logs", False, f"{len(foreign)} log line(s) carry its correlation ID {corr} but name "
                               f"another call ({index.cid_field} {other})", f"only call {record.call_id}", str(other),
                               call_id=record.call_id, correlation_id=corr))
    return out


def judge(scenario: Scenario, plan: Plan, contract: Contract, tally: Tally, observed: Observed, *, shared: bool,
          sample: int) -> dict[str, Any]:
    """The completeness report: run-level results, and how many of the sampled calls are complete."""
    calls = tally.newest(sample)
    header = contract.correlation_header
    per_call = {c.call_id: exchanges_of(scenario, c, header) for c in calls}
    everything = [x for xs in per_call.values() for x in xs]
    run = _run_results(scenario, plan, contract, tally, observed, shared, everything)
    index, ours = _LogIndex(observed.logs, contract), set(per_call)
    complete, incomplete = 0, list[str]()
    for record in calls:
        results = _call_results(scenario, plan, contract, record, per_call[record.call_id], index, observed, shared, ours)
        failed = [r for r in results if not r.passed]
        complete += not failed
        if failed and len(incomplete) < MAX_INCOMPLETE:
            incomplete.append(f"{record.call_id}: {failed[0].check}: {failed[0].reason}")
    return {"calls_judged": len(calls), "calls_complete": complete, "sampled_from": len(tally.calls),
            "run": [_as_json(r) for r in run], "incomplete": incomplete,
            "log_lines": len(observed.logs), "sources": list(observed.sources), "source_errors": observed.source_errors}


def settled(report: dict[str, Any]) -> bool:
    """Nothing more to wait for: every run-level result passed and every judged call is complete."""
    return all(r["passed"] for r in report["run"]) and report["calls_complete"] == report["calls_judged"]
