"""The observability contract: what a scenario may expect of a target, said in roles.

A scenario never names a word that only one gateway uses. It says "the
booking counter moved for a created booking" (metric role ``bookings``, label
role ``status``, value role ``created``), "a line for the event
``booking_created``", "the answer's ``error`` is ``calendar_unavailable``".
The contract maps every role to the target's own word. Its defaults are the
words of the design (the reference gateway speaks them); a target profile
overrides any of them under ``contract:`` and inherits the rest, so a correct
gateway that says ``outcome="success"`` where the reference says
``status="created"`` passes with a profile alone. ``docs/contract.md`` lists
every key with its default.

A role the contract cannot map, or maps to ``null`` ("this target has no such
thing"), is not a failure and never a pass: the check that needed it reports
*not observed* and names the profile key that would make it observable.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ._errors import UnmappedRole

__all__ = [
    "DEFAULTS",
    "Contract",
    "LabelMap",
    "MetricMap",
    "Series",
    "StatusSet",
    "dig",
    "render_promql",
]


def _values(*words: str) -> dict[str, str]:
    return {w: w for w in words}


_RETELL_EVENTS = ("call_inbound", "call_started", "call_ended", "call_analyzed", "transcript_updated", "transfer_started",
                  "transfer_bridged", "transfer_cancelled", "transfer_ended", "check_availability", "book_appointment",
                  "cancel_appointment")

# The single source of the defaults: the model below merges a profile's `contract:` over it,
# and docs/contract.md is checked against it (tests/test_contract.py).
DEFAULTS: dict[str, Any] = {
    "correlation_header": "X-Correlation-ID",
    "metrics": {
        "webhooks": {"name": "askproai_webhooks_total", "labels": {
            "provider": {"name": "provider", "values": _values("retell")},
            "event": {"name": "event", "values": _values(*_RETELL_EVENTS)},
            "status": {"name": "status", "values": _values("processed", "duplicate", "rejected", "invalid")},
        }},
        "webhook_duration": {"name": "askproai_webhook_processing_duration_seconds", "type": "histogram", "labels": {
            "provider": {"name": "provider", "values": _values("retell")},
            "event": {"name": "event", "values": _values(*_RETELL_EVENTS)},
        }},
        "http_requests": {"name": "askproai_http_requests_total", "labels": {
            "method": {"name": "method", "open": True},
            "endpoint": {"name": "endpoint", "open": True},
            "status": {"name": "status", "open": True},
        }},
        "http_duration": {"name": "askproai_http_request_duration_seconds", "type": "histogram", "labels": {
            "method": {"name": "method", "open": True},
            "endpoint": {"name": "endpoint", "open": True},
        }},
        "bookings": {"name": "askproai_bookings_total", "labels": {
            "status": {"name": "status", "values": _values("created", "slot_taken", "failed", "rejected", "cancelled")},
            "source": {"name": "source", "values": _values("retell")},
        }},
        "calls": {"name": "askproai_calls_total", "labels": {
            "status": {"name": "status", "values": _values("inbound", "started", "ended", "analyzed", "not_connected", "error")},
            "company": {"name": "company", "open": True},
        }},
        "errors": {"name": "askproai_errors_total", "labels": {
            "type": {"name": "type", "values": _values("calendar_unavailable", "calendar_timeout", "rate_limited",
                                                       "invalid_signature", "invalid_json")},
            "severity": {"name": "severity", "values": _values("critical", "warning")},
        }},
    },
    "logs": {
        "fields": {"event": "event", "level": "level", "correlation_id": "correlation_id", "call_id": "call_id",
                   "timestamp": "timestamp", "message": "message"},
        "levels": {"INFO": "INFO", "WARNING": "WARNING", "ERROR": "ERROR"},
        "events": _values("call_inbound", "call_started", "call_ended", "call_analyzed", "function_called",
                          "availability_checked", "booking_created", "booking_slot_taken", "booking_cancelled",
                          "calcom_request_failed", "signature_invalid", "webhook_duplicate"),
    },
    "results": {
        "fields": _values("available", "slots", "booked", "booking_uid", "alternatives", "error", "cancelled"),
        "values": _values("calendar_unavailable", "calendar_timeout", "rate_limited", "slot_taken"),
        "synthetic": "call_inbound.metadata.synthetic",
    },
    "statuses": {"webhook": ["2xx"], "inbound": ["2xx"], "function": ["2xx"], "signature_rejected": [401],
                 "health": [200], "ready": [200], "not_ready": [503]},
    "alert_words": _values("calendar_unavailable", "calendar_timeout", "rate_limited"),
    "calcom": {"event_type_id": 1001},
    "sla": {"webhook_p95_ms": 500.0, "histogram_edges_ms": [500.0], "logs_ms": 5000.0, "metrics_ms": 5000.0,
            "alerts_ms": 10000.0},
    "spans": {"call_id_attribute": "retell.call_id", "correlation_attribute": "callprobe.correlation_id"},
    "error_tags": {"call_id": "call_id", "correlation_id": "correlation_id"},
    "synthetic_label": None,
}

_SUFFIXES = ("", "_bucket", "_count", "_sum")
STATUS_CLASS = re.compile(r"^[1-5]xx$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # a NaN or infinite bound is never meant


class LabelMap(_Model):
    """One label of a metric role: the target's label name and its words for the value roles.

    ``name: null`` says the target has no such label (it is left out of the
    selection); a value mapped to ``null`` says the target does not count that
    case (an expectation on it is not observed). ``open`` labels (company,
    endpoint) take the scenario's value as written.
    """

    name: str | None
    open: bool = False
    values: dict[str, str | None] = Field(default_factory=dict)


class MetricMap(_Model):
    """A metric role: the target's metric name (``null``: it has none), its type and labels."""

    name: str | None
    type: Literal["counter", "histogram"] = "counter"
    labels: dict[str, LabelMap] = Field(default_factory=dict)


