"""alertmanager-alert: an alert rule fired through the real pipeline, in time, grouped, and resolved.

The probe watches Alertmanager's API and its webhook receiver and records
when the alert became visible at each; this check compares those times with
the deadlines. The measured time from fault to alert (and from the fault's
end to the resolved notification) is part of every result's evidence, so a
report shows how fast the on-call people would really have been paged.
"""

from __future__ import annotations

from .._contract import Contract
from .._evidence import CheckResult, Evidence, StackAlertSeen
from .._scenario import Scenario, StackAlertExpectation
from ._common import blind

__all__ = ["check_stack_alerts", "fault_to_alert_s", "stack_alert_holds"]


def fault_to_alert_s(seen: StackAlertSeen) -> float | None:
    """Seconds from the fault's start to the first firing notification (webhook, else API)."""
    first = seen.firing_webhook_at if seen.firing_webhook_at is not None else seen.firing_api_at
    return None if first is None else first - seen.fault_at


def _resolved_s(seen: StackAlertSeen) -> float | None:
    return None if seen.resolved_webhook_at is None else seen.resolved_webhook_at - seen.fault_ended_at


def stack_alert_holds(item: StackAlertExpectation, seen: StackAlertSeen | None) -> bool:
    """The expectation holds for what has been seen so far."""
    if seen is None:
        return False
    fired = fault_to_alert_s(seen)
    if not item.fired:
        return fired is None
    if fired is None or fired > item.within_s or seen.firing_webhook_at is None or seen.grouped is False:
        return False
    if item.resolved_within_s is not None:
        resolved = _resolved_s(seen)
        return resolved is not None and resolved <= item.resolved_within_s
    return True


def _reason(item: StackAlertExpectation, seen: StackAlertSeen) -> tuple[str, str]:
    fired, resolved = fault_to_alert_s(seen), _resolved_s(seen)
    if not item.fired:
        if fired is None:
            return f"{item.alertname} stayed silent for {item.within_s:g} s", "silent"
        return f"{item.alertname} fired {fired:.2f} s after the run started, expected silence", f"fired after {fired:.2f} s"
    if fired is None:
        return f"{item.alertname} did not fire within {item.within_s:g} s of the fault", "not fired"
    parts = [f"{item.alertname} fired {fired:.2f} s after the fault (deadline {item.within_s:g} s)"]
    if seen.firing_webhook_at is None:
        parts.append("seen in Alertmanager's API but never posted to the webhook receiver")
    if seen.grouped is False:
        parts.append(f"not grouped by alertname (groupKey {seen.group_key})")
    if item.resolved_within_s is not None:
        parts.append(f"resolved {resolved:.2f} s after the fault ended (deadline {item.resolved_within_s:g} s)"
                     if resolved is not None else f"not resolved within {item.resolved_within_s:g} s after the fault ended")
    seen_text = f"fired after {fired:.2f} s" + (f", resolved after {resolved:.2f} s" if resolved is not None else "")
    return "; ".join(parts), seen_text


def check_stack_alerts(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """alertmanager-alert: one result per expected alert (needs a Prometheus: --stack or prometheus_url)."""
    if (missing := blind("alertmanager-alert", evidence, "prometheus")) is not None:
        return missing
    found = {s.alertname: s for s in evidence.stack_alerts}
    out = []
    for item in scenario.expect.stack_alerts:
        expected = (f"fired within {item.within_s:g} s" if item.fired else f"silent for {item.within_s:g} s") + (
            f", resolved within {item.resolved_within_s:g} s" if item.resolved_within_s is not None else "")
        seen = found.get(item.alertname)
        if seen is None:
            out.append(CheckResult("alertmanager-alert", False, f"{item.alertname}: Alertmanager was not watched", expected, "nothing"))
            continue
        reason, seen_text = _reason(item, seen)
        data = {"alertname": item.alertname, "fault_to_alert_s": fault_to_alert_s(seen), "resolved_after_s": _resolved_s(seen),
                "group_key": seen.group_key}
        out.append(CheckResult("alertmanager-alert", stack_alert_holds(item, seen), reason, expected, seen_text, evidence=data))
    return out
