"""The call timeline: one chronological view per synthetic call, keyed by its correlation ID.

When a scenario fails, the question is nearly always *when* something
happened relative to the call: did the log line come before the answer, did
the alert arrive at all, which request blew the SLA. This module lays every
piece of evidence of one call on one time axis (milliseconds from the call's
first request): webhooks sent, responses, Cal.com requests the gateway made,
log lines, metric deltas, alerts and spans. It renders the same entries three
ways: JSON for other tools, a self-contained HTML page (inline CSS, no script,
no external URL) for the Allure report, and compact text for the terminal.

Every string goes through a :class:`~probes._redact.Redactor` first, so the
timeline is as safe to share as the rest of the report.
"""

from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from ._calcom import JournalEntry
from ._contract import Contract
from ._evidence import AlertPost, CheckResult, Evidence, Exchange, Verdict
from ._printable import clip, printable
from ._redact import Redactor

__all__ = [
    "KINDS",
    "CallTimeline",
    "TimelineEntry",
    "alert_summary",
    "build_timelines",
    "calcom_summary",
    "log_summary",
    "request_summary",
    "response_summary",
    "timeline_to_html",
    "timeline_to_json",
    "timeline_to_text",
]

KINDS = ("request", "response", "calcom", "log", "metric", "alert", "span")
_ORDER = {k: i for i, k in enumerate(KINDS)}
MAX_SUMMARY = 300  # characters of one entry in the terminal form


@dataclass(frozen=True)
class TimelineEntry:
    """One thing that happened during a call, ``t_ms`` after the call's first request."""

    t_ms: float
    kind: str
    call_id: str
    correlation_id: str | None
    summary: str
    sla_breach: bool = False
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CallTimeline:
    """Every entry of one synthetic call, in time order."""

    scenario: str
    call: int
    call_id: str
    correlation_id: str | None
    started_at: float
    entries: list[TimelineEntry]

    @property
    def sla_breaches(self) -> int:
        return sum(e.sla_breach for e in self.entries)


def build_timelines(verdict: Verdict, redactor: Redactor | None = None, contract: Contract | None = None) -> list[CallTimeline]:
    """One timeline per planned call of ``verdict``, redacted; ``contract`` names the target's log fields."""
    red = redactor or Redactor.for_verdict(verdict)
    terms = contract or Contract()
    ev = verdict.evidence
    single = len(ev.plan.calls) == 1
    header = ev.plan.correlation_header
    out = []
    for call in ev.plan.calls:
        exchanges = ev.for_call(call.index)
        cids = ev.correlation_ids(call.index)
        cid = next((x.header(header) for x in exchanges if x.header(header)), None)
        t0 = min((x.sent_at for x in exchanges), default=ev.started_at)
        raw: list[tuple[float, str, str, bool, dict[str, Any]]] = []
        raw += _exchange_entries(exchanges, verdict.results)
        raw += _calcom_entries(ev, call.call_id, cids, single, terms)
        raw += _log_entries(ev, call.call_id, cids, single, terms)
        raw += _alert_entries(ev, call.call_id, cids, single)
        raw += _metric_entries(ev, verdict.results)
        entries = [
            TimelineEntry(round((at - t0) * 1000, 1), kind, call.call_id, cid, red.text(summary), breach, red.value(detail))
            for at, kind, summary, breach, detail in raw
        ]
        entries.sort(key=lambda e: (e.t_ms, _ORDER[e.kind]))
        out.append(CallTimeline(verdict.scenario, call.index + 1, call.call_id, cid, t0, entries))
    return out


def _breached(x: Exchange, results: list[CheckResult]) -> bool:
    limit = x.expect.within_ms
    if limit is not None and x.latency_ms is not None and x.latency_ms > limit:
        return True
    return any(r.check == "latency-sla" and not r.passed and r.call_id == x.call_id and r.step == x.step for r in results)


def request_summary(x: Exchange) -> str:
    """``POST /api/retell/webhook (call_started)``: one request as the timeline names it."""
    return f"{x.method} {x.path} ({x.step}" + (f", delivery {x.delivery}" if x.delivery > 1 else "") + ")"


def response_summary(x: Exchange, breach: bool) -> str:
    """``call_started: 204 in 3.1 ms`` (or the error), with the step's SLA when it was breached."""
    what = x.error or f"{x.status} in {x.latency_ms or 0:.1f} ms"
    if breach and x.expect.within_ms is not None:
        what += f" — SLA breach (limit {x.expect.within_ms:g} ms)"
    return f"{x.step}: {what}"


