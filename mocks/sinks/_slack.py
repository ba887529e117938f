"""A Slack-compatible incoming-webhook sink that records what a gateway posts.

It answers like Slack (``200 text/plain "ok"``) so the gateway under test
cannot tell the difference, and lets the harness read the posts back with a
cursor (``GET /api/messages?after=N``), polling with a deadline.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from mocks._events import DEFAULT_CAPACITY, EventStore, cursor_route
from mocks._input import BadInput, TooLarge, load_json, read_body

__all__ = ["SlackSink", "create_sink_app", "json_recorder"]


class SlackSink(EventStore[dict[str, Any]]):
    """The recorded posts, each ``{"seq", "received_at", "path", "json"}``; bounded, thread-safe."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        super().__init__(capacity)

    def record(self, path: str, payload: Any) -> dict[str, Any]:
        """Keep one post; the oldest is dropped past ``capacity``."""
        received = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return self.append(lambda seq: {"seq": seq, "received_at": received, "path": path, "json": payload})

    def reset(self) -> None:
        """Forget every post (the cursor keeps counting, so old readers see nothing stale)."""
        self.clear()


def json_recorder(sink: SlackSink, *, invalid: str) -> Callable[[Request], Awaitable[Response]]:
    """A ``POST`` handler that records a JSON body and answers ``ok``, as Slack and Alertmanager's receivers expect.

    ``invalid`` is the plain-text answer to a body that is not JSON (Slack says
    ``invalid_payload``); a body over the size limit is a 413.
    """

    async def post(request: Request) -> Response:
        try:
            payload = load_json(await read_body(request))
        except TooLarge:
            return PlainTextResponse("payload_too_large", status_code=413)
        except BadInput:
            return PlainTextResponse(invalid, status_code=400)
        sink.record(request.url.path, payload)
        return PlainTextResponse("ok")

    return post


def create_sink_app(sink: SlackSink | None = None) -> Starlette:
    """The sink's ASGI app; ``app.state.sink`` is the :class:`SlackSink` for in-process reads."""
    store = sink or SlackSink()

    async def reset(request: Request) -> Response:
        store.reset()
        return JSONResponse({"status": "reset"})

    app = Starlette(
        routes=[
            Route("/slack/{rest:path}", json_recorder(store, invalid="invalid_payload"), methods=["POST"]),
            cursor_route("/api/messages", store, "messages"),
            Route("/api/reset", reset, methods=["POST"]),
        ]
    )
    app.state.sink = store
    return app
