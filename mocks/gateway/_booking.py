"""``book_appointment``: one Cal.com booking per call and slot, whatever Retell retries.

Retell may call a function again (``max_retry``) and a caller may repeat
themselves, so a booking is keyed by call_id + tool_call_id and by
call_id + start; the first successful result is returned for both.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ._calcom_client import BOOKINGS_VERSION, CalcomFailure
from ._calendar import fetch_slots, report_failure
from ._defects import Defect
from ._gateway import Gateway, RequestContext
from ._retell_request import caller_number

__all__ = ["book_appointment", "last_tool_call_id"]

ENDPOINT = "/api/retell/functions/book_appointment"
SOURCE = "retell"
_TAKEN_MARKERS = ("already has booking", "not available", "no more seats")


def last_tool_call_id(call: dict[str, Any]) -> str | None:
    """The id of the newest ``tool_call_invocation``: the one this request executes."""
    entries = call.get("transcript_with_tool_calls")
    for entry in reversed(entries if isinstance(entries, list) else []):
        if isinstance(entry, dict) and entry.get("role") == "tool_call_invocation" and entry.get("tool_call_id"):
            return str(entry["tool_call_id"])
    return None


def _parse_start(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _utc(start: datetime) -> str:
    return start.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def book_appointment(gw: Gateway, ctx: RequestContext, args: dict[str, Any], call: dict[str, Any]) -> dict[str, Any]:
    """Book ``args.start`` once; a repeat of the same tool call or slot returns the first result."""
    start = _parse_start(args.get("start"))
    if start is None:
        return {"booked": False, "error": "invalid_start", "message": "I need a valid appointment time to book."}
    keys: list[tuple[str, ...]] = []
    if ctx.call_id:
        tool_call_id = last_tool_call_id(call)
        if tool_call_id:
            keys.append(("tool", ctx.call_id, tool_call_id))
        keys.append(("start", ctx.call_id, _utc(start)))
    idempotent = not gw.config.has(Defect.DUPLICATE_BOOKS_TWICE)
    async with gw.lock_for(ctx.call_id or ""):
        for key in keys if idempotent else []:
            cached = gw.bookings.get(key)
            if cached is not None:
                gw.log("INFO", "booking_duplicate", "repeated booking request answered with the first result", ctx,
                       booking_uid=cached.get("booking_uid"))
                return dict(cached)
        record = gw.calls.get(ctx.call_id)
        known_number = record.caller_number if record is not None else None
        result = await _create(gw, ctx, _with_caller_defaults(args, call, known_number), start)
        if result.get("booked"):
            for key in keys:
                gw.bookings.put(key, dict(result))
    return result


def _with_caller_defaults(args: dict[str, Any], call: dict[str, Any], known_number: str | None) -> dict[str, Any]:
    """Fill what the agent left out from what Retell already knows about the caller.

    Cal.com needs an email or a phone number; the caller's own number is on
    the call object, and the name is usually a dynamic variable.
    """
    filled = dict(args)
    dynamic = call.get("retell_llm_dynamic_variables")
    dynamic = dynamic if isinstance(dynamic, dict) else {}
    if not filled.get("name"):
        filled["name"] = dynamic.get("customer_name") or dynamic.get("name") or "Caller"
    if not filled.get("phone") and not filled.get("email"):
        filled["phone"] = caller_number(call) or known_number
    if not filled.get("time_zone") and dynamic.get("time_zone"):
        filled["time_zone"] = dynamic["time_zone"]
    return filled


def _booking_body(gw: Gateway, ctx: RequestContext, args: dict[str, Any], start: datetime) -> dict[str, Any]:
    attendee: dict[str, Any] = {
        "name": str(args.get("name") or "Caller"),
        "timeZone": str(args.get("time_zone") or "UTC"),
        "language": str(args.get("language") or "en"),
    }
    if args.get("email"):
        attendee["email"] = str(args["email"])
    body: dict[str, Any] = {"start": _utc(start), "eventTypeId": gw.config.event_type_id, "attendee": attendee}
    if args.get("phone"):
        attendee["phoneNumber"] = str(args["phone"])
        body["bookingFieldsResponses"] = {"attendeePhoneNumber": str(args["phone"])}
    body["metadata"] = {"call_id": ctx.call_id or "", "correlation_id": ctx.correlation_id, "source": SOURCE}
    return body


async def _create(gw: Gateway, ctx: RequestContext, args: dict[str, Any], start: datetime) -> dict[str, Any]:
    try:
        response = await gw.calcom.request(
            "POST", "/v2/bookings", version=BOOKINGS_VERSION, correlation_id=ctx.correlation_id,
            traceparent=ctx.traceparent(), json=_booking_body(gw, ctx, args, start),
        )
    except CalcomFailure as failure:
        gw.metrics.bookings.labels(status="failed", source=SOURCE).inc()
        return report_failure(gw, ctx, failure, ENDPOINT, {"booked": False})
    if response.status in (200, 201) and isinstance(response.body.get("data"), dict):
        return _created(gw, ctx, response.body["data"], start)
    if response.status in (400, 409) and any(m in response.error_message.lower() for m in _TAKEN_MARKERS):
        return await _slot_taken(gw, ctx, args, start)
    gw.metrics.bookings.labels(status="rejected", source=SOURCE).inc()
    gw.log(
        "WARNING", "booking_rejected", f"Cal.com refused the booking with HTTP {response.status}", ctx,
        calcom_status=response.status, calcom_error=response.error_message[:300],  # Cal.com's texts name fields, not values
    )
    return {"booked": False, "error": "booking_rejected", "message": "I could not book that time. Shall we try another one?"}


def _created(gw: Gateway, ctx: RequestContext, data: dict[str, Any], start: datetime) -> dict[str, Any]:
    uid = str(data.get("uid", ""))
    if not gw.config.has(Defect.BOOKING_METRIC_NOT_INCREMENTED):
        gw.metrics.bookings.labels(status="created", source=SOURCE).inc()
    if not gw.config.has(Defect.BOOKING_NOT_LOGGED):
        gw.log("INFO", "booking_created", "appointment booked in Cal.com", ctx, booking_uid=uid)
    booked_start = data.get("start") if isinstance(data.get("start"), str) else _utc(start)
    return {"booked": True, "booking_uid": uid, "start": booked_start, "message": "Your appointment is booked."}


async def _slot_taken(gw: Gateway, ctx: RequestContext, args: dict[str, Any], start: datetime) -> dict[str, Any]:
    """The slot went between check and book: offer the day's remaining slots instead."""
    gw.metrics.bookings.labels(status="slot_taken", source=SOURCE).inc()
    time_zone = str(args.get("time_zone") or "UTC")
    try:
        slots = await fetch_slots(gw, ctx, start.date().isoformat(), time_zone)
    except CalcomFailure as failure:
        report_failure(gw, ctx, failure, ENDPOINT, {})
        slots = []
    alternatives = [s for s in slots if (_parse_start(s) or start) != start]
    gw.log("WARNING", "booking_slot_taken", "requested slot was taken; alternatives offered", ctx, alternatives=len(alternatives))
    message = "That time was just taken." + (" I can offer other times that day." if alternatives
                                             else " There are no other times that day.")
    return {"booked": False, "error": "slot_taken", "alternatives": alternatives, "message": message}
