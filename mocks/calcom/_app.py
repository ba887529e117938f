"""The Starlette ASGI app: the admin API plus every Cal.com path, on one port.

Bodies are read up to :data:`mocks._input.MAX_BODY_BYTES` (more is Nest's
bare 413). Delays and hangs are awaited here, never slept: :meth:`CalcomMock.wait`
returns when the time is up, the mock is reset, the server shuts down, or the
client hangs up (ASGI ``http.disconnect``), so a hung request cannot keep a
test server from stopping once its client has given up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mocks._input import TooLarge, read_body
from mocks.calcom._admin import admin_routes
from mocks.calcom._http import ApiError, ApiRequest, error_response, html_gateway_page
from mocks.calcom._mock import CalcomMock

__all__ = ["create_app"]

_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


async def _disconnected(request: Request) -> None:
    """Return once the client has closed the connection (the body is already read)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def _api(request: Request) -> Response:
    """Any Cal.com path: let the mock decide, then wait as scripted and answer."""
    mock: CalcomMock = request.app.state.mock
    try:
        body = await read_body(request)
    except TooLarge:  # body-parser's PayloadTooLargeError: Nest's bare shape, not the envelope (docs/research/calcom.md §3.2)
        too_large = error_response(ApiError(413, "request entity too large", kind="bare"),
                                   ApiRequest(request.method, request.url.path), mock.now())
        return Response(too_large.body, status_code=413, media_type=too_large.media_type)
    api_request = ApiRequest(
        method=request.method, path=request.url.path, query=list(request.query_params.multi_items()),
        headers={k.lower(): v for k, v in request.headers.items()}, body=body,
        client=request.client.host if request.client else "", query_string=request.url.query,
    )
    outcome = mock.handle(api_request)
    if outcome.delay_s:
        await mock.wait(outcome.delay_s, disconnected=lambda: _disconnected(request))
    response = outcome.response
    if response is None:
        await mock.wait(mock.hang_cap_s, disconnected=lambda: _disconnected(request))
        response = html_gateway_page(504)  # released (reset, shutdown, cap): answer as the edge would
    return Response(response.body, status_code=response.status, headers=response.headers,
                    media_type=response.media_type)


def create_app(mock: CalcomMock | None = None) -> Starlette:
    """The mock as an ASGI app; ``app.state.mock`` is the :class:`CalcomMock` it serves."""
    the_mock = mock or CalcomMock()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        the_mock.release()

    routes = [*admin_routes(the_mock), Route("/{path:path}", _api, methods=_METHODS)]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.mock = the_mock
    return app
