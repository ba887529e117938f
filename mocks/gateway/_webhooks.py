"""Retell call events and the inbound-call webhook.

Retell delivers events "in order but not blocking", retries on timeouts and
sends duplicates within a second, so the handlers are idempotent (dedupe key
per Retell's docs), accept ``call_ended`` before ``call_started`` and never
let a late ``call_started`` reopen a finished call.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from probes._caller import SYNTHETIC_MARKER, is_fictional_number

from ._defects import Defect
from ._gateway import Gateway, RequestContext
from ._retell_body import event_name
from ._retell_request import caller_number, company_of, count_webhook, read_retell_request, respond

__all__ = ["handle_inbound", "handle_webhook"]

_ENDED_STATUSES = frozenset({"ended", "not_connected", "error"})


def _observe(gw: Gateway, event: str, started: float) -> None:
    gw.metrics.observe_webhook(event, time.perf_counter() - started)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dedupe_key(event: str, call: dict[str, Any], body: dict[str, Any], raw: str) -> tuple[str, ...]:
    """Retell's documented keys: event+call_id; transfers add start_timestamp and destination."""
    call_id = str(call.get("call_id", ""))
    if event.startswith("transfer_"):
        destination = json.dumps(body.get("transfer_destination"), sort_keys=True)
        return (event, call_id, str(call.get("start_timestamp", "")), destination)
    if event in {"call_started", "call_ended", "call_analyzed"}:
        return (event, call_id)
    return (event, call_id, hashlib.sha256(raw.encode("utf-8")).hexdigest())  # "latest wins": only exact repeats


async def handle_webhook(gw: Gateway, request: Request) -> Response:
    """``POST /api/retell/webhook``: 204 for every verified event, processed at most once."""
    started = time.perf_counter()
    parsed = await read_retell_request(gw, request, None)
    if isinstance(parsed, Response):
        return parsed
    body = parsed.body
    event, call = event_name(body), _dict(body.get("call"))
    call_id = call.get("call_id") if isinstance(call.get("call_id"), str) else None
    gw.adopt_announced_id(request.headers, call)
    ctx = gw.context(request.headers, call_id)
    gw.remember_caller(ctx, caller_number(call), company_of(call))
    key = _dedupe_key(event, call, body, parsed.raw)
    if key in gw.seen_events and not gw.config.has(Defect.DUPLICATE_BOOKS_TWICE):
        count_webhook(gw, event, "duplicate")
        gw.log("INFO", "webhook_duplicate", f"duplicate {event} delivery ignored", ctx, retell_event=event)
    else:
        gw.seen_events.put(key)
        _apply_event(gw, ctx, event, call, body)
        count_webhook(gw, event, "processed")
        gw.metrics.count_call_event(call_id, event)
    _observe(gw, event, started)
    return respond(ctx, Response(status_code=204))


def _apply_event(gw: Gateway, ctx: RequestContext, event: str, call: dict[str, Any], body: dict[str, Any]) -> None:
    """Update the call's lifecycle and write the event's log line (never its transcript)."""
    record = gw.calls.get(ctx.call_id)
    fields: dict[str, Any] = {"retell_event": event, "call_status": call.get("call_status")}
    if event == "call_started":
        late = record is not None and record.ended
        if record is not None and not late:
            record.started = True
        gw.metrics.calls.labels(status="started", company=ctx.company_id).inc()
        name = "call_started_late" if late else "call_started"
        gw.log("INFO", name, "call started" + (" (delivered after call_ended; call stays closed)" if late else ""), ctx, **fields)
        return
    if event == "call_ended":
        if record is not None:
            record.ended = True
        status = call.get("call_status") if call.get("call_status") in _ENDED_STATUSES else "ended"
        gw.metrics.calls.labels(status=status, company=ctx.company_id).inc()
        fields.update(disconnection_reason=call.get("disconnection_reason"), duration_ms=call.get("duration_ms"))
    elif event == "call_analyzed":
        if record is not None:
            record.analyzed = True
        gw.metrics.calls.labels(status="analyzed", company=ctx.company_id).inc()
        analysis = _dict(call.get("call_analysis"))
        fields.update(call_successful=analysis.get("call_successful"), user_sentiment=analysis.get("user_sentiment"))
    elif event.startswith("transfer_"):
        fields["transfer_option_type"] = _dict(body.get("transfer_option")).get("type")
    if event in {"call_ended", "call_analyzed"} and gw.config.has(Defect.TRANSCRIPT_IN_LOGS):
        fields.update(transcript=call.get("transcript"), call_summary=_dict(call.get("call_analysis")).get("call_summary"))
    gw.log("INFO", event if event != "unknown" else "webhook_unknown_event", f"Retell {event} processed", ctx, **fields)


