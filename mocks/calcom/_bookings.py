"""The v2 booking operations (2024-08-13 / 2026-02-25): create, get, list, cancel, reschedule.

Each function takes the :class:`Ctx` of one request, changes the calendar and
returns the response, or raises :class:`ApiError` with Cal.com's exact text
(docs/research/calcom.md §2.3–§2.7, §3.3). The checks run in the order the real service
runs them, so a request with several problems gets the same first error.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mocks._input import strict_int
from mocks.calcom._http import ApiError, ApiRequest, ApiResponse, success
from mocks.calcom._render import booking_output, video_url
from mocks.calcom._state import Attendee, Booking, Calendar, EventTypeConfig, new_uid
from mocks.calcom._time import parse_iso
from mocks.calcom._validate import parse_body, validate_cancel, validate_create, validate_reschedule
from probes._calcom import (
    BOOKING_IN_PAST_MESSAGE,
    BOOKING_WINDOW_MESSAGE,
    NO_AUTH_MESSAGE,
    SEATS_FULL_MESSAGE,
    SLOT_TAKEN_MESSAGE,
)

__all__ = [
    "Ctx",
    "cancel_booking",
    "check_bookable",
    "create_booking",
    "get_booking",
    "list_bookings",
    "reschedule_booking",
]


@dataclass(frozen=True)
class Ctx:
    """One request's view: the calendar, the (pinned) clock and who is calling."""

    cal: Calendar
    now: datetime
    request: ApiRequest
    authenticated: bool = False


def check_bookable(ctx: Ctx, et: EventTypeConfig, start: datetime, end: datetime, *,
                   ignore_uid: str | None = None) -> None:
    """Past, notice/window, then availability: the errors.service mapping of docs/research/calcom.md §3.3."""
    if start < ctx.now:
        raise ApiError(400, BOOKING_IN_PAST_MESSAGE)
    if not ctx.cal.bookable_time(et, start, ctx.now):
        raise ApiError(400, BOOKING_WINDOW_MESSAGE)
    if ctx.cal.free_slot(et, start, end, ignore_uid=ignore_uid) is not None:
        return
    seated = ctx.cal.seated_booking_at(et, start) if et.seats else None
    if seated is not None and len(seated.attendees) >= (et.seats or 0):
        raise ApiError(409, SEATS_FULL_MESSAGE)
    raise ApiError(400, SLOT_TAKEN_MESSAGE)


def _event_type(ctx: Ctx, body: dict[str, Any]) -> EventTypeConfig:
    """Resolve ``eventTypeId`` or ``eventTypeSlug`` + ``username``/``teamSlug`` (404 texts of errors.service)."""
    if "eventTypeId" in body:
        et = ctx.cal.event_types.get(body["eventTypeId"])
        if et is None:
            raise ApiError(404, f"Event type with id {body['eventTypeId']} not found.")
        return et
    slug = body.get("eventTypeSlug")
    if slug and body.get("username"):
        et = ctx.cal.by_slug(slug)
        if et is None or body["username"] != ctx.cal.host.username:
            raise ApiError(404, f"Event type with slug {slug} belonging to user {body['username']} not found.")
        return et
    if slug and body.get("teamSlug"):
        raise ApiError(404, f"Event type with slug {slug} belonging to team {body['teamSlug']} not found.")
    raise ApiError(400, "Either eventTypeId or eventTypeSlug + username or eventTypeSlug + teamSlug must be provided")


def _length(et: EventTypeConfig, body: dict[str, Any]) -> int:
    """``lengthInMinutes`` only on multi-duration event types, and only one of its lengths."""
    if "lengthInMinutes" not in body:
        return et.length
    if not et.length_options:
        raise ApiError(400, "Can't specify 'lengthInMinutes' because event type does not have multiple possible "
                            "lengths. Please, remove the 'lengthInMinutes' field from the request.")
    if body["lengthInMinutes"] not in et.length_options:
        options = ", ".join(str(n) for n in et.length_options)
        raise ApiError(400, "Provided 'lengthInMinutes' is not one of the possible lengths for the event type. "
                            f"The possible lengths are: {options}")
    return int(body["lengthInMinutes"])


def _attendee(body: dict[str, Any], *, seated: bool) -> Attendee:
    """The booker; a phone-only booker gets Cal.com's SMS placeholder e-mail."""
    raw = body["attendee"]
    phone = raw.get("phoneNumber")
    email = raw.get("email") or f"{(phone or '').lstrip('+')}@sms.cal.com"
    responses = {"name": raw["name"], "email": email, **(body.get("bookingFieldsResponses") or {})}
    return Attendee(name=raw["name"], email=email, time_zone=raw["timeZone"], language=raw.get("language", "en"),
                    phone=phone, seat_uid=str(uuid.uuid4()) if seated else None, responses=responses)


