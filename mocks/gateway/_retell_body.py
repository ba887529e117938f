"""What a Retell request body says, read without trusting it: its call id and event name.

Pure functions of the parsed JSON, shared by the routes and the tracing
(which labels a span before the request is verified), so neither has to
import the other.
"""

from __future__ import annotations

from typing import Any

__all__ = ["KNOWN_EVENTS", "event_name", "guess_call_id"]

KNOWN_EVENTS = frozenset(
    {
        "call_inbound", "call_started", "call_ended", "call_analyzed", "transcript_updated",
        "transfer_started", "transfer_bridged", "transfer_cancelled", "transfer_ended",
    }
)


def guess_call_id(body: Any) -> str | None:
    """The call id of a Retell body in any of its three shapes, if it has one."""
    if not isinstance(body, dict):
        return None
    for holder in (body.get("call"), body.get("args"), body.get("call_inbound"), body):
        if isinstance(holder, dict) and isinstance(holder.get("call_id"), str) and holder["call_id"]:
            return str(holder["call_id"])
    return None


def event_name(body: Any) -> str:
    """The body's Retell event name as a metric label: known names only, to bound cardinality."""
    event = body.get("event") if isinstance(body, dict) else None
    return event if isinstance(event, str) and event in KNOWN_EVENTS else "unknown"
