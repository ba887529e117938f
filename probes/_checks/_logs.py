"""Log checks: the expected events were logged, and no caller PII was.

Presence answers "can on-call see that this happened"; PII-absence answers
"did this call leak the caller's number or words into a place many people read".
"""

from __future__ import annotations

from .._evidence import CheckResult, Evidence, LogLine
from .._profile import Contract
from .._scenario import LogExpectation, Scenario
from ._common import call_correlation_id, excerpt, js, subset_diff
from ._pii import CallerPii, caller_pii, find_phone, find_utterance, mask_digits, redact_phones, walk_strings

__all__ = ["check_log_pii", "check_log_present", "count_text"]

MAX_PII_RESULTS = 10


def count_text(min_count: int, max_count: int | None) -> str:
    """``at least 1``, ``exactly 2``, ``no``, ``at most 3``, ``between 1 and 4``."""
    if max_count is None:
        return f"at least {min_count}"
    if max_count == min_count:
        return "no" if min_count == 0 else f"exactly {min_count}"
    return f"at most {max_count}" if min_count == 0 else f"between {min_count} and {max_count}"


def _describe(item: LogExpectation, contract: Contract) -> str:
    parts = [f"{contract.log_event_field}={js(item.event)}"]
    if item.level:
        parts.append(f"{contract.log_level_field}={js(item.level)}")
    if item.fields:
        parts.append(f"fields {js(item.fields)}")
    return ", ".join(parts)


def _mismatch(item: LogExpectation, line: LogLine, contract: Contract) -> str | None:
    """Why a line with the right event does not match, or None when it does."""
    level = line.record.get(contract.log_level_field)
    if item.level and str(level).lower() != item.level.lower():
        return f"expected line[{js(contract.log_level_field)}] = {js(item.level)}, got {js(level)}"
    return subset_diff(item.fields, line.record, root="line") if item.fields else None


def check_log_present(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """log-present: each ``expect.logs`` item is matched by min_count..max_count lines of this run."""
    out = []
    phones = caller_pii(evidence).phones if scenario.expect.logs else ()
    for item in scenario.expect.logs:
        same_event = [line for line in evidence.logs if line.record.get(contract.log_event_field) == item.event]
        matching = [line for line in same_event if _mismatch(item, line, contract) is None]
        n = len(matching)
        ok = n >= item.min_count and (item.max_count is None or n <= item.max_count)
        want = f"{count_text(item.min_count, item.max_count)} log line(s) with {_describe(item, contract)}"
        reason = f"expected {want}, found {n}"
        misses = [line for line in same_event if _mismatch(item, line, contract) is not None]
        if not ok and n < item.min_count and misses:
            why = _mismatch(item, misses[0], contract)
            reason += f"; {len(misses)} line(s) with {contract.log_event_field}={js(item.event)} differ: {why}"
        first = (matching or misses or [None])[0]
        record = first.record if first is not None else {}
        out.append(CheckResult("log-present", ok, reason, want, f"{n} matching line(s)",
                               call_id=_str(record.get(contract.log_call_id_field)),
                               correlation_id=_str(record.get(contract.log_correlation_field)),
                               evidence=[redact_phones(line.raw, phones) for line in matching[:5]]))
    return out


def _leak(line: LogLine, pii: CallerPii) -> tuple[str, str] | None:
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
    """log-pii: no log line of this run holds a caller phone number (any spelling) or transcript text."""
    if not scenario.expect.pii_free_logs:
        return []
    pii = caller_pii(evidence)
    leaks = [(line, leak) for line in evidence.logs if (leak := _leak(line, pii)) is not None]
    expected = "no caller phone number or transcript text in logs"
    if not leaks:
        reason = f"none of {len(evidence.logs)} log lines holds a caller phone number or transcript text"
        return [CheckResult("log-pii", True, reason, expected, f"{len(evidence.logs)} clean lines")]
    out = []
    for line, (field, what) in leaks[:MAX_PII_RESULTS]:
        call_id = line.record.get(contract.log_call_id_field)
        corr = call_correlation_id(scenario, evidence, call_id if isinstance(call_id, str) else None, contract)
        event = line.record.get(contract.log_event_field)
        on = f" (event={js(event)})" if event else ""
        reason = f"log field {js(field)}{on} contains {what}"
        out.append(CheckResult("log-pii", False, reason, expected, f"{field}: {what}",
                               call_id=call_id if isinstance(call_id, str) else None,
                               correlation_id=corr or _str(line.record.get(contract.log_correlation_field))))
    if len(leaks) > MAX_PII_RESULTS:
        reason = f"{len(leaks) - MAX_PII_RESULTS} more log lines hold caller PII"
        out.append(CheckResult("log-pii", False, reason, expected, f"{len(leaks)} lines with PII"))
    return out
