"""What every HTTP answer gets, whatever route (or no route) produced it.

An ASGI middleware rather than a FastAPI dependency, so that 404s, 405s and
crashes are covered too: each answer carries ``X-Request-ID`` and
``Server-Timing``, is counted by route template, and an unexpected exception
becomes a logged 500 with the request ID instead of a bare stack trace.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .calls import clean_request_id, new_request_id

__all__ = ["REQUEST_ID_HEADER", "Envelope"]

REQUEST_ID_HEADER = "X-Request-ID"


class Envelope:
    """Sets ``scope["state"]["request_id"]`` (a handler may replace it with its call's ID) and echoes it."""

    def __init__(self, app: ASGIApp, *, count: Callable[[str, str, int], None],
                 crashed: Callable[[str, str], None]) -> None:
        self.app, self._count, self._crashed = app, count, crashed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        incoming = clean_request_id(Headers(scope=scope).get(REQUEST_ID_HEADER))
        state = scope.setdefault("state", {})
        state["incoming_request_id"] = incoming
        state["request_id"] = incoming or new_request_id()
        status = 500
        started = False

        async def stamped(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started, status = True, message["status"]
                headers = MutableHeaders(scope=message)
                headers[REQUEST_ID_HEADER] = state["request_id"]
                headers.append("Server-Timing", f"app;dur={(time.perf_counter() - began) * 1000:.1f}")
            await send(message)

        try:
            await self.app(scope, receive, stamped)
        except Exception as exc:
            self._crashed(state["request_id"], type(exc).__name__)
            if not started:
                body = json.dumps({"detail": "internal error"}).encode()
                await stamped({"type": "http.response.start", "status": 500,
                               "headers": [(b"content-type", b"application/json"),
                                           (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
        finally:
            route: Any = scope.get("route")
            self._count(getattr(route, "path", "unmatched"), scope["method"], status)
