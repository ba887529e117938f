"""Error events from callprobe's Sentry envelope receiver (``mocks.sinks.create_sentry_app``).

``GET <url>/api/events?after=N`` → ``{"events": [{"received_at", "project",
"event": {...}}], "next": n}``. Each Sentry event becomes an
:class:`~probes._spans.ErrorEvent` with its tags as a flat mapping (Sentry
accepts tags as an object or as ``[[key, value], …]``).
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from .._errors import ObserverError
from .._spans import ErrorEvent
from ._http import PagedReader, endpoint_name, expect_page, request_json

__all__ = ["SentrySink", "sentry_tags"]


def sentry_tags(value: Any) -> dict[str, str]:
    """Tags of a Sentry event, from either wire form."""
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return {str(p[0]): str(p[1]) for p in value if isinstance(p, list | tuple) and len(p) == 2 and p[1] is not None}
    return {}


class SentrySink:
    """Reads the error events the receiver stored, with a cursor."""

    def __init__(self, url: str, client: httpx.AsyncClient) -> None:
        self.url = url.rstrip("/") + "/api/events"
        self._client = client
        self._reader: PagedReader[ErrorEvent] = PagedReader(self._page)

    async def _page(self, after: int) -> tuple[list[ErrorEvent], int]:
        data = await request_json(self._client, "GET", self.url, what="Sentry receiver", params={"after": after})
        items, nxt = expect_page(data, "events", what="Sentry receiver", url=self.url)
        return [self._event(item) for item in items], nxt

    def _event(self, item: Any) -> ErrorEvent:
        event = item.get("event") if isinstance(item, dict) else None
        if not isinstance(event, dict):
            raise ObserverError(f"Sentry receiver at {endpoint_name(self.url)}: an entry has no event object: {item!r:.80}")
        received = item.get("received_at")
        return ErrorEvent(
            seen_at=float(received) if isinstance(received, int | float) else time.time(),
            event_id=event.get("event_id"),
            level=event.get("level"),
            tags=sentry_tags(event.get("tags")),
            payload=event,
        )

    async def mark(self) -> int:
        return await self._reader.mark()

    async def read(self, after: int) -> tuple[list[ErrorEvent], int]:
        return await self._reader.read(after)
