"""Correlation checks: one ID per call, echoed on every answer, and found again in
logs, alerts and Cal.com requests.

The ID is the thread an on-call engineer pulls: a log line, an alert or a
Cal.com request without it is one they cannot connect to the call that caused it.
"""

from __future__ import annotations

from .._evidence import CheckResult, Evidence
from .._profile import Contract
from .._scenario import Scenario
from ._common import (
    answered,
    call_correlation_id,
    calls,
    correlation_exchanges,
    excerpt,
    js,
    request_header,
    side_ids,
    where,
)
from ._pii import caller_pii, redact_phones

__all__ = [
    "check_correlation_continuity",
    "check_correlation_distinct",
    "check_correlation_echoed",
    "check_correlation_in_alerts",
    "check_correlation_in_calcom",
    "check_correlation_in_logs",
]


def check_correlation_echoed(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """correlation-echoed: every answer carries the correlation header."""
    header = contract.correlation_header
    out = []
    for x in evidence.exchanges:
        if not answered(x) or not x.expect.correlation_header:
            continue
        value = x.header(header)
        reason = f"{where(x)} answered {x.status} " + (f"with {header}: {value}" if value else f"without {header}")
        out.append(
            CheckResult(
                "correlation-echoed", value is not None, reason, f"{header} header", value or "(none)",
                call_id=x.call_id or None, correlation_id=value, step=x.step,
            )
        )
    return out


def check_correlation_continuity(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """correlation-continuity: all answers of one call share one ID, the one the call sent if it sent one."""
    header = contract.correlation_header
    out = []
    for index, call_id in calls(evidence):
        exchanges = [x for x in correlation_exchanges(scenario, evidence, call_id) if x.header(header)]
        if not exchanges:
            continue
        ids: dict[str, list[str]] = {}
        for x in exchanges:
            ids.setdefault(x.header(header) or "", []).append(x.step)
        main = call_correlation_id(scenario, evidence, call_id, contract)
        sent = next((v for x in exchanges if (v := request_header(x, header))), None)
        if len(ids) > 1:
            listed = "; ".join(f"{cid} ({', '.join(dict.fromkeys(steps))})" for cid, steps in ids.items())
            reason, ok = f"call {index + 1} got {len(ids)} correlation IDs: {listed}", False
            expected, seen = "one ID for the whole call", ", ".join(ids)
        elif sent is not None and main != sent:
            reason, ok = f"call {index + 1} sent {header}: {sent} but the gateway answered with {main}", False
            expected, seen = sent, main or "(none)"
        else:
            kept = " (the one it sent)" if sent else ""
            reason, ok = f"call {index + 1} kept correlation ID {main} on all {len(exchanges)} answers{kept}", True
            expected, seen = sent or "one ID for the whole call", main or ""
        out.append(CheckResult("correlation-continuity", ok, reason, expected, seen, call_id=call_id, correlation_id=main))
    return out


def check_correlation_distinct(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """correlation-distinct: concurrent calls never share an ID (no cross-talk between calls)."""
    if scenario.calls <= 1:
        return []
    owners: dict[str, list[int]] = {}
    for n, (_, call_id) in enumerate(calls(evidence)):
        cid = call_correlation_id(scenario, evidence, call_id, contract)
        if cid:
            owners.setdefault(cid, []).append(n)
    shared = {cid: sharing for cid, sharing in owners.items() if len(sharing) > 1}
    out = []
    for cid, sharing in shared.items():
        names = ", ".join(str(c + 1) for c in sharing[:-1]) + f" and {sharing[-1] + 1}"
        reason = f"calls {names} share correlation ID {cid}"
        out.append(CheckResult("correlation-distinct", False, reason, "one ID per call", cid, correlation_id=cid))
    if not shared:
        reason = f"{len(owners)} calls have {len(owners)} distinct correlation IDs"
        out.append(CheckResult("correlation-distinct", True, reason, "one ID per call", ", ".join(owners)))
    return out


def check_correlation_in_logs(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """correlation-in-logs: each call is logged, and every line about it carries its ID."""
    cid_field, corr_field = contract.log_call_id_field, contract.log_correlation_field
    out = []
    for _, call_id in calls(evidence):
        corr = call_correlation_id(scenario, evidence, call_id, contract)
        lines = [line for line in evidence.logs if line.record.get(cid_field) == call_id]
        if not lines:
            reason = f"no log line mentions {cid_field} {call_id} (of {len(evidence.logs)} lines read)"
            out.append(CheckResult("correlation-in-logs", False, reason, f"log lines with {cid_field}={call_id}", "none",
                                   call_id=call_id, correlation_id=corr))
            continue
        if corr is None:
            continue
        own = {corr} | side_ids(scenario, evidence, call_id, contract)
        wrong = [line for line in lines if line.record.get(corr_field) not in own]
        expected = f"{corr_field}={corr} on every line"
        if wrong:
            first = wrong[0].record
            event = first.get(contract.log_event_field)
            reason = (f"{len(wrong)} of {len(lines)} log lines of {cid_field} {call_id} lack {corr_field} {corr}: "
                      f"first is event={js(event)} with {corr_field}={js(first.get(corr_field))}")
            seen = excerpt(redact_phones(wrong[0].raw, caller_pii(evidence).phones), 300)
            out.append(CheckResult("correlation-in-logs", False, reason, expected, seen,
                                   call_id=call_id, correlation_id=corr, evidence={"lines": len(wrong)}))
        else:
            reason = f"all {len(lines)} log lines of {cid_field} {call_id} carry {corr_field} {corr}"
            out.append(CheckResult("correlation-in-logs", True, reason, expected, f"{len(lines)} lines",
                                   call_id=call_id, correlation_id=corr))
    return out


def check_correlation_in_alerts(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """correlation-in-alerts: an alert that names a call also names its correlation ID."""
    out = []
    for _, call_id in calls(evidence):
        corr = call_correlation_id(scenario, evidence, call_id, contract)
        if corr is None:
            continue
        for n, alert in enumerate(evidence.alerts, start=1):
            text = alert.text
            if call_id not in text:
                continue
            ok = corr in text
            reason = f"alert {n} mentions call_id {call_id} " + ("and" if ok else "but not") + f" its correlation ID {corr}"
            seen = excerpt(redact_phones(text, caller_pii(evidence).phones), 300)
            out.append(CheckResult("correlation-in-alerts", ok, reason, corr, seen,
                                   call_id=call_id, correlation_id=corr))
    return out


def check_correlation_in_calcom(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """correlation-in-calcom: every Cal.com request the gateway made during the run carries a call's ID."""
    ids = {cid: c for _, cid in calls(evidence) if (c := call_correlation_id(scenario, evidence, cid, contract))}
    if not ids:
        return []
    single = next(iter(ids.values())) if len(ids) == 1 else None
    allowed = {single} if single else set(ids.values())
    expected = single or f"one of {', '.join(sorted(allowed))}"
    out = []
    for entry in evidence.calcom:
        ok = entry.correlation_id in allowed
        what = f"Cal.com {entry.method} {entry.path} ({entry.endpoint})"
        reason = f"{what} carried correlation ID {entry.correlation_id}" + ("" if ok else f", expected {expected}")
        call_id = next((cid for cid, c in ids.items() if c == entry.correlation_id), None)
        out.append(CheckResult("correlation-in-calcom", ok, reason, expected, str(entry.correlation_id),
                               call_id=call_id, correlation_id=entry.correlation_id if ok else single))
    return out
