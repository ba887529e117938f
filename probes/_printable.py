"""Text from outside (a target's answer, a log line, a scenario's value) made safe to show.

A target under test decides what its bodies, headers and log lines hold; a
terminal obeys ANSI escapes, carriage returns and bidirectional overrides in
whatever it prints, so a hostile (or broken) target could clear the screen,
retitle the window or make a failed check read as passed. And a value quoted
in full can be megabytes. Everything callprobe prints for a person goes
through :func:`printable`; every quote of outside text goes through
:func:`clip`.
"""

from __future__ import annotations

import re

__all__ = ["clip", "printable"]

# C0 controls except tab and newline, DEL, C1 controls (\x9b is a one-byte CSI), and the
# invisible bidirectional marks and overrides ("Trojan Source").
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every terminal control character written as an escape (``\\x1b``); tabs and newlines stay."""
    return _UNSAFE.sub(_escape, text)


def clip(text: str, limit: int = 200) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit:,} more characters)"
