"""An Alertmanager webhook receiver that records every notification for the harness.

Alertmanager posts ``{"version": "4", "status", "groupKey", "groupLabels",
"alerts": [...]}`` to each webhook receiver; this one keeps the bodies with
the time they arrived (the end of the fault → alert measurement) and serves
them back with the same cursor API as the Slack sink
(``GET /api/messages?after=N``), so one observer reads both.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Route

from mocks._events import cursor_route

from ._slack import SlackSink, json_recorder

__all__ = ["create_alertmanager_receiver_app"]


def create_alertmanager_receiver_app(store: SlackSink | None = None) -> Starlette:
    """The receiver's ASGI app: ``POST /alertmanager`` records, ``GET /api/messages`` reads back."""
    sink = store or SlackSink()

    app = Starlette(routes=[
        Route("/alertmanager", json_recorder(sink, invalid="invalid JSON"), methods=["POST"]),
        cursor_route("/api/messages", sink, "messages"),
    ])
    app.state.sink = sink
    return app