def _exchange_entries(exchanges: list[Exchange], results: list[CheckResult]) -> list[tuple[float, str, str, bool, dict[str, Any]]]:
    out: list[tuple[float, str, str, bool, dict[str, Any]]] = []
    for x in exchanges:
        out.append((x.sent_at, "request", request_summary(x), False, {"step": x.step, "delivery": x.delivery, "kind": x.kind}))
        breach = _breached(x, results)
        detail = {"step": x.step, "status": x.status, "latency_ms": _ms(x.latency_ms), "server_ms": x.server_ms,
                  "within_ms": x.expect.within_ms, "error": x.error, "abandoned": x.abandoned}
        if x.latency_ms is None and x.error is None:
            continue
        done = x.sent_at + (x.latency_ms or 0) / 1000
        out.append((done, "response", response_summary(x, breach), breach, detail))
    return out


def _calcom_entries(ev: Evidence, call_id: str, cids: set[str], single: bool,
                    contract: Contract) -> list[tuple[float, str, str, bool, dict[str, Any]]]:
    out: list[tuple[float, str, str, bool, dict[str, Any]]] = []
    for e in ev.calcom:
        meta = (e.body or {}).get("metadata") if isinstance(e.body, dict) else None
        carried = e.correlation(contract.correlation_header)
        mine = carried in cids or (isinstance(meta, dict) and meta.get("call_id") == call_id)
        if not (mine or (single and not ev.shared)):
            continue
        detail = {"endpoint": e.endpoint, "status": e.status, "duration_ms": e.duration_ms, "fault": e.fault,
                  "correlation_id": carried, "traceparent": e.traceparent}
        out.append((e.at, "calcom", calcom_summary(e), False, detail))
        if e.traceparent:
            parts = e.traceparent.split("-")
            if len(parts) == 4:
                out.append((e.at, "span", f"span {parts[2]} of trace {parts[1]} (Cal.com {e.endpoint})", False,
                            {"trace_id": parts[1], "span_id": parts[2]}))
    return out


def calcom_summary(e: JournalEntry) -> str:
    """``Cal.com POST /v2/bookings (bookings.create) → 201``, with a scripted fault when there was one."""
    status = "no answer (hung)" if e.status == 0 else str(e.status)
    fault = f", fault {e.fault}" if e.fault else ""
    return f"Cal.com {e.method} {e.path} ({e.endpoint}) → {status}{fault}"


def log_summary(record: dict[str, Any], contract: Contract) -> str:
    """``[INFO] booking_created: appointment booked``, in the target's log field names; notes a missing correlation ID."""
    f = {role: contract.log_field(role) for role in ("correlation_id", "level", "event", "message")}
    summary = f"[{record.get(f['level'], '?')}] {record.get(f['event'], '?')}: {record.get(f['message'], '')}".rstrip(": ")
    if not record.get(f["correlation_id"]):
        summary += f" (no {f['correlation_id']})"
    return summary


def alert_summary(alert: AlertPost) -> str:
    return f"alert: {alert.headline()}"


def _log_time(record: Any, fallback: float, field: str) -> float:
    stamp = record.get(field) if isinstance(record, dict) else None
    if isinstance(stamp, str):
        try:
            return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    return fallback


def _log_entries(ev: Evidence, call_id: str, cids: set[str], single: bool,
                 contract: Contract) -> list[tuple[float, str, str, bool, dict[str, Any]]]:
    out: list[tuple[float, str, str, bool, dict[str, Any]]] = []
    f = {role: contract.log_field(role) for role in ("call_id", "correlation_id", "level", "event", "message", "timestamp")}
    for line in ev.logs:
        rec = dict(line.record)
        if not (rec.get(f["call_id"]) == call_id or rec.get(f["correlation_id"]) in cids or (single and not ev.shared)):
            continue
        out.append((_log_time(rec, line.seen_at, f["timestamp"]), "log", log_summary(rec, contract), False, rec))
    return out


def _alert_entries(ev: Evidence, call_id: str, cids: set[str], single: bool) -> list[tuple[float, str, str, bool, dict[str, Any]]]:
    out: list[tuple[float, str, str, bool, dict[str, Any]]] = []
    for alert in ev.alerts:
        text = alert.text
        if not ((single and not ev.shared) or call_id in text or any(c in text for c in cids)):
            continue
        out.append((alert.seen_at, "alert", alert_summary(alert), False, {"payload": dict(alert.payload)}))
    return out


