"""calcom-requests: the gateway asked Cal.com what the call needed, no more, no less.

Read from the Cal.com mock's journal, so a gateway that answers "booked" to
the caller without ever creating the booking is caught.
"""

from __future__ import annotations

import json
from typing import Any

from .._calcom import JournalEntry
from .._evidence import CheckResult, Evidence
from .._profile import Contract
from .._scenario import CalcomExpectation, Scenario
from ._common import js, sole_call, subset_diff

__all__ = ["check_calcom_requests"]


def _body(entry: JournalEntry) -> Any:
    if isinstance(entry.body, str):
        try:
            return json.loads(entry.body)
        except ValueError:
            return entry.body
    return entry.body


def _mismatch(item: CalcomExpectation, entry: JournalEntry) -> str | None:
    if item.query:
        diff = subset_diff(item.query, entry.query, root="query")
        if diff:
            return diff
    return subset_diff(item.body, _body(entry), root="body") if item.body else None


def _wanted(item: CalcomExpectation) -> tuple[int, int | None, str]:
    """(min, max, words) for the expected count; no count at all means at least one."""
    if item.count is not None:
        return item.count, item.count, ("no" if item.count == 0 else f"exactly {item.count}")
    low = item.min_count if item.min_count is not None else 1
    return low, None, f"at least {low}"


def _describe(item: CalcomExpectation) -> str:
    parts = [f"Cal.com {item.endpoint} request(s)"]
    if item.query:
        parts.append(f"with query {js(item.query)}")
    if item.body:
        parts.append(f"with body {js(item.body)}")
    return " ".join(parts)


def check_calcom_requests(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """calcom-requests: each ``expect.calcom`` item, counted over the journal entries of this run."""
    out = []
    call_id, corr = sole_call(scenario, evidence, contract)
    for item in scenario.expect.calcom:
        same = [e for e in evidence.calcom if e.endpoint == item.endpoint]
        matching = [e for e in same if _mismatch(item, e) is None]
        low, high, words = _wanted(item)
        n = len(matching)
        ok = n >= low and (high is None or n <= high)
        want = f"{words} {_describe(item)}"
        reason = f"expected {want}, seen {n}"
        misses = [e for e in same if _mismatch(item, e) is not None]
        if not ok and n < low and misses:
            reason += f"; {len(misses)} other {item.endpoint} request(s) differ: {_mismatch(item, misses[0])}"
        ev = [{"method": e.method, "path": e.path, "query": e.query, "status": e.status, "correlation_id": e.correlation_id}
              for e in same[:10]]
        out.append(CheckResult("calcom-requests", ok, reason, want, f"{n} matching of {len(same)} {item.endpoint}", evidence=ev, call_id=call_id, correlation_id=corr))
    return out
