"""Alert checks: the right number of alerts fired (0 = must stay silent), each
says what it must, and none carries a caller's phone number.

The count is exact on purpose: one error must be one alert (grouping), and a
burst of errors must not become a burst of pages (threshold and cooldown).
"""

from __future__ import annotations

from .._contract import Contract
from .._errors import UnmappedRole
from .._evidence import AlertPost, CheckResult, Evidence
from .._pii import caller_pii, find_phone, mask_digits, walk_strings
from .._scenario import Scenario
from ._common import blind, js, not_observed, own_alerts, sole_call, unmapped

__all__ = ["check_alert_content", "check_alert_count"]


def check_alert_count(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """alert-count: exactly ``expect.alerts.count`` alerts of this run were posted.

    On a shared target only alerts that name a call of this run count; the
    others are mentioned, since an alert naming no call cannot be attributed.
    """
    want = scenario.expect.alerts.count if scenario.expect.alerts is not None else None
    if want is None:
        return []
    if (missing := blind("alert-count", evidence, "alerts")) is not None:
        return missing
    ours, others = own_alerts(scenario, evidence, contract)
    counted = ours if evidence.shared else ours + others
    n = len(counted)
    call_id, corr = sole_call(scenario, evidence, contract)
    phones = caller_pii(evidence).phones if evidence.alerts else ()
    heads = "; ".join(js(a.headline(phones)) for a in counted[:3]) + ("; …" if n > 3 else "")
    expected = "no alert" if want == 0 else f"{want} alert(s)"
    if n == want:
        reason = "no alert fired, as expected" if n == 0 else f"{n} alert(s) fired, as expected: {heads}"
    elif n == 0:
        reason = f"expected {expected}, none fired"
    else:
        reason = f"expected {expected}, {n} fired: {heads}"
    if evidence.shared and others:
        reason += f" ({len(others)} other alert(s) name no call of this run and are not counted on a shared target)"
    return [CheckResult("alert-count", n == want, reason, expected, f"{n}: {heads}" if n else "0",
                        evidence=[a.headline(phones) for a in counted[:5]], call_id=call_id, correlation_id=corr)]


def _flat(alert: AlertPost) -> str:
    return "\n".join(text for _, text in walk_strings(dict(alert.payload)))


def _words(scenario: Scenario, contract: Contract) -> tuple[list[str], UnmappedRole | None]:
    """The alert words of ``expect.alerts.contains`` in the target's wording, or the first role it cannot map."""
    roles = scenario.expect.alerts.contains if scenario.expect.alerts is not None else []
    try:
        return [contract.alert_word(role) for role in roles], None
    except UnmappedRole as exc:
        return [], exc


def check_alert_content(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """alert-content: every alert of this run says what it must (``contains``) and no alert names a caller's number."""
    contains, bad_role = _words(scenario, contract)
    asks = scenario.expect.alerts is not None and bool(scenario.expect.alerts.contains)
    if asks and (missing := blind("alert-content", evidence, "alerts")) is not None:
        return missing
    if bad_role is not None:
        return [unmapped("alert-content", bad_role)]
    ours, others = own_alerts(scenario, evidence, contract)
    judged = ours if evidence.shared else ours + others
    if asks and not judged:
        return not_observed("alert-content", "no alert of this run to read the wording of", "alert-count says how many came",
                            expected="contains " + ", ".join(js(c) for c in contains), seen="no alert")
    phones = caller_pii(evidence).phones
    out = []
    for n, alert in enumerate(evidence.alerts, start=1):
        mine = any(alert is a for a in judged)
        flat, raw = _flat(alert), alert.text
        missing_words = [c for c in contains if c not in flat and c not in raw] if mine else []
        span = find_phone(flat, phones)
        if not mine and span is None:
            continue
        head = js(alert.headline(phones))
        problems = []
        if missing_words:
            problems.append("lacks " + ", ".join(js(m) for m in missing_words))
        if span is not None:
            problems.append(f"contains the caller's phone number {js(mask_digits(flat[span[0]:span[1]]))}")
        expected = "contains " + ", ".join(js(c) for c in contains) + " and no phone number" if contains else "no phone number"
        reason = f"alert {n} {head} " + (" and ".join(problems) if problems else "is as expected")
        out.append(CheckResult("alert-content", not problems, reason, expected, head))
    return out
