"""Log lines from the gateway's log stream or from a JSON-lines file.

Both keep the raw text of each line next to the parsed record: the PII check
must see exactly what an operator would see, including lines that are not
JSON at all (a stray ``print`` is the classic way a phone number escapes).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import httpx

from .._bounded import MAX_SOURCE_BYTES, strict_json
from .._errors import ObserverError
from .._evidence import LogLine
from ._http import PagedReader, expect_page, request_json

__all__ = ["GatewayLogStream", "JsonLinesFile", "log_line"]


def log_line(raw: str, seen_at: float) -> LogLine:
    """A LogLine from one line of text; non-JSON (or non-object) lines get an empty record."""
    try:
        parsed: Any = strict_json(raw)
    except ValueError:
        parsed = None
    return LogLine(seen_at=seen_at, record=parsed if isinstance(parsed, dict) else {}, raw=raw)


class GatewayLogStream:
    """``GET <url>?after=<seq>`` → ``{"lines": [{...}], "next": seq}``, with the metrics bearer token."""

    def __init__(self, url: str, token: str | None, client: httpx.AsyncClient) -> None:
        self.url = url
        self._token = token
        self._client = client
        self._reader: PagedReader[LogLine] = PagedReader(self._page)

    async def _page(self, after: int) -> tuple[list[LogLine], int]:
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        data = await request_json(
            self._client, "GET", self.url, what="log stream", params={"after": after}, headers=headers
        )
        items, nxt = expect_page(data, "lines", what="log stream", url=self.url)
        now = time.time()
        lines = []
        for item in items:
            raw = json.dumps(item, ensure_ascii=False, separators=(",", ":")) if not isinstance(item, str) else item
            lines.append(LogLine(seen_at=now, record=item, raw=raw) if isinstance(item, dict) else log_line(raw, now))
        return lines, nxt

    async def mark(self) -> int:
        return await self._reader.mark()

    async def read(self, after: int) -> tuple[list[LogLine], int]:
        return await self._reader.read(after)


class JsonLinesFile:
    """Tails a JSON-lines file; the cursor is a byte offset.

    A last line without its newline is still being written, so it is left for
    the next read. A file that shrank was rotated or truncated: reading starts
    again at its beginning. A file that does not exist yet has nothing to say,
    but a folder that does not exist is a wrong path, not a quiet gateway.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)

    async def mark(self) -> int:
        folder = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(folder):
            raise ObserverError(f"log file {self.path}: its folder {folder} does not exist (check logs.path in the profile)")
        try:
            return os.path.getsize(self.path)
        except OSError:
            return 0

    async def read(self, after: int) -> tuple[list[LogLine], int]:
        try:
            with open(self.path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                start = after if 0 <= after <= size else 0
                handle.seek(start)
                data = handle.read(MAX_SOURCE_BYTES)  # a log that grew by gigabytes is read in steps, the rest next time
        except FileNotFoundError:
            return [], after
        except OSError as exc:
            raise ObserverError(f"log file {self.path}: cannot be read ({exc.strerror or exc})") from None
        complete = data[: data.rfind(b"\n") + 1]
        if not complete and len(data) == MAX_SOURCE_BYTES:  # one line longer than a whole read: take it as it is
            complete = data
        now = time.time()
        lines = [
            log_line(raw.decode("utf-8", errors="replace").rstrip("\r"), now)
            for raw in complete.split(b"\n")
            if raw.strip()
        ]
        return lines, start + len(complete)
