"""Who is calling, said without saying the number.

Logs and alerts need to tell callers apart ("the same person called three
times") but must never hold a phone number. A keyed hash does both: stable per
deployment, not reversible by hashing every possible number without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["CallerRefs", "caller_number", "tenant_of"]

_NOT_DIGITS = re.compile(r"[\s()./-]")
_TENANT = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class CallerRefs:
    """Turns caller numbers into short references and spots fictional test numbers."""

    def __init__(self, secret: str, test_patterns: tuple[str, ...]) -> None:
        # Derived, not the Retell key itself, so a leaked reference says nothing about the key.
        self._key = hashlib.sha256(b"othergw caller_ref\0" + secret.encode()).digest()
        self._tests = [re.compile(p) for p in test_patterns]

    def ref(self, number: str | None) -> str | None:
        """A 12-hex-digit reference for a number (None when there is no number)."""
        if not number:
            return None
        return hmac.new(self._key, _normal(number).encode(), hashlib.sha256).hexdigest()[:12]

    def is_test(self, number: str | None) -> bool:
        """True only for a number in one of the configured fictional ranges."""
        if not number:
            return False
        normal = _normal(number)
        return any(p.match(normal) for p in self._tests)


def _normal(number: str) -> str:
    """``+49 30 23125-001`` and ``+493023125001`` are the same number."""
    return _NOT_DIGITS.sub("", number.strip())


def caller_number(call: Mapping[str, Any]) -> str | None:
    """The customer's number of a Retell call object: the far end, whichever way the call went."""
    key = "to_number" if call.get("direction") == "outbound" else "from_number"
    value = call.get(key)
    return value if isinstance(value, str) else None


def tenant_of(*sources: Any) -> str | None:
    """``company_id`` from the first of the given mappings (dynamic variables, metadata, args) that has a sane one."""
    for source in sources:
        if isinstance(source, Mapping):
            value = source.get("company_id")
            if isinstance(value, str) and _TENANT.match(value):
                return value
    return None
