"""Request → response, framework-free: routing, ``cal-api-version`` dispatch and auth.

Both fronts (the Starlette app and the respx router) call :func:`handle`, so
they answer byte for byte alike. Dispatch follows docs/research/calcom.md §1.2: an unknown or
missing ``cal-api-version`` means ``2024-04-15``, and a path/version pair
without a controller is Nest's 404 ``Cannot <METHOD> <url>``. The old
2024-04-15 bookings controller is not modelled beyond what users report for
it: ``POST /v2/bookings`` without a version header answers the bare 500
(calcom/cal.diy#16924); its other routes answer the 404. Event types without
``2024-06-14`` also answer the 404 (the old controller's shape is not modelled).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from mocks.calcom import _bookings as bookings
from mocks.calcom import _slots as slots
from mocks.calcom import _v1 as v1
from mocks.calcom._bookings import Ctx
from mocks.calcom._http import ApiError, ApiRequest, ApiResponse, error_response
from mocks.calcom._state import Calendar
from probes._calcom import (
    API_VERSION_BOOKINGS,
    API_VERSION_BOOKINGS_2026,
    API_VERSION_EVENT_TYPES,
    API_VERSION_SLOTS,
    INVALID_API_KEY_MESSAGE,
    NO_AUTH_MESSAGE,
)

__all__ = ["API_VERSIONS", "Route", "classify", "credential", "handle", "normalize", "resolve"]

API_VERSIONS = frozenset({"2024-04-15", "2024-05-21", "2024-06-11", "2024-06-14", "2024-08-13", "2024-09-04",
                          "2026-02-25"})
_DEFAULT_VERSION = "2024-04-15"
_BOOKING_VERSIONS = frozenset({API_VERSION_BOOKINGS, API_VERSION_BOOKINGS_2026})
_OLD_VERSIONS = API_VERSIONS - {API_VERSION_SLOTS, API_VERSION_BOOKINGS_2026}

Auth = Literal["public", "optional", "required", "v1"]
Handler = Callable[..., ApiResponse]


@dataclass(frozen=True)
class Route:
    """One controller method: path pattern, versions it answers, auth guard, handler."""

    method: str
    pattern: re.Pattern[str]
    endpoint: str
    versions: frozenset[str] | None
    auth: Auth
    handler: Handler


def _r(method: str, path: str, endpoint: str, versions: frozenset[str] | None, auth: Auth, handler: Handler) -> Route:
    """A route whose ``{x}`` segments become capture groups."""
    regex = "^" + re.sub(r"\{\w+\}", r"([^/]+)", path) + "$"
    return Route(method, re.compile(regex), endpoint, versions, auth, handler)


def _bare_500(ctx: Ctx) -> ApiResponse:
    """What the old bookings controller does with a current body (calcom/cal.diy#16924)."""
    raise ApiError(500, "Internal server error", kind="bare")


ROUTES: tuple[Route, ...] = (
    _r("GET", "/v2/slots", "slots", frozenset({API_VERSION_SLOTS}), "public", slots.slots_2024_09_04),
    _r("GET", "/v2/slots/available", "slots", _OLD_VERSIONS, "public", slots.slots_available),
    _r("POST", "/v2/bookings", "bookings.create", _BOOKING_VERSIONS, "optional", bookings.create_booking),
    _r("POST", "/v2/bookings", "bookings.create", frozenset({_DEFAULT_VERSION, "2024-06-11", "2024-06-14"}),
       "optional", _bare_500),
    _r("GET", "/v2/bookings", "bookings.get", _BOOKING_VERSIONS, "optional", bookings.list_bookings),
    _r("GET", "/v2/bookings/{uid}", "bookings.get", _BOOKING_VERSIONS, "optional", bookings.get_booking),
    _r("POST", "/v2/bookings/{uid}/cancel", "bookings.cancel", _BOOKING_VERSIONS, "optional", bookings.cancel_booking),
    _r("POST", "/v2/bookings/{uid}/reschedule", "bookings.reschedule", _BOOKING_VERSIONS, "optional",
       bookings.reschedule_booking),
    _r("GET", "/v2/event-types", "event_types", frozenset({API_VERSION_EVENT_TYPES}), "optional", slots.event_types),
    _r("GET", "/v2/event-types/{id}", "event_types", frozenset({API_VERSION_EVENT_TYPES}), "optional",
       slots.event_type_by_id),
    _r("GET", "/v1/slots", "slots", None, "v1", v1.v1_slots),
    _r("POST", "/v1/bookings", "bookings.create", None, "v1", v1.v1_create),
    _r("GET", "/v1/bookings/{id}", "bookings.get", None, "v1", v1.v1_get),
    _r("DELETE", "/v1/bookings/{id}/cancel", "bookings.cancel", None, "v1", v1.v1_cancel),
)


def normalize(path: str) -> str:
    """Production rewrites ``/api/v2/…`` to ``/v2/…`` (and we accept ``/api/v1`` likewise)."""
    path = path.rstrip("/") or "/"
    return path[4:] if path.startswith(("/api/v2/", "/api/v1/")) or path in ("/api/v2", "/api/v1") else path


def version(request: ApiRequest) -> str:
    """The effective ``cal-api-version`` (unknown or missing → ``2024-04-15``)."""
    value = request.headers.get("cal-api-version", "")
    return value if value in API_VERSIONS else _DEFAULT_VERSION


def resolve(request: ApiRequest) -> tuple[Route | None, tuple[str, ...]]:
    """The controller for method + path + version, and the path parameters."""
    path, ver = normalize(request.path), version(request)
    for route in ROUTES:
        match = route.pattern.match(path)
        if match and route.method == request.method and (route.versions is None or ver in route.versions):
            return route, match.groups()
    return None, ()


def classify(request: ApiRequest) -> str:
    """The script/journal endpoint name of a request, whatever its version (``other`` if none)."""
    path = normalize(request.path)
    for route in ROUTES:
        if route.method == request.method and route.pattern.match(path):
            return route.endpoint
    return "other"


def credential(request: ApiRequest) -> str | None:
    """The secret that identifies the caller (Bearer value, client secret, or v1 ``apiKey``)."""
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer " and auth[7:].strip():
        return auth[7:].strip()
    return request.headers.get("x-cal-secret-key") or request.arg("apiKey")


def _authenticate(route: Route, request: ApiRequest, api_keys: Collection[str] | None) -> bool:
    """Global throttler guard, then the route's ApiAuthStrategy; returns "is authenticated"."""
    if route.auth == "v1":
        key = request.arg("apiKey")
        if not key:
            raise ApiError(401, "No apiKey provided", kind="v1")
        if api_keys is not None and key not in api_keys:
            raise ApiError(401, "Your apiKey is not valid", kind="v1")
        return True
    auth = request.headers.get("authorization", "")
    token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
    if token.startswith("cal_") and api_keys is not None and token not in api_keys:
        raise ApiError(401, INVALID_API_KEY_MESSAGE)
    if route.auth == "public":
        return bool(token)
    if token and not token.startswith("cal_"):
        raise ApiError(401, "ApiAuthStrategy - Invalid Bearer token")
    platform = bool(request.headers.get("x-cal-secret-key") and request.headers.get("x-cal-client-id"))
    if route.auth == "required" and not (token or platform):
        raise ApiError(401, NO_AUTH_MESSAGE)
    return bool(token) or platform


def handle(cal: Calendar, request: ApiRequest, now: datetime, *, api_keys: Collection[str] | None = None,
           no_slots: bool = False) -> ApiResponse:
    """Answer one API request; every error is rendered in its Cal.com envelope."""
    route, params = resolve(request)
    try:
        if route is None:
            raise ApiError(404, f"Cannot {request.method} {request.url}")
        ctx = Ctx(cal, now, request, authenticated=_authenticate(route, request, api_keys))
        if no_slots and route.endpoint == "slots":
            return route.handler(ctx, *params, empty=True)
        return route.handler(ctx, *params)
    except ApiError as err:
        return error_response(err, request, now)
