"""telemetry-reachable: every evidence source the target profile names could be read throughout the run.

A metrics endpoint that answers 500 after a deploy, a log backend that moved,
an expired token: the people on call are as blind as the probe. Without this
check such a run would show only its consequences (a metric delta "not
scraped", zero log lines), each pointing somewhere else; this one names the
source, the endpoint and the answer.
"""

from __future__ import annotations

from .._contract import Contract
from .._evidence import CheckResult, Evidence
from .._scenario import Scenario

__all__ = ["SOURCE_NAMES", "check_telemetry_reachable"]

SOURCE_NAMES = {
    "metrics": "metrics endpoint",
    "logs": "log source",
    "alerts": "alert sink",
    "calcom": "Cal.com mock admin API",
    "traces": "trace backend",
    "errors": "error-event backend",
    "prometheus": "Prometheus/Alertmanager",
}


def check_telemetry_reachable(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """telemetry-reachable: one result per source the profile names; failed when it could not be read."""
    out = []
    for source in evidence.sources:
        what = SOURCE_NAMES.get(source, source)
        error = evidence.source_errors.get(source)
        if error is None:
            out.append(CheckResult("telemetry-reachable", True, f"{what}: read throughout the run", f"{what} readable", "read"))
        else:
            # Observer errors already name the source and its endpoint (never a token or query).
            out.append(CheckResult("telemetry-reachable", False, error, f"{what} readable", "unreadable"))
    return out
