"""callprobe: synthetic test calls and end-to-end probes for voice-AI phone gateways.

The layers can be used alone: build a :class:`Plan` from a :class:`Scenario`,
replay it with :func:`run_plan`, gather evidence, judge it with
:func:`run_checks` — or do all of it with :func:`probe`.
"""

from __future__ import annotations

from ._calcom import CalcomRule, CalcomScript, Fault, JournalEntry
from ._caller import SYNTHETIC_MARKER, Caller, make_caller
from ._checks import run_checks
from ._errors import (
    CheckFailed,
    ConfigError,
    ObserverError,
    ProbeError,
    ScenarioError,
    SignatureError,
    TargetError,
    TargetUnreachable,
)
from ._evidence import AlertPost, CheckResult, Evidence, Exchange, LogLine, MetricsSnapshot, Verdict
from ._plan import Paths, Plan, PlannedCall, PlannedRequest, build_plan
from ._probe import probe, probe_sync
from ._profile import Contract, TargetProfile, load_profile
from ._progress import MetricChange, ProbeEvent
from ._report import format_failure, verdict_to_json
from ._retell import CallSpec, StepSpec, render_call
from ._runner import RunOptions, run_plan
from ._scenario import Scenario, load_scenario, parse_scenario
from ._signing import SIGNATURE_HEADER, sign, verify

__all__ = [
    "SIGNATURE_HEADER",
    "SYNTHETIC_MARKER",
    "AlertPost",
    "CalcomRule",
    "CalcomScript",
    "CallSpec",
    "Caller",
    "CheckFailed",
    "CheckResult",
    "ConfigError",
    "Contract",
    "Evidence",
    "Exchange",
    "Fault",
    "JournalEntry",
    "LogLine",
    "MetricChange",
    "MetricsSnapshot",
    "ObserverError",
    "Paths",
    "Plan",
    "PlannedCall",
    "PlannedRequest",
    "ProbeError",
    "ProbeEvent",
    "RunOptions",
    "Scenario",
    "ScenarioError",
    "SignatureError",
    "StepSpec",
    "TargetError",
    "TargetProfile",
    "TargetUnreachable",
    "Verdict",
    "build_plan",
    "format_failure",
    "load_profile",
    "load_scenario",
    "make_caller",
    "parse_scenario",
    "probe",
    "probe_sync",
    "render_call",
    "run_checks",
    "run_plan",
    "sign",
    "verdict_to_json",
    "verify",
]