def _synthetic_marker(inbound: dict[str, Any], body: dict[str, Any]) -> Any:
    """The caller's synthetic marker: explicit (metadata, dynamic vars, SIP header) or a fiction-reserved number.

    Retell's inbound webhook has no metadata of its own, so a number from a
    range reserved for fiction is the one marker a synthetic caller always carries.
    """
    for holder in (_dict(inbound.get("metadata")), _dict(body.get("metadata")), _dict(inbound.get("dynamic_variables"))):
        if holder.get("synthetic") not in (None, False, ""):
            return holder["synthetic"]
    for name, value in _dict(inbound.get("custom_sip_headers")).items():
        if "synthetic" in str(name).lower() and value:
            return value
    caller = inbound.get("from_number")
    return True if isinstance(caller, str) and is_fictional_number(caller) else None


async def handle_inbound(gw: Gateway, request: Request) -> Response:
    """``POST /api/retell/inbound``: dynamic variables and metadata for the call about to start."""
    started = time.perf_counter()
    parsed = await read_retell_request(gw, request, "call_inbound")
    if isinstance(parsed, Response):
        return parsed
    inbound = _dict(parsed.body.get("call_inbound"))
    call_id = inbound.get("call_id") if isinstance(inbound.get("call_id"), str) else None
    ctx = gw.context(request.headers, call_id)
    numbers = (inbound.get("from_number"), inbound.get("to_number"))
    if call_id is None and all(isinstance(n, str) for n in numbers):
        gw.pending_inbound.add((str(numbers[0]), str(numbers[1])), ctx.correlation_id)
    gw.remember_caller(ctx, str(numbers[0]) if isinstance(numbers[0], str) else None, None)
    key = ("call_inbound", call_id or "", hashlib.sha256(parsed.raw.encode("utf-8")).hexdigest())
    cached = gw.seen_events.get(key) if call_id and not gw.config.has(Defect.DUPLICATE_BOOKS_TWICE) else None
    if cached is not None:
        count_webhook(gw, "call_inbound", "duplicate")
        gw.log("INFO", "webhook_duplicate", "duplicate call_inbound delivery answered from cache", ctx, retell_event="call_inbound")
    else:
        cached = _inbound_answer(ctx, _synthetic_marker(inbound, parsed.body))
        gw.seen_events.put(key, cached)
        gw.metrics.calls.labels(status="inbound", company=ctx.company_id).inc()
        count_webhook(gw, "call_inbound", "processed")
        gw.log("INFO", "call_inbound", "inbound call answered with dynamic variables", ctx, retell_event="call_inbound")
    _observe(gw, "call_inbound", started)
    return respond(ctx, JSONResponse(cached))


def _inbound_answer(ctx: RequestContext, marker: Any) -> dict[str, Any]:
    dynamic = {"company_id": ctx.company_id, "correlation_id": ctx.correlation_id}
    metadata: dict[str, Any] = {"company_id": ctx.company_id, "correlation_id": ctx.correlation_id}
    if marker is not None:
        dynamic["synthetic"] = marker if isinstance(marker, str) else SYNTHETIC_MARKER
        metadata["synthetic"] = marker
    return {"call_inbound": {"dynamic_variables": dynamic, "metadata": metadata}}
