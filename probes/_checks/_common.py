"""Helpers shared by the checks: selecting exchanges, finding a call's correlation ID,
comparing JSON subsets with a key path, and formatting values the way reasons print them.

Kept free of any check logic so each check module reads as "what is asserted",
not "how a dict is walked".
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from .._contract import Contract
from .._errors import UnmappedRole
from .._evidence import AlertPost, CheckResult, Evidence, Exchange, LogLine
from .._pii import excerpt
from .._scenario import Scenario, Step

__all__ = [
    "SOURCES",
    "answered",
    "blind",
    "call_correlation_id",
    "call_ids",
    "call_of",
    "calls",
    "correlation_exchanges",
    "excerpt",
    "fmt_ms",
    "in_call",
    "js",
    "not_observed",
    "our_correlation_ids",
    "own_alerts",
    "own_logs",
    "request_header",
    "side_ids",
    "sole_call",
    "step_of",
    "subset_diff",
    "unmapped",
    "where",
]


def js(value: Any) -> str:
    """A value as JSON (``true``, ``"x"``, ``null``), the notation scenario files are written in."""
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=False, default=str)
    except (TypeError, ValueError):
        return repr(value)


# source → (what it is, what makes it observable)
SOURCES: dict[str, tuple[str, str]] = {
    "metrics": ("metrics endpoint", "set metrics_url in the profile"),
    "logs": ("log source", "set logs.kind in the profile"),
    "alerts": ("alert sink", "set alert_sink_url in the profile"),
    "calcom": ("Cal.com mock journal", "set calcom_mock_url in the profile"),
    "traces": ("trace backend", "set traces.kind in the profile"),
    "errors": ("error-event backend", "set errors.kind in the profile"),
    "prometheus": ("Prometheus", "run with --stack, or set prometheus_url in the profile"),
}


def not_observed(check: str, missing: str, remedy: str, *, expected: str = "an observable backend",
                 seen: str = "none configured") -> list[CheckResult]:
    """The one result of a check that had nothing to judge: never a pass, never a failure.

    Reported rather than dropped: a scenario that asks for traces against a
    profile with no trace backend has *not* shown its traces are fine, and the
    report must say so (``--callprobe-strict`` turns it into a failure).
    """
    return [CheckResult(check, True, f"not observed: {missing} ({remedy})", expected, seen, observed=False)]


def blind(check: str, evidence: Evidence, source: str) -> list[CheckResult] | None:
    """The not-observed result when ``source`` was not configured or could not be read; None when it was read."""
    what, remedy = SOURCES[source]
    if source not in evidence.sources:
        return not_observed(check, f"the target profile names no {what}", remedy)
    if source in evidence.source_errors:
        return not_observed(check, f"the {what} could not be read", "telemetry-reachable says why", seen="unreadable")
    return None


def unmapped(check: str, exc: UnmappedRole) -> CheckResult:
    """A not-observed result for an expectation in a role the target's contract does not map."""
    return not_observed(check, str(exc).split(" (set ")[0], f"set {exc.key} in the target profile",
                        expected="a role the contract maps", seen="unmapped")[0]


def fmt_ms(value: float) -> str:
    """Milliseconds for a reason: whole numbers as such, others with one decimal."""
    return f"{value:.0f} ms" if float(value).is_integer() else f"{value:.1f} ms"


def where(x: Exchange) -> str:
    """``POST /api/retell/webhook (call_started)``: how a reason names one exchange."""
    return f"{x.method} {x.path} ({x.step})"


def step_of(scenario: Scenario, x: Exchange) -> Step | None:
    return scenario.steps[x.step_index] if 0 <= x.step_index < len(scenario.steps) else None


def answered(x: Exchange) -> bool:
    """The exchange got an HTTP answer (was neither abandoned nor lost to a transport error)."""
    return not x.abandoned and x.error is None and x.status is not None


def calls(evidence: Evidence) -> list[tuple[int, str]]:
    """(call index, call_id) of every call, every run included, in the order first seen.

    A call is identified by its ``call_id``, not its index: with ``runs > 1`` the
    same index is a new call (and a new correlation ID) in each run.
    """
    seen: dict[str, int] = {}
    for x in evidence.exchanges:
        if x.call_id and x.call_id not in seen:
            seen[x.call_id] = x.call_index
    if not evidence.exchanges:
        seen = {c.call_id: c.index for c in evidence.plan.calls if c.call_id}
    return [(index, call_id) for call_id, index in seen.items()]


def call_ids(evidence: Evidence) -> set[str]:
    return {call_id for _, call_id in calls(evidence)}


def in_call(scenario: Scenario, x: Exchange) -> bool:
    """Whether the gateway can tie this answered exchange to its call.

    Plain HTTP steps (a readiness probe), requests with a bad signature and
    ``call_inbound`` (which Retell sends before the call exists, without a
    call_id) are not: the gateway may rightly give each an ID of its own.
    """
    if not answered(x) or x.kind == "http":
        return False
    step = step_of(scenario, x)
    return step is None or (step.signature == "valid" and step.event != "call_inbound")


def correlation_exchanges(scenario: Scenario, evidence: Evidence, call_id: str) -> list[Exchange]:
    """The answered exchanges of ``call_id`` that belong to the call as the gateway sees it."""
    return [x for x in evidence.exchanges if x.call_id == call_id and in_call(scenario, x)]


