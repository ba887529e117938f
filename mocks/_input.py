"""Reading untrusted request input in the mocks: integers, JSON and bodies, with limits.

Every mock is driven by whatever a gateway under test (or a hostile-input
corpus) sends, so the stdlib's permissive parsers are the wrong defaults here:
``int()`` takes ``"٣"`` and crashes on ``"²"`` although ``str.isdigit`` says
both are digits, ``json.loads`` takes ``NaN`` (JavaScript's ``JSON.parse``
does not) and raises ``RecursionError`` on 100 000 nested ``[``, and a gzip
body of a few kilobytes can inflate to gigabytes. The helpers below turn each
of those into :class:`BadInput` or :class:`TooLarge`, which every app answers
as a 4xx in its own shape, never a 500.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from typing import Any

from starlette.requests import Request

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_JSON_DEPTH",
    "BadInput",
    "TooLarge",
    "check_json",
    "decode_content",
    "load_json",
    "read_body",
    "strict_int",
]

MAX_BODY_BYTES = 10 * 1024 * 1024  # per request body, before and after Content-Encoding is undone
MAX_JSON_DEPTH = 100  # nesting levels; protobuf's own JSON parser stops at 100 as well
_INT = re.compile(r"-?[0-9]{1,18}")  # ASCII only, always within a signed 64-bit integer


class BadInput(ValueError):
    """A request value the mocks refuse; ``str()`` is one line naming what is wrong.

    ``pos`` is the offset of a JSON syntax error (``None`` for any other
    problem), for fronts that answer as a JSON parser they imitate would.
    """

    def __init__(self, message: str, *, pos: int | None = None) -> None:
        super().__init__(message)
        self.pos = pos


class TooLarge(BadInput):
    """A body above :data:`MAX_BODY_BYTES` (413), read or inflated no further than the limit."""


def strict_int(text: object, *, lo: int = -(2**63), hi: int = 2**63 - 1) -> int | None:
    """``text`` as an integer when it is ASCII digits (optional ``-``) within ``[lo, hi]``, else ``None``."""
    if not isinstance(text, str) or not _INT.fullmatch(text):
        return None
    value = int(text)
    return value if lo <= value <= hi else None


def _no_constant(name: str) -> Any:
    """``NaN``, ``Infinity`` and ``-Infinity`` are not JSON (``JSON.parse`` refuses them too)."""
    raise BadInput(f"{name} is not a JSON value")


def load_json(raw: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse a JSON document strictly; :class:`BadInput` for bad syntax, encoding, constants or depth."""
    try:
        value = json.loads(raw, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise BadInput(f"not JSON: {exc.msg} at position {exc.pos}", pos=exc.pos) from None
    except BadInput:
        raise
    except ValueError as exc:  # invalid UTF-8, an integer beyond int()'s digit limit
        reason = (str(exc) or type(exc).__name__).splitlines()[0][:120]
        raise BadInput(f"not JSON: {reason}") from None
    except RecursionError:
        raise BadInput(f"JSON nested deeper than {max_depth} levels") from None
    return check_json(value, max_depth=max_depth)


def check_json(value: Any, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``value`` itself when it can be stored and served as JSON again, else :class:`BadInput`.

    Parsers the mocks do not own (sentry-sdk's envelope reader, ``json.loads``)
    accept ``NaN`` and any nesting; a recorder that keeps such a value would
    fail every later read (Starlette refuses NaN, deep nesting overflows the
    stack). Walked without recursion, and no further than ``max_depth``.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            raise BadInput(f"JSON number out of range ({node})")
        if not isinstance(node, dict | list):
            continue
        if depth >= max_depth:
            raise BadInput(f"JSON nested deeper than {max_depth} levels")
        stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return value


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, refused with :class:`TooLarge` once it passes ``limit`` bytes.

    A ``Content-Length`` above the limit is refused before reading; a chunked
    body is read only until it passes the limit.
    """
    declared = strict_int(request.headers.get("content-length", ""), lo=0)
    if declared is not None and declared > limit:
        raise TooLarge(f"body of {declared} bytes is over the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"body is over the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def decode_content(body: bytes, encoding: str, limit: int = MAX_BODY_BYTES) -> bytes:
    """Undo ``Content-Encoding`` (identity, gzip; br when Brotli is installed), inflating at most ``limit`` bytes.

    Raises :class:`TooLarge` past the limit, :class:`BadInput` for a corrupt or
    unsupported encoding (``ImportError`` for br without the Brotli module).
    """
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip"):
        return _gunzip(body, limit)
    if encoding == "br":
        import brotli  # type: ignore[import-not-found,import-untyped,unused-ignore]  # only when a client sends br; untyped when installed (the load extra brings it)

        inflated = bytes(brotli.decompress(body))
        if len(inflated) > limit:
            raise TooLarge(f"body inflates to over the {limit}-byte limit")
        return inflated
    raise BadInput(f"Content-Encoding {encoding[:40]!r} is not supported (gzip or identity)")


def _gunzip(body: bytes, limit: int) -> bytes:
    """gzip members one after another (as ``gzip.decompress``), never inflating past ``limit``."""
    out = bytearray()
    rest = body
    while rest:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            out += inflater.decompress(rest, limit + 1 - len(out))
        except zlib.error as exc:
            raise BadInput(f"body is not valid gzip ({exc})") from None
        if len(out) > limit:
            raise TooLarge(f"body inflates to over the {limit}-byte limit")
        if not inflater.eof:
            raise BadInput("body is not valid gzip (truncated)")
        rest = inflater.unused_data
    return bytes(out)
