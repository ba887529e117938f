"""A Sentry envelope receiver: a DSN that points here gets what sentry.io would.

``POST /api/{project}/envelope/`` takes a Sentry envelope (a JSON header
line, then items, each a JSON item-header line followed by its payload),
read with sentry-sdk's own :meth:`sentry_sdk.envelope.Envelope.deserialize`,
the parser that matches the writer the gateway uses. ``Content-Encoding:
gzip`` (and ``br`` when the Brotli module is installed) is undone first,
within the body size limit. Items of type ``event`` are stored with their
project and envelope header; ``GET /api/events?after=N`` → ``{"events":
[...], "next": n}``. A malformed envelope is a 400 with a one-line reason.
"""

from __future__ import annotations

import time
from typing import Any

from sentry_sdk.envelope import Envelope
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mocks._events import EventStore, cursor_route
from mocks._input import BadInput, TooLarge, check_json, decode_content, read_body

__all__ = ["SentryEventStore", "create_sentry_app", "parse_envelope"]

DEFAULT_CAPACITY = 10_000
EVENT_TYPES = frozenset({"event"})


def parse_envelope(body: bytes) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(envelope header, [event payload of each ``event`` item]); :class:`BadInput` naming what is wrong.

    sentry-sdk's parser trusts its input: a header that is not an object, a
    ``length`` that is not a number or JSON that is not JSON surface as
    whatever Python raises inside it, so those are all turned into one reason.
    What it accepts is accepted here too (it reads a ``null`` or ``[]``
    envelope header as ``{}``): the receiver takes what the SDK's own reader takes.
    """
    try:
        envelope = Envelope.deserialize(body)
    except (ValueError, RecursionError) as exc:  # JSON that is not JSON
        raise BadInput(f"invalid envelope: {_first_line(exc)}") from None
    except (TypeError, AttributeError, OverflowError) as exc:  # valid JSON of the wrong shape
        raise BadInput("invalid envelope: a header is not a JSON object or an item length is not a byte count "
                       f"({_first_line(exc)})") from None
    events = []
    for index, item in enumerate(envelope.items):
        if item.type not in EVENT_TYPES:
            continue
        event = item.payload.json
        if not isinstance(event, dict):
            raise BadInput(f"invalid envelope: item {index} (an event) is not a JSON object")
        events.append(event)
    try:
        check_json([envelope.headers, events])
    except BadInput as exc:
        raise BadInput(f"invalid envelope: {exc}") from None
    return envelope.headers, events


def _first_line(exc: BaseException) -> str:
    """An exception as one short line, for a 400's reason."""
    return (str(exc) or type(exc).__name__).splitlines()[0][:200]


class SentryEventStore(EventStore[dict[str, Any]]):
    """Received error events, each ``{"seq", "received_at", "project", "envelope", "event"}``; bounded, thread-safe."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        super().__init__(capacity)

    def add(self, project: str, envelope: dict[str, Any], event: dict[str, Any]) -> None:
        """Keep one event with the header of the envelope it came in."""
        now = time.time()
        self.append(lambda seq: {"seq": seq, "received_at": now, "project": project, "envelope": envelope, "event": event})


def create_sentry_app(store: SentryEventStore | None = None) -> Starlette:
    """The receiver's ASGI app; ``app.state.store`` is the :class:`SentryEventStore`."""
    events = store or SentryEventStore()

    async def envelope(request: Request) -> Response:
        encoding = request.headers.get("content-encoding", "")
        try:
            header, found = parse_envelope(decode_content(await read_body(request), encoding))
        except TooLarge as exc:
            return JSONResponse({"detail": str(exc)}, status_code=413)
        except ImportError:
            return JSONResponse({"detail": f"Content-Encoding {encoding} needs the Brotli module"}, status_code=415)
        except BadInput as exc:
            return JSONResponse({"detail": str(exc)}, status_code=400)
        for event in found:
            events.add(request.path_params["project"], header, event)
        return JSONResponse({"id": header.get("event_id")})

    app = Starlette(routes=[Route("/api/{project}/envelope/", envelope, methods=["POST"]), cursor_route("/api/events", events, "events")])
    app.state.store = events
    return app
