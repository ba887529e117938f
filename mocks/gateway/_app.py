"""The reference gateway's ASGI app: routes of the target contract on one :class:`Gateway`."""

from __future__ import annotations

import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from mocks._events import parse_cursor
from mocks._input import BadInput
from probes._tls import tls_context

from ._calcom_client import EVENT_TYPES_VERSION, READY_TIMEOUT_S, CalcomFailure
from ._config import GatewayConfig
from ._defects import Defect
from ._functions import handle_function
from ._gateway import CORRELATION_HEADER, Gateway
from ._metrics import CONTENT_TYPE_LATEST
from ._middleware import GatewayMiddleware
from ._tracing import ATTR_CORRELATION_ID, retell_attributes
from ._webhooks import handle_inbound, handle_webhook

__all__ = ["create_app"]


def _authorized(gw: Gateway, request: Request) -> bool:
    """Bearer check for /api/metrics and /api/logs, constant-time."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), gw.config.metrics_token.encode())


def _unauthorized() -> Response:
    return JSONResponse({"error": "unauthorized"}, status_code=401, headers={"WWW-Authenticate": "Bearer"})


async def _readiness(gw: Gateway, request: Request) -> Response:
    """Ready only when Cal.com answers a cheap event-type read (unless the defect skips the check)."""
    if gw.config.has(Defect.READY_WHILE_CALCOM_DOWN):
        return JSONResponse({"status": "ready", "checks": {"calcom": "ok"}})
    ctx = gw.context(request.headers, None)
    try:
        response = await gw.calcom.request(
            "GET", f"/v2/event-types/{gw.config.event_type_id}", version=EVENT_TYPES_VERSION,
            correlation_id=ctx.correlation_id, traceparent=ctx.traceparent(), timeout_s=min(READY_TIMEOUT_S, gw.config.calcom_timeout_s),
        )
        problem = None if response.status < 400 else f"http_{response.status}"
    except CalcomFailure as failure:
        problem = failure.kind
    if problem is None:
        return JSONResponse({"status": "ready", "checks": {"calcom": "ok"}})
    gw.log("WARNING", "readiness_failed", f"Cal.com check failed: {problem}", ctx, check="calcom")
    return JSONResponse({"status": "not_ready", "checks": {"calcom": problem}}, status_code=503)


async def _traced(gw: Gateway, request: Request, handler: Callable[[Gateway, Request], Awaitable[Response]], **kind: str) -> Response:
    """Run a Retell handler in a SERVER span (continuing ``traceparent``); unhandled errors go to Sentry."""
    attributes = retell_attributes(await request.body(), **kind)
    name = f"{request.method} {request.url.path}"
    with gw.tracing.server_span(name, request.headers, attributes) as span:
        try:
            response = await handler(gw, request)
        except Exception as exc:
            gw.errors.capture_exception(exc, tags={"call_id": attributes.get("retell.call_id"), "endpoint": request.url.path})
            raise
        span.set_attribute("http.response.status_code", response.status_code)
        if correlation := response.headers.get(CORRELATION_HEADER):
            span.set_attribute(ATTR_CORRELATION_ID, correlation)
        return response


class _DroppedAnswer(Response):
    """The ``call-analyzed-connection-dropped`` defect: headers promise a body that never comes.

    The ASGI app returns with the response incomplete, so the server closes the
    connection: what Retell sees when a worker dies after doing the work.
    """

    def __init__(self) -> None:
        super().__init__(b"", status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})


def _event_of(body: bytes) -> str | None:
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    return parsed.get("event") if isinstance(parsed, dict) else None


def _routes(gw: Gateway) -> list[BaseRoute]:
    async def webhook(request: Request) -> Response:
        response = await _traced(gw, request, handle_webhook)
        if gw.config.has(Defect.CALL_ANALYZED_CONNECTION_DROPPED) and _event_of(await request.body()) == "call_analyzed":
            return _DroppedAnswer()
        return response

    async def inbound(request: Request) -> Response:
        return await _traced(gw, request, handle_inbound, event="call_inbound")

    async def function(request: Request) -> Response:
        return await _traced(gw, request, handle_function, function=request.path_params["name"][:64])

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def ready(request: Request) -> Response:
        return await _readiness(gw, request)

    async def metrics(request: Request) -> Response:
        if not _authorized(gw, request):
            return _unauthorized()
        if gw.config.has(Defect.METRICS_ENDPOINT_DOWN):
            return PlainTextResponse("Internal Server Error", status_code=500)
        return Response(gw.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    async def logs(request: Request) -> Response:
        if not _authorized(gw, request):
            return _unauthorized()
        try:
            after = parse_cursor(request.query_params.get("after"))
        except BadInput as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        lines, nxt = gw.logs.after(after)
        return JSONResponse({"lines": lines, "next": nxt})

    return [
        Route("/api/retell/webhook", webhook, methods=["POST"]),
        Route("/api/retell/inbound", inbound, methods=["POST"]),
        Route("/api/retell/functions/{name}", function, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
        Route("/health/ready", ready, methods=["GET"]),
        Route("/api/metrics", metrics, methods=["GET"]),
        Route("/api/logs", logs, methods=["GET"]),
    ]


def create_app(config: GatewayConfig) -> Starlette:
    """The reference gateway for ``config``; ``app.state.gateway`` exposes its state to tests."""
    gw = Gateway(config)
    routes = _routes(gw)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=config.calcom_timeout_s, verify=tls_context()) as client:
            gw.calcom.shared = client
            try:
                yield
            finally:
                await gw.alerter.drain()
                gw.calcom.shared = None
                gw.tracing.shutdown()  # flushes the last spans
                gw.errors.close()  # flushes the last error events

    app = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(GatewayMiddleware, gateway=gw, routes=routes)])
    app.state.gateway = gw
    return app
