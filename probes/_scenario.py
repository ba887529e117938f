"""The scenario file: one synthetic call (or a batch of identical concurrent calls).

A scenario is data a reviewer can read: who calls, which Retell requests arrive
when, what Cal.com answers, and what the people on call must be able to see
afterwards. It is validated strictly (unknown keys are errors) because a typo
in an expectation would otherwise turn a check into one that cannot fail.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ._calcom import CalcomScript
from ._errors import ScenarioError
from ._yaml import YamlDocument, YamlProblem, field_path, first_problem, load_yaml_file, plain_problem

__all__ = [
    "AlertExpectation",
    "CalcomExpectation",
    "CallerSpec",
    "CorrelationExpectation",
    "ErrorExpectation",
    "Expectations",
    "LatencyExpectation",
    "LoadExpectation",
    "LoadStepLimits",
    "LogExpectation",
    "MetricExpectation",
    "PromqlExpectation",
    "Scenario",
    "StackAlertExpectation",
    "Step",
    "StepExpectation",
    "TelemetryExpectation",
    "TraceExpectation",
    "load_scenario",
    "parse_scenario",
]

EventName = Literal[
    "call_inbound",
    "call_started",
    "call_ended",
    "call_analyzed",
    "transcript_updated",
    "transfer_started",
    "transfer_bridged",
    "transfer_cancelled",
    "transfer_ended",
]
SignatureMode = Literal["valid", "missing", "forged", "stale", "malformed"]
StatusRole = Literal["webhook", "inbound", "function", "signature_rejected", "health", "ready", "not_ready"]
_PATH_ROLE = re.compile(r"^[a-z][a-z_]*$")
_ARG_REF = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_]+(\[\d+\])?$")
MAX_STORY_S = 86_400.0  # a call's story fits in a day (Retell ends a call after two hours at most)
MAX_REPLAY_S = 3_600.0  # what one scenario may take to replay: runs × its latest send_at × time_scale
MAX_REQUESTS = 100_000  # requests one scenario may send: calls × runs × deliveries
MAX_NAME = 200
_FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_NAME_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f/\\]")


def _check_name(name: str, what: str) -> str:
    """A name keys reports, timeline files and ``args_from``: something a person can read, type and print."""
    if not name.strip():
        raise ValueError(f"{what} is empty")
    if len(name) > MAX_NAME or _NAME_UNSAFE.search(name):
        raise ValueError(f"{what} is at most {MAX_NAME} characters, without control characters, / or \\")
    return name


class _Model(BaseModel):
    # NaN and infinity are never meant: a NaN bound lets every check pass, an infinite time never ends.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class StepExpectation(_Model):
    """What the gateway must answer to one step.

    ``status`` is a number, a list, or a status role of the contract
    (``webhook``, ``function``, ``signature_rejected``, ``not_ready`` …); when
    absent, a validly signed step must get its kind's role. ``result`` is the
    answer in contract roles (field role → expected value; a string value is a
    value role, e.g. ``error: calendar_unavailable``); ``body`` is a literal
    JSON subset for words outside the contract.
    """

    status: int | list[int] | StatusRole | None = None
    result: dict[str, Any] | None = Field(default=None, description="answer fields by contract role (results.fields / results.values)")
    synthetic_marked: bool | None = Field(default=None, description="the inbound answer marks the call as synthetic (results.synthetic)")
    body: dict[str, Any] | None = Field(default=None, description="a literal subset the JSON response must contain")
    within_ms: float | None = Field(default=None, gt=0, description="latency SLA for this request")
    correlation_header: bool = True

class Step(_Model):
    """One request Retell makes during the call.

    Exactly one of ``event``, ``function`` or ``http`` names it (``http`` is
    not Retell's: a plain request such as a readiness probe during a fault). ``at`` is the story time
    (seconds from call start, goes into the payload); ``send_at`` the time it is
    delivered, for out-of-order deliveries (default: ``at``).
    """

    event: EventName | None = None
    function: str | None = None
    http: str | None = Field(default=None,
                             description="a plain, unsigned request: a path role of the profile (health, ready) or a literal path (/…)")
    name: str | None = Field(default=None, description="step name used in reports and args_from")
    at: float = Field(default=0.0, ge=-MAX_STORY_S, le=MAX_STORY_S)
    send_at: float | None = Field(default=None, ge=0, le=MAX_STORY_S,
                                  description="when it is delivered, in story seconds from the start (default: at)")
    args: dict[str, Any] | None = None
    args_from: dict[str, str] = Field(default_factory=dict)
    args_from_per_call: bool = Field(default=False, description="concurrent call n takes item [i + n], so calls do not race for one slot")
    args_at_root: bool = False
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    outcome: Literal["slots", "no_slots", "booked", "slot_taken", "error", "cancelled", "hangup"] | None = None
    disconnection_reason: str | None = None
    signature: SignatureMode = "valid"
    repeat: int = Field(default=1, ge=1, le=10, description="deliveries of the same request (duplicates)")
    resign_repeats: bool = Field(default=False, description="duplicates carry a fresh signature timestamp")
    correlation_id: str | None = Field(default=None, description="send this X-Correlation-ID header")
    traceparent: bool = Field(default=False, description="send a W3C traceparent header")
    abandon_after_ms: float | None = Field(default=None, gt=0, description="hang up: stop waiting for the answer")
    expect: StepExpectation = Field(default_factory=StepExpectation)

    @model_validator(mode="after")
    def _one_kind(self) -> Step:
        if sum(k is not None for k in (self.event, self.function, self.http)) != 1:
            raise ValueError("a step needs exactly one of 'event', 'function' or 'http'")
        if self.http is not None and not (self.http.startswith("/") or _PATH_ROLE.match(self.http)):
            raise ValueError(f"http: {self.http!r} is neither a path (starting with /) nor a path role such as 'health' or 'ready'")
        if self.function is None and (self.args or self.args_from or self.args_at_root):
            raise ValueError("args, args_from and args_at_root belong to function steps")
        for key, ref in self.args_from.items():
            if not _ARG_REF.match(ref):
                raise ValueError(f"args_from.{key}: {ref!r} is not of the form '<step>.<field>' or '<step>.<field>[<n>]'")
        return self

    @field_validator("name")
    @classmethod
    def _step_name(cls, name: str | None) -> str | None:
        return None if name is None else _check_name(name, "a step's name")

    @field_validator("function")
    @classmethod
    def _function_name(cls, name: str | None) -> str | None:
        if name is not None and not _FUNCTION_NAME.fullmatch(name):
            raise ValueError("a function name is 1 to 64 of a-z, A-Z, 0-9, _ and - (Retell's rule for custom functions)")
        return name

    @property
    def label(self) -> str:
        return self.name or self.function or self.http or str(self.event)

    @property
    def is_retell(self) -> bool:
        return self.http is None


class CallerSpec(_Model):
    locale: Literal["en_US", "de_DE"] = "en_US"
    seed: int | None = None
    direction: Literal["inbound", "outbound"] = "inbound"
    dynamic_variables: dict[str, str] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)


class CorrelationExpectation(_Model):
    continuity: bool = True
    distinct_across_calls: bool = True
    in_logs: bool = True
    in_alerts: bool = True
    in_calcom_requests: bool = True


class MetricExpectation(_Model):
    """A metric delta between before and after the call.

    ``metric`` is a metric role of the contract and ``labels`` map label roles
    to value roles (``{status: created}``); the target profile says what they
    are called there. ``name`` (with literal labels) is for a metric outside
    the contract. Counters are exact (``delta``); histograms are checked by
    ``count_delta`` and, with ``le``, by the delta of one bucket.
    """

    metric: str | None = Field(default=None, min_length=1, description="a metric role of the contract (docs/contract.md)")
    name: str | None = Field(default=None, min_length=1, description="a literal metric name outside the contract")
    labels: dict[str, str] = Field(default_factory=dict)
    delta: float | None = None
    count_delta: float | None = None
    le: str | None = None
    bucket_delta: float | None = None

    @model_validator(mode="after")
    def _something(self) -> MetricExpectation:
        if (self.metric is None) == (self.name is None):
            raise ValueError("a metric expectation names exactly one of 'metric' (a contract role) or 'name' (a literal metric)")
        if self.delta is None and self.count_delta is None and self.bucket_delta is None:
            raise ValueError("a metric expectation needs delta, count_delta or bucket_delta")
        if (self.le is None) != (self.bucket_delta is None):
            raise ValueError("le and bucket_delta go together")
        return self

    @property
    def label(self) -> str:
        """How reports name the expectation: the role (or literal name) and its labels."""
        labels = ",".join(f"{k}={v}" for k, v in self.labels.items())
        return f"{self.metric or self.name}{{{labels}}}" if labels else str(self.metric or self.name)


class LogExpectation(_Model):
    """Log lines of this run's calls for one event role (``contract.logs.events``) at a level role."""

    event: str = Field(min_length=1, description="a log event role of the contract")
    level: str | None = Field(default=None, description="INFO, WARNING or ERROR (contract.logs.levels)")
    fields: dict[str, Any] = Field(default_factory=dict)
    min_count: int = Field(default=1, ge=0)
    max_count: int | None = Field(default=None, ge=0)


class CalcomExpectation(_Model):
    endpoint: str
    count: int | None = Field(default=None, ge=0)
    min_count: int | None = Field(default=None, ge=0)
    query: dict[str, str] = Field(default_factory=dict)
    body: dict[str, Any] = Field(default_factory=dict)
    event_type: bool = Field(default=False, description="the request names the target's event type (contract.calcom.event_type_id)")


class AlertExpectation(_Model):
    count: int | None = Field(default=None, ge=0, description="exact number of alert posts for this scenario")
    contains: list[str] = Field(default_factory=list, description="alert word roles every alert must contain (contract.alert_words)")


class LatencyExpectation(_Model):
    kind: Literal["webhook", "function", "any"] = "any"
    percentile: float = Field(default=95, gt=0, le=100)
    max_ms: float = Field(gt=0)


class TelemetryExpectation(_Model):
    logs_ms: float | None = Field(default=None, gt=0)
    metrics_ms: float | None = Field(default=None, gt=0)
    alerts_ms: float | None = Field(default=None, gt=0)


class PromqlExpectation(_Model):
    """A PromQL expression Prometheus must answer within bounds (stack mode only).

    ``$window`` in the query becomes the run's window in seconds, rounded up
    (``rate(x[$window])`` covers this scenario's calls). Instant by default;
    ``range: true`` asserts every point from the run's start until now.
    """

    query: str = Field(min_length=1)
    op: Literal["<", "<=", "==", ">", ">="]
    value: float
    range: bool = False


class StackAlertExpectation(_Model):
    """An alert rule's verdict as Alertmanager routes it (stack mode only)."""

    alertname: str = Field(min_length=1)
    fired: bool = True
    within_s: float = Field(default=10.0, gt=0, le=MAX_REPLAY_S,
                            description="fired within this long after the fault (or: silent this long)")
    resolved_within_s: float | None = Field(default=None, gt=0, le=MAX_REPLAY_S,
                                            description="resolved within this long after the fault ends")


class TraceExpectation(_Model):
    """Span trees of the steps that send ``traceparent: true`` (checks trace-continuity/-attributes/-error-status)."""

    continuity: bool = Field(default=True, description="a SERVER span continues the sent traceparent; Cal.com spans descend from it")
    attributes: bool = Field(default=True, description="server spans carry the call_id and correlation ID attributes")
    error_status: bool = Field(default=True, description="a step answered with a Cal.com failure has an error-status client span")


class ErrorExpectation(_Model):
    """Error events the tracker (Sentry) must receive for this scenario's calls (check error-reported)."""

    count: int | None = Field(default=None, ge=0, description="exact number of error events")
    min_count: int | None = Field(default=None, ge=0, description="at least this many error events")


class Expectations(_Model):
    correlation: CorrelationExpectation = Field(default_factory=CorrelationExpectation)
    metrics: list[MetricExpectation] = Field(default_factory=list)
    logs: list[LogExpectation] = Field(default_factory=list)
    pii_free_logs: bool = True
    calcom: list[CalcomExpectation] = Field(default_factory=list)
    alerts: AlertExpectation | None = None
    latency: list[LatencyExpectation] = Field(default_factory=list)
    telemetry_within: TelemetryExpectation = Field(default_factory=TelemetryExpectation)
    traces: TraceExpectation | None = None
    errors: ErrorExpectation | None = None
    promql: list[PromqlExpectation] = Field(default_factory=list, description="stack mode: PromQL against Prometheus")
    stack_alerts: list[StackAlertExpectation] = Field(default_factory=list, description="stack mode: Alertmanager alerts")


class LoadStepLimits(_Model):
    """Latency limits of one step under load, from the intended send time (coordinated omission corrected)."""

    p50_ms: float | None = Field(default=None, gt=0)
    p95_ms: float | None = Field(default=None, gt=0)
    p99_ms: float | None = Field(default=None, gt=0)


class LoadExpectation(_Model):
    """The SLA gate of a load run (``callprobe load``); the single-call catalogue ignores it.

    Besides these, ``expect.latency`` and each step's ``within_ms`` (as its p99)
    are thresholds of the gate. Every threshold needs ``min_samples`` samples
    (default: enough for its percentile, 20 for a p95, 100 for a p99); one that
    has fewer is *no data*, and a run with no completed call exits 2, never 0.
    """

    steps: dict[str, LoadStepLimits] = Field(default_factory=dict, description="step label (or 'call' for the whole call) → limits")
    max_error_ratio: float = Field(default=0.0, ge=0, le=1, description="failed requests / requests")
    min_calls: int = Field(default=1, ge=1, description="completed calls at least")
    min_rate_ratio: float = Field(default=0.9, ge=0, le=1, description="calls started / calls intended")
    min_samples: int | None = Field(default=None, ge=1, description="samples every percentile threshold needs")
    telemetry: bool = Field(default=True, description="telemetry completeness is part of the gate")


class Scenario(_Model):
    name: str
    description: str = ""
    markers: list[str] = Field(default_factory=list)
    severity: Literal["blocker", "critical", "normal", "minor", "trivial"] = "normal"
    epic: str | None = None
    feature: str | None = None
    story: str | None = None
    caller: CallerSpec = Field(default_factory=CallerSpec)
    production: Literal["safe", "unsafe"] = Field(
        default="unsafe", description="safe: may run against a target profile marked production: true (callprobe run, exporter)")
    calls: int = Field(default=1, ge=1, le=100, description="identical calls placed concurrently")
    runs: int = Field(default=1, ge=1, le=1000, description="repetitions, for percentile SLAs")
    time_scale: float = Field(default=0.01, gt=0, le=1, description="1 = real time; 0.01 = 100x faster")
    calcom: CalcomScript = Field(default_factory=CalcomScript)
    steps: list[Step] = Field(min_length=1)
    expect: Expectations = Field(default_factory=Expectations)
    load: LoadExpectation = Field(default_factory=LoadExpectation, description="the SLA gate of a load run")
    source: str | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _refs(self) -> Scenario:
        labels = [s.label for s in self.steps]
        for i, step in enumerate(self.steps):
            for key, ref in step.args_from.items():
                target = ref.split(".", 1)[0]
                if target not in labels[:i]:
                    raise ValueError(f"steps[{i}].args_from.{key}: no earlier step is named {target!r}")
        return self

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        return _check_name(name, "a scenario's name")

    @model_validator(mode="after")
    def _bounded(self) -> Scenario:
        """A scenario finishes: its replay takes at most an hour, its requests at most a load test's worth."""
        latest = max((s.send_at if s.send_at is not None else s.at for s in self.steps), default=0.0)
        replay = self.runs * max(latest, 0.0) * self.time_scale
        if replay > MAX_REPLAY_S:
            raise ValueError(f"time_scale: replaying takes {replay:,.0f} s (runs {self.runs} × latest send time {latest:g} s × "
                             f"time_scale {self.time_scale:g}), more than the {MAX_REPLAY_S:g} s a scenario may take")
        requests = self.calls * self.runs * sum(s.repeat for s in self.steps)
        if requests > MAX_REQUESTS:
            raise ValueError(f"calls: {self.calls} calls × {self.runs} runs × {sum(s.repeat for s in self.steps)} deliveries "
                             f"are {requests:,} requests, more than the {MAX_REQUESTS:,} one scenario may send")
        return self


def parse_scenario(data: Any, *, source: str = "<scenario>") -> Scenario:
    """Validate already-parsed YAML/JSON; errors name the source and the field."""
    return _validate(data, source, None)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file; errors name the file, the line and the field."""
    p = Path(path)
    try:
        doc = load_yaml_file(p)
    except OSError as exc:
        raise ScenarioError(f"cannot read the file ({exc.strerror or exc})", path=str(p)) from None
    except YamlProblem as exc:
        raise ScenarioError(str(exc), path=str(p), line=exc.line) from None
    return _validate(doc.data, str(p), doc)


def _validate(data: Any, source: str, doc: YamlDocument | None) -> Scenario:
    if data is None and doc is not None:
        raise ScenarioError("the file is empty; a scenario is a mapping with name and steps", path=source, line=1)
    if not isinstance(data, dict):
        raise ScenarioError(f"expected a mapping at the top level, got {type(data).__name__}", path=source, line=1 if doc else None)
    problem = plain_problem(data)
    if problem is not None:
        loc, why = problem
        raise ScenarioError(why, path=source, field=field_path(loc), line=doc.line_of(loc) if doc else None)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        loc, message = first_problem(exc)
        raise ScenarioError(message, path=source, field=field_path(loc), line=doc.line_of(loc) if doc else None) from None
    return scenario.model_copy(update={"source": source})
