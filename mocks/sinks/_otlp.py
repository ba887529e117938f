"""An OTLP/HTTP trace receiver: what a collector would get, readable back as JSON.

``POST /v1/traces`` accepts ``application/x-protobuf`` and ``application/json``
(OTLP/JSON), gzip or not, both decoded into opentelemetry-proto's
``ExportTraceServiceRequest`` by protobuf itself (``ParseFromString`` and
``json_format.Parse``), and answers like a collector (an empty
``ExportTraceServiceResponse``). Bodies are bounded before and after gzip; a
malformed one is a 400 with a one-line reason. Spans are stored flattened, ids
in lowercase hex, so the harness can read them with a cursor:
``GET /api/spans?after=N`` → ``{"spans": [...], "next": n}``.
"""

from __future__ import annotations

import base64
import math
import time
from collections.abc import Callable
from typing import Any

from google.protobuf.json_format import MessageToDict, Parse, ParseError
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest, ExportTraceServiceResponse
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mocks._events import EventStore, cursor_route
from mocks._input import TooLarge, decode_content, read_body

__all__ = ["SpanStore", "create_otlp_app", "decode_export"]

DEFAULT_CAPACITY = 50_000
_KINDS = {v: k.removeprefix("SPAN_KIND_") for k, v in Span.SpanKind.items()}
_STATUS = {v: k.removeprefix("STATUS_CODE_") for k, v in Status.StatusCode.items()}
_NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


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
    if which == "double_value" and not math.isfinite(value.double_value):
        return _NON_FINITE[str(value.double_value)]  # as proto3's JSON mapping writes them: JSON has no NaN
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
    """Flattened spans of one export request; raises ValueError (one line) on a body that is not OTLP."""
    request = ExportTraceServiceRequest()
    try:
        if "json" in content_type:
            Parse(body, request)
            _ids_from_hex(request)
        else:
            request.ParseFromString(body)
    except (DecodeError, ParseError, ValueError, RecursionError) as exc:
        reason = (str(exc) or type(exc).__name__).splitlines()[0][:200]
        raise ValueError(f"not an OTLP ExportTraceServiceRequest: {reason}") from None
    spans: list[dict[str, Any]] = []
    for rs in request.resource_spans:
        resource = {kv.key: any_value(kv.value) for kv in rs.resource.attributes}
        for ss in rs.scope_spans:
            spans.extend(_span(s, resource, ss.scope.name) for s in ss.spans)
    return spans


def _ids_from_hex(request: ExportTraceServiceRequest) -> None:
    """OTLP/JSON writes span and trace ids in hex where protobuf's JSON mapping reads base64.

    Hex digits are base64 digits too, so ``Parse`` has read a 32-digit trace id
    as 24 bytes of base64; encoding those bytes again gives back the hex text
    exactly (32 and 16 digits are whole base64 groups), which is then decoded
    as hex. Anything that was not hex fails there, as a ``ValueError``.
    """
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                span.trace_id, span.span_id = _unhex(span.trace_id, "traceId"), _unhex(span.span_id, "spanId")
                span.parent_span_id = _unhex(span.parent_span_id, "parentSpanId")


def _unhex(misread: bytes, name: str) -> bytes:
    """The id bytes of a hex id that ``Parse`` read as base64 (see :func:`_ids_from_hex`)."""
    text = base64.b64encode(misread).decode("ascii")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"{name} is not a hex id") from None


def _stamped(span: dict[str, Any], received_at: float) -> Callable[[int], dict[str, Any]]:
    """The maker :meth:`EventStore.extend` numbers one span with."""
    return lambda seq: {**span, "seq": seq, "received_at": received_at}


class SpanStore(EventStore[dict[str, Any]]):
    """Received spans, each with a 1-based ``seq`` and ``received_at``; bounded, thread-safe."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        super().__init__(capacity)

    def add(self, spans: list[dict[str, Any]]) -> None:
        """Keep the spans of one export, numbered in order."""
        now = time.time()
        self.extend(_stamped(span, now) for span in spans)


def create_otlp_app(store: SpanStore | None = None) -> Starlette:
    """The receiver's ASGI app; ``app.state.store`` is the :class:`SpanStore`."""
    spans = store or SpanStore()

    async def export(request: Request) -> Response:
        content_type = request.headers.get("content-type", "application/x-protobuf").lower()
        try:
            body = decode_content(await read_body(request), request.headers.get("content-encoding", ""))
            spans.add(decode_export(body, content_type))
        except TooLarge as exc:
            return JSONResponse({"error": str(exc)}, status_code=413)
        except ImportError:
            return JSONResponse({"error": "Content-Encoding br needs the Brotli module"}, status_code=415)
        except ValueError as exc:  # BadInput included
            return JSONResponse({"error": str(exc)}, status_code=400)
        if "json" in content_type:
            return JSONResponse(MessageToDict(ExportTraceServiceResponse()))
        return Response(ExportTraceServiceResponse().SerializeToString(), media_type="application/x-protobuf")

    app = Starlette(routes=[Route("/v1/traces", export, methods=["POST"]), cursor_route("/api/spans", spans, "spans")])
    app.state.store = spans
    return app