class LogMap(_Model):
    fields: dict[str, str]
    levels: dict[str, str | None]
    events: dict[str, str | None]


class ResultMap(_Model):
    """Function answers: field roles → the target's key (dotted for nesting), value roles → its words."""

    fields: dict[str, str | None]
    values: dict[str, str | None]
    synthetic: str | None = Field(description="where the inbound answer marks a synthetic call (dotted path)")


class StatusMap(_Model):
    webhook: list[int | str]
    inbound: list[int | str]
    function: list[int | str]
    signature_rejected: list[int | str]
    health: list[int | str]
    ready: list[int | str]
    not_ready: list[int | str]


class CalcomMap(_Model):
    event_type_id: int | None = Field(description="the Cal.com event type the target books (the mock's 1001 is 'cleaning', 30 min)")


class SlaMap(_Model):
    webhook_p95_ms: float = Field(gt=0)
    histogram_edges_ms: list[float]
    logs_ms: float = Field(gt=0)
    metrics_ms: float = Field(gt=0)
    alerts_ms: float = Field(gt=0)


class SpanMap(_Model):
    call_id_attribute: str
    correlation_attribute: str


class ErrorTagMap(_Model):
    call_id: str
    correlation_id: str


class SyntheticLabel(_Model):
    """A label the gateway adds to series moved by synthetic calls (``shared: true`` targets)."""

    name: str = Field(min_length=1)
    value: str = Field(min_length=1)


@dataclass(frozen=True)
class Series:
    """A resolved metric selection: the sample name and the labels a matching series carries."""

    name: str
    labels: dict[str, str]


@dataclass(frozen=True)
class StatusSet:
    """HTTP statuses a role allows: exact codes and classes (``2xx``)."""

    codes: tuple[int | str, ...]

    def allows(self, status: int | None) -> bool:
        if status is None:
            return False
        return any(status == c if isinstance(c, int) else str(status)[0] == str(c)[0] for c in self.codes)

    def __str__(self) -> str:
        return " or ".join(str(c) for c in self.codes)


def _merge(base: Any, over: Any) -> Any:
    """``over`` laid on ``base``: mappings merge key by key, anything else replaces."""
    if isinstance(base, Mapping) and isinstance(over, Mapping):
        out = dict(base)
        for key, value in over.items():
            out[key] = _merge(base[key], value) if key in base else value
        return out
    return copy.deepcopy(over)


