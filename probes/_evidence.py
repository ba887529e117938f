"""What a synthetic call leaves behind, with timestamps: the input of every check.

The runner records exchanges, the observers add metric snapshots, log lines,
alert posts and Cal.com journal entries; checks only read this. Every record
keeps the wall-clock time it became visible, so time-to-telemetry is a fact
of the evidence, not something a check has to measure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ._bounded import strict_json
from ._calcom import JournalEntry
from ._pii import excerpt, redact_phones
from ._plan import Plan
from ._scenario import StepExpectation
from ._spans import ErrorEvent, Span

__all__ = [
    "AlertPost",
    "CheckResult",
    "Evidence",
    "Exchange",
    "LogLine",
    "MetricsSnapshot",
    "PromqlEvaluation",
    "SeriesKey",
    "StackAlertSeen",
    "Verdict",
    "series_key",
]

SeriesKey = tuple[str, frozenset[tuple[str, str]]]


def series_key(name: str, labels: Mapping[str, str]) -> SeriesKey:
    return (name, frozenset(labels.items()))


@dataclass(frozen=True)
class Exchange:
    """One request callprobe sent and what came back (or did not)."""

    call_index: int
    call_id: str
    step_index: int
    step: str
    delivery: int
    kind: str
    method: str
    path: str
    request_headers: Mapping[str, str]
    request_body: str
    sent_at: float
    expect: StepExpectation
    latency_ms: float | None = None
    status: int | None = None
    response_headers: Mapping[str, str] = field(default_factory=dict)
    response_body: str = ""
    error: str | None = None
    abandoned: bool = False

    @property
    def response_json(self) -> Any:
        """The answer as JSON (strictly: no NaN, at most 100 levels deep); None when it is not."""
        try:
            return strict_json(self.response_body) if self.response_body else None
        except ValueError:
            return None

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for key, value in self.response_headers.items():
            if key.lower() == lname:
                return value
        return None

    @property
    def server_ms(self) -> float | None:
        """The gateway's own processing time, from ``Server-Timing: app;dur=…``."""
        raw = self.header("Server-Timing") or ""
        for part in raw.split(","):
            fields = [f.strip() for f in part.split(";")]
            for f in fields[1:]:
                if f.startswith("dur="):
                    try:
                        return float(f[4:])
                    except ValueError:
                        return None
        return None


@dataclass(frozen=True)
class MetricsSnapshot:
    """Every sample of one scrape, keyed by (name, labels)."""

    taken_at: float
    samples: Mapping[SeriesKey, float]
    duplicates: tuple[SeriesKey, ...] = ()  # series the exposition named more than once (the first value is kept)

    def value(self, name: str, labels: Mapping[str, str] | None = None) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels``."""
        want = set((labels or {}).items())
        return sum(v for (n, ls), v in self.samples.items() if n == name and want <= ls)

    def has(self, name: str) -> bool:
        """Some series of ``name`` is exposed."""
        return any(n == name for n, _ in self.samples)

    def label_sets(self, name: str) -> list[dict[str, str]]:
        return [dict(ls) for (n, ls) in self.samples if n == name]


@dataclass(frozen=True)
class LogLine:
    seen_at: float
    record: Mapping[str, Any]
    raw: str


@dataclass(frozen=True)
class AlertPost:
    seen_at: float
    payload: Mapping[str, Any]

    @property
    def text(self) -> str:
        return json.dumps(self.payload, ensure_ascii=False)

    def headline(self, phones: tuple[str, ...] = ()) -> str:
        """The first line of the alert's text (Slack ``text``, else the first block's text, else its JSON).

        Caller phone numbers in it are masked: a reason must not spread what the alert leaked.
        """
        text = self.payload.get("text")
        if not isinstance(text, str) or not text.strip():
            blocks = self.payload.get("blocks")
            first = blocks[0] if isinstance(blocks, list) and blocks else None
            inner = first.get("text") if isinstance(first, dict) else None
            text = inner.get("text") if isinstance(inner, dict) else inner
        if not isinstance(text, str) or not text.strip():
            text = self.text
        return excerpt(redact_phones(text.strip().splitlines()[0], phones), 100)


@dataclass(frozen=True)
class PromqlEvaluation:
    """One PromQL expectation as Prometheus last answered it (stack mode).

    ``values`` are (series labels as text, value) pairs: every series of an
    instant answer, or every point of a range answer; empty = no data.
    """

    index: int
    query: str
    evaluated_at: float
    window_s: int
    values: tuple[tuple[str, float], ...]
    error: str | None = None


@dataclass(frozen=True)
class StackAlertSeen:
    """When an alert became visible in Alertmanager's API and at its webhook receiver."""

    alertname: str
    fault_at: float
    fault_ended_at: float
    firing_api_at: float | None = None
    firing_webhook_at: float | None = None
    resolved_webhook_at: float | None = None
    grouped: bool | None = None
    group_key: str | None = None


