"""Alert checks: the right number of alerts fired (0 = must stay silent), each
says what it must, and none carries a caller's phone number.

The count is exact on purpose: one error must be one alert (grouping), and a
burst of errors must not become a burst of pages (threshold and cooldown).
"""

from __future__ import annotations

from .._evidence import AlertPost, CheckResult, Evidence
from .._profile import Contract
from .._scenario import Scenario
from ._common import excerpt, js, sole_call
from ._pii import caller_pii, find_phone, mask_digits, redact_phones, walk_strings

__all__ = ["alert_headline", "check_alert_content", "check_alert_count"]


def alert_headline(alert: AlertPost, phones: tuple[str, ...] = ()) -> str:
    """The first line of an alert's text (Slack ``text``, else the first block's text, else its JSON).

    Caller phone numbers in it are masked: a reason must not spread what the alert leaked.
    """
    text = alert.payload.get("text")
    if not isinstance(text, str) or not text.strip():
        blocks = alert.payload.get("blocks")
        first = blocks[0] if isinstance(blocks, list) and blocks else None
        inner = first.get("text") if isinstance(first, dict) else None
        text = inner.get("text") if isinstance(inner, dict) else inner
    if not isinstance(text, str) or not text.strip():
        text = alert.text
    return excerpt(redact_phones(text.strip().splitlines()[0], phones), 100)


def check_alert_count(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """alert-count: exactly ``expect.alerts.count`` alert posts were seen."""
    want = scenario.expect.alerts.count if scenario.expect.alerts is not None else None
    if want is None:
        return []
    n = len(evidence.alerts)
    call_id, corr = sole_call(scenario, evidence, contract)
    phones = caller_pii(evidence).phones if n else ()
    heads = "; ".join(js(alert_headline(a, phones)) for a in evidence.alerts[:3]) + ("; …" if n > 3 else "")
    expected = "no alert" if want == 0 else f"{want} alert(s)"
    if n == want:
        reason = "no alert fired, as expected" if n == 0 else f"{n} alert(s) fired, as expected: {heads}"
    elif n == 0:
        reason = f"expected {expected}, none fired"
    else:
        reason = f"expected {expected}, {n} fired: {heads}"
    return [CheckResult("alert-count", n == want, reason, expected, f"{n}: {heads}" if n else "0",
                        evidence=[alert_headline(a, phones) for a in evidence.alerts[:5]], call_id=call_id, correlation_id=corr)]


def _flat(alert: AlertPost) -> str:
    return "\n".join(text for _, text in walk_strings(dict(alert.payload)))


def check_alert_content(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """alert-content: every alert contains each ``contains`` text, and no caller phone number."""
    if not evidence.alerts:
        return []
    contains = scenario.expect.alerts.contains if scenario.expect.alerts is not None else []
    phones = caller_pii(evidence).phones
    out = []
    for n, alert in enumerate(evidence.alerts, start=1):
        flat, raw = _flat(alert), alert.text
        missing = [c for c in contains if c not in flat and c not in raw]
        span = find_phone(flat, phones)
        head = js(alert_headline(alert, phones))
        problems = []
        if missing:
            problems.append("lacks " + ", ".join(js(m) for m in missing))
        if span is not None:
            problems.append(f"contains the caller's phone number {js(mask_digits(flat[span[0]:span[1]]))}")
        expected = "contains " + ", ".join(js(c) for c in contains) + " and no phone number" if contains else "no phone number"
        reason = f"alert {n} {head} " + (" and ".join(problems) if problems else "is as expected")
        out.append(CheckResult("alert-content", not problems, reason, expected, head))
    return out
