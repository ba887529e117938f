"""Render a Verdict: failure text that reads like an assertion diff, and a JSON form.

The failure text is what a pytest run or a cron mail shows first, so it leads
with what was expected and what was seen for each failed check, names the call
and step, and ends with the one string that finds the call in the gateway's
logs: its correlation ID. Neither form ever contains a secret: both pass
through a :class:`~probes._redact.Redactor` (give it the profile's secret
values), and the failure text, meant for a terminal, shows a target's control
characters as escapes.
"""

from __future__ import annotations

import dataclasses
import math
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._evidence import CheckResult, Evidence, Exchange, Verdict
from ._measures import failure_reason
from ._printable import clip, printable
from ._redact import Redactor, redact_headers

__all__ = ["VERDICT_SCHEMA_VERSION", "describe_exception", "format_failure", "jsonable", "run_to_json", "verdict_to_json"]

# The JSON verdict's schema. 1: + schema_version, reason, target, cleanup, attempts and first_attempt (callprobe run --retries).
VERDICT_SCHEMA_VERSION = 1
_OUR_DIRS = tuple(str(Path(__file__).resolve().parent.parent / d) for d in ("probes", "mocks"))
MAX_FRAMES = 12


def _call_number(evidence: Evidence, call_id: str | None) -> int | None:
    if not call_id:
        return None
    for x in evidence.exchanges:
        if x.call_id == call_id:
            return x.call_index + 1
    return next((c.index + 1 for c in evidence.plan.calls if c.call_id == call_id), None)


def _where(result: CheckResult, evidence: Evidence) -> str | None:
    """``call 1 (call_id …, correlation_id …) step book_appointment``, or None when nothing is known."""
    parts = []
    number = _call_number(evidence, result.call_id)
    ids = [f"call_id {result.call_id}"] if result.call_id else []
    if result.correlation_id:
        ids.append(f"correlation_id {result.correlation_id}")
    if number is not None:
        parts.append(f"call {number}" + (f" ({', '.join(ids)})" if ids else ""))
    elif ids:
        parts.append(", ".join(ids))
    if result.step:
        parts.append(f"step {result.step}")
    return " ".join(parts) or None


def _failure_lines(result: CheckResult, evidence: Evidence) -> list[str]:
    lines = [f"✗ {result.check} — {result.reason}"]
    where = _where(result, evidence)
    if where:
        lines.append(f"  {where}")
    if result.expected:
        lines.append(f"  expected: {result.expected}")
    if result.seen:
        lines.append(f"  seen:     {result.seen}")
    return lines


def format_failure(verdict: Verdict, redactor: Redactor | None = None) -> str:
    """The failed checks of ``verdict`` as an assertion diff, ending with a log-search hint; redacted, printable.

    ``redactor`` should know the profile's secret values (default: patterns and the calls' phone numbers only).
    """
    red = redactor or Redactor.for_verdict(verdict)
    return printable(red.text(_failure_text(verdict)))


def _failure_text(verdict: Verdict) -> str:
    failures = verdict.failures
    total = len(verdict.results)
    if not failures:
        unobserved = len(verdict.unobserved)
        if unobserved:
            return f"scenario {verdict.scenario}: {total - unobserved} checks passed, {unobserved} not observed"
        return f"scenario {verdict.scenario}: all {total} checks passed"
    lines = [f"scenario {verdict.scenario}: {len(failures)} of {total} checks failed"]
    for result in failures:
        lines += _failure_lines(result, verdict.evidence)
    ids = list(dict.fromkeys(r.correlation_id for r in failures if r.correlation_id))
    if ids:
        lines.append("search your logs for " + " or ".join(f"correlation_id={i}" for i in ids))
    else:
        call_ids = list(dict.fromkeys(r.call_id for r in failures if r.call_id))
        if call_ids:
            lines.append("search your logs for " + " or ".join(f"call_id={c}" for c in call_ids))
    return "\n".join(lines)


def describe_exception(exc: BaseException, redactor: Redactor | None = None) -> str:
    """An unexpected exception as a person may see it: type, message and callprobe's frames, never a frame's locals.

    pytest's long traceback prints every frame's arguments and locals, and a
    probe's frames hold the Retell API key and the metrics token; this shows
    where it happened (file:line, function, the line of code) and what, through
    ``redactor``, with control characters escaped.
    """
    frames = traceback.extract_tb(exc.__traceback__)
    shown = [f for f in frames if f.filename.startswith(_OUR_DIRS)]
    if frames and (not shown or shown[-1] is not frames[-1]):
        shown.append(frames[-1])  # where it was raised, even outside callprobe
    lines = [f"{type(exc).__name__}: {clip(str(exc), 500)}"]
    for f in shown[-MAX_FRAMES:]:
        code = f" — {clip(f.line.strip(), 120)}" if f.line else ""
        lines.append(f"  {_short_path(f.filename)}:{f.lineno} in {f.name}{code}")
    red = redactor or Redactor()
    return printable(red.text("\n".join(lines)))


