"""The gateway: Retell in, Cal.com out, with metrics, JSON logs and Slack alerts on the side.

``create_app(settings)`` builds one self-contained FastAPI app (its own
metrics registry, call memory, log file and HTTP clients), so several can run
in one process without sharing anything.
"""

from __future__ import annotations

import functools
import hmac
import json
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from .alerts import Alerter
from .calcom import Calcom, CalendarFailure
from .callers import CallerRefs, caller_number, tenant_of
from .calls import Call, CallBook, clean_request_id
from .envelope import Envelope
from .logs import JsonLog
from .metrics import FAILURE_LEVEL, Metrics
from .settings import Settings
from .signature import SIGNATURE_HEADER, signed_by_retell
from .tools import TOOLS

__all__ = ["Gateway", "RequestContext", "create_app"]

#: Retell's lifecycle events: the metric kind, the call phase reached, the log action.
LIFECYCLE = {
    "call_started": ("call.started", "live", "retell.started"),
    "call_ended": ("call.ended", "ended", "retell.ended"),
    "call_analyzed": ("call.analyzed", "analyzed", "retell.analyzed"),
}
_METADATA_REQUEST_ID = "othergw_request_id"  # put into call metadata at ring time, so Retell hands it back



@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for the process: building one loads the CA bundle (~20 ms of CPU per client)."""
    return httpx.create_ssl_context()

@dataclass
class RequestContext:
    """Who a request is about: its request ID, its call (if it names one), tenant and caller reference."""

    request_id: str
    call: Call | None
    tenant: str
    caller_ref: str | None
    caller: str | None = None

    @property
    def call_id(self) -> str | None:
        return self.call.call_id if self.call else None


class Gateway:
    """The parts one app owns, and the few things every handler does with them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics(in_ms=settings.has("histogram-in-ms"))
        self.journal = JsonLog(settings.log_file, delay_s=settings.late_log_delay_s if settings.has("late-logs") else 0)
        self.calls = CallBook(settings.max_calls)
        self.refs = CallerRefs(settings.retell_api_key, settings.test_numbers)
        self.calcom: Calcom
        self.alerts: Alerter
        self._clients: list[httpx.AsyncClient] = []

    async def start(self) -> None:
        s = self.settings
        calcom_client = httpx.AsyncClient(timeout=s.calcom_timeout_s, verify=_tls())
        self._clients.append(calcom_client)
        self.calcom = Calcom(calcom_client, base_url=s.calcom_url, api_key=s.calcom_api_key,
                             event_type_id=s.event_type_id, timeout_s=s.calcom_timeout_s,
                             forward_request_id=not s.has("request-id-not-forwarded"))
        slack = httpx.AsyncClient(timeout=s.alert_timeout_s, verify=_tls()) if s.alert_webhook_url else None
        if slack is not None:
            self._clients.append(slack)
        self.alerts = Alerter(slack, s.alert_webhook_url, threshold=s.alert_threshold, window_s=s.alert_window_s,
                              cooldown_s=s.alert_cooldown_s, name_call=not s.has("alert-without-call"),
                              on_post_error=self._alert_failed)

    async def stop(self) -> None:
        await self.alerts.close()
        for client in self._clients:
            await client.aclose()
        self.journal.close()

    def context(self, request: Request, call_id: Any = None, *, call: dict[str, Any] | None = None,
                number: str | None = None, hints: tuple[Any, ...] = ()) -> RequestContext:
        """Tie the request to its call: the call's ID (made at its first request) unless the request brought one."""
        state = request.state
        incoming = state.incoming_request_id
        tenant = tenant_of(*((call.get("retell_llm_dynamic_variables"), call.get("metadata")) if call else ()), *hints)
        number = number or (caller_number(call) if call else None)
        known: Call | None = None
        if isinstance(call_id, str) and call_id:
            metadata = call.get("metadata") if call else None
            handed_back = clean_request_id(metadata.get(_METADATA_REQUEST_ID)) if isinstance(metadata, dict) else None
            known = self.calls.open(call_id, incoming or handed_back or state.request_id)
            known.tenant = tenant or known.tenant
            if number:
                known.caller_ref = self.refs.ref(number)
                if self.settings.has("phone-in-logs"):
                    known.caller = number
        request_id = incoming or (known.request_id if known else state.request_id)
        state.request_id = request_id
        return RequestContext(
            request_id=request_id,
            call=known,
            tenant=(known.tenant if known else tenant) or self.settings.default_tenant,
            caller_ref=known.caller_ref if known else self.refs.ref(number),
            caller=(known.caller if known else number) if self.settings.has("phone-in-logs") else None,
        )

    def log(self, ctx: RequestContext, lvl: str, action: str, text: str, **extra: Any) -> None:
        if ctx.caller:  # only ever set by the phone-in-logs defect
            extra["caller"] = ctx.caller
        self.journal.line(lvl, action, text, request_id=ctx.request_id, retell_call=ctx.call_id, tenant=ctx.tenant,
                          caller_ref=ctx.caller_ref, **extra)

    def calendar_failed(self, ctx: RequestContext, failure: CalendarFailure) -> None:
        """Count, log and (grouped) alert one Cal.com failure."""
        self.metrics.failure(failure.kind)
        self.log(ctx, "error", "calendar.failure", f"Cal.com {failure.endpoint} failed: {failure.kind}",
                 kind=failure.kind, level=FAILURE_LEVEL[failure.kind], endpoint=failure.endpoint, status=failure.status)
        self.alerts.failure(failure.kind, ctx.request_id, ctx.call_id)

    def _alert_failed(self, request_id: str, call_id: str | None, why: str) -> None:
        call = self.calls.get(call_id) if call_id else None
        self.journal.line("warn", "alert.failed", f"Slack did not take the alert: {why}", request_id=request_id,
                          retell_call=call_id, tenant=(call.tenant if call else None) or self.settings.default_tenant,
                          caller_ref=call.caller_ref if call else None)

    def rejected(self, request: Request, kind: str) -> JSONResponse:
        """A request whose signature does not hold: nothing in its body is trusted, not even its call_id."""
        self.metrics.retell(kind, "bad_signature")
        self.metrics.failure("signature")
        ctx = self.context(request)
        self.log(ctx, "warn", "signature.rejected", "request refused: bad or missing X-Retell-Signature",
                 kind=kind, path=request.url.path)
        return JSONResponse({"detail": "bad signature"}, status_code=403)

    def invalid(self, request: Request, kind: str, why: str, status: int = 422) -> JSONResponse:
        self.metrics.retell(kind, "bad_request")
        self.log(self.context(request), "warn", "request.invalid", why, kind=kind, path=request.url.path)
        return JSONResponse({"detail": why}, status_code=status)


