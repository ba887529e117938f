"""``callprobe run --live``: the synthetic call as it happens, in the terminal.

The seed design's missing "real-time test-call view": each request, answer,
Cal.com request, log line, metric change, alert, span and error event appears
the moment the probe sees it (it is the probe's listener, :mod:`probes._progress`),
on the call's own clock, with the SLA clock running below: how long since the
call's last answer, and for each kind of telemetry the scenario is timed on,
whether it has been seen and what its time-to-telemetry SLA is. Drawn with
``rich`` (``Live``); every text goes through the report redactor first, so the
screen is as safe to share as a report.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from .._checks import telemetry_limits as limits
from .._plan import Plan
from .._profile import TargetProfile
from .._progress import MetricChange, ProbeEvent
from .._redact import Redactor
from .._scenario import Scenario
from .._spans import ErrorEvent, Span
from .._timeline import alert_summary, calcom_summary, log_summary, request_summary, response_summary

__all__ = ["LiveView"]

_STYLES = {"request": "blue", "response": "green", "calcom": "magenta", "log": "white", "metric": "cyan", "alert": "bold red",
           "span": "yellow", "error": "red", "cleanup": "yellow", "phase": "dim"}


@dataclass(frozen=True)
class _Line:
    at: float
    kind: str
    text: str
    bad: bool = False


class LiveView:
    """A listener that draws the call live; use ``with view.shown(console):`` around the probe."""

    def __init__(self, scenario: Scenario, profile: TargetProfile, secrets: tuple[str, ...] = (), *, max_lines: int = 40) -> None:
        self.scenario = scenario
        self.profile = profile
        self.max_lines = max_lines
        self._secrets = secrets
        self._red = Redactor(secrets=secrets)
        self._lock = threading.Lock()
        self.lines: list[_Line] = []
        self.t0: float | None = None
        self.last_answer: float | None = None
        self.phase = "plan"
        self.call_ids: list[str] = []
        self.correlation_id: str | None = None
        self.seen: dict[str, int] = {"log": 0, "alert": 0}
        self.metrics_held: set[str] = set()
        self._limits = limits(scenario, profile.contract)

    # -- the listener ---------------------------------------------------------------

    def __call__(self, event: ProbeEvent) -> None:
        with self._lock:
            self._take(event)

    def _take(self, event: ProbeEvent) -> None:
        kind, item = event.kind, event.item
        if kind == "plan":
            self._planned(item)
            return
        if kind == "read":
            return
        if kind == "phase":
            self.phase = str(item)
            self._add(event.at, "phase", f"— {item} —")
            return
        if kind == "request" and self.t0 is None:
            self.t0 = item.sent_at
        if kind == "response":
            self._answered(event.at, item)
            return
        if kind in self.seen:
            self.seen[kind] += 1
        if isinstance(item, MetricChange) and item.holds:
            self.metrics_held.add(item.label)
        self._add(event.at, kind, self._summary(kind, item), self._bad(kind, item))

    def _planned(self, plan: Plan) -> None:
        phones = [p for call in plan.calls for p in (call.caller.phone, call.caller.practice_phone)]
        self._red = Redactor(secrets=self._secrets, phones=phones)
        self.call_ids = [call.call_id for call in plan.calls]

    def _answered(self, at: float, x: Any) -> None:
        self.last_answer = at
        header = x.header(self.profile.contract.correlation_header)
        if header and self.correlation_id is None:
            self.correlation_id = header
        within = x.expect.within_ms
        breach = within is not None and x.latency_ms is not None and x.latency_ms > within
        bad = breach or x.error is not None or (x.status is not None and x.status >= 500)
        self._add(at, "response", response_summary(x, breach), bad)

    def _summary(self, kind: str, item: Any) -> str:
        contract = self.profile.contract
        if kind in ("request", "cleanup"):
            text = request_summary(item)
            return text if kind == "request" else f"{text} → {item.status if item.status is not None else item.error}"
        if kind == "log":
            return log_summary(dict(item.record), contract)
        if kind == "alert":
            return alert_summary(item)
        if kind == "calcom":
            return calcom_summary(item)
        if isinstance(item, MetricChange):
            return f"{item.label} {item.delta:+g}" + (" (as expected)" if item.holds else "")
        if isinstance(item, Span):
            return f"span {item.name} ({item.kind.lower()}{', error' if item.error else ''})"
        if isinstance(item, ErrorEvent):
            return f"error event {item.level or ''} {item.event_id or ''}".rstrip()
        return str(item)

    def _bad(self, kind: str, item: Any) -> bool:
        if kind == "log":
            level = item.record.get(self.profile.contract.log_field("level"), "")
            return str(level).upper() in ("ERROR", "CRITICAL")
        return kind in ("alert", "error") or (isinstance(item, Span) and item.error)

    def _add(self, at: float, kind: str, text: str, bad: bool = False) -> None:
        self.lines.append(_Line(at, kind, self._red.text(text), bad))

    # -- drawing --------------------------------------------------------------------

    def __rich__(self) -> RenderableType:
        with self._lock:
            return Group(self._header(), self._table(), self._clock(time.time()))

    def _header(self) -> Text:
        ids = ", ".join(self.call_ids[:3]) + (" …" if len(self.call_ids) > 3 else "")
        head = Text.assemble(("callprobe ", "bold"), (self.scenario.name, "bold cyan"), f" → {self.profile.name}  ",
                             (f"[{self.phase}]", "dim"))
        parts = ([f"call_id {ids}"] if ids else []) + ([f"correlation_id {self.correlation_id}"] if self.correlation_id else [])
        if parts:
            head.append("\n" + " · ".join(parts), style="dim")
        return head

    def _table(self) -> Table:
        table = Table(show_header=False, box=None, pad_edge=False, expand=False)
        table.add_column("t", justify="right", style="dim", no_wrap=True)
        table.add_column("kind", no_wrap=True)
        table.add_column("what", overflow="fold")
        for line in self.lines[-self.max_lines:]:
            style = "bold red" if line.bad else _STYLES.get(line.kind, "white")
            table.add_row(self._t(line.at), Text(line.kind, style=style), Text(line.text, style="dim" if line.kind == "phase" else ""))
        return table

    def _t(self, at: float) -> str:
        return "" if self.t0 is None or at < self.t0 else f"+{(at - self.t0) * 1000:,.1f} ms"

    def _clock(self, now: float) -> Text:
        """The SLA clock: call time, time since the last answer, and each timed telemetry kind against its SLA."""
        if self.t0 is None:
            return Text("clock: waiting for the first request", style="dim")
        out = Text(f"clock +{now - self.t0:.1f} s", style="bold")
        since = None if self.last_answer is None else now - self.last_answer
        if since is not None:
            out.append(f" · last answer {since:.1f} s ago")
        for limit in self._limits:
            out.append(" · ")
            out.append_text(self._telemetry(limit.kind, limit.limit_ms / 1000, since))
        return out

    def _telemetry(self, kind: str, sla_s: float, since: float | None) -> Text:
        if kind == "metrics":
            wanted = len(self.scenario.expect.metrics)
            done, text = len(self.metrics_held) >= wanted > 0, f"metrics {len(self.metrics_held)}/{wanted}"
        else:
            count = self.seen["log" if kind == "logs" else "alert"]
            done, text = count > 0, f"{kind} {count}"
        late = since is not None and since > sla_s and not done
        style = "green" if done else ("bold red" if late else "yellow")
        return Text(f"{text} (SLA {sla_s:g} s{', late' if late else ''})", style=style)

    @contextmanager
    def shown(self, console: Console) -> Iterator[LiveView]:
        """Draw the view on ``console`` while the block runs (ten times a second), leaving its last state on screen."""
        with Live(self, console=console, refresh_per_second=10, transient=False, redirect_stdout=False, redirect_stderr=False):
            yield self
        console.line()
