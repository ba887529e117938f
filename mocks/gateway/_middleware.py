"""ASGI middleware: ``Server-Timing``, ``X-Correlation-ID`` fallback, HTTP metrics.

It wraps the whole app so that every response (401s, 404s, health probes)
carries the contract headers, and ``Server-Timing`` measures the gateway's
own time up to the response start, which the harness subtracts from the
round trip to compute its own overhead.
"""

from __future__ import annotations

import time
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._defects import Defect
from ._gateway import CORRELATION_HEADER, Gateway

__all__ = ["GatewayMiddleware"]


class GatewayMiddleware:
    """Adds the contract headers to every response and counts it in the HTTP metrics."""

    def __init__(self, app: ASGIApp, gateway: Gateway, routes: list[BaseRoute]) -> None:
        self.app = app
        self.gateway = gateway
        self.routes = routes

    def _endpoint(self, scope: Scope) -> str:
        """The route template (bounded label values), not the raw path."""
        for route in self.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return str(getattr(route, "path", "unmatched"))
        return "unmatched"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        endpoint, method = self._endpoint(scope), scope["method"]
        incoming = Headers(scope=scope).get(CORRELATION_HEADER)
        status = 500
        drop_correlation = self.gateway.config.has(Defect.CORRELATION_NOT_ECHOED)

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                if drop_correlation:
                    del headers[CORRELATION_HEADER]
                elif CORRELATION_HEADER not in headers:
                    headers[CORRELATION_HEADER] = incoming or str(uuid.uuid4())
                headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.3f}"
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            metrics = self.gateway.metrics
            metrics.http_requests.labels(method=method, endpoint=endpoint, status=str(status)).inc()
            metrics.http_duration.labels(method=method, endpoint=endpoint).observe(time.perf_counter() - started)