def _location(body: dict[str, Any], uid: str) -> str:
    """The stored location: Cal Video unless the booker chose a phone/address/link."""
    loc = body.get("location") or body.get("meetingUrl")
    if isinstance(loc, str):
        return loc
    if isinstance(loc, dict):
        for key in ("phone", "address", "location", "link"):
            if isinstance(value := loc.get(key), str):
                return value
    return video_url(uid)


def create_booking(ctx: Ctx) -> ApiResponse:
    """``POST /v2/bookings`` → 201 ``BookingOutput`` (seated: a seat on the slot's booking)."""
    body = parse_body(ctx.request.body, required=True)
    validate_create(body)
    et = _event_type(ctx, body)
    length = _length(et, body)
    start = parse_iso(body["start"])
    assert start is not None  # validate_create checked it
    end = start + timedelta(minutes=length)
    check_bookable(ctx, et, start, end)
    attendee = _attendee(body, seated=bool(et.seats))
    existing = ctx.cal.seated_booking_at(et, start) if et.seats else None
    if existing is not None:
        existing.attendees.append(attendee)
        existing.updated_at = ctx.now
        return success(booking_output(ctx.cal, existing, seat_uid=attendee.seat_uid), 201)
    uid = new_uid()
    booking = ctx.cal.add(Booking(
        id=ctx.cal.next_id(), uid=uid, event_type_id=et.id, start=start, end=end,
        title=f"{et.title} between {ctx.cal.host.name} and {attendee.name}", attendees=[attendee],
        created_at=ctx.now, guests=list(body.get("guests") or []), metadata=dict(body.get("metadata") or {}),
        responses=dict(attendee.responses), location=_location(body, uid), ics_uid=f"{uid}@Cal.com",
        seats=et.seats,
    ))
    return success(booking_output(ctx.cal, booking, seat_uid=attendee.seat_uid), 201)


def _find(ctx: Ctx, uid: str, message: str) -> Booking:
    """The booking or the endpoint's own 404 text."""
    booking = ctx.cal.bookings.get(uid)
    if booking is None:
        raise ApiError(404, message.format(uid=uid))
    return booking


def get_booking(ctx: Ctx, uid: str) -> ApiResponse:
    """``GET /v2/bookings/{uid}``."""
    booking = _find(ctx, uid, "Booking with uid={uid} was not found in the database")
    return success(booking_output(ctx.cal, booking))


def cancel_booking(ctx: Ctx, uid: str) -> ApiResponse:
    """``POST /v2/bookings/{uid}/cancel`` → 200 with the booking re-read (or one seat removed)."""
    body = parse_body(ctx.request.body, required=False)
    validate_cancel(body)
    booking = _find(ctx, uid, "Booking with uid={uid} not found")
    if not booking.active:
        raise ApiError(400, f"Can't cancel booking with uid={uid} because it has been cancelled already. "
                            "Please provide uid of a booking that is not cancelled.")
    seat = body.get("seatUid")
    if seat and booking.seats:
        booking.attendees = [a for a in booking.attendees if a.seat_uid != seat]
        booking.updated_at = ctx.now
        if booking.attendees:
            return success(booking_output(ctx.cal, booking))
    booking.status = "cancelled"
    booking.cancellation_reason = body.get("cancellationReason") or ""
    booking.cancelled_by_email = _canceller(ctx, booking)
    booking.updated_at = ctx.now
    return success(booking_output(ctx.cal, booking))


def _canceller(ctx: Ctx, booking: Booking) -> str:
    """``cancelledByEmail``: the key owner (host) when authenticated, else the booker who cancels."""
    if ctx.authenticated:
        return ctx.cal.host.email
    return booking.attendees[0].email if booking.attendees else ""


