"""What a load run did, counted where it happened and added up on the master.

The gate and the telemetry-completeness check need more than Locust's request
stats: how many calls were meant to start and how many did (late and dropped
starts), which Retell events the gateway accepted (the counters must move by
exactly that much), which bookings it confirmed and which were cancelled again,
and for each call its call_id and the correlation ID it was answered with.
Workers keep a :class:`Tally` and send it (as JSON) to the master, which adds
them up; every field adds, so the sum over workers is exact.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CallRecord", "RequestRecord", "Tally"]

MAX_MESSAGES = 20


@dataclass(frozen=True)
class RequestRecord:
    """One request of a call: which step, what came back, and whether its expectation held."""

    step_index: int
    delivery: int
    status: int | None
    correlation_id: str | None
    ok: bool
    sent_at: float

    def to_json(self) -> list[Any]:
        return [self.step_index, self.delivery, self.status, self.correlation_id, self.ok, round(self.sent_at, 3)]

    @classmethod
    def from_json(cls, data: list[Any]) -> RequestRecord:
        return cls(int(data[0]), int(data[1]), data[2], data[3], bool(data[4]), float(data[5]))


@dataclass
class CallRecord:
    """One whole call: its id, when it started, its requests, and the bookings it confirmed."""

    call_id: str
    started_at: float
    requests: list[RequestRecord] = field(default_factory=list)
    bookings: list[str] = field(default_factory=list)
    completed: bool = False

    @property
    def ok(self) -> bool:
        """Completed, and every answer met its step's expectation."""
        return self.completed and all(r.ok for r in self.requests)

    def to_json(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "started_at": round(self.started_at, 3), "completed": self.completed,
                "bookings": self.bookings, "requests": [r.to_json() for r in self.requests]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CallRecord:
        return cls(str(data["call_id"]), float(data["started_at"]), [RequestRecord.from_json(r) for r in data["requests"]],
                   list(data["bookings"]), bool(data["completed"]))


_COUNTS = ("intended", "started", "late", "dropped", "completed", "failed_calls", "cut", "requests", "unsent", "resent", "failures",
           "booked", "cancelled", "cancel_failed")


@dataclass
class Tally:
    """Counts of one process (or, merged, of the whole run), and the calls it placed."""

    intended: int = 0  # arrivals the profile asked for
    started: int = 0  # calls that started (late ones included)
    late: int = 0  # started later than LATE_MS after their intended time (the generator fell behind)
    dropped: int = 0  # not started: the stream already had --max-in-flight calls
    completed: int = 0  # every step was sent and answered
    failed_calls: int = 0  # completed calls with at least one answer that missed its expectation
    cut: int = 0  # still in flight when the run ended
    requests: int = 0  # HTTP requests sent (cleanup included)
    unsent: int = 0  # requests not sent: an argument could not be taken from an earlier answer
    resent: int = 0  # sent again: the pooled connection had been closed by the target while idle
    failures: int = 0  # requests whose answer missed its expectation, or got none
    booked: int = 0  # bookings the gateway confirmed
    cancelled: int = 0  # of those, cancelled again by the cleanup
    cancel_failed: int = 0
    processed: Counter[str] = field(default_factory=Counter)  # Retell event / function → first deliveries answered 2xx
    step_failures: Counter[str] = field(default_factory=Counter)  # stats name (``function book_appointment``) → failures
    messages: Counter[str] = field(default_factory=Counter)  # failure message → how often
    harness_errors: list[str] = field(default_factory=list)
    calls: list[CallRecord] = field(default_factory=list)

    def fail(self, message: str, step: str) -> None:
        self.failures += 1
        self.step_failures[step] += 1
        if message in self.messages or len(self.messages) < MAX_MESSAGES:
            self.messages[message] += 1

    def merge(self, other: Tally) -> None:
        for name in _COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.processed.update(other.processed)
        self.step_failures.update(other.step_failures)
        for message, n in other.messages.items():
            if message in self.messages or len(self.messages) < MAX_MESSAGES:
                self.messages[message] += n
        self.harness_errors += other.harness_errors
        self.calls += other.calls

    def newest(self, n: int) -> list[CallRecord]:
        """The ``n`` calls that started last (their log lines are the likeliest still to be kept)."""
        return sorted(self.calls, key=lambda c: c.started_at)[-n:] if n > 0 else []

    def to_json(self, *, calls: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self, name) for name in _COUNTS}
        out |= {"processed": dict(self.processed), "step_failures": dict(self.step_failures), "messages": dict(self.messages),
                "harness_errors": self.harness_errors}
        if calls:
            out["calls"] = [c.to_json() for c in self.calls]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tally:
        tally = cls()
        for name in _COUNTS:
            setattr(tally, name, int(data.get(name, 0)))
        tally.processed = Counter({str(k): int(v) for k, v in data.get("processed", {}).items()})
        tally.step_failures = Counter({str(k): int(v) for k, v in data.get("step_failures", {}).items()})
        tally.messages = Counter({str(k): int(v) for k, v in data.get("messages", {}).items()})
        tally.harness_errors = [str(e) for e in data.get("harness_errors", [])]
        tally.calls = [CallRecord.from_json(c) for c in data.get("calls", [])]
        return tally
