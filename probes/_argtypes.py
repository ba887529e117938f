"""Argument types the scheduled-probe commands share: bounded whole numbers and durations (``90s``, ``15m``).

argparse calls them; a bad value is its usage error, which the CLI prints as one
``callprobe: error: …`` line (exit 2).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable

__all__ = ["bounded_int", "duration"]

_DURATION = re.compile(r"^(?P<n>\d+(?:\.\d+)?)(?P<unit>ms|s|m|h|d)?$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def bounded_int(lo: int, hi: int) -> Callable[[str], int]:
    """An argparse type: a whole number from ``lo`` to ``hi``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{value} is outside {lo}-{hi}")
        return value

    return parse


def duration(text: str) -> float:
    """A duration for argparse: ``90``, ``90s``, ``15m``, ``2h``, ``1d`` (seconds)."""
    m = _DURATION.match(text.strip())
    if m is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 90s, 15m or 2h")
    return float(m["n"]) * _UNITS[m["unit"]]
