"""Time parsing and the three timestamp renderings Cal.com uses.

Cal.com renders times three ways and gateways parse them with different
libraries, so the mock must be exact: bookings are JavaScript
``Date.toISOString()`` (``…:00.000Z``), v2 slots are luxon ``toISO()`` in the
requested zone (``…:00.000+01:00``, ``Z`` for UTC), v1 slots are dayjs
``format()`` (no milliseconds, ``+01:00``).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["EARLIEST", "LATEST", "fmt_dayjs", "fmt_js", "fmt_luxon", "parse_iso", "parse_iso_end", "zone"]

# validator.js isISO8601 (strict) as class-validator's IsDateString uses it, reduced to what clients send.
# ASCII digits only: Python's \d also matches Arabic-Indic and other decimal digits, validator.js does not.
_ISO = re.compile(
    r"^\d{4}-\d{2}-\d{2}"
    r"(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$",
    re.ASCII,
)
# JavaScript dates reach far past Python's (years 1 to 9999). Instants within two days of either end
# are refused as dates (a 400, as an invalid date string is) so that zone conversion, end of day and
# booking lengths computed from a parsed instant can never overflow.
_MARGIN = timedelta(days=2)
_MAX_ZONE_NAME = 64  # the longest IANA name, America/Argentina/ComodRivadavia, has 32 characters
EARLIEST = datetime.min.replace(tzinfo=UTC) + _MARGIN
LATEST = datetime.max.replace(tzinfo=UTC) - _MARGIN


def zone(name: str | None) -> ZoneInfo | None:
    """The IANA zone, or ``None`` when the name is not one (``IsTimeZone`` fails).

    ZoneInfo looks the name up as a file: a name longer than any zone's is not
    tried (the OS refuses a 10 000-character file name with an ``OSError``).
    """
    if not name or len(name) > _MAX_ZONE_NAME:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def parse_iso(text: object) -> datetime | None:
    """Parse a strict ISO 8601 string as JavaScript ``new Date()`` does (UTC if no offset).

    ``None`` for anything else, including instants outside :data:`EARLIEST` … :data:`LATEST`.
    """
    if not isinstance(text, str) or not _ISO.fullmatch(text):
        return None
    try:
        if len(text) == 10:
            parsed = datetime.combine(date.fromisoformat(text), time(0), UTC)
        else:
            parsed = datetime.fromisoformat(_trim_fraction(text))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        parsed = parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # no such day or time; an offset that leaves Python's range
        return None
    return parsed if EARLIEST <= parsed <= LATEST else None


def parse_iso_end(text: object) -> datetime | None:
    """Like :func:`parse_iso`, but a date-only value means the end of that day (slots ``end``)."""
    parsed = parse_iso(text)
    if parsed is not None and isinstance(text, str) and len(text) == 10:
        parsed = parsed + timedelta(days=1) - timedelta(seconds=1)
    return parsed


def _trim_fraction(text: str) -> str:
    """Python accepts at most 6 fractional digits; JavaScript ignores the rest anyway."""
    return re.sub(r"(\.\d{6})\d+", r"\1", text)


def fmt_js(moment: datetime) -> str:
    """``Date.prototype.toISOString()``: UTC, milliseconds, ``Z``."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def fmt_luxon(moment: datetime, tz: ZoneInfo | None) -> str:
    """luxon ``DateTime.toISO()`` in ``tz`` (UTC and no zone render with ``Z``)."""
    if tz is None or tz.key in ("UTC", "Etc/UTC"):
        return fmt_js(moment)
    local = moment.astimezone(tz)
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}" + _offset(local)


def fmt_dayjs(moment: datetime, tz: ZoneInfo | None) -> str:
    """dayjs ``format()``: no milliseconds; ``Z`` only for plain UTC without a zone."""
    if tz is None:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    local = moment.astimezone(tz)
    return local.strftime("%Y-%m-%dT%H:%M:%S") + _offset(local)


def _offset(local: datetime) -> str:
    """``+01:00`` style offset of an aware datetime."""
    raw = local.strftime("%z")
    return f"{raw[:3]}:{raw[3:]}"
