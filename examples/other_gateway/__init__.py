"""othergw: an independent voice-AI phone gateway (Retell in, Cal.com out) with its own contract words.

It exists to prove callprobe on a gateway callprobe's authors did not write;
see README.md for how to run it and the table of its words.
"""

from __future__ import annotations

from .app import create_app
from .settings import DEFECTS, Settings

__all__ = ["DEFECTS", "Settings", "create_app"]
