"""Leave nothing behind: cancel every booking a probe made, whatever stopped it.

Called from the probe's ``finally``, so it runs after a normal end, a failed
check, a deadline and a cancellation (SIGTERM, exporter shutdown) alike. The
bookings are those the gateway's answers report (in the contract's words) plus
those the Cal.com journal shows for the plan's calls. Each is cancelled through
the gateway's own ``cancel_appointment``; one the gateway did not confirm is
cancelled through the Cal.com API when the profile names it (and with
``cleanup: calcom`` only through the API). What is still booked after that is
named in the evidence (``cleanup_left``) and swept later by ``callprobe janitor``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from ._bookings import CalcomBookings
from ._evidence import Exchange
from ._plan import Plan
from ._profile import TargetProfile
from ._progress import emit
from ._runner import CLEANUP_REASON, RunOptions, booked_uids, cancel_bookings, cancel_confirmed

__all__ = ["Cleanup", "calcom_api", "leave_nothing"]


@dataclass(frozen=True)
class Cleanup:
    """One cleanup: the cancellation exchanges, the uids booked, and those still booked afterwards."""

    records: list[Exchange]
    booked: list[str]
    left: list[str]


def calcom_api(profile: TargetProfile, client: httpx.AsyncClient) -> CalcomBookings | None:
    """The profile's Cal.com bookings API, or None when it names no URL or no key."""
    url, key = profile.resolved_calcom_api_url, profile.calcom_api_key()
    return CalcomBookings(url, key, client) if url and key else None


async def leave_nothing(plan: Plan, exchanges: Sequence[Exchange], extra: Sequence[tuple[int, str]], profile: TargetProfile,
                        client: httpx.AsyncClient, opts: RunOptions) -> Cleanup:
    """Cancel what ``plan``'s calls booked; the cleanup exchanges, and the uids booked and still booked."""
    bookings = booked_uids(exchanges, extra, opts.contract)
    if not bookings:
        return Cleanup([], [], [])
    records: list[Exchange] = []
    left = list(bookings)
    if profile.cleanup == "gateway":
        done = await cancel_bookings(plan, bookings, client, opts)
        records += done
        left = [b for b, x in zip(bookings, done, strict=True) if not cancel_confirmed(x, opts.contract)]
    api = calcom_api(profile, client)
    if left and api is not None:
        still = []
        for call_index, uid in left:
            record = await _cancel_in_calcom(api, plan, call_index, uid)
            emit(opts.listener, "cleanup", record)
            records.append(record)
            if record.status is None or not 200 <= record.status < 300:
                still.append((call_index, uid))
        left = still
    return Cleanup(records, [uid for _, uid in bookings], [uid for _, uid in left])


async def _cancel_in_calcom(api: CalcomBookings, plan: Plan, call_index: int, uid: str) -> Exchange:
    """One Cal.com API cancellation, recorded as a cleanup exchange (credentials never recorded)."""
    call = plan.calls[call_index]
    sent = time.time()
    started = time.perf_counter()
    status, text = await api.cancel(uid, CLEANUP_REASON)
    return Exchange(
        call_index=call_index, call_id=call.call_id, step_index=-1, step="cleanup: Cal.com cancel", delivery=1,
        kind="cleanup", method="POST", path=f"/v2/bookings/{uid}/cancel", request_headers={"Authorization": "[redacted]"},
        request_body="", sent_at=sent, expect=call.requests[0].step.expect.model_copy(update={"status": None, "body": None}),
        latency_ms=(time.perf_counter() - started) * 1000, status=status, response_body=text if status is not None else "",
        error=None if status is not None else text,
    )
