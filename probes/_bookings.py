"""The Cal.com v2 bookings API, as cleanup and ``callprobe janitor`` use it: list, cancel, recognise.

A probe cancels what it booked through the gateway's own ``cancel_appointment``;
when that fails (or the profile says ``cleanup: calcom``) it cancels through the
Cal.com API with the profile's key, and ``callprobe janitor`` sweeps what a
killed probe left behind. Both talk to the real v2 API (``Authorization:
Bearer``, ``cal-api-version``: calcom.md §1.1, §2.5, §2.7); the Cal.com mock
serves the same API, so tests run the very same requests.

A booking is synthetic only when **every** attendee's e-mail is on the
synthetic domain (:func:`probes._caller.is_synthetic_email`): that is what a
gateway copies from the caller into the booking, whatever it does with call
metadata. A seat that a real person shares with a synthetic caller is never
touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from ._calcom import API_VERSION_BOOKINGS
from ._caller import is_synthetic_email
from ._errors import TargetError

__all__ = ["LIST_STATUSES", "CalcomBookings", "is_synthetic_booking"]

LIST_STATUSES = ("upcoming", "unconfirmed")  # what can still be cancelled (past bookings cannot)
PAGE_SIZE = 100
MAX_BOOKINGS = 100_000  # a listing longer than this is not a calendar callprobe should sweep


def is_synthetic_booking(booking: Mapping[str, Any]) -> bool:
    """Every attendee of ``booking`` is a synthetic caller (and there is at least one)."""
    attendees = booking.get("attendees")
    if not isinstance(attendees, list) or not attendees:
        return False
    return all(isinstance(a, Mapping) and isinstance(a.get("email"), str) and is_synthetic_email(a["email"]) for a in attendees)


class CalcomBookings:
    """Bookings of one Cal.com account: ``base_url`` is ``https://api.cal.com`` (with or without ``/v2``)."""

    def __init__(self, base_url: str, api_key: str, client: httpx.AsyncClient) -> None:
        self.base_url = base_url.rstrip("/").removesuffix("/v2")
        self._key = api_key
        self._client = client

    def __repr__(self) -> str:
        return f"CalcomBookings({self.base_url!r}, api_key=[redacted])"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}", "cal-api-version": API_VERSION_BOOKINGS}

    async def cancel(self, uid: str, reason: str) -> tuple[int | None, str]:
        """``POST /v2/bookings/{uid}/cancel``: (HTTP status or None when unreachable, answer text or error)."""
        url = f"{self.base_url}/v2/bookings/{quote(uid, safe='')}/cancel"
        try:
            response = await self._client.post(url, json={"cancellationReason": reason}, headers=self._headers())
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc or 'no answer'}"
        return response.status_code, response.text

    async def listing(self, statuses: tuple[str, ...] = LIST_STATUSES) -> list[dict[str, Any]]:
        """Every booking with one of ``statuses``, page by page (``take``/``skip``)."""
        out: list[dict[str, Any]] = []
        while len(out) < MAX_BOOKINGS:
            page, more = await self._page(statuses, skip=len(out))
            out += page
            if not more or not page:
                return out
        raise TargetError(f"more than {MAX_BOOKINGS} bookings listed; narrow the account", endpoint=self._list_url)

    @property
    def _list_url(self) -> str:
        return f"{self.base_url}/v2/bookings"

    async def _page(self, statuses: tuple[str, ...], *, skip: int) -> tuple[list[dict[str, Any]], bool]:
        params = {"status": ",".join(statuses), "take": str(PAGE_SIZE), "skip": str(skip), "sortCreated": "asc"}
        try:
            response = await self._client.get(self._list_url, params=params, headers=self._headers())
        except httpx.HTTPError as exc:
            raise TargetError(f"cannot list bookings ({type(exc).__name__})", endpoint=self._list_url) from None
        if response.status_code != 200:
            raise TargetError(f"listing bookings answered {response.status_code}: {response.text[:200]}", endpoint=self._list_url)
        try:
            body = response.json()
        except ValueError:
            raise TargetError("listing bookings answered something that is not JSON", endpoint=self._list_url) from None
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise TargetError("listing bookings answered no data list", endpoint=self._list_url)
        pagination = body.get("pagination") if isinstance(body.get("pagination"), dict) else {}
        return [b for b in data if isinstance(b, dict)], bool(pagination.get("hasNextPage"))
