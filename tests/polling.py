"""Waiting for something in a test: poll it with a deadline, never a blind sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(what: str, condition: Callable[[], T], deadline_s: float = 15.0, interval_s: float = 0.05) -> T:
    """``condition()``'s first true value, polled every ``interval_s``; fails naming ``what`` after the deadline."""
    until = time.monotonic() + deadline_s
    while not (value := condition()):
        assert time.monotonic() < until, f"{what} not within {deadline_s:g} s"
        time.sleep(interval_s)
    return value
