"""Correlation checks: one ID per call, echoed on every answer, and found again in
logs, alerts and Cal.com requests.

The ID is the thread an on-call engineer pulls: a log line, an alert or a
Cal.com request without it is one they cannot connect to the call that caused it.
"""

from __future__ import annotations

from .._calcom import JournalEntry
from .._contract import Contract
from .._evidence import CheckResult, Evidence
from .._pii import caller_pii, redact_phones
from .._scenario import Scenario
from ._common import (
    answered,
    blind,
    call_correlation_id,
    call_ids,
    calls,
    correlation_exchanges,
    excerpt,
    js,
    not_observed,
    our_correlation_ids,
    own_alerts,
    request_header,
    side_ids,
    where,
)

__all__ = [
    "check_correlation_continuity",
    "check_correlation_distinct",
    "check_correlation_echoed",
    "check_correlation_in_alerts",
    "check_correlation_in_calcom",
    "check_correlation_in_logs",
    "own_calcom",
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
    if (missing := blind("correlation-in-logs", evidence, "logs")) is not None:
        return missing
    cid_field, corr_field = contract.log_field("call_id"), contract.log_field("correlation_id")
    event_field = contract.log_field("event")
    out = []
    for _, call_id in calls(evidence):
        corr = call_correlation_id(scenario, evidence, call_id, contract)
        lines = [line for line in evidence.logs if line.record.get(cid_field) == call_id]
        if not lines:
            tagged = [line for line in evidence.logs if corr and line.record.get(corr_field) == corr]
            hint = f"; {len(tagged)} line(s) carry its {corr_field} but not its {cid_field}" if tagged else ""
            reason = f"no log line names {cid_field} {call_id} (of {len(evidence.logs)} lines read){hint}"
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
            reason = (f"{len(wrong)} of {len(lines)} log lines of {cid_field} {call_id} lack {corr_field} {corr}: "
                      f"first is {event_field}={js(first.get(event_field))} with {corr_field}={js(first.get(corr_field))}")
            seen = excerpt(redact_phones(wrong[0].raw, caller_pii(evidence).phones), 300)
            out.append(CheckResult("correlation-in-logs", False, reason, expected, seen,
                                   call_id=call_id, correlation_id=corr, evidence={"lines": len(wrong)}))
        else:
            reason = f"all {len(lines)} log lines of {cid_field} {call_id} carry {corr_field} {corr}"
            out.append(CheckResult("correlation-in-logs", True, reason, expected, f"{len(lines)} lines",
                                   call_id=call_id, correlation_id=corr))
    return out


def _alerts_expected(scenario: Scenario) -> bool:
    alerts = scenario.expect.alerts
    return alerts is not None and (bool(alerts.contains) or (alerts.count or 0) > 0)


def check_correlation_in_alerts(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """correlation-in-alerts: every alert of this run names one of its calls' correlation IDs.

    An alert that names a call_id must name that call's ID; on a target of its
    own, an alert that names no call at all is judged too (and fails): the
    people on call could not tie it to anything.
    """
    if (missing := blind("correlation-in-alerts", evidence, "alerts")) is not None:
        return missing if _alerts_expected(scenario) else []
    ids = {cid: c for _, cid in calls(evidence) if (c := call_correlation_id(scenario, evidence, cid, contract))}
    if not ids:
        return []
    ours, others = own_alerts(scenario, evidence, contract)
    judged = ours + ([] if evidence.shared else others)
    phones = caller_pii(evidence).phones
    out = []
    for n, alert in enumerate(judged, start=1):
        text = alert.text
        named = [cid for cid in ids if cid in text]
        wanted = [ids[cid] for cid in named] or list(ids.values())
        ok = any(c in text for c in wanted)
        if named:
            reason = f"alert {n} names call_id {named[0]} " + ("and" if ok else "but not") + f" its correlation ID {ids[named[0]]}"
        elif ok:
            reason = f"alert {n} names correlation ID {next(c for c in wanted if c in text)}"
        else:
            reason = f"alert {n} names no call: neither a call_id nor a correlation ID of this run ({', '.join(wanted)})"
        seen = excerpt(redact_phones(text, phones), 300)
        call_id = named[0] if named else (next(iter(ids)) if len(ids) == 1 else None)
        out.append(CheckResult("correlation-in-alerts", ok, reason, " or ".join(wanted), seen,
                               call_id=call_id, correlation_id=ids.get(call_id or "") if call_id else None))
    if not out and _alerts_expected(scenario):
        return not_observed("correlation-in-alerts", "no alert of this run to read", "alert-count says how many came",
                            expected="alerts naming the call", seen="no alert")
    return out


def _booking_call(entry: JournalEntry) -> str | None:
    meta = entry.body.get("metadata") if isinstance(entry.body, dict) else None
    value = meta.get("call_id") if isinstance(meta, dict) else None
    return value if isinstance(value, str) else None


def own_calcom(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[JournalEntry]:
    """Cal.com requests of this run: by correlation ID or a booking's call_id; on a target of its own, all of them."""
    if not evidence.shared:
        return list(evidence.calcom)
    corrs, ids = our_correlation_ids(scenario, evidence, contract), call_ids(evidence)
    return [e for e in evidence.calcom if e.correlation(contract.correlation_header) in corrs or _booking_call(e) in ids]


def check_correlation_in_calcom(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """correlation-in-calcom: every Cal.com request the gateway made for this run carries a call's ID."""
    if (missing := blind("correlation-in-calcom", evidence, "calcom")) is not None:
        return missing
    ids = {cid: c for _, cid in calls(evidence) if (c := call_correlation_id(scenario, evidence, cid, contract))}
    if not ids:
        return []
    single = next(iter(ids.values())) if len(ids) == 1 else None
    allowed = {single} if single else set(ids.values())
    expected = single or f"one of {', '.join(sorted(allowed))}"
    header = contract.correlation_header
    out = []
    for entry in own_calcom(scenario, evidence, contract):
        carried = entry.correlation(contract.correlation_header)
        ok = carried in allowed
        what = f"Cal.com {entry.method} {entry.path} ({entry.endpoint})"
        reason = f"{what} carried {header} {carried}" if carried else f"{what} carried no {header}"
        reason += "" if ok else f", expected {expected}"
        call_id = next((cid for cid, c in ids.items() if c == carried), None) or _booking_call(entry)
        out.append(CheckResult("correlation-in-calcom", ok, reason, expected, str(carried),
                               call_id=call_id, correlation_id=carried if ok else single))
    return out
