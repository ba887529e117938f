"""``callprobe janitor``: cancel the synthetic bookings a killed probe left behind, and nothing else.

A probe cancels what it booked in a ``finally``, also on its deadline and on
SIGTERM; a SIGKILL (an OOM kill, a node lost) gives it no chance. The janitor
lists the target's Cal.com bookings through the v2 API and cancels those that
are synthetic (every attendee's e-mail on ``callprobe.invalid``:
:func:`probes._bookings.is_synthetic_booking`) and older than ``--older-than``
(so a probe running right now keeps its booking until its own cleanup). A
booking without the marker is never touched, whatever else it looks like.
``--dry-run`` prints what it would cancel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from .._bookings import CalcomBookings, is_synthetic_booking
from .._runner import CLEANUP_REASON
from .._tls import tls_context

__all__ = ["Sweep", "sweep"]


@dataclass
class Sweep:
    """What one janitor run found and did."""

    listed: int = 0
    cancelled: list[dict[str, Any]] = field(default_factory=list)
    failed: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    young: int = 0  # synthetic, but created less than --older-than ago (or with no creation time)
    kept: int = 0  # without the synthetic marker: never touched


def _created(booking: dict[str, Any]) -> float | None:
    raw = booking.get("createdAt")
    if not isinstance(raw, str):
        return None
    try:
        return datetime.fromisoformat(raw).timestamp()  # Python 3.11 reads the trailing Z
    except ValueError:
        return None


async def sweep(api: CalcomBookings, *, older_than_s: float, now: float, dry_run: bool,
                report: Callable[[str, dict[str, Any]], None]) -> Sweep:
    """List the bookings, cancel the old synthetic ones (or only report them with ``dry_run``)."""
    result = Sweep()
    for booking in await api.listing():
        result.listed += 1
        if not is_synthetic_booking(booking):
            result.kept += 1
            continue
        created = _created(booking)
        if created is None or now - created < older_than_s:
            result.young += 1
            continue
        if dry_run:
            report("would cancel", booking)
            result.cancelled.append(booking)
            continue
        status, text = await api.cancel(str(booking.get("uid", "")), CLEANUP_REASON)
        if status is not None and 200 <= status < 300:
            report("cancelled", booking)
            result.cancelled.append(booking)
        else:
            why = f"HTTP {status}: {text[:200]}" if status is not None else text
            report(f"could not cancel ({why})", booking)
            result.failed.append((booking, why))
    return result


async def sweep_target(base_url: str, api_key: str, *, older_than_s: float, now: float, dry_run: bool,
                       report: Callable[[str, dict[str, Any]], None], timeout_s: float = 30.0) -> Sweep:
    """:func:`sweep` with a client of its own."""
    async with httpx.AsyncClient(timeout=timeout_s, verify=tls_context()) as client:
        return await sweep(CalcomBookings(base_url, api_key, client), older_than_s=older_than_s, now=now, dry_run=dry_run,
                           report=report)
