"""The mock's calendar: one fictional host, its event types, schedule and bookings.

Everything that answers "is this time free?" lives here, so that slots,
create, reschedule and cancel can never disagree: a booked slot disappears
from the slots list, a cancelled booking frees it again, a seated slot counts
its seats. The host and event types are fictional (Dr. Beispiel,
praxis@example.com); times are UTC-aware ``datetime`` throughout.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

__all__ = [
    "DEFAULT_EVENT_TYPES",
    "HOST",
    "Attendee",
    "Booking",
    "Calendar",
    "EventTypeConfig",
    "Host",
    "Slot",
    "new_uid",
]

_BASE58 = "123456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"


def new_uid() -> str:
    """A 22-char flickrBase58 uid like Cal.com's ``short-uuid`` (padded with ``1``)."""
    number = uuid.UUID(bytes=secrets.token_bytes(16), version=4).int
    out = ""
    while number:
        number, rest = divmod(number, 58)
        out = _BASE58[rest] + out
    return out.rjust(22, _BASE58[0])


@dataclass(frozen=True)
class Host:
    """The one user who owns every event type (as an API key's owner would)."""

    id: int = 77
    name: str = "Dr. Beispiel"
    email: str = "praxis@example.com"
    username: str = "dr-beispiel"
    time_zone: str = "Europe/Berlin"


HOST = Host()


@dataclass(frozen=True)
class EventTypeConfig:
    """An event type as far as booking behaviour goes (the rendering adds the rest).

    ``length_options`` makes it multi-duration (``lengthInMinutes`` allowed);
    ``seats`` makes it seated. The schedule is weekdays ``day_start``–``day_end``
    in ``time_zone``; slots step by ``slot_interval`` (default: the length).
    """

    id: int
    slug: str
    title: str
    length: int
    description: str = ""
    length_options: tuple[int, ...] = ()
    seats: int | None = None
    minimum_notice_min: int = 120
    window_days: int = 60
    slot_interval: int | None = None
    time_zone: str = "Europe/Berlin"
    day_start: time = time(9, 0)
    day_end: time = time(17, 0)
    hidden: bool = False

    @property
    def interval(self) -> int:
        """Minutes between slot starts."""
        return self.slot_interval or self.length


DEFAULT_EVENT_TYPES: tuple[EventTypeConfig, ...] = (
    EventTypeConfig(1001, "cleaning", "Professionelle Zahnreinigung", 30, "Zahnreinigung, 30 Minuten"),
    EventTypeConfig(1002, "checkup", "Kontrolluntersuchung", 20, "Kontrolle, 20 Minuten"),
    EventTypeConfig(1003, "info-evening", "Infoabend Implantate", 60, "Gruppentermin", seats=3),
    EventTypeConfig(1004, "consultation", "Beratungsgespräch", 30, "Beratung", length_options=(15, 30, 60)),
)


@dataclass
class Attendee:
    """One booker (or one seat of a seated booking)."""

    name: str
    email: str
    time_zone: str
    language: str = "en"
    phone: str | None = None
    seat_uid: str | None = None
    responses: dict[str, Any] = field(default_factory=dict)


@dataclass
class Booking:
    """A booking row; rendered to ``BookingOutput_2024_08_13`` by ``_render``."""

    id: int
    uid: str
    event_type_id: int
    start: datetime
    end: datetime
    title: str
    attendees: list[Attendee]
    created_at: datetime
    status: str = "accepted"
    description: str = ""
    guests: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    responses: dict[str, Any] = field(default_factory=dict)
    location: str = ""
    updated_at: datetime | None = None
    cancellation_reason: str = ""
    cancelled_by_email: str = ""
    rescheduling_reason: str | None = None
    rescheduled_by_email: str | None = None
    rescheduled_from_uid: str | None = None
    rescheduled_to_uid: str | None = None
    ics_uid: str = ""
    seats: int | None = None

    @property
    def active(self) -> bool:
        """Accepted bookings block time; cancelled ones do not."""
        return self.status == "accepted"


@dataclass(frozen=True)
class Slot:
    """A free start time; ``seats_booked``/``booking_uid`` only for seated events."""

    start: datetime
    end: datetime
    seats_total: int | None = None
    seats_booked: int = 0
    booking_uid: str | None = None


