"""Cal.com wire vocabulary shared by the Cal.com mock and the harness.

The mock (``mocks/calcom``) is scripted and read through a small admin API;
the harness writes scripts and reads journals over HTTP. Both sides need the
same models, so they live here, at the bottom of the import graph: this module
imports nothing of callprobe except :mod:`probes._errors`.

The exact Cal.com texts a gateway is expected to react to (slot taken, seats
full, rate limited, …) are pinned as constants so checks can compare against
them without copying strings around. Source for every text:
``/work/shared/research/calcom.md`` §3.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "API_VERSION_BOOKINGS",
    "API_VERSION_BOOKINGS_2026",
    "API_VERSION_EVENT_TYPES",
    "API_VERSION_SLOTS",
    "BOOKING_IN_PAST_MESSAGE",
    "BOOKING_WINDOW_MESSAGE",
    "CalcomRule",
    "CalcomScript",
    "Endpoint",
    "Fault",
    "INTERNAL_ERROR_MESSAGE",
    "INVALID_API_KEY_MESSAGE",
    "JournalEntry",
    "NO_AUTH_MESSAGE",
    "RATE_LIMITED_MESSAGE",
    "REDACTED",
    "SEATS_FULL_MESSAGE",
    "SLOT_TAKEN_MESSAGE",
    "SLOT_TAKEN_TEAM_MESSAGE",
]

API_VERSION_SLOTS = "2024-09-04"
API_VERSION_BOOKINGS = "2024-08-13"
API_VERSION_BOOKINGS_2026 = "2026-02-25"
API_VERSION_EVENT_TYPES = "2024-06-14"

REDACTED = "[redacted]"

SLOT_TAKEN_MESSAGE = "User either already has booking at this time or is not available"
SLOT_TAKEN_TEAM_MESSAGE = "One of the hosts either already has booking at this time or is not available"
SEATS_FULL_MESSAGE = "No more seats left at this seated booking."
RATE_LIMITED_MESSAGE = "CustomThrottlerGuard - Too many requests. Please try again later."
INTERNAL_ERROR_MESSAGE = "There was an error, please try again later."
BOOKING_IN_PAST_MESSAGE = "Attempting to book a meeting in the past."
BOOKING_WINDOW_MESSAGE = (
    'The event type can\'t be booked at the "start" time provided. This could be because it\'s too soon '
    "(violating the minimum booking notice) or too far in the future (outside the event's scheduling window). "
    'Try fetching available slots first using the GET /v2/slots endpoint and then make a booking with "start" '
    "time equal to one of the available slots: https://cal.com/docs/api-reference/v2/slots"
)
NO_AUTH_MESSAGE = (
    "ApiAuthStrategy - No authentication method provided. Either pass an API key as 'Bearer' header "
    "or OAuth client credentials as 'x-cal-secret-key' and 'x-cal-client-id' headers"
)
INVALID_API_KEY_MESSAGE = "CustomThrottlerGuard - Invalid API Key"


class Fault(str, Enum):
    """What a script rule makes the mock do instead of (or before) answering normally.

    ``no_slots``          slots answer an empty map; create answers the booking-window 400
    ``slot_taken``        400 BadRequestException, :data:`SLOT_TAKEN_MESSAGE` (what Cal.com really sends)
    ``slot_taken_team``   the same for team events, :data:`SLOT_TAKEN_TEAM_MESSAGE`
    ``seats_full``        409 ConflictException, :data:`SEATS_FULL_MESSAGE`
    ``rate_limited``      429 ThrottlerException, ``X-RateLimit-*-Default`` with Remaining 0;
                          ``Retry-After`` only when the rule sets ``retry_after``
    ``server_error``      500 Prisma-filter envelope, INTERNAL_SERVER_ERROR
    ``server_error_bare`` 500 ``{"statusCode":500,"message":"Internal server error"}``
    ``bad_gateway``       a non-JSON HTML 502/503/504 page (``status``, default 502), as Cloudflare sends
    ``latency``           the normal answer, after ``delay_ms``
    ``hang``              no answer until the client gives up, the mock is reset or the server stops
    """

    NO_SLOTS = "no_slots"
    SLOT_TAKEN = "slot_taken"
    SLOT_TAKEN_TEAM = "slot_taken_team"
    SEATS_FULL = "seats_full"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    SERVER_ERROR_BARE = "server_error_bare"
    BAD_GATEWAY = "bad_gateway"
    LATENCY = "latency"
    HANG = "hang"


Endpoint = Literal[
    "slots",
    "bookings.create",
    "bookings.get",
    "bookings.cancel",
    "bookings.reschedule",
    "event_types",
    "any",
]


class CalcomRule(BaseModel):
    """One scripted fault: which endpoint, what happens, how many times.

    ``times=None`` applies to every matching request; ``times=n`` to the next
    ``n`` only. ``delay_ms`` delays whatever answer the rule gives (so a slow
    500 is one rule). ``status`` picks the 5xx of ``bad_gateway``.
    """

    model_config = ConfigDict(extra="forbid")

    endpoint: Endpoint = "any"
    fault: Fault
    times: int | None = Field(default=None, ge=0)
    delay_ms: int = Field(default=0, ge=0)
    status: int | None = Field(default=None, ge=100, le=599)
    retry_after: int | None = Field(default=None, ge=0)


class CalcomScript(BaseModel):
    """The mock's script: the first matching rule with ``times`` left wins."""

    model_config = ConfigDict(extra="forbid")

    rules: list[CalcomRule] = Field(default_factory=list)


class JournalEntry(BaseModel):
    """One API request the mock saw and what it answered (admin API format).

    Secrets (``Authorization``, ``x-cal-secret-key``, the v1 ``apiKey`` query
    parameter) are replaced by :data:`REDACTED` before the entry is stored.
    ``status`` is 0 and ``response`` ``None`` when the request was hung.
    ``duration_ms`` includes a scripted delay.
    """

    seq: int
    at: float
    method: str
    path: str
    query: dict[str, str] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    status: int
    response: Any = None
    duration_ms: float
    endpoint: str
    fault: str | None = None
    correlation_id: str | None = None
    traceparent: str | None = None
