"""Slack alerts for Cal.com failures: grouped per failure kind, sent in the background.

An outage produces a failure on every call; paging once per failure would
bury the one message that matters. So failures of a kind are counted in a
window, one alert goes out when the threshold is reached, and then the kind is
quiet for a cooldown; failures during the cooldown are counted and reported
with the next alert. Posting never blocks a call: it runs as a task with its
own bounded timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

__all__ = ["Alerter"]


@dataclass
class _Group:
    recent: deque[float] = field(default_factory=deque)
    quiet_until: float = float("-inf")
    held: int = 0  # failures seen during the cooldown, reported with the next alert


class Alerter:
    """Decides synchronously whether a failure alerts; posts the alert as a background task."""

    def __init__(self, client: httpx.AsyncClient | None, url: str | None, *, threshold: int, window_s: float,
                 cooldown_s: float, name_call: bool = True,
                 on_post_error: Callable[[str, str | None, str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._client, self._url = client, url
        self._threshold, self._window, self._cooldown = threshold, window_s, cooldown_s
        self._name_call, self._on_post_error, self._clock = name_call, on_post_error, clock
        self._groups: dict[str, _Group] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def in_flight(self) -> int:
        """Alerts handed to Slack and not answered yet."""
        return len(self._tasks)

    def failure(self, kind: str, request_id: str, call_id: str | None) -> str | None:
        """Count one failure of ``kind``; return the alert text if this one alerts."""
        now = self._clock()
        group = self._groups.setdefault(kind, _Group())
        if now < group.quiet_until:
            group.held += 1
            return None
        group.recent.append(now)
        while group.recent and group.recent[0] <= now - self._window:
            group.recent.popleft()
        if len(group.recent) < self._threshold:
            return None
        count = len(group.recent) + group.held
        group.recent.clear()
        group.held = 0
        group.quiet_until = now + self._cooldown
        text = f":rotating_light: Calendar backend failing ({kind}) \u2014 {count} failure(s)"
        if self._name_call:
            text += f"; request_id={request_id} call={call_id or 'none'}"
        if self._client is not None and self._url:
            task = asyncio.get_running_loop().create_task(self._post(text, request_id, call_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return text

    async def _post(self, text: str, request_id: str, call_id: str | None) -> None:
        assert self._client is not None and self._url
        try:
            response = await self._client.post(self._url, json={"text": text})
            if response.status_code >= 300 and self._on_post_error:
                self._on_post_error(request_id, call_id, f"Slack answered {response.status_code}")
        except httpx.HTTPError as exc:
            if self._on_post_error:
                self._on_post_error(request_id, call_id, type(exc).__name__)

    async def close(self) -> None:
        """Give posts in flight a moment to finish (the client's timeout bounds them), then stop."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)
