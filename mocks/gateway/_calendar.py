"""Cal.com operations shared by the functions: slots for a day, failure → function result.

Kept apart from the route code so booking (which re-queries slots after a
taken slot) and availability use one slot reader and one failure path.
"""

from __future__ import annotations

from typing import Any

from ._calcom_client import SLOTS_VERSION, CalcomFailure
from ._gateway import Gateway, RequestContext

__all__ = ["FAILURE_MESSAGES", "fetch_slots", "report_failure"]

FAILURE_MESSAGES = {
    "calendar_unavailable": "The calendar is not reachable right now. Please try again in a few minutes.",
    "rate_limited": "The calendar is busy right now. Please try again in a moment.",
    "calendar_timeout": "The calendar did not answer in time. Please try again in a moment.",
}


async def fetch_slots(gw: Gateway, ctx: RequestContext, date: str, time_zone: str) -> list[str]:
    """Slot starts (ISO, in ``time_zone``) of one day from ``GET /v2/slots``; raises CalcomFailure."""
    params = {"start": date, "end": date, "eventTypeId": gw.config.event_type_id, "timeZone": time_zone}
    response = await gw.calcom.request(
        "GET", "/v2/slots", version=SLOTS_VERSION, correlation_id=ctx.correlation_id, traceparent=ctx.traceparent(), params=params
    )
    if response.status != 200:
        raise CalcomFailure("calendar_unavailable", f"GET /v2/slots answered {response.status}: {response.error_message}",
                            status=response.status)
    data = response.body.get("data")
    if not isinstance(data, dict):
        raise CalcomFailure("calendar_unavailable", "GET /v2/slots answered without a data object", status=response.status)
    slots: list[str] = []
    for day in sorted(data):
        for slot in data[day] if isinstance(data[day], list) else []:
            start = slot.get("start") if isinstance(slot, dict) else slot
            if isinstance(start, str):
                slots.append(start)
    return slots


def report_failure(gw: Gateway, ctx: RequestContext, failure: CalcomFailure, endpoint: str, base: dict[str, Any]) -> dict[str, Any]:
    """Count, log, alert and report (Sentry) a Cal.com failure; return the contract's 200 error result."""
    level = "warning" if failure.severity == "warning" else "error"
    tags = {"call_id": ctx.call_id, "correlation_id": ctx.correlation_id, "error_type": failure.kind, "endpoint": endpoint}
    gw.errors.capture_exception(failure, level=level, tags=tags)
    gw.record_error(
        ctx,
        event="calcom_request_failed",
        error_type=failure.kind,
        severity=failure.severity,
        endpoint=endpoint,
        detail=f"Cal.com request failed: {failure.detail}",
        level="ERROR",  # even a 429 is an ERROR line: the caller did not get what they asked for
        calcom_status=failure.status,
    )
    return {**base, "error": failure.kind, "message": FAILURE_MESSAGES.get(failure.kind, "The calendar is not available.")}
