"""Argument types the commands share: ports, listen addresses, bounded whole numbers, durations (``90s``, ``15m``).

argparse calls them; a bad value is its usage error, which the CLI prints as one
``callprobe: error: …`` line (exit 2).
"""

from __future__ import annotations

import argparse
import ipaddress
import re
from collections.abc import Callable

__all__ = ["bounded_int", "duration", "listen_host", "port"]

_HOST_NAME = re.compile(r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?",
                        re.ASCII)

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


def port(text: str) -> int:
    """A TCP port for argparse: 0 (any free port) to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is outside 0-65535")
    return value


def listen_host(text: str) -> str:
    """An address to listen on for argparse: an IP address or a host name (resolved when binding)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        if not _HOST_NAME.fullmatch(text):
            raise argparse.ArgumentTypeError(f"{text!r} is not an IP address or host name") from None
    return text