def _short_path(filename: str) -> str:
    for root in _OUR_DIRS:
        if filename.startswith(root):
            return str(Path(root).name / Path(filename).relative_to(root))
    return filename


def jsonable(value: Any) -> Any:
    """Plain JSON types for anything a check put in its evidence (dataclasses, sets, models, floats)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [jsonable(v) for v in items]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return jsonable(dump(mode="json"))
    return str(value)


def _exchange(x: Exchange) -> dict[str, Any]:
    return {
        "call": x.call_index + 1,
        "call_id": x.call_id,
        "step": x.step,
        "delivery": x.delivery,
        "kind": x.kind,
        "method": x.method,
        "path": x.path,
        "request_headers": redact_headers(x.request_headers),
        "request_body": x.request_body,
        "sent_at": x.sent_at,
        "latency_ms": x.latency_ms,
        "server_ms": x.server_ms,
        "status": x.status,
        "response_headers": redact_headers(x.response_headers),
        "response_body": x.response_body,
        "error": x.error,
        "abandoned": x.abandoned,
    }


def _result(r: CheckResult) -> dict[str, Any]:
    return {
        "check": r.check,
        "passed": r.passed,
        "observed": r.observed,
        "reason": r.reason,
        "expected": r.expected,
        "seen": r.seen,
        "call_id": r.call_id,
        "correlation_id": r.correlation_id,
        "step": r.step,
        "evidence": jsonable(r.evidence),
    }


def verdict_to_json(verdict: Verdict, redactor: Redactor | None = None, *, target: str | None = None,
                    first_attempt: Verdict | None = None, attempts: int = 1) -> dict[str, Any]:
    """A JSON-ready dict of the verdict: results, exchanges, cleanup and evidence counts, every string redacted.

    Every front writes this one form (``callprobe run --json``, the exporter's
    history). ``redactor`` should know the profile's secret values (default:
    patterns and the calls' phone numbers only). With retries, ``attempts``
    says how many ran and ``first_attempt`` keeps the first one's verdict
    beside the final one.
    """
    red = redactor or Redactor.for_verdict(verdict)
    doc = _verdict_dict(verdict, target, attempts)
    if first_attempt is not None:
        doc["first_attempt"] = _verdict_dict(first_attempt, target, 1)
    return red.value(doc)  # type: ignore[no-any-return]


def _verdict_dict(verdict: Verdict, target: str | None, attempts: int) -> dict[str, Any]:
    ev = verdict.evidence
    doc: dict[str, Any] = {
        "schema_version": VERDICT_SCHEMA_VERSION,
        "scenario": verdict.scenario,
        "target": target,
        "passed": verdict.passed,
        "reason": failure_reason(verdict),
        "checks": len(verdict.results),
        "failed": len(verdict.failures),
        "failed_checks": sorted(verdict.failed_checks()),
        "not_observed": sorted({r.check for r in verdict.unobserved}),
        "run": {"run_id": ev.plan.run_id, "seed": ev.plan.seed, "started_at": ev.started_at, "finished_at": ev.finished_at},
        "results": [_result(r) for r in verdict.results],
        "exchanges": [_exchange(x) for x in ev.exchanges],
        "cleanup": {"booked": list(ev.booked), "left": list(ev.cleanup_left), "cancellations": [_exchange(x) for x in ev.cleanup]},
        "observed": {"log_lines": len(ev.logs), "alerts": len(ev.alerts), "calcom_requests": len(ev.calcom)},
        "notes": list(ev.notes),
        "attempts": attempts,
    }
    return doc


def run_to_json(verdicts: list[dict[str, Any]], *, exit_code: int) -> dict[str, Any]:
    """What ``callprobe run --json`` writes: every scenario's :func:`verdict_to_json`, and the run's exit code."""
    return {"schema_version": VERDICT_SCHEMA_VERSION, "passed": all(v["passed"] for v in verdicts), "exit_code": exit_code,
            "verdicts": verdicts}
