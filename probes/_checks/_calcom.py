"""calcom-requests: the gateway asked Cal.com what the call needed, no more, no less.

Read from the Cal.com mock's journal, so a gateway that answers "booked" to
the caller without ever creating the booking is caught.
"""

from __future__ import annotations

import json
from typing import Any

from .._calcom import JournalEntry
from .._contract import Contract
from .._errors import UnmappedRole
from .._evidence import CheckResult, Evidence
from .._scenario import CalcomExpectation, Scenario
from ._common import blind, js, sole_call, subset_diff, unmapped
from ._correlation import own_calcom

__all__ = ["check_calcom_requests"]


def _body(entry: JournalEntry) -> Any:
    if isinstance(entry.body, str):
        try:
            return json.loads(entry.body)
        except ValueError:
            return entry.body
    return entry.body


def _event_type_of(entry: JournalEntry) -> Any:
    """The event type a slots or booking request names (query for slots, body for bookings)."""
    body = _body(entry)
    if isinstance(body, dict) and "eventTypeId" in body:
        return body["eventTypeId"]
    return entry.query.get("eventTypeId")


def _mismatch(item: CalcomExpectation, entry: JournalEntry, event_type: int | None) -> str | None:
    if item.query:
        diff = subset_diff(item.query, entry.query, root="query")
        if diff:
            return diff
    if item.event_type and str(_event_type_of(entry)) != str(event_type):
        return f"expected event type {event_type}, got {js(_event_type_of(entry))}"
    return subset_diff(item.body, _body(entry), root="body") if item.body else None


def _wanted(item: CalcomExpectation) -> tuple[int, int | None, str]:
    """(min, max, words) for the expected count; no count at all means at least one."""
    if item.count is not None:
        return item.count, item.count, ("no" if item.count == 0 else f"exactly {item.count}")
    low = item.min_count if item.min_count is not None else 1
    return low, None, f"at least {low}"


def _describe(item: CalcomExpectation, event_type: int | None) -> str:
    parts = [f"Cal.com {item.endpoint} request(s)"]
    if item.event_type:
        parts.append(f"for event type {event_type}")
    if item.query:
        parts.append(f"with query {js(item.query)}")
    if item.body:
        parts.append(f"with body {js(item.body)}")
    return " ".join(parts)


def check_calcom_requests(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """calcom-requests: each ``expect.calcom`` item, counted over this run's Cal.com requests."""
    if not scenario.expect.calcom:
        return []
    if (missing := blind("calcom-requests", evidence, "calcom")) is not None:
        return missing
    out = []
    call_id, corr = sole_call(scenario, evidence, contract)
    entries = own_calcom(scenario, evidence, contract)
    event_type = contract.calcom.event_type_id
    for item in scenario.expect.calcom:
        if item.event_type and event_type is None:
            out.append(unmapped("calcom-requests", UnmappedRole("the contract names no Cal.com event type",
                                                               key="contract.calcom.event_type_id")))
            continue
        same = [e for e in entries if e.endpoint == item.endpoint]
        matching = [e for e in same if _mismatch(item, e, event_type) is None]
        low, high, words = _wanted(item)
        n = len(matching)
        ok = n >= low and (high is None or n <= high)
        want = f"{words} {_describe(item, event_type)}"
        reason = f"expected {want}, seen {n}"
        misses = [e for e in same if _mismatch(item, e, event_type) is not None]
        if not ok and n < low and misses:
            reason += f"; {len(misses)} other {item.endpoint} request(s) differ: {_mismatch(item, misses[0], event_type)}"
        ev = [{"method": e.method, "path": e.path, "query": e.query, "status": e.status,
               "correlation_id": e.correlation(contract.correlation_header)} for e in same[:10]]
        out.append(CheckResult("calcom-requests", ok, reason, want, f"{n} matching of {len(same)} {item.endpoint}",
                               evidence=ev, call_id=call_id, correlation_id=corr))
    return out
