"""Log checks: the expected events were logged, and no caller PII was.

Presence answers "can on-call see that this happened"; PII-absence answers
"did this call leak the caller's number or words into a place many people read".
"""

from __future__ import annotations

from .._contract import Contract
from .._errors import UnmappedRole
from .._evidence import CheckResult, Evidence, LogLine
from .._pii import CallerPii, caller_pii, find_phone, find_utterance, mask_digits, redact_phones, walk_strings
from .._scenario import LogExpectation, Scenario
from ._common import blind, call_correlation_id, excerpt, js, not_observed, own_logs, subset_diff, unmapped

__all__ = ["check_log_pii", "check_log_present", "count_text", "find_leak", "matching_lines"]

MAX_PII_RESULTS = 10


def count_text(min_count: int, max_count: int | None) -> str:
    """``at least 1``, ``exactly 2``, ``no``, ``at most 3``, ``between 1 and 4``."""
    if max_count is None:
        return f"at least {min_count}"
    if max_count == min_count:
        return "no" if min_count == 0 else f"exactly {min_count}"
    return f"at most {max_count}" if min_count == 0 else f"between {min_count} and {max_count}"


def _describe(item: LogExpectation, event: str, level: str | None, contract: Contract) -> str:
    parts = [f"{contract.log_field('event')}={js(event)}"]
    if level:
        parts.append(f"{contract.log_field('level')}={js(level)}")
    if item.fields:
        parts.append(f"fields {js(item.fields)}")
    return ", ".join(parts)


def _mismatch(item: LogExpectation, level: str | None, line: LogLine, contract: Contract) -> str | None:
    """Why a line with the right event does not match, or None when it does."""
    field = contract.log_field("level")
    got = line.record.get(field)
    if level and str(got).lower() != level.lower():
        return f"expected line[{js(field)}] = {js(level)}, got {js(got)}"
    return subset_diff(item.fields, line.record, root="line") if item.fields else None


def check_log_present(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """log-present: each ``expect.logs`` item is matched by min_count..max_count lines of this run's calls."""
    if not scenario.expect.logs:
        return []
    if (missing := blind("log-present", evidence, "logs")) is not None:
        return missing
    out = []
    phones = caller_pii(evidence).phones
    own = own_logs(scenario, evidence, contract)
    event_field = contract.log_field("event")
    for item in scenario.expect.logs:
        try:
            event = contract.log_event(item.event)
            level = contract.log_level(item.level) if item.level else None
        except UnmappedRole as exc:
            out.append(unmapped("log-present", exc))
            continue
        out.append(_present(item, event, level, own, evidence, contract, phones, event_field))
    return out


def matching_lines(item: LogExpectation, lines: list[LogLine], contract: Contract) -> list[LogLine]:
    """The lines that satisfy one log expectation (raises UnmappedRole for a role the contract lacks)."""
    event = contract.log_event(item.event)
    level = contract.log_level(item.level) if item.level else None
    field = contract.log_field("event")
    return [line for line in lines if line.record.get(field) == event and _mismatch(item, level, line, contract) is None]


def _present(item: LogExpectation, event: str, level: str | None, own: list[LogLine], evidence: Evidence,
             contract: Contract, phones: tuple[str, ...], event_field: str) -> CheckResult:
    same_event = [line for line in own if line.record.get(event_field) == event]
    matching = [line for line in same_event if _mismatch(item, level, line, contract) is None]
    n = len(matching)
    ok = n >= item.min_count and (item.max_count is None or n <= item.max_count)
    want = f"{count_text(item.min_count, item.max_count)} log line(s) with {_describe(item, event, level, contract)}"
    reason = f"expected {want} for this run's calls, found {n}"
    misses = [line for line in same_event if _mismatch(item, level, line, contract) is not None]
    if not ok and n < item.min_count and misses:
        reason += f"; {len(misses)} line(s) with {event_field}={js(event)} differ: {_mismatch(item, level, misses[0], contract)}"
    elif not ok and n < item.min_count:
        mine = {id(line) for line in own}
        anonymous = [line for line in evidence.logs if line.record.get(event_field) == event and id(line) not in mine]
        if anonymous:
            reason += (f"; {len(anonymous)} line(s) with {event_field}={js(event)} name none of this run's calls "
                       f"(no {contract.log_field('call_id')} or {contract.log_field('correlation_id')} of ours)")
    first = next(iter(matching or misses), None)
    record = first.record if first is not None else {}
    return CheckResult("log-present", ok, reason, want, f"{n} matching line(s)",
                       call_id=_str(record.get(contract.log_field("call_id"))),
                       correlation_id=_str(record.get(contract.log_field("correlation_id"))),
                       evidence=[redact_phones(line.raw, phones) for line in matching[:5]])


def find_leak(line: LogLine, pii: CallerPii) -> tuple[str, str] | None:
    """(field, masked excerpt) of the first PII found in one line."""
    fields = list(walk_strings(line.record)) if line.record else [("(raw line)", line.raw)]
    for field, text in fields:
        span = find_phone(text, pii.phones)
        if span is not None:
            start, end = span
            shown = text[max(0, start - 20):start] + mask_digits(text[start:end]) + text[end:end + 20]
            return field, f"phone number {js(excerpt(shown, 80))}"
        utterance = find_utterance(text, pii.utterances)
        if utterance is not None:
            return field, f"transcript text {js(excerpt(utterance, 24))}"
    return None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def check_log_pii(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """log-pii: no log line read during the run holds a caller phone number (any spelling) or transcript text.

    Every line is read, not only this run's: a stray ``print`` of the number
    names no call, and it matches only this run's callers' data anyway.
    """
    if not scenario.expect.pii_free_logs:
        return []
    if (missing := blind("log-pii", evidence, "logs")) is not None:
        return missing
    if not evidence.logs:
        return not_observed("log-pii", "no log line was written during the run", "nothing to search for caller data",
                            expected="log lines to search", seen="0 lines")
    pii = caller_pii(evidence)
    leaks = [(line, leak) for line in evidence.logs if (leak := find_leak(line, pii)) is not None]
    expected = "no caller phone number or transcript text in logs"
    if not leaks:
        reason = f"none of {len(evidence.logs)} log lines holds a caller phone number or transcript text"
        return [CheckResult("log-pii", True, reason, expected, f"{len(evidence.logs)} clean lines")]
    cid_field, corr_field, event_field = (contract.log_field(f) for f in ("call_id", "correlation_id", "event"))
    out = []
    for line, (field, what) in leaks[:MAX_PII_RESULTS]:
        call_id = line.record.get(cid_field)
        corr = call_correlation_id(scenario, evidence, call_id if isinstance(call_id, str) else None, contract)
        event = line.record.get(event_field)
        on = f" ({event_field}={js(event)})" if event else ""
        reason = f"log field {js(field)}{on} contains {what}"
        out.append(CheckResult("log-pii", False, reason, expected, f"{field}: {what}",
                               call_id=call_id if isinstance(call_id, str) else None,
                               correlation_id=corr or _str(line.record.get(corr_field))))
    if len(leaks) > MAX_PII_RESULTS:
        reason = f"{len(leaks) - MAX_PII_RESULTS} more log lines hold caller PII"
        out.append(CheckResult("log-pii", False, reason, expected, f"{len(leaks)} lines with PII"))
    return out
