"""Body validation the way Cal.com's ``CreateBookingInputPipe`` reports it.

class-validator runs with ``whitelist`` and ``forbidNonWhitelisted``: an
unknown top-level field is a 400, and every failing property becomes
``"<property> property is wrong,<constraint messages> "`` (nested children
appended), all joined with ``", "`` (docs/research/calcom.md §2.3). A gateway that sends a
field Cal.com does not know must fail here exactly as it would in production.
"""

from __future__ import annotations

import re
from typing import Any

from mocks._input import BadInput, load_json
from mocks.calcom._http import ApiError
from mocks.calcom._time import parse_iso, zone

__all__ = ["LANGUAGES", "parse_body", "validate_cancel", "validate_create", "validate_reschedule"]

LANGUAGES = frozenset(
    "ar ca de es eu he id ja lv pl ro sr th vi az cs el es-419 fi hr it km nl pt ru sv tr zh-CN "
    "bg da en et fr hu iw ko no pt-BR sk ta uk zh-TW bn".split()
)
_CREATE_FIELDS = frozenset({
    "start", "attendee", "bookingFieldsResponses", "eventTypeId", "eventTypeSlug", "username", "teamSlug",
    "organizationSlug", "guests", "meetingUrl", "location", "metadata", "lengthInMinutes", "routing",
    "emailVerificationCode", "instant", "recurrenceCount",
})
_ATTENDEE_FIELDS = frozenset({"name", "email", "timeZone", "phoneNumber", "language"})
_RESCHEDULE_FIELDS = frozenset({"start", "rescheduledBy", "reschedulingReason", "emailVerificationCode", "seatUid"})
_CANCEL_FIELDS = frozenset({"cancellationReason", "cancelSubsequentBookings", "seatUid"})
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_PHONE_MESSAGE = "Invalid phone number format. Please use international format."
_ISO_MESSAGE = "{0} must be a valid ISO 8601 date string"


def parse_body(raw: bytes, *, required: bool) -> dict[str, Any]:
    """JSON object body; empty → ``Body is required`` (or ``{}`` when optional); bad JSON → body-parser 400."""
    if not raw.strip():
        if required:
            raise ApiError(400, "Body is required")
        return {}
    try:
        body = load_json(raw)
    except BadInput as exc:
        raise ApiError(400, _body_parser_message(exc)) from None
    if not isinstance(body, dict):
        raise ApiError(400, "Body is required" if required and not body else "Body must be a JSON object")
    if required and not body:
        raise ApiError(400, "Body is required")
    return body


def _body_parser_message(exc: BadInput) -> str:
    """body-parser's text for a syntax error; the mock's own reason for what it refuses beyond that (depth)."""
    return str(exc) if exc.pos is None else f"Unexpected token in JSON at position {exc.pos}"


def _wrong(prop: str, *messages: str) -> str:
    """One class-validator error in the pipe's text format (note the trailing space)."""
    return f"{prop} property is wrong,{','.join(messages)} "


def _raise_if(errors: list[str]) -> None:
    """Join the property errors like the pipe and raise the 400."""
    if errors:
        raise ApiError(400, ", ".join(errors))


def _unknown(body: dict[str, Any], allowed: frozenset[str]) -> list[str]:
    """``forbidNonWhitelisted``: every unknown key is its own error."""
    return [_wrong(key, f"property {key} should not exist") for key in body if key not in allowed]


def validate_create(body: dict[str, Any]) -> None:
    """``CreateBookingInput_2024_08_13`` checks that need no calendar (those are the service's)."""
    errors = _unknown(body, _CREATE_FIELDS)
    if parse_iso(body.get("start")) is None:
        errors.append(_wrong("start", _ISO_MESSAGE.format("start")))
    attendee = body.get("attendee")
    if not isinstance(attendee, dict):
        errors.append(_wrong("attendee", "nested property attendee must be either object or array"))
    else:
        children = _attendee_errors(attendee)
        if children:
            errors.append(f"attendee property is wrong, {', '.join(children)}")
    if "eventTypeId" in body and (not isinstance(body["eventTypeId"], int) or isinstance(body["eventTypeId"], bool)):
        errors.append(_wrong("eventTypeId", "eventTypeId must be an integer number"))
    if "lengthInMinutes" in body and not isinstance(body["lengthInMinutes"], int | float):
        errors.append(_wrong("lengthInMinutes", "lengthInMinutes must be an integer number"))
    errors.extend(_object_errors(body, "bookingFieldsResponses"))
    errors.extend(_metadata_errors(body.get("metadata")))
    guests = body.get("guests")
    if guests is not None and not (isinstance(guests, list) and all(isinstance(g, str) and _EMAIL.match(g) for g in guests)):
        errors.append(_wrong("guests", "each value in guests must be an email"))
    _raise_if(errors)


def _attendee_errors(attendee: dict[str, Any]) -> list[str]:
    """Nested ``CreateBookingAttendee`` errors, including ``RequireEmailOrPhone``."""
    errors = _unknown(attendee, _ATTENDEE_FIELDS)
    if not isinstance(attendee.get("name"), str) or not attendee.get("name"):
        errors.append(_wrong("name", "name must be a string"))
    tz = attendee.get("timeZone")
    if not isinstance(tz, str) or zone(tz) is None:
        errors.append(_wrong("timeZone", "timeZone must be a valid IANA time-zone"))
    email, phone = attendee.get("email"), attendee.get("phoneNumber")
    if email is None and phone is None:
        errors.append(_wrong("email", "Either email or phoneNumber must be provided"))
    if email is not None and not (isinstance(email, str) and _EMAIL.match(email)):
        errors.append(_wrong("email", "email must be an email"))
    if phone is not None and not (isinstance(phone, str) and _E164.match(phone)):
        errors.append(_wrong("phoneNumber", _PHONE_MESSAGE))
    lang = attendee.get("language")
    if lang is not None and lang not in LANGUAGES:
        errors.append(_wrong("language", "language must be one of the following values: " + ", ".join(sorted(LANGUAGES))))
    return errors


def _object_errors(body: dict[str, Any], key: str) -> list[str]:
    """``IsObject`` on an optional property."""
    if key in body and not isinstance(body[key], dict):
        return [_wrong(key, f"{key} must be an object")]
    return []


def _metadata_errors(metadata: Any) -> list[str]:
    """Cal.com metadata: ≤ 50 keys, keys ≤ 40 chars, string values ≤ 500 chars."""
    if metadata is None:
        return []
    if not isinstance(metadata, dict):
        return [_wrong("metadata", "metadata must be an object")]
    too_long = any(len(k) > 40 or (isinstance(v, str) and len(v) > 500) for k, v in metadata.items())
    if len(metadata) > 50 or too_long:
        return [_wrong("metadata", "Metadata must have at most 50 keys, each key up to 40 characters, "
                                   "and string values up to 500 characters.")]
    return []


def validate_reschedule(body: dict[str, Any]) -> None:
    """``RescheduleBookingInput_2024_08_13``: ``start`` required, no unknown fields."""
    errors = _unknown(body, _RESCHEDULE_FIELDS)
    if parse_iso(body.get("start")) is None:
        errors.append(_wrong("start", _ISO_MESSAGE.format("start")))
    _raise_if(errors)


def validate_cancel(body: dict[str, Any]) -> None:
    """``CancelBookingInput_2024_08_13``: all optional, no unknown fields."""
    errors = _unknown(body, _CANCEL_FIELDS)
    reason = body.get("cancellationReason")
    if reason is not None and not isinstance(reason, str):
        errors.append(_wrong("cancellationReason", "cancellationReason must be a string"))
    _raise_if(errors)
