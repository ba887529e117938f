"""JSON-lines logging with a ring buffer the harness can read over HTTP.

One JSON object per line with the contract's fields. Phone numbers are
reduced to ``phone_hash`` and transcripts never reach a line (unless a
seeded defect says otherwise), so a PII check on these lines is meaningful.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any

from mocks._events import DEFAULT_PAGE_LIMIT, EventStore

__all__ = ["LogBuffer", "utc_timestamp"]

DEFAULT_CAPACITY = 20_000


def utc_timestamp() -> str:
    """ISO 8601 UTC with milliseconds, e.g. ``2026-01-02T16:00:00.041Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class LogBuffer:
    """Writes log records to an optional file and keeps the last ``capacity`` in memory.

    Every record gets a monotonically increasing ``seq`` so a reader can ask
    for "everything after what I saw" without losing or repeating lines; the
    numbering, bounds and paging are :class:`mocks._events.EventStore`'s, the
    same as every other stream callprobe reads.
    """

    def __init__(self, log_file: str | None = None, capacity: int = DEFAULT_CAPACITY) -> None:
        self._file = log_file
        self._store: EventStore[dict[str, Any]] = EventStore(capacity)
        self._lock = threading.Lock()  # keeps the file in seq order

    @property
    def seq(self) -> int:
        """The sequence number of the newest record (0 when none)."""
        return self._store.seq

    def write(self, record: dict[str, Any]) -> dict[str, Any]:
        """Stamp ``record`` with ``seq``, keep it, append it to the file; return it."""
        with self._lock:
            stamped = self._store.append(lambda seq: {**record, "seq": seq})
            if self._file:
                with open(self._file, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(stamped, ensure_ascii=False, separators=(",", ":")) + "\n")
        return stamped

    def after(self, seq: int, limit: int = DEFAULT_PAGE_LIMIT) -> tuple[list[dict[str, Any]], int]:
        """Records with ``seq`` greater than ``seq`` (at most ``limit``) and the next cursor (``seq < 0``: the current one)."""
        return self._store.after(seq, limit)

    def lines(self) -> list[dict[str, Any]]:
        """A copy of every buffered record (tests read this directly)."""
        return self._store.all()
