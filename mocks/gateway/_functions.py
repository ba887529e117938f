"""Retell custom functions: ``check_availability``, ``book_appointment``, ``cancel_appointment``.

Results are always HTTP 200 with a JSON body the voice agent can read out,
also when Cal.com fails: a 5xx would make Retell report "Axios Error" to the
LLM, which then improvises. Bodies come as ``{name, args, call}`` or, with
"args only", as the bare args with ``call_id`` among them.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ._booking import book_appointment
from ._calcom_client import BOOKINGS_VERSION, CalcomFailure
from ._calendar import fetch_slots, report_failure
from ._defects import Defect
from ._gateway import Gateway, RequestContext
from ._retell_request import caller_number, company_of, count_webhook, read_retell_request, respond

__all__ = ["FUNCTIONS", "handle_function"]

_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
SLOW_PATH_S = 0.8

Handler = Callable[[Gateway, RequestContext, dict[str, Any], dict[str, Any]], Awaitable[dict[str, Any]]]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


async def check_availability(gw: Gateway, ctx: RequestContext, args: dict[str, Any], call: dict[str, Any]) -> dict[str, Any]:
    """Free slots of one day, in the caller's time zone."""
    if gw.config.has(Defect.SLOW_PATH):
        await asyncio.sleep(SLOW_PATH_S)  # the seeded defect: really blow the 500 ms SLA
    date = args.get("date")
    if not isinstance(date, str) or not _DATE_RE.fullmatch(date):
        return {"available": False, "slots": [], "error": "invalid_date", "message": "Which day would you like? I need a date."}
    try:
        slots = await fetch_slots(gw, ctx, date, str(args.get("time_zone") or "UTC"))
    except CalcomFailure as failure:
        return report_failure(gw, ctx, failure, "/api/retell/functions/check_availability", {"available": False, "slots": []})
    gw.log("INFO", "availability_checked", f"{len(slots)} free slot(s) found", ctx, date=date, slots=len(slots))
    message = f"There are {len(slots)} free times on {date}." if slots else f"There are no free times on {date}."
    return {"available": bool(slots), "slots": slots, "message": message}


async def cancel_appointment(gw: Gateway, ctx: RequestContext, args: dict[str, Any], call: dict[str, Any]) -> dict[str, Any]:
    """Cancel a booking; an already-cancelled booking counts as cancelled (retries are harmless)."""
    uid = str(args.get("booking_uid") or "")
    if not uid:
        return {"cancelled": False, "booking_uid": uid, "error": "missing_booking_uid", "message": "Which booking should I cancel?"}
    body = {"cancellationReason": str(args["reason"])} if args.get("reason") else {}
    try:
        response = await gw.calcom.request(
            "POST", f"/v2/bookings/{quote(uid, safe='')}/cancel", version=BOOKINGS_VERSION,
            correlation_id=ctx.correlation_id, traceparent=ctx.traceparent(), json=body,
        )
    except CalcomFailure as failure:
        return report_failure(gw, ctx, failure, "/api/retell/functions/cancel_appointment", {"cancelled": False, "booking_uid": uid})
    already = response.status == 400 and "cancelled already" in response.error_message
    if response.status in (200, 201) or already:
        if not already:
            gw.metrics.bookings.labels(status="cancelled", source="retell").inc()
        gw.log("INFO", "booking_cancelled", "booking cancelled in Cal.com", ctx, booking_uid=uid, already_cancelled=already)
        return {"cancelled": True, "booking_uid": uid}
    gw.log("WARNING", "booking_cancel_failed", f"Cal.com refused the cancellation with HTTP {response.status}", ctx, booking_uid=uid)
    error = "not_found" if response.status == 404 else "cancel_rejected"
    return {"cancelled": False, "booking_uid": uid, "error": error, "message": "I could not find that booking to cancel."}


FUNCTIONS: dict[str, Handler] = {
    "check_availability": check_availability,
    "book_appointment": book_appointment,
    "cancel_appointment": cancel_appointment,
}


def _split(body: dict[str, Any], path_name: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(name, args, call) from either body shape."""
    if isinstance(body.get("args"), dict):
        name = body.get("name") if isinstance(body.get("name"), str) else path_name
        return str(name), body["args"], _dict(body.get("call"))
    return path_name, body, {}


async def handle_function(gw: Gateway, request: Request) -> Response:
    """``POST /api/retell/functions/{name}``: verify, resolve the call, run the function."""
    started = time.perf_counter()
    path_name = request.path_params["name"]
    label = path_name if path_name in FUNCTIONS else "unknown_function"
    parsed = await read_retell_request(gw, request, label)
    if isinstance(parsed, Response):
        return parsed
    _, args, call = _split(parsed.body, path_name)
    raw_call_id = call.get("call_id") or args.get("call_id")
    gw.adopt_announced_id(request.headers, call)
    ctx = gw.context(request.headers, str(raw_call_id) if raw_call_id else None)
    phone = caller_number(call) or (str(args["phone"]) if args.get("phone") else None)
    gw.remember_caller(ctx, phone, company_of(call))
    handler = FUNCTIONS.get(path_name)
    if handler is None:
        count_webhook(gw, label, "invalid")
        gw.log("WARNING", "function_unknown", f"unknown function {path_name[:64]!r}", ctx)
        return respond(ctx, JSONResponse({"error": "unknown_function"}, status_code=404))
    gw.log("INFO", "function_called", f"{path_name} called", ctx, function=path_name)
    result = await handler(gw, ctx, args, call)
    count_webhook(gw, label, "processed")
    gw.metrics.observe_webhook(label, time.perf_counter() - started)
    return respond(ctx, JSONResponse(result))
