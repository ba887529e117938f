"""Retell's ``X-Retell-Signature``: sign and verify exactly as Retell does.

Retell signs ``raw_body + str(unix_ms)`` with HMAC-SHA256 keyed by the API key
and sends ``v=<unix ms>,d=<64 lowercase hex>``. The official SDK accepts a
signature when ``|now - v| <= 300000`` ms and the header matches
``v=(\\d+),d=([0-9a-f]{64})`` in full. This module is the wire format: it
imports nothing else of callprobe, so the mocks and the gateway can use it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time

from ._errors import SignatureError

__all__ = [
    "SIGNATURE_HEADER",
    "SIGNATURE_TOLERANCE_MS",
    "now_ms",
    "parse_signature",
    "sign",
    "verify",
]

SIGNATURE_HEADER = "X-Retell-Signature"
SIGNATURE_TOLERANCE_MS = 300_000
_SIGNATURE_RE = re.compile(r"v=(\d+),d=([0-9a-f]{64})")


def now_ms() -> int:
    """Wall-clock time in Unix milliseconds, the unit Retell uses everywhere."""
    return int(time.time() * 1000)


def _digest(body: str, api_key: str, timestamp_ms: int) -> str:
    message = (body + str(timestamp_ms)).encode("utf-8")
    return hmac.new(api_key.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign(body: str, api_key: str, timestamp_ms: int | None = None) -> str:
    """Return the ``X-Retell-Signature`` value for ``body`` (the exact text sent)."""
    if not api_key:
        raise SignatureError("cannot sign: the Retell API key is empty")
    ts = now_ms() if timestamp_ms is None else timestamp_ms
    return f"v={ts},d={_digest(body, api_key, ts)}"


def parse_signature(header: str) -> tuple[int, str]:
    """Split a signature header into (timestamp ms, hex digest), strictly as the SDK does."""
    match = _SIGNATURE_RE.fullmatch(header or "")
    if match is None:
        raise SignatureError("signature header is not of the form v=<unix ms>,d=<64 lowercase hex>")
    return int(match.group(1)), match.group(2)


def verify(
    body: str,
    api_key: str,
    header: str | None,
    *,
    now: int | None = None,
    tolerance_ms: int = SIGNATURE_TOLERANCE_MS,
) -> bool:
    """True when ``header`` is a valid, fresh Retell signature of ``body``."""
    if not header or not api_key:
        return False
    try:
        ts, digest = parse_signature(header)
    except SignatureError:
        return False
    current = now_ms() if now is None else now
    if abs(current - ts) > tolerance_ms:
        return False
    return hmac.compare_digest(digest, _digest(body, api_key, ts))
