"""Trace checks: the span tree a traced Retell request leaves behind.

They judge spans only when the target profile names a trace backend
(``traces.kind``); without one each reports *not observed* instead.

For every exchange that sent a W3C ``traceparent`` (steps with
``traceparent: true``) the gateway must continue that trace: a SERVER span
with the sent trace id whose parent is the sent span id, and every Cal.com
CLIENT span made while serving it (same correlation ID, inside the server
span's time) a descendant of it in the same trace. That is what lets an
on-call engineer open one trace and see Retell → gateway → Cal.com.
"""

from __future__ import annotations

import re

from .._contract import Contract, dig
from .._errors import UnmappedRole
from .._evidence import CheckResult, Evidence, Exchange
from .._scenario import Scenario
from .._spans import Span
from ._common import answered, blind, call_correlation_id, request_header, unmapped, where

__all__ = ["check_trace_attributes", "check_trace_continuity", "check_trace_error_status"]

_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
CALCOM_FAILURES = ("calendar_unavailable", "rate_limited", "calendar_timeout")  # result value roles
CORRELATION_FALLBACKS = ("correlation_id", "correlation.id")


def sent_context(x: Exchange) -> tuple[str, str] | None:
    """(trace id, span id) of the ``traceparent`` callprobe sent with ``x``, if any."""
    match = _TRACEPARENT.fullmatch((request_header(x, "traceparent") or "").strip().lower())
    return (match.group(2), match.group(3)) if match else None


def traced(evidence: Evidence) -> list[tuple[Exchange, str, str]]:
    """Answered exchanges that sent a traceparent, with its trace and span ids (first delivery only)."""
    out, seen = [], set()
    for x in evidence.exchanges:
        ctx = sent_context(x)
        if ctx is not None and answered(x) and (x.call_index, x.step_index, ctx) not in seen:
            seen.add((x.call_index, x.step_index, ctx))
            out.append((x, *ctx))
    return out


def server_spans(evidence: Evidence, trace_id: str, parent_id: str) -> list[Span]:
    return [s for s in evidence.spans if s.kind == "SERVER" and s.trace_id == trace_id and s.parent_id == parent_id]


def correlation_of(span: Span, contract: Contract) -> str | None:
    value = span.attr(contract.spans.correlation_attribute, *CORRELATION_FALLBACKS)
    return str(value) if value is not None else None


def client_spans_of(evidence: Evidence, server: Span, contract: Contract) -> list[Span]:
    """CLIENT spans made while serving ``server``: in its trace below it, or (if detached) same correlation ID and time.

    A span already below *another* server span belongs to that request: two
    requests of one call can overlap in time (a slow function call and the
    next one), and must not claim each other's Cal.com spans.
    """
    below = set(_descendants(evidence, server))
    owned = {i for other in evidence.spans if other.kind == "SERVER" and other is not server for i in _descendants(evidence, other)}
    corr = correlation_of(server, contract)
    out = []
    for s in evidence.spans:
        if s.kind != "CLIENT":
            continue
        during = server.start_ns <= s.start_ns <= server.end_ns and corr is not None and correlation_of(s, contract) == corr
        if s.span_id in below or (during and s.span_id not in owned):
            out.append(s)
    return out


def _descendants(evidence: Evidence, root: Span) -> list[str]:
    """Span ids below ``root`` in its trace (parent links followed downwards)."""
    children: dict[str, list[str]] = {}
    for s in evidence.spans:
        if s.trace_id == root.trace_id and s.parent_id:
            children.setdefault(s.parent_id, []).append(s.span_id)
    out, todo = [], [root.span_id]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.append(child)
                todo.append(child)
    return out




def _no_traced_steps(name: str) -> list[CheckResult]:
    reason = "no step sent a traceparent, so there is no trace to follow (add traceparent: true to a step)"
    return [CheckResult(name, False, reason, "at least one step with traceparent: true", "none")]


