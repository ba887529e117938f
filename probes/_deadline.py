"""A probe stopped at its deadline still reports: what it saw until then, and why it stopped.

Scheduled fronts give a probe a deadline (``callprobe run --timeout``, the
exporter's scrape timeout). When it passes, the probe is cancelled (its
cleanup still runs) or left to finish in the background (the exporter answers
first), and there is no verdict. :class:`Recorder`, a listener of
:mod:`probes._progress`, keeps what the probe had seen, so the front can
report a failed verdict with the call's timeline so far: requests answered,
requests still waiting (a hanging target), log lines, alerts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from ._calcom import JournalEntry
from ._evidence import AlertPost, CheckResult, Evidence, Exchange, LogLine, Verdict
from ._plan import Plan
from ._profile import TargetProfile
from ._progress import Listener, ProbeEvent
from ._spans import ErrorEvent, Span

__all__ = ["DEADLINE_CHECK", "Recorder", "deadline_verdict", "target_hosts"]

DEADLINE_CHECK = "probe-deadline"


@dataclass
class Recorder:
    """Keeps every event of one probe (and passes it on to ``forward``, e.g. the live view)."""

    forward: Listener | None = None
    plan: Plan | None = None
    phase: str = "plan"
    reading: str | None = None  # the evidence source being read right now
    reading_since: float = 0.0
    frozen_at: float | None = None  # the deadline came: what was pending then stays, whatever unwinding the probe reports
    answered: list[Exchange] = field(default_factory=list)
    in_flight: dict[tuple[str, int, int], Exchange] = field(default_factory=dict)
    logs: list[LogLine] = field(default_factory=list)
    alerts: list[AlertPost] = field(default_factory=list)
    calcom: list[JournalEntry] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    errors: list[ErrorEvent] = field(default_factory=list)
    cleanup: list[Exchange] = field(default_factory=list)

    def __call__(self, event: ProbeEvent) -> None:
        item: Any = event.item
        if event.kind == "plan":
            self.plan = item
        elif event.kind in ("phase", "read", "request") and self.frozen_at is not None:
            pass
        elif event.kind == "phase":
            self.phase = item
        elif event.kind == "read":
            self.reading, self.reading_since = item, event.at
        elif event.kind == "request":
            self.in_flight[(item.call_id, item.step_index, item.delivery)] = item
        elif event.kind == "response" and self.frozen_at is not None:
            self.answered.append(item)
        elif event.kind == "response":
            self.in_flight.pop((item.call_id, item.step_index, item.delivery), None)
            self.answered.append(item)
        else:
            stores: dict[str, list[Any]] = {"log": self.logs, "alert": self.alerts, "calcom": self.calcom, "span": self.spans,
                                            "error": self.errors, "cleanup": self.cleanup}
            store = stores.get(event.kind)
            if store is not None:
                store.append(item)
        if self.forward is not None:
            self.forward(event)

    def freeze(self) -> None:
        """Keep what was pending now (the deadline): the cancellation that follows must not clear it."""
        self.frozen_at = time.time()

    def deadline_reason(self, seconds: float, target_hosts: tuple[str, ...] = ()) -> str:
        """Why a probe stopped at its ``seconds`` deadline was not done, as a :data:`probes._measures.REASONS` word.

        A request unanswered for a while (half the deadline, at most a second):
        the target hangs. An evidence source that long in being read: that
        source hangs, or the target does when the source is on its host
        (``target_hosts``, e.g. its own metrics endpoint). Else the probe was
        simply slower than its deadline (a request or read just begun is busy,
        not hanging).
        """
        now = self.frozen_at or time.time()
        stuck_after = min(1.0, seconds / 2)
        if any(now - x.sent_at >= stuck_after for x in self.in_flight.values()):
            return "target_timeout"
        if self.reading is not None and now - self.reading_since >= stuck_after:
            return "target_timeout" if self.reading in target_hosts else f"{self.reading}_unreadable"
        return "probe_timeout"


def target_hosts(profile: TargetProfile | None) -> tuple[str, ...]:
    """The evidence sources the target serves itself (a read hanging there is the target hanging)."""
    if profile is None:
        return ("metrics", "logs")  # the embedded gateway serves both
    host = httpx.URL(profile.base_url).netloc
    urls = {"metrics": profile.resolved_metrics_url, "logs": profile.resolved_log_url if profile.logs.kind == "gateway" else None}
    return tuple(name for name, url in urls.items() if url and httpx.URL(url).netloc == host)


def deadline_verdict(recorder: Recorder, scenario_name: str, seconds: float, started_at: float, why: str,
                     profile: TargetProfile | None = None) -> Verdict | None:
    """A failed verdict of what ``recorder`` saw before the deadline (None when the probe had not planned yet).

    Requests still in flight become exchanges with no answer ("timeout"), and
    the result names what the probe was waiting for (its ``evidence.reason``
    is :meth:`Recorder.deadline_reason`), so reports and the failure reason
    name the hanging target or source.
    """
    if recorder.plan is None:
        return None
    hung = [replace(x, error=f"no answer before the probe's deadline of {seconds:g} s") for x in recorder.in_flight.values()]
    ev = Evidence(plan=recorder.plan, exchanges=sorted([*recorder.answered, *hung], key=lambda x: x.sent_at), logs=list(recorder.logs),
                  alerts=list(recorder.alerts), calcom=list(recorder.calcom), spans=list(recorder.spans),
                  error_events=list(recorder.errors), cleanup=list(recorder.cleanup), started_at=started_at,
                  finished_at=time.time(), notes=[why])
    waiting = f"; {len(hung)} request(s) still unanswered" if hung else f"; it was in its {recorder.phase} phase"
    reason = recorder.deadline_reason(seconds, target_hosts(profile))
    if recorder.reading is not None and not hung:
        waiting = f"; it was still reading {recorder.reading} ({reason})"
    result = CheckResult(DEADLINE_CHECK, False, f"the probe did not finish within {seconds:g} s{waiting}",
                         expected=f"a verdict within {seconds:g} s", seen="deadline passed", evidence={"reason": reason})
    return Verdict(scenario=scenario_name, results=[result], evidence=ev)
