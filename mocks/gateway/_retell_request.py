"""Reading a Retell request: raw body, signature, JSON, and the metric/log of a rejection.

Shared by the webhook, inbound and function routes so that all three reject
a bad signature the same way (401, counted, logged without the header value).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from probes._signing import SIGNATURE_HEADER, verify

from ._defects import Defect
from ._gateway import CORRELATION_HEADER, Gateway, RequestContext
from ._metrics import PROVIDER
from ._retell_body import event_name, guess_call_id

__all__ = ["RetellRequest", "caller_number", "company_of", "count_webhook", "read_retell_request", "respond"]



@dataclass
class RetellRequest:
    """A verified Retell request: its parsed JSON body and raw text."""

    body: dict[str, Any]
    raw: str


def respond(ctx: RequestContext, response: Response) -> Response:
    """Echo the call's correlation ID on the response (the middleware handles the defect)."""
    response.headers[CORRELATION_HEADER] = ctx.correlation_id
    return response


def _loads(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


async def read_retell_request(gw: Gateway, request: Request, event_label: str | None) -> RetellRequest | Response:
    """Verify the signature over the raw body and parse it; a Response means "answer this and stop".

    ``event_label`` is the metric label for a rejection; None reads it from the body's ``event``.
    """
    raw = (await request.body()).decode("utf-8", errors="replace")
    parsed = _loads(raw)
    call_id = guess_call_id(parsed)
    event_label = event_label or event_name(parsed)
    signature = request.headers.get(SIGNATURE_HEADER)
    if not gw.config.has(Defect.FORGED_SIGNATURE_ACCEPTED) and not verify(
        raw, gw.config.retell_api_key, signature, tolerance_ms=gw.config.signature_tolerance_ms
    ):
        ctx = gw.context(request.headers, call_id, create=False)
        reason = "missing" if not signature else "invalid or stale"
        count_webhook(gw, event_label, "rejected")
        gw.record_error(
            ctx,
            event="signature_invalid",
            error_type="invalid_signature",
            severity="warning",
            endpoint=request.url.path,
            detail=f"X-Retell-Signature {reason}; request rejected",
            alert=False,
        )
        return respond(ctx, JSONResponse({"error": "invalid_signature"}, status_code=401))
    if not isinstance(parsed, dict):
        ctx = gw.context(request.headers, None, create=False)
        count_webhook(gw, event_label, "invalid")
        gw.record_error(
            ctx, event="invalid_json", error_type="invalid_json", severity="warning", endpoint=request.url.path,
            detail="request body is not a JSON object", alert=False,
        )
        return respond(ctx, JSONResponse({"error": "invalid_json"}, status_code=400))
    return RetellRequest(parsed, raw)


def _label(gw: Gateway, event: str) -> str:
    return "webhook" if gw.config.has(Defect.WRONG_METRIC_LABEL) else event


def count_webhook(gw: Gateway, event: str, status: str) -> None:
    """Increment ``askproai_webhooks_total`` (the ``wrong-metric-label`` defect mislabels it)."""
    gw.metrics.webhooks.labels(provider=PROVIDER, event=_label(gw, event), status=status).inc()


def caller_number(call: dict[str, Any]) -> str | None:
    """The customer's number: the caller on inbound calls, the callee on outbound ones."""
    value = call.get("to_number" if call.get("direction") == "outbound" else "from_number")
    return value if isinstance(value, str) and value else None


def company_of(call: dict[str, Any]) -> str | None:
    """The tenant named by the call's dynamic variables or metadata (``company_id``)."""
    for holder in (call.get("retell_llm_dynamic_variables"), call.get("metadata")):
        if isinstance(holder, dict) and isinstance(holder.get("company_id"), str) and holder["company_id"]:
            return str(holder["company_id"])
    return None
