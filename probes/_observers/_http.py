"""One GET/POST helper for every HTTP-backed source, so errors read the same everywhere.

Each failure becomes an :class:`~probes._errors.ObserverError` that names the
endpoint (scheme, host, port and path only: never the query, user info or a
token) and says what happened, because "could not read the metrics" without
the where and why sends people to the wrong machine.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import httpx

from .._bounded import MAX_SOURCE_BYTES, Answer, AnswerDeadline, read_answer, strict_json
from .._errors import ObserverError
from .._printable import clip

__all__ = ["PagedReader", "endpoint_name", "expect_page", "request_json", "request_text"]

T = TypeVar("T")
MAX_PAGES = 1000
TAIL = -1  # ``after=-1``: "no items, just the current cursor"


def endpoint_name(url: str | httpx.URL) -> str:
    """``url`` without query, fragment or credentials, for error messages."""
    try:
        u = httpx.URL(str(url))
    except (httpx.InvalidURL, TypeError):
        return "<invalid URL>"
    port = f":{u.port}" if u.port is not None else ""
    return f"{u.scheme}://{u.host}{port}{u.path}"


async def request_text(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    what: str,
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    json_body: Any = None,
    timeout: float | None = None,
) -> str:
    """The body of a 2xx answer; anything else is an ObserverError naming ``what`` and the endpoint.

    The whole answer must arrive within ``timeout`` (default: the client's),
    and at most :data:`~probes._bounded.MAX_SOURCE_BYTES` of it is read.
    """
    where = f"{what} at {endpoint_name(url)}"
    kwargs: dict[str, Any] = {"params": params, "headers": headers}
    if json_body is not None:
        kwargs["json"] = json_body
    if timeout is not None:
        kwargs["timeout"] = timeout
    try:
        request = client.build_request(method, url, **kwargs)
        try:
            answer = await _read(client, request, timeout)
        except _STALE_CONNECTION:
            # A pooled keep-alive connection the source closed while it sat idle (the server's
            # keep-alive timeout racing the next poll) fails before any answer: a read, so once more.
            answer = await _read(client, client.build_request(method, url, **kwargs), timeout)
    except AnswerDeadline as exc:
        raise ObserverError(f"{where}: {exc}") from None
    except httpx.TimeoutException:
        raise ObserverError(f"{where}: no answer before the timeout") from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise ObserverError(f"{where}: cannot connect ({type(exc).__name__}: {exc})") from None
    if answer.status in (401, 403):
        raise ObserverError(f"{where}: answered {answer.status}, the credentials were refused (check the bearer token)")
    if not 200 <= answer.status < 300:
        raise ObserverError(f"{where}: answered {answer.status}, expected 2xx")
    if answer.cut:
        raise ObserverError(f"{where}: the answer is larger than {MAX_SOURCE_BYTES:,} bytes; callprobe read no further")
    return answer.text


# What a request on a connection the other side has just closed fails with, before any answer.
_STALE_CONNECTION = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


async def _read(client: httpx.AsyncClient, request: httpx.Request, timeout: float | None) -> Answer:
    return await read_answer(client, request, deadline_s=timeout or _client_deadline(client), max_bytes=MAX_SOURCE_BYTES,
                             body_for=lambda status: 200 <= status < 300)  # the body of a refusal is never shown


def _client_deadline(client: httpx.AsyncClient) -> float:
    """The longest of the client's per-phase timeouts, as a deadline for a whole request (10 s when it has none)."""
    t = client.timeout
    return max((v for v in (t.connect, t.read, t.write, t.pool) if v is not None), default=10.0)


async def request_json(client: httpx.AsyncClient, method: str, url: str, *, what: str, **kwargs: Any) -> Any:
    """:func:`request_text`, parsed as JSON; a non-JSON answer is an ObserverError too."""
    text = await request_text(client, method, url, what=what, **kwargs)
    try:
        return strict_json(text) if text else None
    except ValueError as exc:
        raise ObserverError(f"{what} at {endpoint_name(url)}: the answer is not JSON ({clip(str(exc), 80)}: {text[:80]!r})") from None


def expect_page(data: Any, items_key: str, *, what: str, url: str) -> tuple[list[Any], int]:
    """``{items_key: [...], "next": n}`` → (items, n), or an ObserverError describing the shape."""
    if not isinstance(data, dict) or not isinstance(data.get(items_key), list) or not isinstance(data.get("next"), int):
        got = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise ObserverError(
            f"{what} at {endpoint_name(url)}: expected {{\"{items_key}\": [...], \"next\": <int>}}, got {got}"
        )
    return data[items_key], data["next"]


class PagedReader(Generic[T]):
    """Cursor bookkeeping shared by the HTTP streams (gateway logs, alert sink, Cal.com journal).

    ``page(after)`` fetches one page; ``read`` follows pages until the source
    has nothing newer. ``mark`` first asks for the tail (``after=-1``, which
    callprobe's own sinks, the Cal.com mock and the reference gateway answer
    with no items and the current cursor), so a probe late in a long session
    does not download everything the session saw; a source that does not know
    the tail is walked from the last cursor this reader saw.
    """

    def __init__(self, page: Callable[[int], Awaitable[tuple[list[T], int]]]) -> None:
        self._page = page
        self._known = 0

    async def mark(self) -> int:
        start = self._known
        if start == 0:
            try:
                got, nxt = await self._page(TAIL)
            except ObserverError:
                got, nxt = [], -1  # the source refuses after=-1: walk it instead
            if not got and nxt >= 0:
                self._known = nxt
                return nxt
            start = nxt if got and nxt > 0 else 0
        _, cursor = await self.read(start)
        return cursor

    async def read(self, after: int) -> tuple[list[T], int]:
        items: list[T] = []
        cursor = after
        for _ in range(MAX_PAGES):
            got, nxt = await self._page(cursor)
            if not got:
                break
            items.extend(got)
            if nxt <= cursor:  # a source that does not advance: stop rather than loop
                break
            cursor = nxt
        self._known = max(self._known, cursor)
        return items, cursor
