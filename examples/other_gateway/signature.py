"""Is this request really from Retell? Asked of the official retell-sdk, never re-implemented.

The SDK checks the ``v=<ms>,d=<hex>`` form strictly, the ±5 minute window and
the HMAC over the exact body text; the body must be the raw bytes decoded as
UTF-8, never a re-serialisation of parsed JSON.
"""

from __future__ import annotations

from retell.lib.webhook_auth import verify

__all__ = ["SIGNATURE_HEADER", "signed_by_retell"]

SIGNATURE_HEADER = "X-Retell-Signature"


def signed_by_retell(raw: bytes, header: str | None, api_key: str) -> str | None:
    """The body as text if ``header`` is a valid, fresh signature of it; None otherwise."""
    if not header:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:  # Retell signs UTF-8 text; other bytes cannot carry a valid signature
        return None
    return text if verify(text, api_key, header) else None  # type: ignore[no-untyped-call]
