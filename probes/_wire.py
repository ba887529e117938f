"""JSON exactly as Retell serialises it: compact, UTF-8, non-ASCII unescaped.

The signature covers the bytes sent, so every body callprobe signs goes
through :func:`dumps` and is sent verbatim.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["dumps"]


def dumps(payload: Any) -> str:
    """Serialise like JavaScript's ``JSON.stringify`` (Retell's sender is Node)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
