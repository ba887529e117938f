"""The state of one gateway app: config, metrics, logs, calls, alerts, Cal.com client.

Handlers receive a :class:`Gateway` and a :class:`RequestContext`; the context
carries the call's identity (correlation ID, company, phone hash) so that every
log line, metric, Cal.com request and alert of a call says the same thing.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import Headers

from ._alerts import Alert, Alerter, AlertPolicy
from ._calcom_client import CALCOM_ERROR_TYPES, CalcomClient
from ._config import GatewayConfig
from ._correlation import CallRecord, CallRegistry, PendingInbound, child_traceparent, phone_hash
from ._defects import Defect
from ._errors_report import ErrorReporter
from ._logs import LogBuffer, utc_timestamp
from ._metrics import GatewayMetrics
from ._tracing import GatewayTracing

__all__ = ["Gateway", "RequestContext"]

CORRELATION_HEADER = "X-Correlation-ID"
_DEDUPE_MAX = 50_000
LATE_LOGS_S = 1.5  # the late-logs defect's shipping delay


def _later(delay_s: float, fn: Callable[[dict[str, Any]], Any], record: dict[str, Any]) -> None:
    """Run ``fn(record)`` after ``delay_s`` on the running loop (or a timer thread outside one)."""
    try:
        asyncio.get_running_loop().call_later(delay_s, fn, record)
    except RuntimeError:
        timer = threading.Timer(delay_s, fn, args=(record,))
        timer.daemon = True
        timer.start()


@dataclass
class RequestContext:
    """Who a request is about; ``raw_phone`` exists only for the ``raw-phone-in-logs`` defect."""

    correlation_id: str
    call_id: str | None = None
    company_id: str = "default"
    phone_hash: str | None = None
    raw_phone: str | None = None
    incoming_traceparent: str | None = None

    def traceparent(self) -> str:
        """A child ``traceparent`` for an outgoing request of this call."""
        return child_traceparent(self.incoming_traceparent, self.correlation_id)


class _LruSet:
    """A bounded set for idempotency keys (oldest forgotten first)."""

    def __init__(self, max_items: int) -> None:
        self._max = max_items
        self._items: OrderedDict[Any, Any] = OrderedDict()

    def get(self, key: Any) -> Any:
        return self._items.get(key)

    def put(self, key: Any, value: Any = True) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._max:
            self._items.popitem(last=False)

    def __contains__(self, key: object) -> bool:
        return key in self._items


class Gateway:
    """Everything one reference-gateway app owns; reachable as ``app.state.gateway``."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.metrics = GatewayMetrics(config.defects, company=config.company_id)
        self.logs = LogBuffer(config.log_file)
        self.calls = CallRegistry(config.company_id)
        self.pending_inbound = PendingInbound()
        self.tracing = GatewayTracing(config.otlp_endpoint, broken=config.has(Defect.BROKEN_TRACE),
                                      error_status=not config.has(Defect.SPAN_ERROR_STATUS_MISSING))
        self.errors = ErrorReporter(config.sentry_dsn, enabled=not config.has(Defect.ERROR_NOT_REPORTED))
        self.calcom = CalcomClient(config.calcom_url, config.calcom_api_key, config.calcom_timeout_s, tracing=self.tracing)
        policy = AlertPolicy(
            threshold=config.alert_threshold,
            window_s=config.alert_window_s,
            cooldown_s=config.alert_cooldown_s,
            grouped=not config.has(Defect.ALERT_PER_ERROR),
        )
        self.alerter = Alerter(
            policy, config.alert_webhook_url, enabled=not config.has(Defect.NO_ALERT_ON_CALCOM_FAILURE), on_result=self._alert_result
        )
        self.seen_events = _LruSet(_DEDUPE_MAX)
        self.bookings = _LruSet(_DEDUPE_MAX)
        self._locks: dict[str, asyncio.Lock] = {}
        self._shared_correlation: str | None = None  # only the correlation-shared-across-calls defect uses it
        self._current_request: RequestContext | None = None  # only the log-context-shared defect uses it

    # -- identity -----------------------------------------------------------------

    def context(self, headers: Headers, call_id: str | None, *, create: bool = True) -> RequestContext:
        """Resolve the request's correlation ID: incoming header, else the call's, else new."""
        incoming = headers.get(CORRELATION_HEADER) or None
        record: CallRecord | None = None
        if call_id:
            record = self.calls.get_or_create(call_id, incoming) if create else self.calls.get(call_id)
        if self.config.has(Defect.CORRELATION_PER_REQUEST):
            correlation = incoming or str(uuid.uuid4())
        elif self.config.has(Defect.CORRELATION_SHARED_ACROSS_CALLS):
            # The defect: a process-wide "current ID" (a global, not a per-call record or a contextvar).
            self._shared_correlation = self._shared_correlation or (record.correlation_id if record else str(uuid.uuid4()))
            correlation = incoming or self._shared_correlation
        else:
            correlation = incoming or (record.correlation_id if record else str(uuid.uuid4()))
        ctx = RequestContext(correlation, call_id, self.config.company_id, incoming_traceparent=headers.get("traceparent"))
        if record is not None:
            ctx.company_id, ctx.phone_hash = record.company_id, record.phone_hash
        if self.config.has(Defect.LOG_CONTEXT_SHARED):
            # The defect: the logger's "current request" is one process-wide variable (a global, not a
            # contextvar), set when a request starts and read whenever a line is written.
            self._current_request = ctx
        return ctx

    def adopt_announced_id(self, headers: Headers, call: dict[str, Any]) -> None:
        """Give a call seen for the first time the ID handed out at its ``call_inbound``.

        Two ways to recognise it: the inbound answer's metadata (which Retell
        copies into the call) carries ``correlation_id``, or the same
        from/to number pair was announced by ``call_inbound`` moments ago.
        """
        call_id = call.get("call_id")
        if not isinstance(call_id, str) or not call_id or self.calls.get(call_id) is not None:
            return
        raw = call.get("metadata")
        metadata: dict[str, Any] = raw if isinstance(raw, dict) else {}
        hinted = metadata.get("correlation_id") if isinstance(metadata.get("correlation_id"), str) else None
        caller, callee = call.get("from_number"), call.get("to_number")
        announced = self.pending_inbound.take((caller, callee)) if isinstance(caller, str) and isinstance(callee, str) else None
        chosen = headers.get(CORRELATION_HEADER) or hinted or announced
        if chosen:
            self.calls.get_or_create(call_id, chosen)

    def remember_caller(self, ctx: RequestContext, phone: str | None, company: str | None) -> None:
        """Attach the caller's phone hash and company to the call (the raw number is not stored)."""
        if phone:
            ctx.phone_hash, ctx.raw_phone = phone_hash(phone), phone
        if company:
            ctx.company_id = company
        record = self.calls.get(ctx.call_id)
        if record is not None:
            record.phone_hash = ctx.phone_hash or record.phone_hash
            record.caller_number = phone or record.caller_number
            record.company_id = ctx.company_id

    def lock_for(self, key: str) -> asyncio.Lock:
        """One lock per call, so two concurrent deliveries of one booking cannot both book."""
        if len(self._locks) > _DEDUPE_MAX:
            self._locks = {k: v for k, v in self._locks.items() if v.locked()}
        return self._locks.setdefault(key, asyncio.Lock())

    # -- logs ---------------------------------------------------------------------

    def log(self, level: str, event: str, message: str, ctx: RequestContext | None, **fields: Any) -> dict[str, Any]:
        """Write one JSON log line with the contract fields (and seeded defects' leaks)."""
        if ctx is not None and self._current_request is not None and self.config.has(Defect.LOG_CONTEXT_SHARED):
            ctx = self._current_request  # after an await, this may be another call's request
        record: dict[str, Any] = {"timestamp": utc_timestamp(), "level": level, "event": event, "message": message}
        if not self.config.has(Defect.CORRELATION_MISSING_IN_LOGS):
            record["correlation_id"] = ctx.correlation_id if ctx else None
        record["call_id"] = ctx.call_id if ctx else None
        record["company_id"] = ctx.company_id if ctx else self.config.company_id
        record["phone_hash"] = ctx.phone_hash if ctx else None
        if ctx and ctx.raw_phone and self.config.has(Defect.RAW_PHONE_IN_LOGS):
            record["phone"] = ctx.raw_phone
        record.update({k: v for k, v in fields.items() if v is not None})
        if self.config.has(Defect.LATE_LOGS):
            _later(LATE_LOGS_S, self.logs.write, record)
            return record
        return self.logs.write(record)

    # -- errors and alerts --------------------------------------------------------

    def record_error(
        self,
        ctx: RequestContext | None,
        *,
        event: str,
        error_type: str,
        severity: str,
        endpoint: str,
        detail: str,
        alert: bool = True,
        level: str | None = None,
        **fields: Any,
    ) -> None:
        """Count, log (ERROR unless told otherwise; WARNING for warnings) and, through the policy, alert."""
        if not (error_type in CALCOM_ERROR_TYPES and self.config.has(Defect.CALCOM_ERRORS_NOT_COUNTED)):
            self.metrics.errors.labels(type=error_type, severity=severity).inc()
        level = level or ("WARNING" if severity == "warning" else "ERROR")
        self.log(level, event, detail, ctx, error_type=error_type, severity=severity, endpoint=endpoint, **fields)
        if alert:
            record = self.calls.get(ctx.call_id) if ctx and ctx.call_id else None
            if record is not None and record.caller_number and self.config.has(Defect.RAW_PHONE_IN_ALERTS):
                detail = f"{detail} (caller {record.caller_number})"
            self.alerter.notify(
                error_type=error_type,
                endpoint=endpoint,
                severity=severity,
                message=detail,
                correlation_id=ctx.correlation_id if ctx else None,
                call_id=ctx.call_id if ctx else None,
            )

    def _alert_result(self, alert: Alert, error: str | None) -> None:
        ctx = RequestContext(alert.correlation_id or "", alert.call_id, self.config.company_id)
        if error is None:
            self.log("INFO", "alert_sent", f"alert {alert.error_type} on {alert.endpoint} sent", ctx, count=alert.count)
        else:
            self.log("WARNING", "alert_failed", error, ctx, error_type=alert.error_type)
