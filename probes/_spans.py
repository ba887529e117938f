"""Evidence records for traces and error reports, one shape whatever the backend.

The OTLP receiver, Jaeger's query API and Tempo's all describe spans
differently (hex or base64 ids, references or parent ids, tags or
attributes); the trace observers normalise them to :class:`Span` so the
trace checks are written once. :class:`ErrorEvent` does the same for a
Sentry event (its tags pulled out, the whole payload kept for the PII check).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ErrorEvent", "Span"]


@dataclass(frozen=True)
class Span:
    """One finished span; ids are lowercase hex, times unix nanoseconds."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    kind: str  # SERVER | CLIENT | INTERNAL | PRODUCER | CONSUMER | UNSPECIFIED
    start_ns: int
    end_ns: int
    attributes: Mapping[str, Any] = field(default_factory=dict)
    error: bool = False
    service: str | None = None
    seen_at: float = 0.0

    def attr(self, *names: str) -> Any:
        """The first of ``names`` present among the attributes (contracts differ on spelling)."""
        for name in names:
            if name in self.attributes:
                return self.attributes[name]
        return None


@dataclass(frozen=True)
class ErrorEvent:
    """One error event as the tracker received it."""

    seen_at: float
    event_id: str | None
    level: str | None
    tags: Mapping[str, str]
    payload: Mapping[str, Any]
