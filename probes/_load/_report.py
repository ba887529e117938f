"""The end of a load run as a person and a pipeline read it: the summary table, the thresholds, the verdict, JSON.

The table has one row per step (``webhook call_started`` …) and one for the
whole call: count, p50/p95/p99 from the intended send time (corrected) and
from when the request really left (raw), failures, and the verdict of the
thresholds on that row. Values are milliseconds at three significant figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._gate import BREACH, NO_DATA, PASS, GateResult
from ._histograms import CORRECTED, RAW, LatencyBook
from ._ledger import Tally

__all__ = ["LoadReport"]

MAX_LISTED = 5


def _ms(value: float) -> str:
    return "-" if value <= 0 else f"{value:.3g}" if value < 1000 else f"{value:.0f}"


@dataclass
class LoadReport:
    """Everything the run ends with (rendered as text or JSON; the gate's exit code is the run's)."""

    title: str
    tally: Tally
    book: LatencyBook
    gate: GateResult
    telemetry: Mapping[str, Any] | None
    call_entry: str
    duration_s: float

    def rows(self) -> list[str]:
        """Stats names in table order: the steps as first sent, the whole call last."""
        steps = [n for n in self.book.names() if not n.startswith("all ") and n != self.call_entry]
        return steps + ([self.call_entry] if self.call_entry in self.book.names() else [])

    def _row_verdict(self, name: str) -> str:
        verdicts = {t.verdict for t in self.gate.thresholds if t.name.split(" ", 1)[-1] == name}
        return BREACH if BREACH in verdicts else NO_DATA if NO_DATA in verdicts else PASS if verdicts else ""

    def table(self) -> str:
        head = f"{'step':<34} {'count':>6}  {'p50':>6} {'p95':>6} {'p99':>6}  {'p50':>6} {'p95':>6} {'p99':>6}  {'errors':>6}  verdict"
        sub = f"{'':<34} {'':>6}  {'corrected (ms)':^20}  {'raw (ms)':^20}"
        lines = [sub, head, "-" * len(head)]
        for name in self.rows():
            c, r = self.book.percentiles(name, CORRECTED), self.book.percentiles(name, RAW)
            errors = self.tally.step_failures.get(name, 0) if name != self.call_entry else self.tally.failed_calls
            lines.append(f"{name[:34]:<34} {c.count:>6}  {_ms(c.p50):>6} {_ms(c.p95):>6} {_ms(c.p99):>6}  "
                         f"{_ms(r.p50):>6} {_ms(r.p95):>6} {_ms(r.p99):>6}  {errors:>6}  {self._row_verdict(name)}")
        return "\n".join(lines)

    def summary(self) -> list[str]:
        t = self.tally
        pct = f" ({100 * t.started / t.intended:.0f} %)" if t.intended else ""
        rate = f"; achieved {t.started / self.duration_s:.3g} calls/s" if self.duration_s > 0 else ""
        out = [f"arrivals: {t.intended} intended, {t.started} started{pct}, {t.late} late, {t.dropped} dropped{rate}",
               f"calls: {t.completed} completed, {t.failed_calls} with a failed step, {t.cut} cut at the end; "
               f"requests: {t.requests}, {t.failures} failed, {t.resent} resent; "
               f"bookings: {t.booked} confirmed, {t.cancelled} cancelled again"]
        out += [f"  failure ({n}x): {message}" for message, n in t.messages.most_common(MAX_LISTED)]
        out += self._telemetry_lines()
        return out

    def _telemetry_lines(self) -> list[str]:
        report = self.telemetry
        if report is None:
            return ["telemetry: not judged"]
        sample = report.get("sampled_from")
        note = f" (the newest {report.get('calls_judged')} of {sample})" if sample and sample != report.get("calls_judged") else ""
        out = [f"telemetry complete for {report.get('calls_complete', 0)}/{report.get('calls_judged', 0)} calls{note}"]
        out += [f"  {'ok  ' if r['passed'] else 'FAIL'} {r['check']}: {r['reason']}" for r in report.get("run", [])
                if not r["passed"] or not r.get("observed", True)]
        out += [f"  FAIL call {line}" for line in report.get("incomplete", [])[:MAX_LISTED]]
        return out

    def text(self) -> str:
        lines = [self.title, "", self.table(), "", *self.summary(), "", "thresholds:"]
        for th in self.gate.thresholds:
            samples = f"n={th.samples}" + (f" (needs {th.needed})" if th.verdict == NO_DATA else "")
            lines.append(f"  {th.verdict:<7} {th.name:<44} {th.seen:<20} {th.limit:<14} {samples}")
        lines += [f"  harness error: {e}" for e in self.gate.harness_errors]
        lines.append(f"verdict: {self.gate.verdict} (exit {self.gate.exit_code})")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        steps = {}
        for name in self.book.names():  # the rows, and the series by kind ("all webhook", "all requests" …)
            c, r = self.book.percentiles(name, CORRECTED), self.book.percentiles(name, RAW)
            steps[name] = {"count": c.count, "corrected_ms": {"p50": c.p50, "p95": c.p95, "p99": c.p99, "max": c.max},
                           "raw_ms": {"p50": r.p50, "p95": r.p95, "p99": r.p99, "max": r.max},
                           "errors": self.tally.step_failures.get(name, 0)}
        return {"title": self.title, "exit_code": self.gate.exit_code, "verdict": self.gate.verdict,
                "thresholds": [t.to_json() for t in self.gate.thresholds], "harness_errors": self.gate.harness_errors,
                "steps": steps, "tally": self.tally.to_json(calls=False), "telemetry": self.telemetry,
                "duration_s": self.duration_s}
