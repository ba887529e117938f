"""One correlation ID per call, and W3C ``traceparent`` continuation.

Retell sends no correlation header, so the gateway assigns an ID at a call's
first request (keyed by ``call_id``) and reuses it for every later event,
function call, Cal.com request, log line and alert of that call. The map is
an LRU so a long-running gateway under load does not grow without bound.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["CallRecord", "CallRegistry", "PendingInbound", "child_traceparent", "phone_hash"]

_TRACEPARENT_RE = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
DEFAULT_MAX_CALLS = 10_000


def phone_hash(number: str | None) -> str | None:
    """``sha256:`` + 12 hex of the number: joins log lines of one caller without storing the number."""
    if not number:
        return None
    return "sha256:" + hashlib.sha256(number.encode("utf-8")).hexdigest()[:12]


@dataclass
class CallRecord:
    """What the gateway remembers about one call.

    ``caller_number`` is kept in memory only (never logged, never in ``repr``):
    an args-only booking request carries no call object, and Cal.com needs a
    phone number or an email to book.
    """

    call_id: str
    correlation_id: str
    company_id: str
    phone_hash: str | None = None
    caller_number: str | None = field(default=None, repr=False)
    started: bool = False
    ended: bool = False
    analyzed: bool = False


class CallRegistry:
    """LRU map ``call_id`` → :class:`CallRecord`, bounded to ``max_calls`` entries."""

    def __init__(self, default_company: str, max_calls: int = DEFAULT_MAX_CALLS) -> None:
        self._default_company = default_company
        self._max = max_calls
        self._calls: OrderedDict[str, CallRecord] = OrderedDict()

    def __len__(self) -> int:
        return len(self._calls)

    def get(self, call_id: str | None) -> CallRecord | None:
        """The record of a known call (refreshing its LRU position), else None."""
        if not call_id or call_id not in self._calls:
            return None
        self._calls.move_to_end(call_id)
        return self._calls[call_id]

    def get_or_create(self, call_id: str, incoming_id: str | None = None) -> CallRecord:
        """The call's record; a new call keeps an incoming X-Correlation-ID, else gets a uuid4."""
        record = self.get(call_id)
        if record is None:
            record = CallRecord(call_id, incoming_id or str(uuid.uuid4()), self._default_company)
            self._calls[call_id] = record
            while len(self._calls) > self._max:
                self._calls.popitem(last=False)
        return record


class PendingInbound:
    """Correlation IDs handed out at ``call_inbound``, waiting for the call they announce.

    Retell's inbound webhook carries no call id, only the two numbers; the
    call that follows within seconds has the same pair. Pairing on it keeps
    one correlation ID from the first ring to the analysis. Entries expire
    after ``ttl_s`` and the table is bounded, so unanswered calls cannot pile up.
    """

    def __init__(self, ttl_s: float = 300.0, max_items: int = DEFAULT_MAX_CALLS, now: Callable[[], float] | None = None) -> None:
        self._ttl = ttl_s
        self._max = max_items
        self._now = now or time.monotonic
        self._waiting: OrderedDict[tuple[str, str], deque[tuple[float, str]]] = OrderedDict()

    def add(self, numbers: tuple[str, str], correlation_id: str) -> None:
        """Remember the ID given to an inbound call from ``numbers[0]`` to ``numbers[1]``."""
        self._waiting.setdefault(numbers, deque()).append((self._now(), correlation_id))
        self._waiting.move_to_end(numbers)
        while len(self._waiting) > self._max:
            self._waiting.popitem(last=False)

    def take(self, numbers: tuple[str, str]) -> str | None:
        """The oldest unexpired ID announced for ``numbers``, removed; None if there is none."""
        queue = self._waiting.get(numbers)
        cutoff = self._now() - self._ttl
        while queue:
            at, correlation_id = queue.popleft()
            if at >= cutoff:
                if not queue:
                    del self._waiting[numbers]
                return correlation_id
        self._waiting.pop(numbers, None)
        return None


def child_traceparent(incoming: str | None, correlation_id: str | None) -> str:
    """A ``traceparent`` for an outgoing request: same trace as ``incoming`` when valid.

    Without an incoming trace, a correlation ID that is a uuid doubles as the
    trace id, so every Cal.com request of one call lands in one trace.
    """
    match = _TRACEPARENT_RE.fullmatch((incoming or "").strip().lower())
    if match and match.group(1) != "ff" and set(match.group(2)) != {"0"}:
        trace_id, flags = match.group(2), match.group(4)
    else:
        trace_id, flags = _trace_id_from(correlation_id), "01"
    return f"00-{trace_id}-{secrets.token_hex(8)}-{flags}"


def _trace_id_from(correlation_id: str | None) -> str:
    try:
        value = uuid.UUID(correlation_id or "").hex
    except ValueError:
        return secrets.token_hex(16)
    return value if set(value) != {"0"} else secrets.token_hex(16)
