"""Reading what a target sends: every answer within an overall deadline, at most so many bytes, strict JSON.

httpx's timeouts are per read: a target that sends one byte of a chunked
answer every second never times out, and one that sends 50 MB is read whole
before anyone looks at it. :func:`read_answer` streams the answer under one
deadline for the whole request (connect, send, every read) and stops reading
past a byte limit; :func:`strict_json` parses an answer as a browser would
(no ``NaN``) and refuses nesting that would overflow Python's stack when a
check or a report walks it. Used by the runner for the target's answers and
by every HTTP-backed evidence source.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = ["MAX_ANSWER_BYTES", "MAX_JSON_DEPTH", "MAX_SOURCE_BYTES", "Answer", "AnswerDeadline", "read_answer", "strict_json"]

MAX_ANSWER_BYTES = 1024 * 1024  # one answer to a Retell request (the reference gateway's are a few hundred bytes)
MAX_SOURCE_BYTES = 16 * 1024 * 1024  # one read of an evidence source: a metrics scrape, a page of log lines
MAX_JSON_DEPTH = 100  # nesting levels (protobuf's and the mocks' JSON readers stop at 100 too)


@dataclass(frozen=True)
class Answer:
    """An HTTP answer read under limits; ``cut`` means the target sent more than ``body`` holds."""

    status: int
    headers: httpx.Headers
    body: bytes
    cut: bool = False
    encoding: str | None = None

    @property
    def text(self) -> str:
        return self.body.decode(self.encoding or "utf-8", errors="replace")


class AnswerDeadline(Exception):
    """The whole answer did not arrive within the deadline; says how far it got."""

    def __init__(self, deadline_s: float, status: int | None, received: int) -> None:
        self.deadline_s, self.status, self.received = deadline_s, status, received
        if status is None:
            got = "no answer began"
        else:
            got = f"status {status} came, then {received:,} bytes of the body, still arriving"
        super().__init__(f"no complete answer within {deadline_s:g} s ({got})")


@dataclass
class _Progress:
    status: int | None = None
    received: int = 0
    chunks: list[bytes] = field(default_factory=list)


async def read_answer(client: httpx.AsyncClient, request: httpx.Request, *, deadline_s: float, max_bytes: int,
                      body_for: Callable[[int], bool] = lambda status: True) -> Answer:
    """Send ``request`` and read its answer whole within ``deadline_s``, keeping at most ``max_bytes`` (decoded).

    The body of an answer whose status ``body_for`` refuses is not read at
    all. Raises :class:`AnswerDeadline` when time runs out, and whatever
    httpx raises for a transport problem.
    """
    progress = _Progress()
    try:
        async with asyncio.timeout(deadline_s):
            response = await client.send(request, stream=True)
            try:
                progress.status = response.status_code
                cut = await _read(response, max_bytes, progress) if body_for(response.status_code) else False
            finally:
                await response.aclose()
    except TimeoutError:
        raise AnswerDeadline(deadline_s, progress.status, progress.received) from None
    return Answer(response.status_code, response.headers, b"".join(progress.chunks), cut, response.encoding)


async def _read(response: httpx.Response, max_bytes: int, progress: _Progress) -> bool:
    """Collect the decoded body into ``progress``; True when it was cut at ``max_bytes``."""
    async for chunk in response.aiter_bytes():
        room = max_bytes - progress.received
        progress.received += len(chunk)
        if len(chunk) > room:
            progress.chunks.append(chunk[:room])
            return True
        progress.chunks.append(chunk)
    return False


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def strict_json(text: str | bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``text`` parsed as JSON; ValueError (one line) for bad syntax, ``NaN``/``Infinity`` or nesting deeper than ``max_depth``."""
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError(f"nested deeper than {max_depth} levels") from None
    for depth, node in _nodes(value):
        if depth > max_depth:
            raise ValueError(f"nested deeper than {max_depth} levels")
        if isinstance(node, float) and not math.isfinite(node):
            raise ValueError(f"number out of range ({node})")
    return value


def _nodes(value: Any) -> Iterator[tuple[int, Any]]:
    stack = [(0, value)]
    while stack:
        depth, node = stack.pop()
        yield depth, node
        if isinstance(node, dict):
            stack.extend((depth + 1, v) for v in node.values())
        elif isinstance(node, list):
            stack.extend((depth + 1, v) for v in node)
