"""Calendar objects → the JSON Cal.com sends (bookings, event types, slot maps).

Kept apart from the handlers so that field names and formats are in one place
and can be checked against the OpenAPI document (``tests/test_calcom_openapi.py``).
Shapes follow ``BookingOutput_2024_08_13``, the seated variants and
``EventTypeOutput_2024_06_14``; slot maps follow docs/research/calcom.md §2.1, §2.2 and §5.
"""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo

from mocks.calcom._state import Attendee, Booking, Calendar, EventTypeConfig, Slot
from mocks.calcom._time import fmt_dayjs, fmt_js, fmt_luxon

__all__ = [
    "booking_output",
    "event_type_output",
    "slots_available_output",
    "slots_output",
    "slots_v1_output",
    "v1_booking_output",
    "video_url",
]

_PLUS_TAG = re.compile(r"\+[A-Za-z0-9]{25}@")


def video_url(uid: str) -> str:
    """Cal Video link Cal.com puts in ``location`` and ``meetingUrl``."""
    return f"https://app.cal.com/video/{uid}"


def _display_email(email: str) -> str:
    """``displayEmail`` drops the 25-char ``+tag`` Cal.com adds to placeholder emails."""
    return _PLUS_TAG.sub("@", email)


def _attendee(att: Attendee, *, seated: bool) -> dict[str, Any]:
    """One ``BookingAttendee`` (or ``SeatedAttendee`` with seat uid and its own responses)."""
    out: dict[str, Any] = {
        "name": att.name, "email": att.email, "displayEmail": _display_email(att.email),
        "timeZone": att.time_zone, "language": att.language, "absent": False,
    }
    if att.phone:
        out["phoneNumber"] = att.phone
    if seated:
        out["seatUid"] = att.seat_uid or ""
        out["bookingFieldsResponses"] = dict(att.responses)
        out["metadata"] = {}
    return out


