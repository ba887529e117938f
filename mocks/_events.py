"""One bounded, cursor-read event store for every recorder in ``mocks``.

The Slack sink, the Alertmanager receiver, the OTLP and Sentry receivers, the
reference gateway's log buffer and the Cal.com mock's journal all keep "what
arrived" for the harness to read back with ``?after=<seq>``. They share this
store so the cursor contract is the same everywhere (``probes._observers._http``
``PagedReader`` relies on it):

* every item gets a ``seq`` one higher than the last, never reused, not even
  after :meth:`EventStore.clear`, so a reader's cursor never points at
  something it did not see;
* ``after(seq)`` answers the items with a higher ``seq``, oldest first, at
  most a page of them, and the cursor to pass next time;
* ``after(-1)`` (any negative cursor) answers no items and the current cursor:
  a reader that only wants what comes next need not download the history;
* the store keeps the newest ``capacity`` items; a reader whose cursor fell
  behind gets what is left, never an error.

:func:`parse_cursor` and :func:`cursor_route` give the HTTP read APIs one way
to read ``after`` and to answer ``{<key>: [...], "next": n}``.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any, Generic, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mocks._input import BadInput, strict_int

__all__ = [
    "CURSOR_MESSAGE",
    "DEFAULT_CAPACITY",
    "DEFAULT_PAGE_LIMIT",
    "EventStore",
    "cursor_route",
    "parse_cursor",
]

T = TypeVar("T")

DEFAULT_CAPACITY = 10_000
DEFAULT_PAGE_LIMIT = 5_000
CURSOR_MESSAGE = "after must be an integer (a seq number, or -1 for the current cursor)"


class EventStore(Generic[T]):
    """Items numbered by ``seq`` (1, 2, …), the newest ``capacity`` kept; thread-safe.

    Items are built by the caller from their ``seq`` (``append(lambda seq: …)``)
    under the store's lock, so the number inside an item is the number the
    cursor counts, whatever the item's type (a dict, a pydantic model).
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY, page_limit: int = DEFAULT_PAGE_LIMIT) -> None:
        if capacity < 1 or page_limit < 1:
            raise ValueError(f"capacity and page_limit must be >= 1, got {capacity} and {page_limit}")
        self._items: deque[T] = deque(maxlen=capacity)
        self._seq = 0
        self._page_limit = page_limit
        self._lock = threading.RLock()

    @property
    def seq(self) -> int:
        """The ``seq`` of the newest item (0 before the first): the tail cursor."""
        with self._lock:
            return self._seq

    def append(self, make: Callable[[int], T]) -> T:
        """Number the next item, build it with ``make(seq)``, keep it (dropping the oldest past capacity)."""
        with self._lock:
            item = make(self._seq + 1)
            self._seq += 1
            self._items.append(item)
            return item

    def extend(self, makers: Iterable[Callable[[int], T]]) -> list[T]:
        """:meth:`append` several items with consecutive numbers, atomically."""
        with self._lock:
            return [self.append(make) for make in makers]

    def after(self, seq: int, limit: int | None = None) -> tuple[list[T], int]:
        """Items with a ``seq`` above ``seq`` (at most a page) and the cursor for the next call.

        A negative ``seq`` answers no items and the current cursor. The next
        cursor is the last item's ``seq``, or ``seq`` itself when nothing is newer.
        """
        page = self._page_limit if limit is None else max(0, min(limit, self._page_limit))
        with self._lock:
            if seq < 0:
                return [], self._seq
            first = self._seq - len(self._items) + 1  # seq of the oldest item still kept
            skip = max(0, seq - first + 1)
            found = list(islice(self._items, skip, skip + page))
        return found, (first + skip + len(found) - 1 if found else seq)

    def all(self) -> list[T]:
        """Every item still kept, oldest first (tests and in-process readers)."""
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        """Forget every item; ``seq`` keeps counting, so no reader sees a number twice."""
        with self._lock:
            self._items.clear()


def parse_cursor(raw: str | None) -> int:
    """The ``after`` query value: ASCII digits with an optional ``-``; absent means 0.

    ``int()`` would also take ``"٣"`` (Arabic-Indic three), ``" 3 "``, ``"3_0"``
    and 5000-digit numbers; a cursor is none of those, so they are a
    :class:`~mocks._input.BadInput` naming the value instead.
    """
    if raw is None:
        return 0
    value = strict_int(raw)
    if value is None:
        raise BadInput(f"{CURSOR_MESSAGE}, got {raw[:40]!r}")
    return value


def cursor_route(path: str, store: EventStore[Any], key: str, *, render: Callable[[Any], Any] | None = None,
                 error: Callable[[str], Response] | None = None) -> Route:
    """``GET <path>?after=N`` → ``{key: [...], "next": n}``, the read API every recorder serves.

    ``render`` turns an item into JSON (default: the item itself); a bad
    ``after`` is a 400, ``{"error": <message>}`` unless ``error`` shapes it.
    """

    async def read(request: Request) -> Response:
        try:
            after = parse_cursor(request.query_params.get("after"))
        except BadInput as exc:
            return error(str(exc)) if error else JSONResponse({"error": str(exc)}, status_code=400)
        found, nxt = store.after(after)
        return JSONResponse({key: [render(item) for item in found] if render else found, "next": nxt})

    return Route(path, read, methods=["GET"])
