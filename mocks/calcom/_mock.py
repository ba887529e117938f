"""The Cal.com mock itself: calendar + script + journal + rate limit, behind one lock.

:class:`CalcomMock` is what both fronts share. ``handle()`` is synchronous and
decides everything (which rule fires, the response, the journal entry); the
async front then waits the scripted delay with :meth:`CalcomMock.wait`, which
``reset()`` and server shutdown cut short, so nothing ever sleeps blindly.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mocks._events import DEFAULT_CAPACITY, EventStore
from mocks._input import BadInput, load_json
from mocks.calcom._handlers import classify, credential, handle, normalize
from mocks.calcom._http import ApiError, ApiRequest, ApiResponse, error_response, html_gateway_page, json_response
from mocks.calcom._render import booking_output
from mocks.calcom._state import Calendar, EventTypeConfig
from probes._calcom import (
    BOOKING_WINDOW_MESSAGE,
    INTERNAL_ERROR_MESSAGE,
    RATE_LIMITED_MESSAGE,
    REDACTED,
    SEATS_FULL_MESSAGE,
    SLOT_TAKEN_MESSAGE,
    SLOT_TAKEN_TEAM_MESSAGE,
    CalcomRule,
    CalcomScript,
    Fault,
    JournalEntry,
)

__all__ = ["CalcomMock", "Outcome"]

_SECRET_HEADERS = frozenset({"authorization", "x-cal-secret-key", "cookie"})
_SECRET_PARAMS = frozenset({"apiKey", "apikey", "api_key"})
_WINDOW_S = 60.0
_HANG_CAP_S = 300.0
# Which faults make sense where; a rule only matches (and only counts down) where it applies.
_APPLIES: dict[Fault, frozenset[str]] = {
    Fault.NO_SLOTS: frozenset({"slots", "bookings.create"}),
    Fault.SLOT_TAKEN: frozenset({"bookings.create", "bookings.reschedule"}),
    Fault.SLOT_TAKEN_TEAM: frozenset({"bookings.create", "bookings.reschedule"}),
    Fault.SEATS_FULL: frozenset({"bookings.create", "bookings.reschedule"}),
}


@dataclass(frozen=True)
class Outcome:
    """What to send and when: ``response`` is ``None`` for a hang."""

    response: ApiResponse | None
    delay_s: float
    entry: JournalEntry


class _RateWindow:
    """A fixed 60 s window per caller, as @nestjs/throttler counts (Reset in seconds)."""

    def __init__(self) -> None:
        self.windows: dict[str, tuple[float, int]] = {}

    def hit(self, tracker: str, now: float) -> tuple[int, float]:
        """Count a request; return (count in window, seconds until the window resets)."""
        start, count = self.windows.get(tracker, (now, 0))
        if now - start >= _WINDOW_S:
            start, count = now, 0
        self.windows[tracker] = (start, count + 1)
        return count + 1, max(0.0, _WINDOW_S - (now - start))  # not start + 60 - now: float rounding gave 61


class CalcomMock:
    """Cal.com API state, script and journal; thread-safe.

    ``now`` pins the clock (default: UTC now). ``api_keys``, when given, is the
    set of valid ``cal_…`` keys (others get the throttler guard's 401).
    ``rate_limit`` enforces N requests per minute per key (``None``: headers only,
    counted against 120, never enforced). The journal (:attr:`entries`) keeps
    the newest ``journal_capacity`` requests.
    """

    def __init__(self, *, now: Callable[[], datetime] | None = None,
                 event_types: Sequence[EventTypeConfig] | None = None,
                 api_keys: Collection[str] | None = None, rate_limit: int | None = None,
                 hang_cap_s: float = _HANG_CAP_S, journal_capacity: int = DEFAULT_CAPACITY) -> None:
        self._now = now or (lambda: datetime.now(UTC))
        self._event_types = tuple(event_types) if event_types else None
        self.api_keys = frozenset(api_keys) if api_keys is not None else None
        self.rate_limit = rate_limit
        self.hang_cap_s = hang_cap_s
        self._lock = threading.RLock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self.entries: EventStore[JournalEntry] = EventStore(journal_capacity)
        self._reset_state()

    def _reset_state(self) -> None:
        """Fresh calendar, empty script, journal and rate windows (journal ``seq`` keeps counting)."""
        self.calendar = Calendar(self._event_types)
        self._rules: list[CalcomRule] = []
        self._left: list[int | None] = []
        self.entries.clear()
        self._rates = _RateWindow()

    def now(self) -> datetime:
        """The mock's clock (UTC-aware)."""
        moment = self._now()
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    def reset(self) -> None:
        """Forget bookings, journal and script; release every hung or delayed request."""
        with self._lock:
            self._reset_state()
        self.release()

    def set_script(self, script: CalcomScript) -> None:
        """Replace the script; ``times`` counters start afresh."""
        with self._lock:
            self._rules = list(script.rules)
            self._left = [rule.times for rule in script.rules]

    def clear_script(self) -> None:
        """No faults: answer everything normally."""
        self.set_script(CalcomScript())

    def script(self) -> CalcomScript:
        """The rules with the ``times`` still left."""
        with self._lock:
            return CalcomScript(rules=[r.model_copy(update={"times": left}) for r, left in zip(self._rules, self._left, strict=True)])

    def journal(self, after: int = 0) -> list[JournalEntry]:
        """Every entry still kept with ``seq > after``, oldest first (in-process readers; HTTP reads page)."""
        return [entry for entry in self.entries.all() if entry.seq > after]

    def bookings(self) -> list[dict[str, Any]]:
        """Every booking (cancelled ones too) as ``BookingOutput_2024_08_13``, in creation order."""
        with self._lock:
            return [booking_output(self.calendar, b) for b in self.calendar.bookings.values()]

    def _take_rule(self, endpoint: str) -> CalcomRule | None:
        """First rule for this endpoint with ``times`` left; counts it down."""
        for index, rule in enumerate(self._rules):
            if rule.endpoint not in ("any", endpoint) or self._left[index] == 0:
                continue
            if rule.fault in _APPLIES and endpoint not in _APPLIES[rule.fault]:
                continue
            if self._left[index] is not None:
                self._left[index] = (self._left[index] or 0) - 1
            return rule
        return None

    def handle(self, request: ApiRequest) -> Outcome:
        """Decide the answer to one API request and journal it (the async front sends it)."""
        started = time.perf_counter()
        with self._lock:
            endpoint = classify(request)
            rule = self._take_rule(endpoint)
            now = self.now()
            count, reset_s = self._rates.hit(_tracker(request), time.monotonic())
            response = self._respond(request, rule, endpoint, now, count)
            if response is not None:
                response.headers.update(self._headers(count, reset_s, rule, response.status))
            delay_s = (rule.delay_ms / 1000.0) if rule else 0.0
            duration_ms = (time.perf_counter() - started) * 1000.0 + delay_s * 1000.0
            entry = self._record(request, endpoint, rule, response, now, duration_ms)
        return Outcome(response, delay_s, entry)

    def _respond(self, request: ApiRequest, rule: CalcomRule | None, endpoint: str, now: datetime,
                 count: int) -> ApiResponse | None:
        """The scripted answer, the real rate limit, or the normal answer."""
        if rule is not None and rule.fault is Fault.HANG:
            return None
        if rule is not None and rule.fault not in (Fault.LATENCY, Fault.NO_SLOTS):
            return _fault_response(rule, request, now)
        if self.rate_limit is not None and count > self.rate_limit:
            return error_response(ApiError(429, RATE_LIMITED_MESSAGE, kind="throttle"), request, now)
        if rule is not None and rule.fault is Fault.NO_SLOTS and endpoint == "bookings.create":
            return error_response(ApiError(400, BOOKING_WINDOW_MESSAGE), request, now)
        no_slots = rule is not None and rule.fault is Fault.NO_SLOTS
        return handle(self.calendar, request, now, api_keys=self.api_keys, no_slots=no_slots)

    def _headers(self, count: int, reset_s: float, rule: CalcomRule | None, status: int) -> dict[str, str]:
        """``X-Request-Id`` and the ``X-RateLimit-*-Default`` set (Remaining 0 on a 429)."""
        limit = self.rate_limit or 120
        remaining = 0 if status == 429 else max(0, limit - count)
        headers = {
            "X-Request-Id": str(uuid.uuid4()),
            "X-RateLimit-Limit-Default": str(limit),
            "X-RateLimit-Remaining-Default": str(remaining),
            "X-RateLimit-Reset-Default": str(max(1, math.ceil(reset_s))),
        }
        if rule is not None and rule.fault is Fault.RATE_LIMITED and rule.retry_after is not None:
            headers["Retry-After"] = str(rule.retry_after)
        return headers

    def _record(self, request: ApiRequest, endpoint: str, rule: CalcomRule | None, response: ApiResponse | None,
                now: datetime, duration_ms: float) -> JournalEntry:
        """Append the journal entry, secrets redacted."""
        return self.entries.append(lambda seq: JournalEntry(
            seq=seq, at=now.timestamp(), method=request.method, path=normalize(request.path),
            query={k: (REDACTED if k in _SECRET_PARAMS else v) for k, v in request.query},
            headers={k: (REDACTED if k in _SECRET_HEADERS else v) for k, v in request.headers.items()},
            body=_decode(request.body), status=response.status if response else 0,
            response=response.payload if response else None, duration_ms=round(duration_ms, 3),
            endpoint=endpoint, fault=rule.fault.value if rule else None,
            correlation_id=request.headers.get("x-correlation-id"), traceparent=request.headers.get("traceparent"),
        ))

    async def wait(self, seconds: float, *, disconnected: Callable[[], Awaitable[Any]] | None = None) -> None:
        """Wait up to ``seconds``; return early on :meth:`release` (reset, shutdown) or client disconnect."""
        if seconds <= 0:
            return
        loop, event = asyncio.get_running_loop(), asyncio.Event()
        with self._lock:
            self._waiters.add((loop, event))
        tasks: list[asyncio.Future[Any]] = [asyncio.ensure_future(event.wait())]
        if disconnected is not None:
            tasks.append(asyncio.ensure_future(disconnected()))
        try:
            await asyncio.wait(tasks, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with self._lock:
                self._waiters.discard((loop, event))

    def release(self) -> None:
        """Wake every delayed or hung request now (reset, server shutdown)."""
        with self._lock:
            waiters = list(self._waiters)
        for loop, event in waiters:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # that loop is already closed: nothing left to wake
                pass


def _tracker(request: ApiRequest) -> str:
    """Who the rate limit counts: sha256 of the credential, else the client address."""
    secret = credential(request)
    return hashlib.sha256(secret.encode()).hexdigest() if secret else f"ip:{request.client}"


def _decode(body: bytes) -> Any:
    """The request body for the journal: JSON if it parses, else text, ``None`` if empty."""
    if not body:
        return None
    try:
        return load_json(body)
    except BadInput:  # not JSON, or nested too deep to hand back safely
        return body.decode("utf-8", "replace")


def _fault_response(rule: CalcomRule, request: ApiRequest, now: datetime) -> ApiResponse:
    """The scripted error answer (v1 paths get v1 texts for the booking conflicts)."""
    v1 = normalize(request.path).startswith("/v1/")
    fault = rule.fault
    if fault is Fault.BAD_GATEWAY:
        return html_gateway_page(rule.status or 502)
    if fault is Fault.RATE_LIMITED and v1:
        return json_response(429, {"error": {"code": "too_many_requests", "message": "Rate limit exceeded"}})
    if v1 and fault in (Fault.SLOT_TAKEN, Fault.SLOT_TAKEN_TEAM, Fault.SEATS_FULL):
        return error_response(ApiError(400, "no_available_users_found_error", kind="v1"), request, now)
    errors = {
        Fault.SLOT_TAKEN: ApiError(400, SLOT_TAKEN_MESSAGE),
        Fault.SLOT_TAKEN_TEAM: ApiError(400, SLOT_TAKEN_TEAM_MESSAGE),
        Fault.SEATS_FULL: ApiError(409, SEATS_FULL_MESSAGE),
        Fault.RATE_LIMITED: ApiError(429, RATE_LIMITED_MESSAGE, kind="throttle"),
        Fault.SERVER_ERROR: ApiError(500, INTERNAL_ERROR_MESSAGE, code="INTERNAL_SERVER_ERROR", kind="prisma"),
        Fault.SERVER_ERROR_BARE: ApiError(500, "Internal server error", kind="bare"),
    }
    return error_response(errors[fault], request, now)