class Contract(_Model):
    """The contract as a target speaks it: the defaults, with whatever the profile overrides."""

    correlation_header: str = Field(default=DEFAULTS["correlation_header"], min_length=1)
    metrics: dict[str, MetricMap] = Field(default_factory=lambda: {k: MetricMap.model_validate(v) for k, v in DEFAULTS["metrics"].items()})
    logs: LogMap = Field(default_factory=lambda: LogMap.model_validate(DEFAULTS["logs"]))
    results: ResultMap = Field(default_factory=lambda: ResultMap.model_validate(DEFAULTS["results"]))
    statuses: StatusMap = Field(default_factory=lambda: StatusMap.model_validate(DEFAULTS["statuses"]))
    alert_words: dict[str, str | None] = Field(default_factory=lambda: dict(DEFAULTS["alert_words"]))
    calcom: CalcomMap = Field(default_factory=lambda: CalcomMap.model_validate(DEFAULTS["calcom"]))
    sla: SlaMap = Field(default_factory=lambda: SlaMap.model_validate(DEFAULTS["sla"]))
    spans: SpanMap = Field(default_factory=lambda: SpanMap.model_validate(DEFAULTS["spans"]))
    error_tags: ErrorTagMap = Field(default_factory=lambda: ErrorTagMap.model_validate(DEFAULTS["error_tags"]))
    synthetic_label: SyntheticLabel | None = None

    @model_validator(mode="before")
    @classmethod
    def _over_defaults(cls, data: Any) -> Any:
        return _merge(DEFAULTS, data if isinstance(data, Mapping) else {})

    @model_validator(mode="after")
    def _statuses(self) -> Contract:
        for role, codes in self.statuses.model_dump().items():
            for code in codes:
                if isinstance(code, str) and not STATUS_CLASS.match(code):
                    raise ValueError(f"statuses.{role}: {code!r} is neither an HTTP status nor a class like '2xx'")
        return self

    # -- metrics ----------------------------------------------------------------

    def metric(self, role: str) -> MetricMap:
        found = self.metrics.get(role)
        if found is None or found.name is None:
            why = "is not a metric role of the contract" if found is None else "is mapped to null (the target has none)"
            raise UnmappedRole(f"metric {role!r} {why}", key=f"contract.metrics.{role}.name")
        return found

    def series(self, role: str, labels: Mapping[str, str], suffix: str = "") -> Series:
        """The target's sample name and labels for a metric role and label/value roles."""
        metric = self.metric(role)
        assert suffix in _SUFFIXES
        out: dict[str, str] = {}
        for label_role, value_role in labels.items():
            name, value = self.label(role, label_role, value_role)
            if name is not None:
                out[name] = value
        if self.synthetic_label is not None:
            out[self.synthetic_label.name] = self.synthetic_label.value
        return Series(f"{metric.name}{suffix}", out)

    def label(self, role: str, label_role: str, value_role: str) -> tuple[str | None, str]:
        """(the target's label name or None when it has no such label, the target's value)."""
        metric = self.metric(role)
        label = metric.labels.get(label_role)
        key = f"contract.metrics.{role}.labels.{label_role}"
        if label is None:
            raise UnmappedRole(f"label {label_role!r} is not a label role of metric {role!r}", key=key)
        if label.name is None:
            return None, value_role
        if label.open:
            return label.name, value_role
        if value_role not in label.values:
            raise UnmappedRole(f"{role}.{label_role}={value_role!r} is not a value role of the contract", key=f"{key}.values.{value_role}")
        value = label.values[value_role]
        if value is None:
            raise UnmappedRole(f"{role}.{label_role}={value_role!r} is mapped to null (the target does not count it)",
                               key=f"{key}.values.{value_role}")
        return label.name, value

    # -- logs -----------------------------------------------------------------------

    def log_field(self, role: str) -> str:
        return self.logs.fields.get(role, role)

    def log_event(self, role: str) -> str:
        return self._word(self.logs.events, role, "log event", "contract.logs.events")

    def log_level(self, role: str) -> str:
        return self._word(self.logs.levels, role.upper(), "log level", "contract.logs.levels")

    # -- function answers, statuses, alerts -----------------------------------------

    def result_field(self, role: str) -> str:
        return self._word(self.results.fields, role, "result field", "contract.results.fields")

    def result_value(self, role: str) -> str:
        return self._word(self.results.values, role, "result value", "contract.results.values")

    def status(self, role: str) -> StatusSet:
        codes = getattr(self.statuses, role, None)
        if codes is None:
            raise UnmappedRole(f"status {role!r} is not a status role of the contract", key=f"contract.statuses.{role}")
        return StatusSet(tuple(codes))

    def alert_word(self, role: str) -> str:
        return self._word(self.alert_words, role, "alert word", "contract.alert_words")

    @staticmethod
    def _word(table: Mapping[str, str | None], role: str, what: str, key: str) -> str:
        if role not in table:
            raise UnmappedRole(f"{what} {role!r} is not a role of the contract", key=f"{key}.{role}")
        word = table[role]
        if word is None:
            raise UnmappedRole(f"{what} {role!r} is mapped to null (the target has none)", key=f"{key}.{role}")
        return word


