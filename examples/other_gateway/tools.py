"""The three custom functions the voice agent calls: check_availability, book_appointment, cancel_appointment.

Every result is HTTP 200 with a ``speech`` line, because whatever happens the
agent must have something true to say to the caller; ``problem`` names what
went wrong in one word the agent's prompt can branch on.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from datetime import date as Date
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .calcom import Booked, CalendarFailure, Refused, Taken

if TYPE_CHECKING:
    from .app import Gateway, RequestContext

__all__ = ["MAX_OPTIONS", "TOOLS"]

MAX_OPTIONS = 5  # more than five times read out on the phone is noise
_UID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

_TROUBLE = {
    "calendar_down": "I can't reach the calendar right now. May I have someone call you back?",
    "calendar_busy": "The calendar is busy at the moment. Give me a second and I'll try again.",
    "calendar_slow": "The calendar is taking too long to answer. Shall I try once more?",
}

Result = tuple[dict[str, Any], str]  # (the tool result, the request's outcome word)


def _zone(name: Any, default: str) -> str:
    if isinstance(name, str) and name:
        try:
            ZoneInfo(name)
            return name
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return default


def _day(value: Any) -> str | None:
    """``value`` if it is a real calendar date written YYYY-MM-DD."""
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            Date.fromisoformat(value)
            return value
        except ValueError:
            pass
    return None


def _clock(iso: str) -> str:
    """``2026-12-08T09:20:00.000-06:00`` → ``09:20``, the way the agent reads a time out."""
    return datetime.fromisoformat(iso).strftime("%H:%M")


def _listing(times: list[str]) -> str:
    spoken = [_clock(t) for t in times]
    return spoken[0] if len(spoken) == 1 else ", ".join(spoken[:-1]) + " or " + spoken[-1]


def _bad_args(gw: Gateway, ctx: RequestContext, tool: str, why: str, flag: str) -> Result:
    gw.log(ctx, "warn", "request.invalid", f"{tool}: {why}", tool=tool)
    return {flag: False, "problem": "bad_args", "speech": "I need a little more information to do that."}, "bad_request"


async def check_availability(gw: Gateway, ctx: RequestContext, args: dict[str, Any]) -> Result:
    day = _day(args.get("date"))
    if day is None:
        return _bad_args(gw, ctx, "check_availability", "date is not YYYY-MM-DD", "has_slots")
    zone = _zone(args.get("time_zone"), gw.settings.default_time_zone)
    try:
        starts = await gw.calcom.slots(day, zone, ctx.request_id)
    except CalendarFailure as failure:
        gw.calendar_failed(ctx, failure)
        return {"has_slots": False, "options": [], "problem": failure.kind, "speech": _TROUBLE[failure.kind]}, "ok"
    options = starts[:MAX_OPTIONS]
    gw.log(ctx, "info", "slots.listed", f"{len(options)} of {len(starts)} free times offered", date=day,
           offered=len(options), free=len(starts))
    if not options:
        speech = f"Nothing is free on {day}. Shall I look at another day?"
        return {"has_slots": False, "options": [], "speech": speech}, "ok"
    return {"has_slots": True, "options": options, "speech": f"On {day} I can offer {_listing(options)}."}, "ok"


async def book_appointment(gw: Gateway, ctx: RequestContext, args: dict[str, Any]) -> Result:
    zone = _zone(args.get("time_zone"), gw.settings.default_time_zone)
    try:
        start = datetime.fromisoformat(str(args.get("start")))
    except ValueError:
        return _bad_args(gw, ctx, "book_appointment", "start is not an ISO time", "confirmed")
    if start.tzinfo is None:
        start = start.replace(tzinfo=ZoneInfo(zone))
    name, email, phone = (args.get(k) if isinstance(args.get(k), str) else "" for k in ("name", "email", "phone"))
    if not name or not (email or phone):
        return _bad_args(gw, ctx, "book_appointment", "name and an email or phone are needed", "confirmed")
    attendee: dict[str, Any] = {"name": name, "timeZone": zone, "language": gw.settings.default_language}
    if email:
        attendee["email"] = email
    if phone:
        attendee["phoneNumber"] = phone
    slot = start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    call = ctx.call
    if call is None:  # no call id (args-only without call_id): nothing to key a repeat on
        return await _book(gw, ctx, slot, start, zone, attendee), "ok"
    task = call.bookings.get(slot)
    outcome = "dup" if task is not None else "ok"
    if task is None:
        task = asyncio.get_running_loop().create_task(_book(gw, ctx, slot, start, zone, attendee))
        call.bookings[slot] = task
    try:
        result = await asyncio.shield(task)
    except BaseException:
        if task.done() and call.bookings.get(slot) is task:
            call.bookings.pop(slot)
        raise
    if not result.get("confirmed") and call.bookings.get(slot) is task:
        call.bookings.pop(slot)  # only a confirmed booking is final; anything else may be tried again
    return result, outcome


async def _book(gw: Gateway, ctx: RequestContext, slot: str, start: datetime, zone: str,
                attendee: dict[str, Any]) -> dict[str, Any]:
    """One real booking attempt; runs once per (call, slot) however often Retell asks."""
    metadata = {"request_id": ctx.request_id} | ({"call_id": ctx.call_id} if ctx.call_id else {})
    try:
        answer = await gw.calcom.book(slot, attendee, metadata, ctx.request_id)
    except CalendarFailure as failure:
        gw.calendar_failed(ctx, failure)
        gw.metrics.booking("failed")
        return {"confirmed": False, "problem": failure.kind, "speech": _TROUBLE[failure.kind]}
    if isinstance(answer, Booked):
        when = datetime.fromisoformat(answer.start).astimezone(ZoneInfo(zone)).isoformat()
        if not gw.settings.has("booking-not-counted"):
            gw.metrics.booking("confirmed")
        gw.log(ctx, "info", "booking.confirmed", "appointment booked", reference=answer.uid, when=when)
        return {"confirmed": True, "reference": answer.uid, "when": when,
                "speech": f"You're booked on {when[:10]} at {_clock(when)}."}
    if isinstance(answer, Taken):
        gw.metrics.booking("conflict")
        others = await _other_times(gw, ctx, start, zone)
        gw.log(ctx, "warn", "booking.conflict", "slot taken, other times offered", slot=slot, offered=len(others))
        speech = ("That time was just taken. I can offer " + _listing(others) + " instead.") if others else \
            "That time was just taken, and nothing else is free that day."
        return {"confirmed": False, "problem": "taken", "other_times": others, "speech": speech}
    assert isinstance(answer, Refused)
    gw.metrics.booking("failed")
    gw.log(ctx, "warn", "booking.refused", "Cal.com refused the booking", status=answer.status, reason=answer.message)
    return {"confirmed": False, "problem": "refused", "speech": "I can't book that time. Shall we pick another one?"}


async def _other_times(gw: Gateway, ctx: RequestContext, taken: datetime, zone: str) -> list[str]:
    """Free times on the same local day, the taken one left out; none if Cal.com cannot say."""
    day = taken.astimezone(ZoneInfo(zone)).date().isoformat()
    try:
        starts = await gw.calcom.slots(day, zone, ctx.request_id)
    except CalendarFailure as failure:
        gw.calendar_failed(ctx, failure)
        return []
    return [s for s in starts if datetime.fromisoformat(s) != taken][:MAX_OPTIONS]


async def cancel_appointment(gw: Gateway, ctx: RequestContext, args: dict[str, Any]) -> Result:
    uid = args.get("booking_uid")
    if not isinstance(uid, str) or not _UID.match(uid):
        return _bad_args(gw, ctx, "cancel_appointment", "booking_uid is missing or malformed", "cancelled")
    reason = args["reason"] if isinstance(args.get("reason"), str) else ""
    try:
        answer = await gw.calcom.cancel(uid, reason, ctx.request_id)
    except CalendarFailure as failure:
        gw.calendar_failed(ctx, failure)
        return {"cancelled": False, "reference": uid, "problem": failure.kind, "speech": _TROUBLE[failure.kind]}, "ok"
    if answer in ("cancelled", "already"):
        if answer == "cancelled":
            gw.metrics.booking("cancelled")
        gw.log(ctx, "info", "booking.cancelled", "appointment cancelled", reference=uid, already=answer == "already")
        return {"cancelled": True, "reference": uid, "speech": "Your appointment is cancelled."}, "ok"
    problem = "unknown_booking" if answer == "unknown" else "refused"
    gw.log(ctx, "warn", "booking.refused", f"cancel not possible: {problem}", reference=uid)
    return {"cancelled": False, "reference": uid, "problem": problem,
            "speech": "I can't find that appointment to cancel it."}, "ok"


TOOLS = {
    "check_availability": check_availability,
    "book_appointment": book_appointment,
    "cancel_appointment": cancel_appointment,
}