def check_trace_continuity(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """trace-continuity: each traced request continues the sent trace, and Cal.com spans hang below it."""
    if (missing := blind("trace-continuity", evidence, "traces")) is not None:
        return missing
    items = traced(evidence)
    if not items:
        return _no_traced_steps("trace-continuity")
    out = []
    for x, trace_id, span_id in items:
        corr = call_correlation_id(scenario, evidence, x.call_id, contract)
        expected = f"a SERVER span in trace {trace_id} with parent {span_id}, Cal.com CLIENT spans below it"

        def result(ok: bool, reason: str, seen: str, expected: str = expected, x: Exchange = x, corr: str | None = corr) -> CheckResult:
            return CheckResult("trace-continuity", ok, reason, expected, seen, call_id=x.call_id, correlation_id=corr, step=x.step)

        servers = server_spans(evidence, trace_id, span_id)
        if not servers:
            in_trace = [s for s in evidence.spans if s.trace_id == trace_id]
            seen = f"{len(in_trace)} span(s) in that trace, {len(evidence.spans)} span(s) in all"
            out.append(result(False, f"{where(x)}: no SERVER span continues the traceparent callprobe sent", seen))
            continue
        server = servers[0]
        below = set(_descendants(evidence, server))
        clients = client_spans_of(evidence, server, contract)
        detached = [s for s in clients if s.span_id not in below or s.trace_id != trace_id]
        if detached:
            names = ", ".join(f"{s.name} (trace {s.trace_id}, parent {s.parent_id or 'none'})" for s in detached[:3])
            out.append(result(False, f"{where(x)}: {len(detached)} Cal.com span(s) are not in the request's trace", names))
        else:
            out.append(result(True, f"{where(x)}: server span continues the trace; {len(clients)} Cal.com span(s) below it",
                              f"{1 + len(clients)} span(s) in trace {trace_id}"))
    return out


def check_trace_attributes(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """trace-attributes: server spans carry the call's call_id and correlation ID."""
    if (missing := blind("trace-attributes", evidence, "traces")) is not None:
        return missing
    items = traced(evidence)
    if not items:
        return _no_traced_steps("trace-attributes")
    out = []
    for x, trace_id, span_id in items:
        corr = call_correlation_id(scenario, evidence, x.call_id, contract)
        want = f"{contract.spans.call_id_attribute}={x.call_id}, {contract.spans.correlation_attribute}={corr}"
        servers = server_spans(evidence, trace_id, span_id)
        if not servers:
            out.append(CheckResult("trace-attributes", False, f"{where(x)}: no server span to read attributes from", want, "no span",
                                   call_id=x.call_id, correlation_id=corr, step=x.step))
            continue
        span = servers[0]
        got_call, got_corr = span.attr(contract.spans.call_id_attribute), correlation_of(span, contract)
        seen = f"{contract.spans.call_id_attribute}={got_call}, {contract.spans.correlation_attribute}={got_corr}"
        ok = got_call == x.call_id and got_corr is not None and (corr is None or got_corr == corr)
        reason = f"{where(x)}: server span {span.name!r} " + ("names the call and its correlation ID" if ok
                                                              else "does not name the call and its correlation ID")
        out.append(CheckResult("trace-attributes", ok, reason, want, seen, call_id=x.call_id, correlation_id=corr, step=x.step))
    return out


def check_trace_error_status(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """trace-error-status: a traced step answered with a Cal.com failure has a Cal.com span with error status."""
    if (missing := blind("trace-error-status", evidence, "traces")) is not None:
        return missing
    try:
        error_path = contract.result_field("error")
    except UnmappedRole as exc:
        return [unmapped("trace-error-status", exc)]
    words = {w for role in CALCOM_FAILURES if (w := contract.results.values.get(role))}
    out = []
    for x, trace_id, span_id in traced(evidence):
        _, failure = dig(x.response_json, error_path)
        if failure not in words:
            continue
        corr = call_correlation_id(scenario, evidence, x.call_id, contract)
        servers = server_spans(evidence, trace_id, span_id)
        clients = client_spans_of(evidence, servers[0], contract) if servers else []
        failed = [s for s in clients if s.error]
        seen = ", ".join(f"{s.name} error={str(s.error).lower()}" for s in clients) or "no Cal.com span"
        ok = bool(failed)
        reason = f"{where(x)} answered {failure}: " + ("the Cal.com span has error status" if ok else "no Cal.com span has error status")
        out.append(CheckResult("trace-error-status", ok, reason, "a Cal.com CLIENT span with error status", seen,
                               call_id=x.call_id, correlation_id=corr, step=x.step))
    return out
