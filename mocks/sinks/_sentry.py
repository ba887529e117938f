"""A Sentry envelope receiver: a DSN that points here gets what sentry.io would.

``POST /api/{project}/envelope/`` takes a Sentry envelope: a JSON header
line, then items, each a JSON item-header line followed by its payload
(``length`` bytes when the header says so, else up to the next newline);
``Content-Encoding: gzip`` (and ``br`` when the Brotli module is installed)
is undone first. Items of type ``event`` are stored with their project and
envelope header; ``GET /api/events?after=N`` → ``{"events": [...], "next": n}``.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["SentryEventStore", "create_sentry_app", "parse_envelope"]

DEFAULT_CAPACITY = 10_000
EVENT_TYPES = frozenset({"event"})


def parse_envelope(body: bytes) -> tuple[dict[str, Any], list[tuple[dict[str, Any], bytes]]]:
    """(envelope header, [(item header, payload)]); raises ValueError naming what is wrong."""
    first, sep, rest = body.partition(b"\n")
    header = _json_object(first, "envelope header")
    items: list[tuple[dict[str, Any], bytes]] = []
    pos = 0
    while pos < len(rest):
        end = rest.find(b"\n", pos)
        line = rest[pos:] if end < 0 else rest[pos:end]
        pos = len(rest) if end < 0 else end + 1
        if not line.strip():
            continue
        item_header = _json_object(line, f"item {len(items)} header")
        length = item_header.get("length")
        if isinstance(length, int):
            payload = rest[pos : pos + length]
            if len(payload) != length:
                raise ValueError(f"item {len(items)}: payload shorter than its length {length}")
            pos += length + 1  # the newline after a sized payload is optional
        else:
            end = rest.find(b"\n", pos)
            payload = rest[pos:] if end < 0 else rest[pos:end]
            pos = len(rest) if end < 0 else end + 1
        items.append((item_header, payload))
    return header, items


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        raise ValueError(f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise ValueError(f"{what} is not a JSON object")
    return value


def _decode(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "br":
        import brotli  # type: ignore[import-not-found]  # only when a client sends br

        return bytes(brotli.decompress(body))
    return body


class SentryEventStore:
    """Received error events with a 1-based ``seq``; bounded, thread-safe."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._capacity = capacity
        self._events: list[dict[str, Any]] = []
        self._seq = 0
        self._lock = threading.Lock()

    def add(self, project: str, envelope: dict[str, Any], event: dict[str, Any]) -> None:
        with self._lock:
            self._seq += 1
            self._events.append({"seq": self._seq, "received_at": time.time(), "project": project, "envelope": envelope, "event": event})
            del self._events[: max(0, len(self._events) - self._capacity)]

    def after(self, seq: int, limit: int = 5000) -> tuple[list[dict[str, Any]], int]:
        """Events newer than ``seq`` (at most ``limit``) and the next cursor (``seq < 0``: none, and the current cursor)."""
        with self._lock:
            if seq < 0:
                return [], self._seq
            found = [e for e in self._events if e["seq"] > seq][:limit]
        return found, (found[-1]["seq"] if found else max(seq, 0))

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._events)


def create_sentry_app(store: SentryEventStore | None = None) -> Starlette:
    """The receiver's ASGI app; ``app.state.store`` is the :class:`SentryEventStore`."""
    events = store or SentryEventStore()

    async def envelope(request: Request) -> Response:
        encoding = request.headers.get("content-encoding", "").lower()
        try:
            header, items = parse_envelope(_decode(await request.body(), encoding))
        except ImportError:
            return JSONResponse({"detail": f"Content-Encoding {encoding} needs the Brotli module"}, status_code=415)
        except (OSError, EOFError, ValueError) as exc:
            return JSONResponse({"detail": f"invalid envelope: {exc}"}, status_code=400)
        for item_header, payload in items:
            if item_header.get("type") in EVENT_TYPES:
                try:
                    events.add(request.path_params["project"], header, _json_object(payload, "event payload"))
                except ValueError as exc:
                    return JSONResponse({"detail": f"invalid envelope: {exc}"}, status_code=400)
        return JSONResponse({"id": header.get("event_id")})

    async def read(request: Request) -> Response:
        try:
            after = int(request.query_params.get("after", "0"))
        except ValueError:
            return JSONResponse({"error": "after must be an integer"}, status_code=400)
        found, nxt = events.after(after)
        return JSONResponse({"events": found, "next": nxt})

    app = Starlette(routes=[Route("/api/{project}/envelope/", envelope, methods=["POST"]), Route("/api/events", read, methods=["GET"])])
    app.state.store = events
    return app