def booking_output(cal: Calendar, booking: Booking, *, seat_uid: str | None = None) -> dict[str, Any]:
    """``BookingOutput_2024_08_13``; seated bookings get the seated variant (``seatUid`` on create)."""
    et = cal.event_types.get(booking.event_type_id)
    host = cal.host
    out: dict[str, Any] = {
        "id": booking.id, "uid": booking.uid, "title": booking.title, "description": booking.description,
        "hosts": [{"id": host.id, "name": host.name, "email": host.email, "displayEmail": host.email,
                   "username": host.username, "timeZone": host.time_zone}],
        "status": booking.status,
        "cancellationReason": booking.cancellation_reason, "cancelledByEmail": booking.cancelled_by_email,
    }
    out.update(_reschedule_fields(booking))
    duration = int((booking.end - booking.start).total_seconds() // 60)
    out.update({
        "start": fmt_js(booking.start), "end": fmt_js(booking.end), "duration": duration,
        "eventTypeId": booking.event_type_id,
        "eventType": {"id": booking.event_type_id, "slug": et.slug if et else ""},
        "meetingUrl": booking.location, "location": booking.location, "absentHost": False,
        "createdAt": fmt_js(booking.created_at), "updatedAt": fmt_js(booking.updated_at or booking.created_at),
        "metadata": dict(booking.metadata), "icsUid": booking.ics_uid,
    })
    if booking.seats:
        if seat_uid is not None:
            out["seatUid"] = seat_uid
        out["attendees"] = [_attendee(a, seated=True) for a in booking.attendees]
        return out
    out["attendees"] = [_attendee(a, seated=False) for a in booking.attendees]
    out["guests"] = list(booking.guests)
    out["bookingFieldsResponses"] = dict(booking.responses)
    return out


def _reschedule_fields(booking: Booking) -> dict[str, Any]:
    """The optional reschedule fields, present only when set (as the output service does)."""
    pairs = {
        "reschedulingReason": booking.rescheduling_reason,
        "rescheduledByEmail": booking.rescheduled_by_email,
        "rescheduledFromUid": booking.rescheduled_from_uid,
        "rescheduledToUid": booking.rescheduled_to_uid,
    }
    return {key: value for key, value in pairs.items() if value is not None}


def _booking_fields() -> list[dict[str, Any]]:
    """The default booking fields every personal event type has, plus the phone field."""
    def default(kind: str, slug: str, label: str, required: bool, **extra: Any) -> dict[str, Any]:
        return {"type": kind, "slug": slug, "label": label, "placeholder": "", "required": required,
                "isDefault": True, "hidden": False, **extra}

    return [
        default("name", "name", "Your name", True),
        default("email", "email", "Email address", True),
        {"type": "phone", "slug": "attendeePhoneNumber", "label": "Phone number", "placeholder": "",
         "required": False, "hidden": False, "isDefault": False},
        default("textarea", "notes", "Additional notes", False),
    ]


def event_type_output(cal: Calendar, et: EventTypeConfig) -> dict[str, Any]:
    """``EventTypeOutput_2024_06_14`` with every required field (users as objects, as the source does).

    Unset optional fields are left out rather than sent as ``null``: the OpenAPI
    document types ``slotInterval``/``seatsPerTimeSlot`` as objects, so seats go
    in the ``seats`` object it does describe.
    """
    host = cal.host
    out: dict[str, Any] = {
        "id": et.id, "ownerId": host.id, "lengthInMinutes": et.length, "title": et.title, "slug": et.slug,
        "description": et.description,
        "locations": [{"type": "integration", "integration": "cal-video"}],
        "bookingFields": _booking_fields(), "disableGuests": False,
        "minimumBookingNotice": et.minimum_notice_min, "beforeEventBuffer": 0, "afterEventBuffer": 0,
        "recurrence": None, "metadata": {}, "price": 0, "currency": "usd",
        "lockTimeZoneToggleOnBookingPage": False,
        "forwardParamsSuccessRedirect": None, "successRedirectUrl": None, "isInstantEvent": False,
        "seatsShowAvailabilityCount": bool(et.seats), "scheduleId": None, "hidden": et.hidden,
        "bookingRequiresAuthentication": False,
        "users": [{"id": host.id, "name": host.name, "username": host.username, "avatarUrl": None,
                   "weekStart": "Monday", "brandColor": None, "darkBrandColor": None, "metadata": {}}],
        "bookingUrl": f"https://cal.com/{host.username}/{et.slug}",
    }
    if et.length_options:
        out["lengthInMinutesOptions"] = list(et.length_options)
    if et.slot_interval:
        out["slotInterval"] = et.slot_interval
    if et.seats:
        out["seats"] = {"seatsPerTimeSlot": et.seats, "showAttendeeInfo": False, "showAvailabilityCount": True}
    return out


def _local_day(slot: Slot, tz: ZoneInfo | None) -> str:
    """The ``YYYY-MM-DD`` key of a slot in the requested zone (UTC without one)."""
    return (slot.start.astimezone(tz) if tz else slot.start).strftime("%Y-%m-%d")


def slots_output(slots: list[Slot], tz: ZoneInfo | None, *, as_range: bool) -> dict[str, list[dict[str, Any]]]:
    """2024-09-04 ``data``: local day → ``[{start[, end][, seats…]}]`` (days without slots left out)."""
    days: dict[str, list[dict[str, Any]]] = {}
    for slot in slots:
        item: dict[str, Any] = {"start": fmt_luxon(slot.start, tz)}
        if as_range:
            item["end"] = fmt_luxon(slot.end, tz)
        if slot.seats_total:
            item.update(seatsBooked=slot.seats_booked, seatsRemaining=slot.seats_total - slot.seats_booked,
                        seatsTotal=slot.seats_total)
            if slot.booking_uid:
                item["bookingUid"] = slot.booking_uid
        days.setdefault(_local_day(slot, tz), []).append(item)
    return days


def slots_available_output(slots: list[Slot], tz: ZoneInfo | None, *, as_range: bool) -> dict[str, Any]:
    """Old ``/v2/slots/available`` ``data``: ``{"slots": {day: [{time}|{startTime,endTime}]}}`` in UTC."""
    days: dict[str, list[dict[str, Any]]] = {}
    for slot in slots:
        item: dict[str, Any] = (
            {"startTime": fmt_js(slot.start), "endTime": fmt_js(slot.end)} if as_range else {"time": fmt_js(slot.start)}
        )
        if slot.seats_total:
            item["attendees"] = slot.seats_booked
            if slot.booking_uid:
                item["bookingUid"] = slot.booking_uid
        days.setdefault(_local_day(slot, tz), []).append(item)
    return {"slots": days}


def slots_v1_output(slots: list[Slot], tz: ZoneInfo | None) -> dict[str, Any]:
    """v1 ``{"slots": {day: [{"time": dayjs}]}}`` without envelope."""
    days: dict[str, list[dict[str, Any]]] = {}
    for slot in slots:
        days.setdefault(_local_day(slot, tz), []).append({"time": fmt_dayjs(slot.start, tz)})
    return {"slots": days}


def v1_booking_output(cal: Calendar, booking: Booking) -> dict[str, Any]:
    """The v1 booking row (upper-case status, ``startTime``/``endTime``)."""
    host = cal.host
    return {
        "id": booking.id, "uid": booking.uid, "userId": host.id, "eventTypeId": booking.event_type_id,
        "title": booking.title, "description": booking.description,
        "startTime": fmt_js(booking.start), "endTime": fmt_js(booking.end),
        "attendees": [{"email": a.email, "name": a.name, "timeZone": a.time_zone, "locale": a.language}
                      for a in booking.attendees],
        "user": {"email": host.email, "name": host.name, "timeZone": host.time_zone, "locale": "de"},
        "metadata": dict(booking.metadata), "status": booking.status.upper(),
        "responses": dict(booking.responses), "location": booking.location,
        "cancellationReason": booking.cancellation_reason or None,
    }
