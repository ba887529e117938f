"""The exporter's recent probes, for its index page and ``/logs?id=N`` (as blackbox_exporter keeps them).

The newest ``limit`` results are kept; a failure that falls out of them is
kept a while longer among the newest ``limit`` failures, so the debug output
of a recent failure is still there when someone looks. Each result's text is
bounded, so the history's memory is bounded whatever the probes say.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

__all__ = ["History", "Result"]

MAX_TEXT = 64 * 1024


@dataclass(frozen=True)
class Result:
    id: int
    module: str
    target: str
    success: bool
    reason: str | None
    at: float
    debug: str
    late: bool = False  # the probe finished after its scrape had been answered


class History:
    """Bounded: ``limit`` recent results plus ``limit`` older failures."""

    def __init__(self, limit: int = 100) -> None:
        self.limit = limit
        self._recent: deque[Result] = deque()
        self._failed: deque[Result] = deque(maxlen=limit)
        self._next = 0
        self._lock = threading.Lock()

    def add(self, module: str, target: str, success: bool, reason: str | None, debug: str, *, late: bool = False) -> Result:
        with self._lock:
            result = Result(self._next, module, target, success, reason, time.time(), debug[:MAX_TEXT], late)
            self._next += 1
            self._recent.append(result)
            if len(self._recent) > self.limit:
                old = self._recent.popleft()
                if not old.success:
                    self._failed.append(old)
            return result

    def get(self, result_id: int) -> Result | None:
        with self._lock:
            return next((r for r in (*self._recent, *self._failed) if r.id == result_id), None)

    def items(self) -> list[Result]:
        """Newest first: the recent results, then the older failures kept."""
        with self._lock:
            return [*reversed(self._recent), *reversed(self._failed)]
