"""The Cal.com mock's admin API: reset it, script its faults, read its journal.

The journal is what the gateway actually asked Cal.com (method, path, query,
body, correlation headers) and what it got back, so Cal.com checks assert on
the gateway's behaviour rather than on what the harness hoped it would send.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import ValidationError

from .._calcom import CalcomScript, JournalEntry
from .._errors import ObserverError
from ._http import PagedReader, endpoint_name, expect_page, request_json

__all__ = ["CalcomJournal"]


class CalcomJournal:
    """Client of ``/__admin`` on a Cal.com mock (``admin_url`` is the mock's base URL)."""

    def __init__(self, admin_url: str, client: httpx.AsyncClient) -> None:
        self.base = admin_url.rstrip("/")
        if self.base.endswith("/__admin"):
            self.base = self.base[: -len("/__admin")]
        self._client = client
        self._reader: PagedReader[JournalEntry] = PagedReader(self._page)

    def _url(self, path: str) -> str:
        return f"{self.base}/__admin/{path}"

    async def reset(self) -> None:
        """Forget bookings, journal and script."""
        await request_json(self._client, "POST", self._url("reset"), what="Cal.com mock reset")

    async def set_script(self, script: CalcomScript) -> None:
        """Replace the mock's fault script (an empty script = behave normally)."""
        await request_json(
            self._client, "PUT", self._url("script"), what="Cal.com mock script", json_body=script.model_dump(mode="json")
        )

    async def _page(self, after: int) -> tuple[list[JournalEntry], int]:
        url = self._url("journal")
        data = await request_json(self._client, "GET", url, what="Cal.com journal", params={"after": after})
        items, nxt = expect_page(data, "entries", what="Cal.com journal", url=url)
        return [self._entry(item, url) for item in items], nxt

    @staticmethod
    def _entry(item: Any, url: str) -> JournalEntry:
        try:
            return JournalEntry.model_validate(item)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "(entry)"
            raise ObserverError(
                f"Cal.com journal at {endpoint_name(url)}: an entry does not fit JournalEntry ({field}: {first['msg']})"
            ) from None

    async def mark(self) -> int:
        return await self._reader.mark()

    async def read(self, after: int) -> tuple[list[JournalEntry], int]:
        return await self._reader.read(after)
