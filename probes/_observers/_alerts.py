"""Alert posts recorded by a Slack-compatible webhook sink.

The sink answers the gateway like Slack does and lets the harness read the
posts back with a cursor: ``GET <messages_url>?after=<n>`` →
``{"messages": [{"received_at", "path", "json"}], "next": n}``. ``received_at``
is the sink's clock (unix seconds, or ISO 8601 as ``mocks.sinks`` writes it),
which is what time-to-alert is measured against.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import httpx

from .._errors import ObserverError
from .._evidence import AlertPost
from ._http import PagedReader, endpoint_name, expect_page, request_json

__all__ = ["SlackSink", "parse_received_at"]


def parse_received_at(value: Any) -> float | None:
    """Unix seconds from a number or an ISO 8601 string (``Z`` allowed); None when unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


class SlackSink:
    """Reads the posts a Slack-compatible sink recorded (see ``mocks/sinks``)."""

    def __init__(self, messages_url: str, client: httpx.AsyncClient) -> None:
        self.url = messages_url
        self._client = client
        self._reader: PagedReader[AlertPost] = PagedReader(self._page)

    async def _page(self, after: int) -> tuple[list[AlertPost], int]:
        data = await request_json(self._client, "GET", self.url, what="alert sink", params={"after": after})
        items, nxt = expect_page(data, "messages", what="alert sink", url=self.url)
        return [self._post(item) for item in items], nxt

    def _post(self, item: Any) -> AlertPost:
        if not isinstance(item, dict):
            raise ObserverError(f"alert sink at {endpoint_name(self.url)}: a message is not an object: {item!r:.80}")
        seen_at = parse_received_at(item.get("received_at"))
        payload = item.get("json")
        return AlertPost(
            seen_at=seen_at if seen_at is not None else time.time(),
            payload=payload if isinstance(payload, dict) else {"value": payload},
        )

    async def mark(self) -> int:
        return await self._reader.mark()

    async def read(self, after: int) -> tuple[list[AlertPost], int]:
        return await self._reader.read(after)
