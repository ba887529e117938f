"""Legacy API v1 (shut down April 2026; kept for gateways that still call it).

No envelope, ``?apiKey=`` auth, dayjs times in slots, errors as
``{"message", "url", "method", "data": null}`` (docs/research/calcom.md §5). The calendar is
the same one v2 uses, so a v1 booking blocks v2 slots and vice versa.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mocks._input import BadInput, load_json
from mocks.calcom._bookings import Ctx, check_bookable
from mocks.calcom._http import ApiError, ApiResponse, json_response
from mocks.calcom._render import slots_v1_output, v1_booking_output, video_url
from mocks.calcom._slots import find_event_type, slot_range
from mocks.calcom._state import Attendee, Booking, new_uid
from mocks.calcom._time import parse_iso
from probes._calcom import BOOKING_IN_PAST_MESSAGE

__all__ = ["v1_cancel", "v1_create", "v1_get", "v1_slots"]


def _v1_error(status: int, message: str) -> ApiError:
    """An error in the v1 ``defaultResponder`` shape."""
    return ApiError(status, message, kind="v1")


def v1_slots(ctx: Ctx, *, empty: bool = False) -> ApiResponse:
    """``GET /v1/slots``: ``{"slots": {day: [{"time": "…+01:00"}]}}``."""
    try:
        lo, hi, tz = slot_range(ctx, "startTime", "endTime")
    except ApiError as exc:
        raise _v1_error(400, exc.message) from None
    et = find_event_type(ctx, ctx.request.arg("eventTypeId"))
    if et is None:
        raise _v1_error(404, "Event type not found")
    slots = [] if empty else ctx.cal.slots(et, lo, hi, ctx.now)
    return json_response(200, slots_v1_output(slots, tz))


def _v1_body(ctx: Ctx) -> dict[str, Any]:
    """The JSON object body (v1 answers a bad body with a 400 message)."""
    try:
        body = load_json(ctx.request.body or b"{}")
    except BadInput:
        raise _v1_error(400, "Bad request, body must be JSON") from None
    if not isinstance(body, dict):
        raise _v1_error(400, "Bad request, body must be JSON")
    return body


def v1_create(ctx: Ctx) -> ApiResponse:
    """``POST /v1/bookings``: the booking row itself (no ``{"booking": …}`` wrapper, as ``_post.ts``)."""
    body = _v1_body(ctx)
    et_id = body.get("eventTypeId")
    if not isinstance(et_id, int) or isinstance(et_id, bool):
        raise _v1_error(400, "Bad request, eventTypeId must be a number")
    et = ctx.cal.event_types.get(et_id)
    if et is None:
        raise _v1_error(404, "Event type not found")
    start, end = parse_iso(body.get("start")), parse_iso(body.get("end"))
    raw_responses = body.get("responses")
    responses: dict[str, Any] = raw_responses if isinstance(raw_responses, dict) else {}
    if start is None or end is None or not responses.get("name") or not responses.get("email"):
        raise _v1_error(400, "Bad request, start, end and responses.name/email are required")
    _v1_bookable(ctx, et_id, start, end)
    uid = new_uid()
    attendee = Attendee(name=responses["name"], email=responses["email"], time_zone=body.get("timeZone") or "UTC",
                        language=body.get("language") or "en")
    booking = ctx.cal.add(Booking(
        id=ctx.cal.next_id(), uid=uid, event_type_id=et.id, start=start, end=end,
        title=body.get("title") or f"{et.title} between {ctx.cal.host.name} and {attendee.name}",
        attendees=[attendee], created_at=ctx.now, description=body.get("description") or "",
        metadata=dict(body.get("metadata") or {}), responses=dict(responses), location=video_url(uid),
        ics_uid=f"{uid}@Cal.com", seats=et.seats,
    ))
    return json_response(200, v1_booking_output(ctx.cal, booking))


def _v1_bookable(ctx: Ctx, et_id: int, start: datetime, end: datetime) -> None:
    """v1 reports every availability problem as ``no_available_users_found_error`` (400)."""
    try:
        check_bookable(ctx, ctx.cal.event_types[et_id], start, end)
    except ApiError as exc:
        past = exc.message == BOOKING_IN_PAST_MESSAGE
        raise _v1_error(400, BOOKING_IN_PAST_MESSAGE if past else "no_available_users_found_error") from None


def _by_id(ctx: Ctx, raw_id: str) -> Booking:
    """A booking by numeric id, or 404 ``Booking not found``."""
    booking = next((b for b in ctx.cal.bookings.values() if str(b.id) == raw_id), None)
    if booking is None:
        raise _v1_error(404, "Booking not found")
    return booking


def v1_get(ctx: Ctx, raw_id: str) -> ApiResponse:
    """``GET /v1/bookings/{id}`` → ``{"booking": …}``."""
    return json_response(200, {"booking": v1_booking_output(ctx.cal, _by_id(ctx, raw_id))})


def v1_cancel(ctx: Ctx, raw_id: str) -> ApiResponse:
    """``DELETE /v1/bookings/{id}/cancel`` (``handleCancelBooking`` result)."""
    booking = _by_id(ctx, raw_id)
    if not booking.active:
        raise _v1_error(400, "This booking has already been cancelled.")
    booking.status = "cancelled"
    booking.cancellation_reason = ctx.request.arg("cancellationReason") or ""
    booking.cancelled_by_email = ctx.cal.host.email
    booking.updated_at = ctx.now
    return json_response(200, {"success": True, "message": "Booking successfully cancelled.",
                               "onlyRemovedAttendee": False, "bookingId": booking.id, "bookingUid": booking.uid})