def reschedule_booking(ctx: Ctx, uid: str) -> ApiResponse:
    """``POST /v2/bookings/{uid}/reschedule`` → 201 new booking; the old one cancelled with ``rescheduledToUid``."""
    body = parse_body(ctx.request.body, required=True)
    validate_reschedule(body)
    old = _find(ctx, uid, "Booking with uid={uid} not found")
    if old.rescheduled_to_uid:
        raise ApiError(400, f"Can't reschedule booking with uid={uid} because it has been cancelled and rescheduled "
                            f"already to booking with uid={old.rescheduled_to_uid}. "
                            "Please provide uid of a booking that is not cancelled.")
    if not old.active:
        raise ApiError(400, f"Can't reschedule booking with uid={uid} because it has been cancelled. "
                            "Please provide uid of a booking that is not cancelled.")
    et = ctx.cal.event_types[old.event_type_id]
    start = parse_iso(body["start"])
    assert start is not None  # validate_reschedule checked it
    end = start + (old.end - old.start)
    check_bookable(ctx, et, start, end, ignore_uid=old.uid)
    new = _moved(ctx, old, start, end, body)
    old.status, old.rescheduled_to_uid, old.updated_at = "cancelled", new.uid, ctx.now
    return success(booking_output(ctx.cal, new), 201)


def _moved(ctx: Ctx, old: Booking, start: datetime, end: datetime, body: dict[str, Any]) -> Booking:
    """The new booking of a reschedule: same people and answers, new uid, ``icsUid`` kept."""
    uid = new_uid()
    location = video_url(uid) if old.location == video_url(old.uid) else old.location
    return ctx.cal.add(Booking(
        id=ctx.cal.next_id(), uid=uid, event_type_id=old.event_type_id, start=start, end=end, title=old.title,
        attendees=list(old.attendees), created_at=ctx.now, description=old.description, guests=list(old.guests),
        metadata=dict(old.metadata), responses=dict(old.responses), location=location, ics_uid=old.ics_uid,
        rescheduling_reason=body.get("reschedulingReason"), rescheduled_by_email=body.get("rescheduledBy"),
        rescheduled_from_uid=old.uid, seats=old.seats,
    ))


def list_bookings(ctx: Ctx) -> ApiResponse:
    """``GET /v2/bookings`` (auth required): the common filters, sorting and ``pagination``."""
    if not ctx.authenticated:
        raise ApiError(401, NO_AUTH_MESSAGE)
    rows = [b for b in ctx.cal.bookings.values() if _matches(ctx, b)]
    by_created = ctx.request.arg("sortCreated") is not None
    descending = (ctx.request.arg("sortCreated" if by_created else "sortStart") or "asc") == "desc"
    rows.sort(key=(lambda b: b.created_at) if by_created else (lambda b: b.start), reverse=descending)
    take = max(1, _int_arg(ctx.request.arg("take"), 100))
    skip = max(0, _int_arg(ctx.request.arg("skip"), 0))
    page = rows[skip:skip + take]
    total = len(rows)
    pagination = {
        "totalItems": total, "remainingItems": max(0, total - skip - len(page)), "returnedItems": len(page),
        "itemsPerPage": take, "currentPage": skip // take + 1, "totalPages": math.ceil(total / take),
        "hasNextPage": skip + len(page) < total, "hasPreviousPage": skip > 0,
    }
    return success([booking_output(ctx.cal, b) for b in page], pagination=pagination)


def _int_arg(value: str | None, default: int) -> int:
    """A numeric query parameter, the default when absent or not an ASCII integer."""
    number = strict_int(value)
    return default if number is None else number


def _matches(ctx: Ctx, booking: Booking) -> bool:
    """The list filters: status, attendee, uid, event type(s), start/end bounds."""
    arg = ctx.request.arg
    statuses = set((arg("status") or "").split(",")) - {""}
    if statuses and not any(_has_status(ctx, booking, s) for s in statuses):
        return False
    if arg("attendeeEmail") and all(a.email != arg("attendeeEmail") for a in booking.attendees):
        return False
    name = arg("attendeeName")
    if name and all(name not in a.name for a in booking.attendees):
        return False
    if arg("bookingUid") and booking.uid != arg("bookingUid"):
        return False
    raw_ids = (arg("eventTypeIds") or arg("eventTypeId") or "").split(",")
    ids = {strict_int(x.strip(), lo=1) for x in raw_ids} - {None}
    if ids and booking.event_type_id not in ids:
        return False
    after, before = parse_iso(arg("afterStart")), parse_iso(arg("beforeEnd"))
    return not ((after and booking.start < after) or (before and booking.end > before))


def _has_status(ctx: Ctx, booking: Booking, status: str) -> bool:
    """``upcoming``/``past``/``cancelled``/``unconfirmed``/``recurring`` as the list endpoint means them."""
    if status == "cancelled":
        return booking.status == "cancelled"
    if status == "upcoming":
        return booking.active and booking.end >= ctx.now
    if status == "past":
        return booking.status != "cancelled" and booking.end < ctx.now
    if status == "unconfirmed":
        return booking.status == "pending"
    return False
