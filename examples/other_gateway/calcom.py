"""The Cal.com v2 API as the gateway uses it: slots, create and cancel a booking, read the event type.

Every failure is sorted into one of three words the rest of the gateway (and
the on-call engineer) acts on: ``calendar_down`` (5xx, not JSON, no
connection, credentials refused), ``calendar_busy`` (429) and
``calendar_slow`` (no answer within the timeout). A taken slot is not a
failure: it is an ordinary answer the caller hears about.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

__all__ = ["Booked", "Calcom", "CalendarFailure", "Refused", "Taken"]

SLOTS_VERSION = "2024-09-04"
BOOKINGS_VERSION = "2024-08-13"
EVENT_TYPES_VERSION = "2024-06-14"
_TAKEN_TEXT = "already has booking at this time or is not available"
_ALREADY_CANCELLED_TEXT = "cancelled already"


class CalendarFailure(Exception):
    """Cal.com could not be used; ``kind`` is calendar_down, calendar_busy or calendar_slow."""

    def __init__(self, kind: str, endpoint: str, status: int | None = None) -> None:
        super().__init__(f"{endpoint}: {kind}" + (f" (HTTP {status})" if status else ""))
        self.kind, self.endpoint, self.status = kind, endpoint, status


@dataclass(frozen=True)
class Booked:
    uid: str
    start: str


@dataclass(frozen=True)
class Taken:
    """Somebody else has the slot (Cal.com's 400 "not available", or 409 for seats)."""


@dataclass(frozen=True)
class Refused:
    """Cal.com said no for another reason (booking window, a field it wants): nobody to page."""

    status: int
    message: str


class Calcom:
    """A thin client; ``forward_request_id=False`` is the request-id-not-forwarded defect."""

    def __init__(self, client: httpx.AsyncClient, *, base_url: str, api_key: str | None, event_type_id: int,
                 timeout_s: float, forward_request_id: bool = True) -> None:
        self._client, self._base, self._key = client, base_url, api_key
        self._event_type_id, self._timeout, self._forward = event_type_id, timeout_s, forward_request_id

    async def _call(self, method: str, path: str, *, endpoint: str, version: str, request_id: str,
                    params: dict[str, Any] | None = None, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        headers = {"cal-api-version": version, "Accept": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        if self._forward:
            headers["X-Request-ID"] = request_id
        try:
            async with asyncio.timeout(self._timeout):  # the whole exchange, not each phase
                response = await self._client.request(method, self._base + path, params=params, json=body,
                                                      headers=headers, timeout=self._timeout)
        except (TimeoutError, httpx.TimeoutException):
            raise CalendarFailure("calendar_slow", endpoint) from None
        except httpx.HTTPError:
            raise CalendarFailure("calendar_down", endpoint) from None
        status = response.status_code
        if status == 429:
            raise CalendarFailure("calendar_busy", endpoint, status)
        if status >= 500 or status in (401, 403):
            raise CalendarFailure("calendar_down", endpoint, status)
        try:
            return status, response.json()
        except ValueError:
            raise CalendarFailure("calendar_down", endpoint, status) from None

    async def slots(self, date: str, time_zone: str, request_id: str) -> list[str]:
        """Free slot starts on ``date`` (local to ``time_zone``), earliest first, as Cal.com renders them."""
        params = {"start": date, "end": date, "eventTypeId": self._event_type_id, "timeZone": time_zone}
        status, body = await self._call("GET", "/v2/slots", endpoint="slots", version=SLOTS_VERSION,
                                        request_id=request_id, params=params)
        data = body.get("data") if isinstance(body, dict) else None
        if status != 200 or not isinstance(data, dict):
            raise CalendarFailure("calendar_down", "slots", status)
        day = data.get(date) or []
        starts = [s.get("start") if isinstance(s, dict) else s for s in day if isinstance(s, (dict, str))]
        timed = [(t, s) for s in starts if isinstance(s, str) and (t := _instant(s)) is not None]
        return [s for _, s in sorted(timed)]

    async def book(self, start_utc: str, attendee: dict[str, Any], metadata: dict[str, str],
                   request_id: str) -> Booked | Taken | Refused:
        body = {"start": start_utc, "eventTypeId": self._event_type_id, "attendee": attendee, "metadata": metadata}
        status, answer = await self._call("POST", "/v2/bookings", endpoint="booking", version=BOOKINGS_VERSION,
                                          request_id=request_id, body=body)
        if status in (200, 201):
            data = answer.get("data") if isinstance(answer, dict) else None
            if isinstance(data, dict) and isinstance(data.get("uid"), str):
                return Booked(uid=data["uid"], start=str(data.get("start") or start_utc))
            raise CalendarFailure("calendar_down", "booking", status)
        if status == 404:  # the event type is gone: no booking can work, that is an outage to page about
            raise CalendarFailure("calendar_down", "booking", status)
        message = _message(answer)
        if status == 409 or (status == 400 and _TAKEN_TEXT in message):
            return Taken()
        return Refused(status=status, message=message[:200])

    async def cancel(self, uid: str, reason: str, request_id: str) -> str:
        """``cancelled``, ``already`` (counts as cancelled), ``unknown`` or ``refused``."""
        body = {"cancellationReason": reason} if reason else {}
        status, answer = await self._call("POST", f"/v2/bookings/{uid}/cancel", endpoint="cancel",
                                          version=BOOKINGS_VERSION, request_id=request_id, body=body)
        if status in (200, 201):
            return "cancelled"
        if status == 400 and _ALREADY_CANCELLED_TEXT in _message(answer):
            return "already"
        return "unknown" if status == 404 else "refused"

    async def ready(self, request_id: str) -> None:
        """Raise :class:`CalendarFailure` unless the configured event type can be read (a cheap read)."""
        status, body = await self._call("GET", f"/v2/event-types/{self._event_type_id}", endpoint="event_type",
                                        version=EVENT_TYPES_VERSION, request_id=request_id)
        if status != 200 or not isinstance(body, dict) or body.get("status") != "success":
            raise CalendarFailure("calendar_down", "event_type", status)


def _message(answer: Any) -> str:
    """Cal.com's error text from its envelope ``{"error": {"message"}}`` (or a bare ``message``)."""
    if isinstance(answer, dict):
        error = answer.get("error")
        text = error.get("message") if isinstance(error, dict) else answer.get("message")
        if isinstance(text, str):
            return text
    return ""


def _instant(iso: str) -> float | None:
    """The slot's moment, or None for a start that is not an ISO time with an offset (never offered)."""
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return None
    return moment.timestamp() if moment.tzinfo is not None else None
