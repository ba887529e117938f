"""Log lines from Loki (LogQL ``query_range``) and Elasticsearch (``_search``).

Both produce :class:`~probes._evidence.LogLine` like the JSON-lines file, so
the log checks do not care where the lines were shipped. The cursor is a
timestamp (Loki: nanoseconds; Elasticsearch: epoch milliseconds); lines that
share the boundary timestamp are read again and de-duplicated, so a line
ingested late at the same instant is not lost.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from .._errors import ObserverError
from .._evidence import LogLine
from ._http import endpoint_name, request_json
from ._logs import log_line

__all__ = ["ElasticsearchLogs", "LokiLogs"]

PAGE = 1000
MAX_PAGES = 100


class LokiLogs:
    """``GET /loki/api/v1/query_range?query=<LogQL>&start=<ns>&end=<ns>&direction=forward``."""

    def __init__(self, url: str, query: str, client: httpx.AsyncClient) -> None:
        self.url = url.rstrip("/") + "/loki/api/v1/query_range"
        self.query = query
        self._client = client
        self._seen: set[tuple[int, str]] = set()

    async def mark(self) -> int:
        return time.time_ns()

    async def read(self, after: int) -> tuple[list[LogLine], int]:
        lines: list[LogLine] = []
        cursor = after
        for _ in range(MAX_PAGES):
            entries = await self._page(cursor)
            fresh = [(ns, raw) for ns, raw in entries if (ns, raw) not in self._seen]
            self._seen.update(fresh)
            now = time.time()
            lines.extend(log_line(raw, now) for _, raw in fresh)
            cursor = max([cursor, *(ns for ns, _ in entries)])
            if len(entries) < PAGE or not fresh:
                break
        return lines, cursor

    async def _page(self, start_ns: int) -> list[tuple[int, str]]:
        params = {"query": self.query, "start": start_ns, "end": time.time_ns() + 1_000_000_000, "direction": "forward", "limit": PAGE}
        data = await request_json(self._client, "GET", self.url, what="Loki", params=params)
        result = data.get("data", {}).get("result") if isinstance(data, dict) and isinstance(data.get("data"), dict) else None
        if not isinstance(data, dict) or data.get("status") != "success" or not isinstance(result, list):
            raise ObserverError(f"Loki at {endpoint_name(self.url)}: expected {{\"status\": \"success\", \"data\": {{\"result\": [...]}}}}")
        if data["data"].get("resultType") not in (None, "streams"):
            raise ObserverError(f"Loki at {endpoint_name(self.url)}: the query {self.query!r} is a metric query; "
                                "a log query returns streams")
        entries = [(int(v[0]), str(v[1])) for stream in result for v in stream.get("values", []) if isinstance(v, list) and len(v) >= 2]
        return sorted(entries)


class ElasticsearchLogs:
    """``POST /<index>/_search``: a range on the timestamp field, sorted ascending, ``search_after`` paging."""

    def __init__(self, url: str, index: str, client: httpx.AsyncClient, *, timestamp_field: str = "@timestamp") -> None:
        self.url = f"{url.rstrip('/')}/{index}/_search"
        self.timestamp_field = timestamp_field
        self._client = client
        self._seen: set[str] = set()

    async def mark(self) -> int:
        return int(time.time() * 1000)

    async def read(self, after: int) -> tuple[list[LogLine], int]:
        lines: list[LogLine] = []
        cursor, search_after = after, None
        for _ in range(MAX_PAGES):
            hits = await self._page(after, search_after)
            for hit in hits:
                key = str(hit.get("_id") or json.dumps(hit.get("_source"), sort_keys=True))
                sort = hit.get("sort") if isinstance(hit.get("sort"), list) else []
                if sort and isinstance(sort[0], int | float):
                    cursor = max(cursor, int(sort[0]))
                if key in self._seen:
                    continue
                self._seen.add(key)
                lines.append(self._line(hit))
            if len(hits) < PAGE or not hits[-1].get("sort"):
                break
            search_after = hits[-1]["sort"]
        return lines, cursor

    def _line(self, hit: dict[str, Any]) -> LogLine:
        source = hit.get("_source")
        if not isinstance(source, dict):
            return log_line(json.dumps(source), time.time())
        raw = source.get("message") if isinstance(source.get("message"), str) and set(source) <= {"message", self.timestamp_field} else None
        if raw is not None:  # a shipper that kept the original line as text
            return log_line(raw, time.time())
        return LogLine(seen_at=time.time(), record=source, raw=json.dumps(source, ensure_ascii=False, separators=(",", ":")))

    async def _page(self, after_ms: int, search_after: list[Any] | None) -> list[dict[str, Any]]:
        body: dict[str, Any] = {
            "size": PAGE,
            "query": {"range": {self.timestamp_field: {"gte": after_ms, "format": "epoch_millis"}}},
            "sort": [{self.timestamp_field: {"order": "asc"}}, {"_doc": "asc"}],  # date sort values are epoch ms
        }
        if search_after is not None:
            body["search_after"] = search_after
        data = await request_json(self._client, "POST", self.url, what="Elasticsearch", json_body=body)
        hits = data.get("hits", {}).get("hits") if isinstance(data, dict) and isinstance(data.get("hits"), dict) else None
        if not isinstance(hits, list):
            raise ObserverError(f"Elasticsearch at {endpoint_name(self.url)}: expected {{\"hits\": {{\"hits\": [...]}}}}")
        return [h for h in hits if isinstance(h, dict)]
