"""An Alertmanager webhook receiver that records every notification for the harness.

Alertmanager posts ``{"version": "4", "status", "groupKey", "groupLabels",
"alerts": [...]}`` to each webhook receiver; this one keeps the bodies with
the time they arrived (the end of the fault → alert measurement) and serves
them back with the same cursor API as the Slack sink
(``GET /api/messages?after=N``), so one observer reads both.
"""

from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ._slack import SlackSink

__all__ = ["create_alertmanager_receiver_app"]


def create_alertmanager_receiver_app(store: SlackSink | None = None) -> Starlette:
    """The receiver's ASGI app: ``POST /alertmanager`` records, ``GET /api/messages`` reads back."""
    sink = store or SlackSink()

    async def post(request: Request) -> Response:
        try:
            payload = json.loads(await request.body())
        except ValueError:
            return PlainTextResponse("invalid JSON", status_code=400)
        sink.record(request.url.path, payload)
        return PlainTextResponse("ok")

    async def messages(request: Request) -> Response:
        try:
            after = int(request.query_params.get("after", "0"))
        except ValueError:
            return JSONResponse({"error": "after must be an integer"}, status_code=400)
        found, nxt = sink.after(after)
        return JSONResponse({"messages": found, "next": nxt})

    app = Starlette(routes=[Route("/alertmanager", post, methods=["POST"]), Route("/api/messages", messages, methods=["GET"])])
    app.state.sink = sink
    return app