def dig(value: Any, path: str) -> tuple[bool, Any]:
    """(found, value) at a dotted ``path`` inside nested JSON objects."""
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return False, None
        value = value[part]
    return True, value


_PLACEHOLDER = re.compile(r"\$\{(?P<role>[A-Za-z_][\w.]*)\}(?P<suffix>_bucket|_count|_sum)?(?P<matchers>\{[^{}]*\})?")
_MATCHER = re.compile(r'\s*(?P<label>[A-Za-z_]\w*)\s*(?P<op>=~|!~|!=|=)\s*"(?P<value>(?:[^"\\]|\\.)*)"\s*(?:,|$)')
_WORDS = re.compile(r"^[\w.:-]+(?:\|[\w.:-]+)*$")
_RE2_SPECIAL = set(".+*?()[]{}^$|\\")


def _regex_word(word: str) -> str:
    """A literal word inside a PromQL regex string (metacharacters escaped for RE2 and the string)."""
    return "".join(f"\\\\{c}" if c in _RE2_SPECIAL else c for c in word)


def render_promql(contract: Contract, text: str) -> str:
    """PromQL written in roles, in the target's words.

    ``${role}`` is a metric role's name (``${webhook_duration}_bucket`` adds a
    suffix), and a matcher block right after it is in role words too:
    ``${errors}{type=~"calendar_unavailable|rate_limited"}`` becomes
    ``othergw_failures_total{kind=~"calendar_down|calendar_busy"}`` for a
    target that says so. A matcher on a label the target does not have is
    dropped; a regex that is not a plain alternation of words is kept as
    written. ``${sla.webhook_p95_s}`` is the contract's webhook SLA in seconds.
    Raises UnmappedRole for a role the contract cannot map.
    """

    def one(m: re.Match[str]) -> str:
        role = m["role"]
        if role.startswith("sla."):
            return _sla_value(contract, role)
        metric = contract.metric(role)
        name = f"{metric.name}{m['suffix'] or ''}"
        if m["matchers"] is None:
            return name
        rendered = [r for r in (_matcher(contract, role, g) for g in _MATCHER.finditer(m["matchers"][1:-1])) if r]
        return name + "{" + ",".join(rendered) + "}"

    return _PLACEHOLDER.sub(one, text)


def _sla_value(contract: Contract, role: str) -> str:
    key = role.removeprefix("sla.")
    if key.endswith("_s") and hasattr(contract.sla, key[:-2] + "_ms"):
        return f"{getattr(contract.sla, key[:-2] + '_ms') / 1000:g}"
    if hasattr(contract.sla, key):
        return f"{getattr(contract.sla, key):g}"
    raise UnmappedRole(f"{role!r} is not an SLA of the contract", key=f"contract.{role}")


def _matcher(contract: Contract, role: str, m: re.Match[str]) -> str | None:
    """One matcher in the target's words; None when the target has no such label (or the matcher excludes nothing)."""
    label_role, op, value = m["label"], m["op"], m["value"]
    label = contract.metric(role).labels.get(label_role)
    if label is None:
        raise UnmappedRole(f"label {label_role!r} is not a label role of metric {role!r}",
                           key=f"contract.metrics.{role}.labels.{label_role}")
    if label.name is None:
        return None
    if label.open or (op in ("=~", "!~") and not _WORDS.match(value)):
        return f'{label.name}{op}"{value}"'
    words = value.split("|") if op in ("=~", "!~") else [value]
    key = f"contract.metrics.{role}.labels.{label_role}.values"
    unknown = [w for w in words if w not in label.values]
    if unknown:
        raise UnmappedRole(f"{role}.{label_role}={unknown[0]!r} is not a value role of the contract", key=f"{key}.{unknown[0]}")
    mapped = [w for word in words if (w := label.values[word]) is not None]
    if not mapped and op in ("=", "=~"):
        raise UnmappedRole(f"{role}.{label_role}={value!r} is mapped to null (the target does not count it)", key=f"{key}.{words[0]}")
    if not mapped:
        return None
    if op in ("=", "!="):
        return f'{label.name}{op}"{mapped[0]}"'
    return f'{label.name}{op}"' + "|".join(_regex_word(w) for w in mapped) + '"'