class Calendar:
    """Event types and bookings of the host; not thread-safe (the mock holds the lock)."""

    def __init__(self, event_types: Sequence[EventTypeConfig] | None = None, host: Host = HOST) -> None:
        self.host = host
        self.event_types: dict[int, EventTypeConfig] = {et.id: et for et in (event_types or DEFAULT_EVENT_TYPES)}
        self.bookings: dict[str, Booking] = {}
        self._next_id = 4001

    def next_id(self) -> int:
        """Booking ids are plain increasing ints, like the database's."""
        self._next_id += 1
        return self._next_id - 1

    def by_slug(self, slug: str) -> EventTypeConfig | None:
        """Event type by slug (the host owns them all)."""
        return next((et for et in self.event_types.values() if et.slug == slug), None)

    def slots(self, et: EventTypeConfig, lo: datetime, hi: datetime, now: datetime, *,
              length: int | None = None, ignore_uid: str | None = None) -> list[Slot]:
        """Free slots starting in ``[lo, hi]``: schedule minus notice, window and bookings.

        Only the bookable part of the range is walked (from now to the end of
        the booking window): nothing outside it can be a slot, and a range of
        thousands of years then costs what the window does.
        """
        length = length or et.length
        lo, hi = max(lo, now), min(hi, self.horizon(et, now))
        out: list[Slot] = []
        for start in self._grid(et, lo, hi):
            if not self.bookable_time(et, start, now):
                continue
            slot = self.free_slot(et, start, start + timedelta(minutes=length), ignore_uid=ignore_uid)
            if slot is not None:
                out.append(slot)
        return out

    def _grid(self, et: EventTypeConfig, lo: datetime, hi: datetime) -> Iterator[datetime]:
        """Schedule slot starts (weekdays, working hours, ``interval`` steps) within ``[lo, hi]``."""
        tz = ZoneInfo(et.time_zone)
        day = lo.astimezone(tz).date() - timedelta(days=1)
        last = hi.astimezone(tz).date() + timedelta(days=1)
        while day <= last:
            if day.weekday() < 5:
                cursor = datetime.combine(day, et.day_start, tz)
                close = datetime.combine(day, et.day_end, tz)
                while cursor + timedelta(minutes=et.length) <= close:
                    moment = cursor.astimezone(UTC)
                    if lo <= moment <= hi:
                        yield moment
                    cursor += timedelta(minutes=et.interval)
            day += timedelta(days=1)

    def horizon(self, et: EventTypeConfig, now: datetime) -> datetime:
        """An instant after every start :meth:`bookable_time` accepts (the window plus a day of zones)."""
        return now + timedelta(days=et.window_days + 2)

    def bookable_time(self, et: EventTypeConfig, start: datetime, now: datetime) -> bool:
        """Minimum booking notice and the rolling booking window (end of the last local day)."""
        if start < now + timedelta(minutes=et.minimum_notice_min):
            return False
        tz = ZoneInfo(et.time_zone)
        last_day = (now.astimezone(tz) + timedelta(days=et.window_days)).date()
        return start < datetime.combine(last_day + timedelta(days=1), time(0), tz)

    def in_schedule(self, et: EventTypeConfig, start: datetime, end: datetime) -> bool:
        """The interval lies inside one weekday's working hours."""
        tz = ZoneInfo(et.time_zone)
        local = start.astimezone(tz)
        if local.weekday() >= 5:
            return False
        return (datetime.combine(local.date(), et.day_start, tz) <= start
                and end <= datetime.combine(local.date(), et.day_end, tz))

    def free_slot(self, et: EventTypeConfig, start: datetime, end: datetime, *,
                  ignore_uid: str | None = None) -> Slot | None:
        """The slot if the host can take it (seated: a same-start seated booking with seats left)."""
        if not self.in_schedule(et, start, end):
            return None
        seated: Booking | None = None
        for booking in self.bookings.values():
            if not booking.active or booking.uid == ignore_uid:
                continue
            if booking.start < end and start < booking.end:
                if et.seats and booking.event_type_id == et.id and booking.start == start:
                    seated = booking
                    continue
                return None
        if not et.seats:
            return Slot(start, end)
        taken = len(seated.attendees) if seated else 0
        if taken >= et.seats:
            return None
        return Slot(start, end, et.seats, taken, seated.uid if seated else None)

    def seated_booking_at(self, et: EventTypeConfig, start: datetime) -> Booking | None:
        """The active seated booking of ``et`` starting at ``start``, if any."""
        return next((b for b in self.bookings.values()
                     if b.active and b.event_type_id == et.id and b.start == start and b.seats), None)

    def add(self, booking: Booking) -> Booking:
        """Store a booking (insertion order is creation order)."""
        self.bookings[booking.uid] = booking
        return booking