@dataclass
class Evidence:
    """Everything observed for one run of a scenario."""

    plan: Plan
    exchanges: list[Exchange] = field(default_factory=list)
    metrics_before: MetricsSnapshot | None = None
    metrics_after: MetricsSnapshot | None = None
    metric_seen_at: dict[int, float] = field(default_factory=dict)
    unseen_at: dict[str, float] = field(default_factory=dict)  # kind → start of the latest read that did not show it yet
    logs: list[LogLine] = field(default_factory=list)
    alerts: list[AlertPost] = field(default_factory=list)
    calcom: list[JournalEntry] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    error_events: list[ErrorEvent] = field(default_factory=list)
    cleanup: list[Exchange] = field(default_factory=list)
    booked: list[str] = field(default_factory=list)  # uids of the bookings the probe's calls made
    cleanup_left: list[str] = field(default_factory=list)  # uids of bookings the cleanup could not cancel
    started_at: float = 0.0
    finished_at: float = 0.0
    notes: list[str] = field(default_factory=list)
    promql: list[PromqlEvaluation] = field(default_factory=list)
    stack_alerts: list[StackAlertSeen] = field(default_factory=list)
    sources: tuple[str, ...] = ()  # the evidence sources the profile names (metrics, logs, alerts, …)
    source_errors: dict[str, str] = field(default_factory=dict)  # source → why it could not be read (first error)
    shared: bool = False  # the target serves other traffic too (profile ``shared: true``)
    collected_at: float = 0.0  # when the last evidence was read

    def for_call(self, call_index: int) -> list[Exchange]:
        return [x for x in self.exchanges if x.call_index == call_index]

    def correlation_ids(self, call_index: int) -> set[str]:
        """Every ID the target answered to a request of call ``call_index`` (in the plan's correlation header)."""
        header = self.plan.correlation_header
        return {v for x in self.for_call(call_index) if (v := x.header(header))}

    def readable(self, source: str) -> bool:
        """The profile names ``source`` and it could be read throughout the run."""
        return source in self.sources and source not in self.source_errors


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: passed or not, one line why, and what it looked at.

    ``observed=False`` marks an expectation the target gave callprobe no way
    to see (no trace backend, no Prometheus): it does not fail the verdict, but
    it is reported as *not observed* rather than dropped, so a profile that
    silently checks less than the scenario asks for is visible (and, with
    ``--callprobe-strict``, fails).
    """

    check: str
    passed: bool
    reason: str
    expected: str = ""
    seen: str = ""
    call_id: str | None = None
    correlation_id: str | None = None
    step: str | None = None
    evidence: Any = None
    observed: bool = True


@dataclass
class Verdict:
    scenario: str
    results: list[CheckResult]
    evidence: Evidence

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if not r.passed]

    @property
    def unobserved(self) -> list[CheckResult]:
        return [r for r in self.results if not r.observed]

    def failed_checks(self) -> set[str]:
        return {r.check for r in self.failures}

    def strict(self) -> Verdict:
        """The same verdict with every not-observed result failed: checking less than asked is a failure."""
        results = [r if r.observed else replace(r, passed=False) for r in self.results]
        return Verdict(self.scenario, results, self.evidence)