def _metric_entries(ev: Evidence, results: list[CheckResult]) -> list[tuple[float, str, str, bool, dict[str, Any]]]:
    """Metric deltas are per scenario, not per call: every call of the scenario shows them."""
    out: list[tuple[float, str, str, bool, dict[str, Any]]] = []
    fallback = ev.metrics_after.taken_at if ev.metrics_after is not None else ev.finished_at
    metric_results = [r for r in results if r.check == "metric-delta"]
    for i, r in enumerate(metric_results):
        data = r.evidence if isinstance(r.evidence, dict) else {}
        at = ev.metric_seen_at.get(i, fallback)
        mark = "" if r.passed else " ✗"
        out.append((at, "metric", f"{r.reason}{mark}", False,
                    {"series": data.get("series"), "before": data.get("before"), "after": data.get("after"),
                     "expected": r.expected, "seen": r.seen, "passed": r.passed}))
    return out


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def timeline_to_json(timelines: list[CallTimeline]) -> dict[str, Any]:
    """A JSON-ready dict: ``{"scenario", "calls": [{call, call_id, correlation_id, started_at, entries}]}``."""
    return {
        "scenario": timelines[0].scenario if timelines else None,
        "calls": [
            {"call": t.call, "call_id": t.call_id, "correlation_id": t.correlation_id, "started_at": t.started_at,
             "sla_breaches": t.sla_breaches, "entries": [asdict(e) for e in t.entries]}
            for t in timelines
        ],
    }


def timeline_to_text(timelines: list[CallTimeline], *, max_entries: int = 60) -> str:
    """Compact terminal form: one line per entry, ``!`` marks an SLA breach; control characters escaped."""
    lines = []
    for t in timelines:
        lines.append(f"timeline of call {t.call} (call_id {t.call_id}, correlation_id {t.correlation_id or '—'}):")
        for e in t.entries[:max_entries]:
            flag = "!" if e.sla_breach else " "
            summary = clip(" ".join(e.summary.split()), MAX_SUMMARY)  # a target's log message can hold anything
            lines.append(f" {flag}{e.t_ms:>9.1f} ms  {e.kind:<8} {summary}")
        if len(t.entries) > max_entries:
            lines.append(f"  … {len(t.entries) - max_entries} more entries (see the timeline JSON)")
    return printable("\n".join(lines))


_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1em;color:#222}
h2{font-size:16px;margin:1.2em 0 .3em} .ids{color:#555;font-family:monospace;font-size:12px}
table{border-collapse:collapse;width:100%} td,th{padding:3px 6px;border-bottom:1px solid #eee;vertical-align:top;text-align:left}
td.t{font-family:monospace;text-align:right;white-space:nowrap} td.k{font-weight:600;white-space:nowrap}
tr.request td.k{color:#1f5fbf} tr.response td.k{color:#2e7d32} tr.calcom td.k{color:#8e24aa}
tr.log td.k{color:#555} tr.metric td.k{color:#00838f} tr.alert td.k{color:#d84315} tr.span td.k{color:#6d4c41}
tr.breach{background:#ffebee} tr.breach td.k:after{content:" SLA";color:#c62828}
details pre{margin:.3em 0;font-size:12px;white-space:pre-wrap;word-break:break-all}
"""


def _row(e: TimelineEntry) -> str:
    cls = e.kind + (" breach" if e.sla_breach else "")
    detail = html.escape(json.dumps(e.detail, ensure_ascii=False, indent=1, default=str))
    return (f'<tr class="{cls}"><td class="t">{e.t_ms:.1f} ms</td><td class="k">{html.escape(e.kind)}</td>'
            f"<td>{html.escape(e.summary)}<details><summary>detail</summary><pre>{detail}</pre></details></td></tr>")


def timeline_to_html(timelines: list[CallTimeline], *, title: str | None = None, lead: str | None = None) -> str:
    """A self-contained page: inline CSS, no script, no external URL (viewable offline); ``lead`` is a first paragraph."""
    name = title or (f"call timeline — {timelines[0].scenario}" if timelines else "call timeline")
    parts = [f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{html.escape(name)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{html.escape(name)}</h1>"]
    if lead:
        parts.append(f"<p>{html.escape(lead)}</p>")
    for t in timelines:
        breaches = f", {t.sla_breaches} SLA breach(es)" if t.sla_breaches else ""
        parts.append(f"<h2>call {t.call}{html.escape(breaches)}</h2>")
        parts.append(f'<div class="ids">call_id {html.escape(t.call_id)} · correlation_id {html.escape(t.correlation_id or "—")}'
                     " · times from the call's first request</div>")
        parts.append("<table><tr><th>t</th><th>kind</th><th>what</th></tr>")
        parts += [_row(e) for e in t.entries]
        parts.append("</table>")
    parts.append("</body></html>")
    return "".join(parts)
