"""Per-call memory: the call's request ID, which events were already handled, its bookings.

Retell gives every request of a call the same ``call_id`` but no correlation
ID, so the gateway keeps one per call here, assigned at the call's first
request. State lives per call (never in a global "current ID") so concurrent
calls cannot cross, and in an LRU so a gateway that runs for months stays small.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Call", "CallBook", "clean_request_id", "new_request_id"]

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:/+=@-]{1,128}$")


def new_request_id() -> str:
    """A fresh request ID (UUID4: unique without coordination between processes)."""
    return str(uuid.uuid4())


def clean_request_id(value: str | None) -> str | None:
    """An incoming ``X-Request-ID`` if it is safe to echo and log, else None (a new one is made)."""
    if value and _SAFE_ID.match(value):
        return value
    return None


@dataclass
class Call:
    """What the gateway remembers about one Retell call."""

    call_id: str
    request_id: str
    tenant: str | None = None
    caller_ref: str | None = None
    caller: str | None = None  # the raw number, kept only when the phone-in-logs defect needs it
    handled: set[str] = field(default_factory=set)
    bookings: dict[str, asyncio.Task[Any]] = field(default_factory=dict)

    def first_time(self, event: str) -> bool:
        """Mark ``event`` handled; False if it already was (a redelivery)."""
        if event in self.handled:
            return False
        self.handled.add(event)
        return True


class CallBook:
    """The calls seen recently, least recently used dropped first beyond ``capacity``.

    Only touched from the event loop and never across an ``await``, so it needs no lock.
    """

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._calls: OrderedDict[str, Call] = OrderedDict()

    def __len__(self) -> int:
        return len(self._calls)

    def get(self, call_id: str) -> Call | None:
        call = self._calls.get(call_id)
        if call is not None:
            self._calls.move_to_end(call_id)
        return call

    def open(self, call_id: str, request_id: str) -> Call:
        """The call, created with ``request_id`` if this is its first request."""
        call = self.get(call_id)
        if call is None:
            call = Call(call_id=call_id, request_id=request_id)
            self._calls[call_id] = call
            while len(self._calls) > self._capacity:
                self._calls.popitem(last=False)
        return call
