"""Waiting for evidence: poll with a deadline, never sleep the whole period blindly.

Telemetry arrives late by nature (a log shipper, a scrape, an alert cooldown),
so the probe polls until the expectations are visible or the deadline passes,
whichever comes first. A healthy gateway is therefore checked in milliseconds
and a broken one costs at most the deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["poll_until"]


async def poll_until(
    fetch: Callable[[], Awaitable[Any]],
    done: Callable[[], bool],
    deadline_s: float,
    interval_s: float = 0.05,
    max_interval_s: float | None = None,
) -> bool:
    """Call ``fetch()`` then ``done()`` until ``done()`` is true or ``deadline_s`` has passed.

    ``fetch`` runs at least once, even with a zero deadline, so a caller always
    looks at fresh evidence. With ``max_interval_s`` the pause between polls
    grows by half each time up to it: telemetry that is there at once is seen
    at once, and a long wait for telemetry that never comes costs a handful of
    polls, not hundreds. Returns whether ``done()`` became true. Errors from
    ``fetch`` propagate: an unreadable source is a finding, not a retry.
    """
    deadline = time.monotonic() + max(deadline_s, 0.0)
    pause = interval_s
    while True:
        await fetch()
        if done():
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        await asyncio.sleep(min(pause, left))
        if max_interval_s is not None:
            pause = min(pause * 1.5, max_interval_s)
