"""A Slack-compatible incoming-webhook sink that records what a gateway posts.

It answers like Slack (``200 text/plain "ok"``) so the gateway under test
cannot tell the difference, and lets the harness read the posts back with a
cursor (``GET /api/messages?after=N``), polling with a deadline.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

__all__ = ["SlackSink", "create_sink_app"]

DEFAULT_CAPACITY = 10_000


class SlackSink:
    """The recorded posts, each with a 1-based ``seq``; bounded, thread-safe."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._capacity = capacity
        self._messages: list[dict[str, Any]] = []
        self._seq = 0
        self._lock = threading.Lock()

    def record(self, path: str, payload: Any) -> dict[str, Any]:
        """Keep one post; the oldest is dropped past ``capacity``."""
        with self._lock:
            self._seq += 1
            received = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            message = {"seq": self._seq, "received_at": received, "path": path, "json": payload}
            self._messages.append(message)
            del self._messages[: max(0, len(self._messages) - self._capacity)]
            return message

    def after(self, seq: int) -> tuple[list[dict[str, Any]], int]:
        """Posts newer than ``seq`` and the cursor to pass next time (``seq < 0``: none, and the current cursor)."""
        with self._lock:
            if seq < 0:
                return [], self._seq
            messages = [m for m in self._messages if m["seq"] > seq]
            return messages, (messages[-1]["seq"] if messages else max(seq, 0))

    def reset(self) -> None:
        """Forget every post (the cursor keeps counting, so old readers see nothing stale)."""
        with self._lock:
            self._messages.clear()


def create_sink_app(sink: SlackSink | None = None) -> Starlette:
    """The sink's ASGI app; ``app.state.sink`` is the :class:`SlackSink` for in-process reads."""
    store = sink or SlackSink()

    async def post(request: Request) -> Response:
        raw = await request.body()
        try:
            payload = json.loads(raw)
        except ValueError:
            return PlainTextResponse("invalid_payload", status_code=400)  # what Slack answers to bad JSON
        store.record(request.url.path, payload)
        return PlainTextResponse("ok")

    async def messages(request: Request) -> Response:
        try:
            after = int(request.query_params.get("after", "0"))
        except ValueError:
            return JSONResponse({"error": "after must be an integer"}, status_code=400)
        found, nxt = store.after(after)
        return JSONResponse({"messages": found, "next": nxt})

    async def reset(request: Request) -> Response:
        store.reset()
        return JSONResponse({"status": "reset"})

    app = Starlette(
        routes=[
            Route("/slack/{rest:path}", post, methods=["POST"]),
            Route("/api/messages", messages, methods=["GET"]),
            Route("/api/reset", reset, methods=["POST"]),
        ]
    )
    app.state.sink = store
    return app
