"""An OTLP/HTTP trace receiver: what a collector would get, readable back as JSON.

``POST /v1/traces`` accepts ``application/x-protobuf`` (decoded with
opentelemetry-proto's ``ExportTraceServiceRequest``, as the OTLP exporter
sends it) and ``application/json`` (OTLP/JSON), gzip or not, and answers
like a collector (an empty ``ExportTraceServiceResponse``). Spans are stored
flattened, ids in lowercase hex, so the harness can read them with a cursor:
``GET /api/spans?after=N`` → ``{"spans": [...], "next": n}``.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from typing import Any

from google.protobuf.json_format import MessageToDict, ParseDict, ParseError
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest, ExportTraceServiceResponse
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["SpanStore", "create_otlp_app", "decode_export"]

DEFAULT_CAPACITY = 50_000
_KINDS = {v: k.removeprefix("SPAN_KIND_") for k, v in Span.SpanKind.items()}
_STATUS = {v: k.removeprefix("STATUS_CODE_") for k, v in Status.StatusCode.items()}


def any_value(value: AnyValue) -> Any:
    """An OTLP ``AnyValue`` as a plain JSON value."""
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, which)


def _span(span: Span, resource: dict[str, Any], scope: str) -> dict[str, Any]:
    return {
        "trace_id": span.trace_id.hex(),
        "span_id": span.span_id.hex(),
        "parent_span_id": span.parent_span_id.hex() or None,
        "name": span.name,
        "kind": _KINDS.get(span.kind, "UNSPECIFIED"),
        "start_time_unix_nano": span.start_time_unix_nano,
        "end_time_unix_nano": span.end_time_unix_nano,
        "attributes": {kv.key: any_value(kv.value) for kv in span.attributes},
        "status": {"code": _STATUS.get(span.status.code, "UNSET"), "message": span.status.message},
        "events": [{"name": e.name, "attributes": {kv.key: any_value(kv.value) for kv in e.attributes}} for e in span.events],
        "resource": resource,
        "scope": scope,
    }


def decode_export(body: bytes, content_type: str) -> list[dict[str, Any]]:
    """Flattened spans of one export request; raises ValueError on a body that is not OTLP."""
    request = ExportTraceServiceRequest()
    try:
        if "json" in content_type:
            ParseDict(_hex_ids_to_base64(json.loads(body)), request)
        else:
            request.ParseFromString(body)
    except (DecodeError, ParseError, ValueError) as exc:
        raise ValueError(f"not an OTLP ExportTraceServiceRequest ({type(exc).__name__})") from None
    spans = []
    for rs in request.resource_spans:
        resource = {kv.key: any_value(kv.value) for kv in rs.resource.attributes}
        for ss in rs.scope_spans:
            spans.extend(_span(s, resource, ss.scope.name) for s in ss.spans)
    return spans


def _hex_ids_to_base64(data: Any) -> Any:
    """OTLP/JSON writes ids as hex; protobuf's JSON mapping wants base64 for ``bytes``."""
    import base64

    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str):
                out[key] = base64.b64encode(bytes.fromhex(value)).decode() if value else ""
            else:
                out[key] = _hex_ids_to_base64(value)
        return out
    if isinstance(data, list):
        return [_hex_ids_to_base64(v) for v in data]
    return data


class SpanStore:
    """Received spans, each with a 1-based ``seq`` and ``received_at``; bounded, thread-safe."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._capacity = capacity
        self._spans: list[dict[str, Any]] = []
        self._seq = 0
        self._lock = threading.Lock()

    def add(self, spans: list[dict[str, Any]]) -> None:
        with self._lock:
            now = time.time()
            for span in spans:
                self._seq += 1
                self._spans.append({**span, "seq": self._seq, "received_at": now})
            del self._spans[: max(0, len(self._spans) - self._capacity)]

    def after(self, seq: int, limit: int = 5000) -> tuple[list[dict[str, Any]], int]:
        """Spans newer than ``seq`` (at most ``limit``) and the cursor to pass next time (``seq < 0``: the current cursor)."""
        with self._lock:
            if seq < 0:
                return [], self._seq
            found = [s for s in self._spans if s["seq"] > seq][:limit]
        return found, (found[-1]["seq"] if found else max(seq, 0))

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._spans)


def create_otlp_app(store: SpanStore | None = None) -> Starlette:
    """The receiver's ASGI app; ``app.state.store`` is the :class:`SpanStore`."""
    spans = store or SpanStore()

    async def export(request: Request) -> Response:
        body = await request.body()
        if request.headers.get("content-encoding", "").lower() == "gzip":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError):
                return JSONResponse({"error": "body is not valid gzip"}, status_code=400)
        content_type = request.headers.get("content-type", "application/x-protobuf").lower()
        try:
            spans.add(decode_export(body, content_type))
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        if "json" in content_type:
            return JSONResponse(MessageToDict(ExportTraceServiceResponse()))
        return Response(ExportTraceServiceResponse().SerializeToString(), media_type="application/x-protobuf")

    async def read(request: Request) -> Response:
        try:
            after = int(request.query_params.get("after", "0"))
        except ValueError:
            return JSONResponse({"error": "after must be an integer"}, status_code=400)
        found, nxt = spans.after(after)
        return JSONResponse({"spans": found, "next": nxt})

    app = Starlette(routes=[Route("/v1/traces", export, methods=["POST"]), Route("/api/spans", read, methods=["GET"])])
    app.state.store = spans
    return app
