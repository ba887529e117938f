"""Framework-free request/response values and Cal.com's error envelopes.

The handlers work on :class:`ApiRequest` → :class:`ApiResponse` so that the
Starlette app and the respx router give byte-identical answers. Errors are
raised as :class:`ApiError` and rendered by :func:`error_response` in one of
the shapes docs/research/calcom.md §3 and §5 describe.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from typing import Any, Literal
from urllib.parse import urlencode

from mocks.calcom._time import fmt_js

__all__ = [
    "ApiError",
    "ApiRequest",
    "ApiResponse",
    "ErrorKind",
    "error_response",
    "html_gateway_page",
    "json_response",
    "success",
]

ErrorKind = Literal["nest", "prisma", "throttle", "bare", "v1"]


@dataclass(frozen=True)
class ApiRequest:
    """An HTTP request as the mock needs it; header names lower-case."""

    method: str
    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    client: str = "127.0.0.1"
    query_string: str | None = None

    @property
    def raw_query(self) -> str:
        """The query string as sent (for ``path`` and ``Cannot GET …`` texts)."""
        return self.query_string if self.query_string is not None else urlencode(self.query)

    @property
    def url(self) -> str:
        """Path plus query, as Express's ``originalUrl``."""
        return f"{self.path}?{self.raw_query}" if self.raw_query else self.path

    def arg(self, name: str) -> str | None:
        """First value of a query parameter."""
        return next((value for key, value in self.query if key == name), None)


@dataclass
class ApiResponse:
    """Status, headers and body bytes; ``payload`` keeps the JSON for the journal."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    payload: Any = None
    media_type: str = "application/json; charset=utf-8"

    def json(self) -> Any:
        """The decoded body (tests and the journal)."""
        return json.loads(self.body) if self.body else None


def json_response(status: int, payload: Any) -> ApiResponse:
    """Compact JSON like Express's ``res.json``."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return ApiResponse(status, body, payload=payload)


def success(data: Any, status: int = 200, **extra: Any) -> ApiResponse:
    """``{"status":"success","data":…}`` (+ ``pagination`` on lists)."""
    return json_response(status, {"status": "success", "data": data, **extra})


class ApiError(Exception):
    """An error answer; ``kind`` picks the envelope (Nest filter, Prisma filter, throttler, bare, v1)."""

    def __init__(self, status: int, message: str, *, code: str | None = None, kind: ErrorKind = "nest") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or _exception_name(status)
        self.kind = kind


def _exception_name(status: int) -> str:
    """NestJS exception class for a status (what ``error.code`` carries)."""
    return {
        400: "BadRequestException", 401: "UnauthorizedException", 403: "ForbiddenException",
        404: "NotFoundException", 409: "ConflictException", 429: "ThrottlerException",
    }.get(status, "InternalServerErrorException")


def error_response(err: ApiError, request: ApiRequest, now: datetime) -> ApiResponse:
    """Render ``err`` in its envelope; ``path`` is the (rewritten) URL, query included."""
    if err.kind == "bare":
        return json_response(err.status, {"statusCode": err.status, "message": err.message})
    if err.kind == "v1":
        return json_response(err.status, {"message": err.message, "url": request.url,
                                          "method": request.method, "data": None})
    error: dict[str, Any] = {"code": err.code, "message": err.message}
    if err.kind == "throttle":
        error["details"] = err.message
    elif err.kind == "nest":
        error["details"] = {"message": err.message, "error": HTTPStatus(err.status).phrase, "statusCode": err.status}
    payload = {"status": "error", "timestamp": fmt_js(now), "path": _rewritten(request.url), "error": error}
    return json_response(err.status, payload)


def _rewritten(url: str) -> str:
    """``/api/v2/…`` is rewritten to ``/v2/…`` before the filter sees ``request.url``."""
    return url[4:] if url.startswith("/api/v2") else url


def html_gateway_page(status: int) -> ApiResponse:
    """A Cloudflare-style HTML error page: what a gateway sees when the edge, not the API, answers."""
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body = (
        "<!DOCTYPE html>\n<html><head><title>api.cal.com | " f"{status}: {phrase}</title></head>\n"
        f"<body><h1>Error {status}</h1><p>{phrase}</p>"
        "<p>Cloudflare Ray ID: 8f0c0ffee0000000 &bull; Performance &amp; security by Cloudflare</p>"
        "</body></html>\n"
    ).encode()
    return ApiResponse(status, body, payload=body.decode(), media_type="text/html; charset=UTF-8")
