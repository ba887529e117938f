"""The same mock in-process for httpx clients, as a respx router.

Unit tests of a gateway's Cal.com client need no socket: the router feeds each
``httpx.Request`` to the same :meth:`CalcomMock.handle` the ASGI app uses, so
bodies, headers and journal entries are identical. A scripted hang raises
``httpx.ReadTimeout`` at once (what the client would see after its timeout);
a scripted latency is recorded in the journal but not waited for.
"""

from __future__ import annotations

import httpx
import respx

from mocks.calcom._http import ApiRequest
from mocks.calcom._mock import CalcomMock

__all__ = ["calcom_router"]


def calcom_router(mock: CalcomMock, base_url: str = "https://api.cal.com") -> respx.MockRouter:
    """A respx router answering every request under ``base_url`` from ``mock``.

    It is a ``MockRouter``: use ``with calcom_router(mock):`` to patch httpx
    globally, or hand ``router.handler`` / ``router.async_handler`` to an
    ``httpx.MockTransport``.
    """
    router = respx.MockRouter(base_url=base_url, assert_all_called=False, assert_all_mocked=True)

    def answer(request: httpx.Request) -> httpx.Response:
        api_request = ApiRequest(
            method=request.method, path=request.url.path, query=list(request.url.params.multi_items()),
            headers={k.lower(): v for k, v in request.headers.items()}, body=request.content,
            query_string=request.url.query.decode("ascii", "replace"),
        )
        outcome = mock.handle(api_request)
        response = outcome.response
        if response is None:
            raise httpx.ReadTimeout("Cal.com mock: scripted hang (no answer)", request=request)
        headers = {"content-type": response.media_type, **response.headers}
        return httpx.Response(response.status, headers=headers, content=response.body)

    router.route().mock(side_effect=answer)
    return router
