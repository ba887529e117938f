"""JSON-lines log: one object per line, appended and flushed as it happens.

A line is written (and flushed) before the request that caused it is
answered, so whoever tails the file sees it at once. Fields that name a person
are never passed in: callers appear only as ``caller_ref`` (see callers.py).
"""

from __future__ import annotations

import json
import queue
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["JsonLog"]


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonLog:
    """Appends JSON lines to ``path``; ``delay_s`` > 0 is the late-logs defect (a background writer)."""

    def __init__(self, path: Path, *, delay_s: float = 0.0) -> None:
        self._file = open(path, "a", encoding="utf-8")
        self._lock = threading.Lock()
        self._delay = delay_s
        self._queue: queue.Queue[tuple[float, str] | None] = queue.Queue()
        self._writer: threading.Thread | None = None
        if delay_s > 0:
            self._writer = threading.Thread(target=self._drain, name="othergw-late-logs", daemon=True)
            self._writer.start()

    def line(self, lvl: str, action: str, text: str, *, request_id: str, retell_call: str | None,
             tenant: str, caller_ref: str | None, **extra: Any) -> None:
        """Record one event; ``extra`` holds the action's own fields (never numbers, transcripts or summaries)."""
        record = {"ts": _now_iso(), "lvl": lvl, "action": action, "text": text, "request_id": request_id,
                  "retell_call": retell_call, "tenant": tenant, "caller_ref": caller_ref, **extra}
        text_line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str) + "\n"
        if self._writer is not None:
            self._queue.put((time.monotonic() + self._delay, text_line))
        else:
            self._write(text_line)

    def _write(self, text_line: str) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.write(text_line)
                self._file.flush()

    def _drain(self) -> None:
        while (item := self._queue.get()) is not None:
            due, text_line = item
            time.sleep(max(0.0, due - time.monotonic()))
            self._write(text_line)

    def close(self) -> None:
        """Write what is still queued, then close the file."""
        if self._writer is not None:
            pending = []
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    pending.append(item[1])
            self._queue.put(None)
            self._writer.join(timeout=5)
            for text_line in pending:
                self._write(text_line)
        with self._lock:
            self._file.close()
