"""Slots (2024-09-04 and the old ``/v2/slots/available``) and event types (2024-06-14).

Read-only endpoints: they only look at the calendar. ``empty=True`` is the
``no_slots`` fault: the same validation, then no availability at all.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from mocks._input import strict_int
from mocks.calcom._bookings import Ctx
from mocks.calcom._http import ApiError, ApiResponse, success
from mocks.calcom._render import event_type_output, slots_available_output, slots_output
from mocks.calcom._state import EventTypeConfig, Slot
from mocks.calcom._time import parse_iso, parse_iso_end, zone
from probes._calcom import NO_AUTH_MESSAGE

__all__ = ["MAX_SLOT_RANGE_DAYS", "event_type_by_id", "event_types", "find_event_type", "slot_range",
           "slots_2024_09_04", "slots_available"]

# The longest start → end range a slots request may ask for. Only the bookable window is ever
# computed (``Calendar.slots``), so this is not what keeps a request fast; it turns a range no
# client means (``start=0001-01-01&end=7000-01-01``) into a 400 naming ``end`` instead of an
# empty answer. Hosted Cal.com clamps ``end`` to a year from today (get-slots.input.ts since
# calcom/cal.diy#25038), so a legitimate client never needs more than a year.
MAX_SLOT_RANGE_DAYS = 3660


def _wrong(prop: str, message: str) -> str:
    """The ``GetSlotsInputPipe`` text for one property (same format as the bookings pipe)."""
    return f"{prop} property is wrong,{message} "


def slot_range(ctx: Ctx, start_key: str, end_key: str) -> tuple[datetime, datetime, ZoneInfo | None]:
    """Parse the range and zone parameters, or raise the pipe's 400."""
    arg = ctx.request.arg
    errors = []
    lo, hi = parse_iso(arg(start_key)), parse_iso_end(arg(end_key))
    if lo is None:
        errors.append(_wrong(start_key, f"{start_key} must be a valid ISO 8601 date string"))
    if hi is None:
        errors.append(_wrong(end_key, f"{end_key} must be a valid ISO 8601 date string"))
    tz_name = arg("timeZone")
    tz = zone(tz_name)
    if tz_name is not None and tz is None:
        errors.append(_wrong("timeZone", "timeZone must be a valid IANA time-zone"))
    if lo is not None and hi is not None and hi - lo > timedelta(days=MAX_SLOT_RANGE_DAYS):
        errors.append(_wrong(end_key, f"{end_key} must be at most {MAX_SLOT_RANGE_DAYS} days after {start_key}"))
    if errors:
        raise ApiError(400, ", ".join(errors))
    assert lo is not None and hi is not None
    return lo, hi, tz


def find_event_type(ctx: Ctx, raw_id: str | None) -> EventTypeConfig | None:
    """The event type a query or path id names; ``None`` when unknown or not a positive ASCII integer."""
    number = strict_int(raw_id, lo=1)
    return ctx.cal.event_types.get(number) if number is not None else None


def _slot_event_type(ctx: Ctx) -> EventTypeConfig:
    """``eventTypeId`` or ``eventTypeSlug`` + ``username``/``teamSlug`` (slots-input.service 404 texts)."""
    arg = ctx.request.arg
    raw_id = arg("eventTypeId")
    if raw_id is not None:
        et = find_event_type(ctx, raw_id)
        if et is None:
            raise ApiError(404, f"Event Type with ID={raw_id} not found")
        return et
    if arg("teamSlug"):
        raise ApiError(404, f"Team with slug {arg('teamSlug')} not found")
    username = arg("username")
    if username is not None and username != ctx.cal.host.username:
        raise ApiError(404, f"User with username {username} not found")
    et = ctx.cal.by_slug(arg("eventTypeSlug") or "") if username else None
    if et is None:
        raise ApiError(404, "Event Type not found")
    return et


def _duration(et: EventTypeConfig, raw: str | None) -> int:
    """``duration`` only counts for multi-duration event types (else the event length)."""
    minutes = strict_int(raw, lo=1)
    return minutes if minutes in et.length_options else et.length


def _free(ctx: Ctx, et: EventTypeConfig, lo: datetime, hi: datetime, *, duration: str | None,
          reschedule: str | None, empty: bool) -> list[Slot]:
    """Free slots of ``et`` in the range (nothing under the ``no_slots`` fault)."""
    if empty:
        return []
    return ctx.cal.slots(et, lo, hi, ctx.now, length=_duration(et, duration), ignore_uid=reschedule)


def slots_2024_09_04(ctx: Ctx, *, empty: bool = False) -> ApiResponse:
    """``GET /v2/slots``: days keyed in ``timeZone``, luxon ISO starts, ``format=range``, seat counts."""
    lo, hi, tz = slot_range(ctx, "start", "end")
    et = _slot_event_type(ctx)
    arg = ctx.request.arg
    slots = _free(ctx, et, lo, hi, duration=arg("duration"), reschedule=arg("bookingUidToReschedule"), empty=empty)
    return success(slots_output(slots, tz, as_range=arg("format") == "range"))


def slots_available(ctx: Ctx, *, empty: bool = False) -> ApiResponse:
    """Old ``GET /v2/slots/available``: ``{"slots": {day: [{"time"}]}}`` in UTC."""
    lo, hi, tz = slot_range(ctx, "startTime", "endTime")
    arg = ctx.request.arg
    raw_id = arg("eventTypeId")
    et = find_event_type(ctx, raw_id) if raw_id else ctx.cal.by_slug(arg("eventTypeSlug") or "")
    if et is None:
        raise ApiError(404, f"Event Type with ID={raw_id} not found" if raw_id else "Event Type not found")
    slots = _free(ctx, et, lo, hi, duration=arg("duration"), reschedule=arg("rescheduleUid"), empty=empty)
    return success(slots_available_output(slots, tz, as_range=arg("slotFormat") == "range"))


def event_types(ctx: Ctx) -> ApiResponse:
    """``GET /v2/event-types``: the key owner's types, or a username's (with ``eventSlug``, one)."""
    arg = ctx.request.arg
    username = arg("username")
    if username is None and not ctx.authenticated:
        return success([])
    if username is not None and username != ctx.cal.host.username:
        return success([])
    found = [et for et in ctx.cal.event_types.values() if not arg("eventSlug") or et.slug == arg("eventSlug")]
    return success([event_type_output(ctx.cal, et) for et in found])


def event_type_by_id(ctx: Ctx, raw_id: str) -> ApiResponse:
    """``GET /v2/event-types/{id}`` (auth required, as the OpenAPI document marks it)."""
    if not ctx.authenticated:
        raise ApiError(401, NO_AUTH_MESSAGE)
    et = find_event_type(ctx, raw_id)
    if et is None:
        raise ApiError(404, f"Event type with id={raw_id} not found")
    return success(event_type_output(ctx.cal, et))
