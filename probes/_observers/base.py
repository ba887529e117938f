"""The small interfaces every evidence source implements.

Sources are read, never pushed to: the probe marks where each stream stands
before the call, then reads what came after, polling with a deadline
(:func:`probes._observers.collect.poll_until`). Keeping the interface this
small (two coroutines for a stream, one for a snapshot) is what lets a Loki
or Alertmanager backend slot in next to the ones here without touching the
probe or the checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from .._evidence import MetricsSnapshot

__all__ = ["CursorSource", "MetricsSource"]

T_co = TypeVar("T_co", covariant=True)


class MetricsSource(Protocol):
    """Something that can report every metric sample the target exposes right now."""

    async def snapshot(self) -> MetricsSnapshot:
        """One scrape; raises :class:`~probes._errors.ObserverError` when it cannot be read."""
        ...


class CursorSource(Protocol[T_co]):
    """An append-only stream read with an opaque integer cursor.

    ``mark()`` returns the cursor of "now" (everything already there is old);
    ``read(after)`` returns the items newer than ``after`` and the cursor to
    pass next time, so no item is lost or repeated between polls.
    """

    async def mark(self) -> int:
        """The cursor just past the newest item already present."""
        ...

    async def read(self, after: int) -> tuple[Sequence[T_co], int]:
        """Items newer than ``after``, and the next cursor."""
        ...