def _loads(text: str | bytes) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _event_kind(raw: bytes) -> str:
    """The metric kind for an event body (read only to label a count; the label set is fixed)."""
    body = _loads(raw)
    event = body.get("event") if isinstance(body, dict) else None
    return LIFECYCLE[event][0] if event in LIFECYCLE else "other"


def create_app(settings: Settings) -> FastAPI:
    """The gateway as an ASGI app; ``app.state.gateway`` is its :class:`Gateway`."""
    gw = Gateway(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await gw.start()
        try:
            yield
        finally:
            await gw.stop()

    app = FastAPI(title="othergw", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.gateway = gw
    app.add_middleware(Envelope, count=gw.metrics.http, crashed=lambda rid, what: gw.journal.line(
        "error", "request.crashed", f"unexpected {what}", request_id=rid, retell_call=None,
        tenant=settings.default_tenant, caller_ref=None))

    async def signed(request: Request, kind: str) -> tuple[Any, Response | None]:
        raw = await request.body()
        text = signed_by_retell(raw, request.headers.get(SIGNATURE_HEADER), settings.retell_api_key)
        if text is None:
            return None, gw.rejected(request, kind)
        body = _loads(text)
        if not isinstance(body, dict):
            return None, gw.invalid(request, kind, "body is not a JSON object")
        return body, None

    @app.post("/retell/events")
    async def retell_events(request: Request) -> Response:
        began = time.perf_counter()
        kind = _event_kind(await request.body())
        body, refusal = await signed(request, kind)
        if refusal is not None:
            return refusal
        event, call = body.get("event"), body.get("call")
        if not isinstance(event, str) or not isinstance(call, dict) or not isinstance(call.get("call_id"), str) \
                or not call["call_id"]:
            return gw.invalid(request, kind, "an event needs `event` and `call.call_id`")
        ctx = gw.context(request, call["call_id"], call=call)
        outcome = "ok"
        if event in LIFECYCLE:
            _, phase, action = LIFECYCLE[event]
            if ctx.call is not None and not ctx.call.first_time(event):
                outcome = "dup"
                gw.log(ctx, "info", "retell.duplicate", f"{event} delivered again, ignored", event=event)
            else:
                gw.metrics.call(phase)
                gw.log(ctx, "info", action, f"{event} received", **_event_fields(event, call))
        gw.metrics.retell(kind, outcome, time.perf_counter() - began)
        return JSONResponse({"ok": True})

    @app.post("/retell/inbound-call")
    async def retell_inbound(request: Request) -> Response:
        began = time.perf_counter()
        body, refusal = await signed(request, "call.inbound")
        if refusal is not None:
            return refusal
        ringing = body.get("call_inbound")
        if not isinstance(ringing, dict):
            return gw.invalid(request, "call.inbound", "an inbound call needs `call_inbound`")
        number = ringing.get("from_number") if isinstance(ringing.get("from_number"), str) else None
        ctx = gw.context(request, ringing.get("call_id"), number=number)
        test_call = gw.refs.is_test(number)
        gw.metrics.call("ringing")
        gw.log(ctx, "info", "retell.inbound", "call ringing", test_call=test_call)
        answer = {"call_inbound": {
            "dynamic_variables": {"is_test_call": "yes" if test_call else "no", "tenant": ctx.tenant},
            "metadata": {_METADATA_REQUEST_ID: ctx.request_id, "tenant": ctx.tenant},
        }}
        gw.metrics.retell("call.inbound", "ok", time.perf_counter() - began)
        return JSONResponse(answer)

    @app.post("/retell/tools/{name}")
    async def retell_tool(request: Request, name: str) -> Response:
        began = time.perf_counter()
        kind = f"tool.{name}" if name in TOOLS else "other"
        body, refusal = await signed(request, kind)
        if refusal is not None:
            return refusal
        if name not in TOOLS:
            gw.invalid(request, kind, "unknown tool")
            return JSONResponse({"problem": "unknown_tool"}, status_code=404)
        wrapped = isinstance(body.get("args"), dict) and ("call" in body or "name" in body)
        args: dict[str, Any] = body["args"] if wrapped else body
        call = body.get("call") if wrapped and isinstance(body.get("call"), dict) else None
        call_id = (call or {}).get("call_id") or args.get("call_id")
        ctx = gw.context(request, call_id, call=call, hints=(args,))
        gw.log(ctx, "info", "tool.called", f"{name} called", tool=name)
        result, outcome = await TOOLS[name](gw, ctx, args)
        gw.metrics.retell(kind, outcome, time.perf_counter() - began)
        return JSONResponse(result)

    @app.get("/healthz")
    async def healthz() -> Response:
        return JSONResponse({"alive": True})

    @app.get("/readyz")
    async def readyz(request: Request) -> Response:
        try:
            await gw.calcom.ready(request.state.request_id)
        except CalendarFailure as failure:
            return JSONResponse({"ready": False, "problem": failure.kind}, status_code=503)
        return JSONResponse({"ready": True})

    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {settings.metrics_token}".encode()):
            return JSONResponse({"detail": "bearer token required"}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        return Response(gw.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    return app


def _event_fields(event: str, call: dict[str, Any]) -> dict[str, Any]:
    """The few facts worth logging per event: never transcripts, summaries or numbers."""
    if event == "call_started":
        return {"direction": call.get("direction"), "agent": call.get("agent_id")}
    if event == "call_ended":
        return {"reason": call.get("disconnection_reason"), "duration_ms": call.get("duration_ms")}
    analysis: dict[str, Any] = call["call_analysis"] if isinstance(call.get("call_analysis"), dict) else {}
    return {"successful": analysis.get("call_successful"), "sentiment": analysis.get("user_sentiment")}
