"""What a probe sees, as it sees it: events for fronts that show or time a call while it runs.

The pipeline reports each request it sends, each answer, and each log line,
alert, Cal.com request, span, error event and metric change the moment an
observer reads it, to an optional *listener*. The live view draws them; the
exporter notes which request was in flight when a scrape's deadline came.
Data still flows one way: the pipeline calls a plain callable and imports no
front. Without a listener nothing extra happens (one ``None`` test per item).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["KINDS", "Listener", "MetricChange", "ProbeEvent", "emit"]

Kind = Literal["plan", "phase", "read", "request", "response", "log", "alert", "calcom", "span", "error", "metric", "cleanup"]
KINDS: tuple[Kind, ...] = ("plan", "phase", "read", "request", "response", "log", "alert", "calcom", "span", "error", "metric",
                           "cleanup")


@dataclass(frozen=True)
class MetricChange:
    """An expected series moved: ``label`` as reports name it, its delta so far, and whether that is what was expected."""

    label: str
    delta: float
    holds: bool


@dataclass(frozen=True)
class ProbeEvent:
    """One thing the probe saw at ``at`` (wall clock).

    ``item`` by kind: ``plan`` a :class:`~probes._plan.Plan`; ``phase`` its
    name (``calls``, ``telemetry``, ``cleanup``, ``checks``); ``read`` the
    evidence source being read (``metrics``, ``logs`` …) or None when the read
    is over (what a probe stopped at its deadline was waiting for); ``request`` and
    ``response`` an :class:`~probes._evidence.Exchange` (a request's has no
    answer yet); ``log`` a LogLine; ``alert`` an AlertPost; ``calcom`` a
    JournalEntry; ``span`` a Span; ``error`` an ErrorEvent; ``metric`` a
    :class:`MetricChange`; ``cleanup`` the Exchange of a cancellation.
    """

    kind: Kind
    at: float
    item: Any


Listener = Callable[[ProbeEvent], None]


def emit(listener: Listener | None, kind: Kind, item: Any) -> None:
    """Tell ``listener`` (if any) about ``item``; a listener that fails does not change the probe."""
    if listener is None:
        return
    with contextlib.suppress(Exception):  # a display's bug must not fail the synthetic call it shows
        listener(ProbeEvent(kind, time.time(), item))
