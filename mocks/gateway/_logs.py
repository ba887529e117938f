"""JSON-lines logging with a ring buffer the harness can read over HTTP.

One JSON object per line with the contract's fields. Phone numbers are
reduced to ``phone_hash`` and transcripts never reach a line (unless a
seeded defect says otherwise), so a PII check on these lines is meaningful.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from datetime import datetime, timezone
from typing import Any

__all__ = ["LogBuffer", "utc_timestamp"]

DEFAULT_CAPACITY = 20_000


def utc_timestamp() -> str:
    """ISO 8601 UTC with milliseconds, e.g. ``2026-01-02T16:00:00.041Z``."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class LogBuffer:
    """Writes log records to an optional file and keeps the last ``capacity`` in memory.

    Every record gets a monotonically increasing ``seq`` so a reader can ask
    for "everything after what I saw" without losing or repeating lines.
    """

    def __init__(self, log_file: str | None = None, capacity: int = DEFAULT_CAPACITY) -> None:
        self._file = log_file
        self._lines: deque[dict[str, Any]] = deque(maxlen=capacity)
        self._seq = 0
        self._lock = threading.Lock()

    @property
    def seq(self) -> int:
        """The sequence number of the newest record (0 when none)."""
        return self._seq

    def write(self, record: dict[str, Any]) -> dict[str, Any]:
        """Stamp ``record`` with ``seq``, keep it, append it to the file; return it."""
        with self._lock:
            self._seq += 1
            stamped = {**record, "seq": self._seq}
            self._lines.append(stamped)
            if self._file:
                with open(self._file, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(stamped, ensure_ascii=False, separators=(",", ":")) + "\n")
        return stamped

    def after(self, seq: int, limit: int = 5000) -> tuple[list[dict[str, Any]], int]:
        """Records with ``seq`` greater than ``seq`` (at most ``limit``) and the next cursor (``seq < 0``: the current one)."""
        with self._lock:
            if seq < 0:
                return [], self._seq
            lines = [line for line in self._lines if line["seq"] > seq][:limit]
        nxt = lines[-1]["seq"] if lines else max(seq, 0)
        return lines, nxt

    def lines(self) -> list[dict[str, Any]]:
        """A copy of every buffered record (tests read this directly)."""
        with self._lock:
            return list(self._lines)
