"""error-reported: the error tracker got the events a failure should raise, tagged and PII-free.

An event belongs to this run when its ``call_id`` or ``correlation_id`` tag
names one of the run's calls; the count is checked against ``expect.errors``
and every such event must carry both tags (the on-call engineer jumps from a
Sentry issue to the call's logs and trace by them) and no caller phone
number or transcript text. PII is found with the same helpers as log-pii.
"""

from __future__ import annotations

from .._contract import Contract
from .._evidence import CheckResult, Evidence, LogLine
from .._pii import caller_pii
from .._scenario import Scenario
from .._spans import ErrorEvent
from ._common import blind, call_correlation_id, call_ids, not_observed, sole_call
from ._logs import count_text, find_leak

__all__ = ["check_error_reported"]


def _ours(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[ErrorEvent]:
    calls = call_ids(evidence)
    corrs = {c for cid in calls if (c := call_correlation_id(scenario, evidence, cid, contract))}
    tags = contract.error_tags
    return [e for e in evidence.error_events if e.tags.get(tags.call_id) in calls or e.tags.get(tags.correlation_id) in corrs]


def _count(scenario: Scenario, evidence: Evidence, contract: Contract, events: list[ErrorEvent]) -> CheckResult:
    want = scenario.expect.errors
    assert want is not None
    low = want.count if want.count is not None else (want.min_count or 0)
    high = want.count
    expected = f"{count_text(low, high)} error event(s) for this run's calls"
    ok = len(events) >= low and (high is None or len(events) <= high)
    others = len(evidence.error_events) - len(events)
    seen = f"{len(events)} event(s)" + (f" (and {others} not tagged with this run's calls)" if others else "")
    titles = [str((e.payload.get("exception") or {}).get("values", [{}])[-1].get("type", e.payload.get("message", "?")))
              for e in events[:3]]
    reason = f"the error tracker received {len(events)} event(s) for this run" + (f": {', '.join(titles)}" if titles else "")
    call_id, corr = sole_call(scenario, evidence, contract)
    return CheckResult("error-reported", ok, reason, expected, seen, call_id=call_id, correlation_id=corr,
                       evidence=[e.event_id for e in events])


def _event_results(scenario: Scenario, evidence: Evidence, contract: Contract, events: list[ErrorEvent]) -> list[CheckResult]:
    pii = caller_pii(evidence)
    out = []
    for event in events:
        names = contract.error_tags
        call_id = event.tags.get(names.call_id)
        corr = call_correlation_id(scenario, evidence, call_id, contract)
        tags = f"{names.call_id}={call_id}, {names.correlation_id}={event.tags.get(names.correlation_id)}"
        missing = [t for t in (names.call_id, names.correlation_id) if not event.tags.get(t)]
        leak = find_leak(LogLine(seen_at=event.seen_at, record=event.payload, raw=""), pii)
        if missing:
            reason = f"error event {event.event_id} has no {' or '.join(missing)} tag"
            out.append(CheckResult("error-reported", False, reason, "call_id and correlation_id tags", tags,
                                   call_id=call_id, correlation_id=corr))
        elif leak is not None:
            reason = f"error event {event.event_id}: field {leak[0]} contains {leak[1]}"
            out.append(CheckResult("error-reported", False, reason, "no caller phone number or transcript text", f"{leak[0]}: {leak[1]}",
                                   call_id=call_id, correlation_id=corr))
        else:
            reason = f"error event {event.event_id} is tagged with the call and holds no caller PII"
            out.append(CheckResult("error-reported", True, reason, "tags and no PII", tags, call_id=call_id, correlation_id=corr))
    return out


def check_error_reported(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """error-reported: expected error events exist, tagged with call_id and correlation_id, with no PII."""
    want = scenario.expect.errors
    if want is None:
        return []
    if want.count is None and want.min_count is None:
        return not_observed("error-reported", "expect.errors names neither count nor min_count", "state how many error events",
                            expected="a count", seen="nothing asked")
    if (missing := blind("error-reported", evidence, "errors")) is not None:
        return missing
    events = _ours(scenario, evidence, contract)
    return [_count(scenario, evidence, contract, events), *_event_results(scenario, evidence, contract, events)]