def call_correlation_id(scenario: Scenario, evidence: Evidence, call_id: str | None, contract: Contract) -> str | None:
    """The ID the gateway gave the call: the one most of its answers carry (first seen wins ties)."""
    if not call_id:
        return None
    header = contract.correlation_header
    seen = [v for x in correlation_exchanges(scenario, evidence, call_id) if (v := x.header(header))]
    return Counter(seen).most_common(1)[0][0] if seen else None


def side_ids(scenario: Scenario, evidence: Evidence, call_id: str, contract: Contract) -> set[str]:
    """IDs the gateway answered to requests of ``call_id`` that are not part of the call (see :func:`in_call`).

    Telemetry about such a request (a rejected signature, say) rightly carries
    that request's own ID; it is still correlated, with the answer we saw.
    """
    header = contract.correlation_header
    return {
        v for x in evidence.exchanges
        if x.call_id == call_id and answered(x) and not in_call(scenario, x) and (v := x.header(header))
    }


def sole_call(scenario: Scenario, evidence: Evidence, contract: Contract) -> tuple[str | None, str | None]:
    """(call_id, correlation_id) for a run-wide result when the run had exactly one call.

    A metric or alert result is about the whole run, but with one call it is
    about that call, and naming it gives the reader an ID to search for.
    """
    found = calls(evidence)
    if len(found) != 1:
        return None, None
    call_id = found[0][1]
    return call_id, call_correlation_id(scenario, evidence, call_id, contract)


def call_of(evidence: Evidence, call_id: str | None) -> int | None:
    """The call index that ``call_id`` belongs to, if it is one of ours."""
    return next((index for index, cid in calls(evidence) if call_id and cid == call_id), None)


def request_header(x: Exchange, name: str) -> str | None:
    lname = name.lower()
    return next((v for k, v in x.request_headers.items() if k.lower() == lname), None)


def _path(root: str, keys: Iterable[str | int]) -> str:
    return root + "".join(f"[{k}]" if isinstance(k, int) else f"[{js(k)}]" for k in keys)


def _same_scalar(want: Any, got: Any) -> bool:
    if isinstance(want, bool) or isinstance(got, bool):
        return isinstance(want, bool) and isinstance(got, bool) and want == got
    return bool(want == got)


def subset_diff(want: Any, got: Any, root: str = "body", keys: tuple[str | int, ...] = ()) -> str | None:
    """None when ``want`` is a recursive subset of ``got``, else the first difference.

    Mappings: every expected key must be present and match; lists: same length,
    item by item; scalars: equal (``true`` is not ``1``). The difference reads
    ``expected body["booked"] = true, got false`` (tavern's key-path style).
    """
    if isinstance(want, Mapping):
        if not isinstance(got, Mapping):
            return f"expected {_path(root, keys)} to be an object, got {js(got)}"
        for k, v in want.items():
            if k not in got:
                return f"expected {_path(root, (*keys, k))} = {js(v)}, got no such key"
            diff = subset_diff(v, got[k], root, (*keys, k))
            if diff is not None:
                return diff
        return None
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return f"expected {_path(root, keys)} = {js(want)}, got {js(got)}"
        for i, (w, g) in enumerate(zip(want, got, strict=True)):
            diff = subset_diff(w, g, root, (*keys, i))
            if diff is not None:
                return diff
        return None
    if not _same_scalar(want, got):
        return f"expected {_path(root, keys)} = {js(want)}, got {js(got)}"
    return None


def our_correlation_ids(scenario: Scenario, evidence: Evidence, contract: Contract) -> set[str]:
    """Every ID the target gave this run's calls, their side requests' own IDs included."""
    out: set[str] = set()
    for _, call_id in calls(evidence):
        main = call_correlation_id(scenario, evidence, call_id, contract)
        if main:
            out.add(main)
        out |= side_ids(scenario, evidence, call_id, contract)
    return out


def own_logs(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[LogLine]:
    """Log lines that name one of this run's calls (by call_id) or one of its correlation IDs.

    A target may log other traffic at the same time; a line that names no call
    of this run is not this run's evidence, whatever it says.
    """
    ids, corrs = call_ids(evidence), our_correlation_ids(scenario, evidence, contract)
    cid_field, corr_field = contract.log_field("call_id"), contract.log_field("correlation_id")
    return [line for line in evidence.logs if line.record.get(cid_field) in ids or line.record.get(corr_field) in corrs]


def own_alerts(scenario: Scenario, evidence: Evidence, contract: Contract) -> tuple[list[AlertPost], list[AlertPost]]:
    """(alerts that name a call of this run, alerts that name none of them).

    On a target of its own (not ``shared``) every alert posted during the run
    is this run's, whether it names the call or not: the second list is then
    judged too (an alert that names no call is a finding, not noise).
    """
    words = [w for w in call_ids(evidence) | our_correlation_ids(scenario, evidence, contract) if w]
    ours: list[AlertPost] = []
    others: list[AlertPost] = []
    for alert in evidence.alerts:
        text = alert.text
        (ours if any(w in text for w in words) else others).append(alert)
    return ours, others
