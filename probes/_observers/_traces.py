"""Trace observers: callprobe's OTLP receiver, Jaeger's query API and Tempo's, as one :class:`Span` stream.

All three implement the cursor protocol of :mod:`.base`. The receiver has a
real cursor (``/api/spans?after=N``). Jaeger and Tempo are searched by
service and time window: ``mark()`` is "now" in microseconds and ``read``
returns the spans of that window not returned before (a trace keeps growing
while its spans are flushed, so each read asks for the whole window again and
de-duplicates by span id).
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

import httpx

from .._errors import ObserverError
from .._spans import Span
from ._http import PagedReader, endpoint_name, expect_page, request_json

__all__ = ["JaegerQuery", "SpanSink", "TempoQuery", "otlp_spans"]

_KIND_NUMBERS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}


def _hex_id(value: Any) -> str:
    """An id as lowercase hex, whether it came as hex (OTLP/JSON, Jaeger) or base64 (protobuf JSON mapping)."""
    if not isinstance(value, str) or not value:
        return ""
    text = value.strip()
    if len(text) in (16, 32) and all(c in "0123456789abcdefABCDEF" for c in text):
        return text.lower()
    try:
        return base64.b64decode(text, validate=True).hex()
    except (binascii.Error, ValueError):
        return text.lower()


def _kind(value: Any) -> str:
    if isinstance(value, int):
        return _KIND_NUMBERS.get(value, "UNSPECIFIED")
    return str(value or "UNSPECIFIED").upper().removeprefix("SPAN_KIND_")


def _any_value(value: Any) -> Any:
    """An OTLP/JSON ``AnyValue`` (``{"stringValue": "x"}``) as a plain value."""
    if not isinstance(value, dict) or not value:
        return None
    key, inner = next(iter(value.items()))
    if key == "intValue":
        return int(inner)
    if key == "arrayValue":
        return [_any_value(v) for v in inner.get("values", [])]
    if key == "kvlistValue":
        return {kv.get("key"): _any_value(kv.get("value")) for kv in inner.get("values", [])}
    return inner


def _attributes(items: Any) -> dict[str, Any]:
    return {kv["key"]: _any_value(kv.get("value")) for kv in items or [] if isinstance(kv, dict) and "key" in kv}


def otlp_spans(data: Any, seen_at: float) -> list[Span]:
    """Spans of an OTLP/JSON document (``batches`` as Tempo answers, or ``resourceSpans``)."""
    if not isinstance(data, dict):
        return []
    out = []
    for batch in data.get("batches") or data.get("resourceSpans") or []:
        service = _attributes((batch.get("resource") or {}).get("attributes")).get("service.name")
        for scope in batch.get("scopeSpans") or batch.get("instrumentationLibrarySpans") or []:
            for s in scope.get("spans") or []:
                status = s.get("status") or {}
                code = status.get("code")
                out.append(
                    Span(
                        trace_id=_hex_id(s.get("traceId")),
                        span_id=_hex_id(s.get("spanId")),
                        parent_id=_hex_id(s.get("parentSpanId")) or None,
                        name=str(s.get("name", "")),
                        kind=_kind(s.get("kind")),
                        start_ns=int(s.get("startTimeUnixNano") or 0),
                        end_ns=int(s.get("endTimeUnixNano") or 0),
                        attributes=_attributes(s.get("attributes")),
                        error=code in (2, "STATUS_CODE_ERROR", "ERROR"),
                        service=service,
                        seen_at=seen_at,
                    )
                )
    return out


class SpanSink:
    """Spans the callprobe OTLP receiver decoded (``mocks.sinks.create_otlp_app``)."""

    def __init__(self, url: str, client: httpx.AsyncClient) -> None:
        self.url = url.rstrip("/") + "/api/spans"
        self._client = client
        self._reader: PagedReader[Span] = PagedReader(self._page)

    async def _page(self, after: int) -> tuple[list[Span], int]:
        data = await request_json(self._client, "GET", self.url, what="span receiver", params={"after": after})
        items, nxt = expect_page(data, "spans", what="span receiver", url=self.url)
        return [self._span(item) for item in items], nxt

    def _span(self, item: Any) -> Span:
        if not isinstance(item, dict) or not item.get("trace_id"):
            raise ObserverError(f"span receiver at {endpoint_name(self.url)}: a span is not an object with trace_id: {item!r:.80}")
        return Span(
            trace_id=str(item["trace_id"]),
            span_id=str(item.get("span_id", "")),
            parent_id=item.get("parent_span_id") or None,
            name=str(item.get("name", "")),
            kind=_kind(item.get("kind")),
            start_ns=int(item.get("start_time_unix_nano") or 0),
            end_ns=int(item.get("end_time_unix_nano") or 0),
            attributes=dict(item.get("attributes") or {}),
            error=(item.get("status") or {}).get("code") == "ERROR",
            service=(item.get("resource") or {}).get("service.name"),
            seen_at=float(item.get("received_at") or time.time()),
        )

    async def mark(self) -> int:
        return await self._reader.mark()

    async def read(self, after: int) -> tuple[list[Span], int]:
        return await self._reader.read(after)


class _WindowSource:
    """Shared bookkeeping of the search-by-window backends: time cursor and span de-duplication."""

    def __init__(self, url: str, service: str, client: httpx.AsyncClient) -> None:
        self.url = url.rstrip("/")
        self.service = service
        self._client = client
        self._seen: set[tuple[str, str]] = set()

    async def mark(self) -> int:
        return int(time.time() * 1_000_000) - 1_000_000  # 1 s of slack for clock skew

    def _new(self, spans: list[Span]) -> list[Span]:
        fresh = [s for s in spans if (s.trace_id, s.span_id) not in self._seen]
        self._seen.update((s.trace_id, s.span_id) for s in fresh)
        return fresh


class JaegerQuery(_WindowSource):
    """Jaeger query service: ``GET /api/traces?service=…&start=…&end=…`` (microseconds)."""

    what = "Jaeger query"

    async def read(self, after: int) -> tuple[list[Span], int]:
        end = int(time.time() * 1_000_000) + 1_000_000
        params = {"service": self.service, "start": after, "end": end, "limit": 1000}
        data = await request_json(self._client, "GET", f"{self.url}/api/traces", what=self.what, params=params)
        return self._new(self.spans_of(data)), after

    async def trace(self, trace_id: str) -> list[Span]:
        """Every span of one trace (``GET /api/traces/{traceID}``)."""
        return self.spans_of(await request_json(self._client, "GET", f"{self.url}/api/traces/{trace_id}", what=self.what))

    def spans_of(self, data: Any) -> list[Span]:
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            got = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise ObserverError(f"{self.what} at {endpoint_name(self.url)}: expected {{\"data\": [traces]}}, got {got}")
        now = time.time()
        return [span for trace in data["data"] for span in _jaeger_trace(trace, now)]


def _jaeger_trace(trace: dict[str, Any], seen_at: float) -> list[Span]:
    processes = trace.get("processes") or {}
    out = []
    for s in trace.get("spans") or []:
        tags = {t["key"]: t.get("value") for t in s.get("tags") or [] if isinstance(t, dict) and "key" in t}
        parents = [r for r in s.get("references") or [] if r.get("refType") == "CHILD_OF"] or list(s.get("references") or [])
        start_us, duration_us = int(s.get("startTime") or 0), int(s.get("duration") or 0)
        error = tags.get("error") in (True, "true") or str(tags.get("otel.status_code", "")).upper() == "ERROR"
        out.append(
            Span(
                trace_id=_hex_id(s.get("traceID")).zfill(32),
                span_id=_hex_id(s.get("spanID")).zfill(16),
                parent_id=_hex_id(parents[0].get("spanID")).zfill(16) if parents else None,
                name=str(s.get("operationName", "")),
                kind=_kind(tags.get("span.kind")),
                start_ns=start_us * 1000,
                end_ns=(start_us + duration_us) * 1000,
                attributes=tags,
                error=error,
                service=(processes.get(s.get("processID")) or {}).get("serviceName"),
                seen_at=seen_at,
            )
        )
    return out


class TempoQuery(_WindowSource):
    """Grafana Tempo: ``GET /api/search?tags=service.name=…&start=…&end=…`` then ``GET /api/traces/{id}``."""

    what = "Tempo query"

    async def read(self, after: int) -> tuple[list[Span], int]:
        params = {"tags": f"service.name={self.service}", "start": after // 1_000_000, "end": int(time.time()) + 1, "limit": 1000}
        found = await request_json(self._client, "GET", f"{self.url}/api/search", what=self.what, params=params)
        if not isinstance(found, dict) or not isinstance(found.get("traces", []), list):
            raise ObserverError(f"{self.what} at {endpoint_name(self.url)}/api/search: expected {{\"traces\": [...]}}")
        spans: list[Span] = []
        for summary in found.get("traces") or []:
            spans.extend(await self.trace(str(summary.get("traceID", ""))))
        return self._new(spans), after

    async def trace(self, trace_id: str) -> list[Span]:
        """Every span of one trace, from Tempo's OTLP/JSON answer."""
        data = await request_json(self._client, "GET", f"{self.url}/api/traces/{trace_id}", what=self.what)
        if not isinstance(data, dict) or not ("batches" in data or "resourceSpans" in data):
            raise ObserverError(f"{self.what} at {endpoint_name(self.url)}/api/traces: expected OTLP JSON with \"batches\"")
        return otlp_spans(data, time.time())
