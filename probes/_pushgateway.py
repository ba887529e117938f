"""Push a probe's verdict to a Prometheus Pushgateway (the production-probe side).

A one-shot ``callprobe probe`` (cron, CronJob) exits before Prometheus could
scrape it, so it pushes its result instead: ``callprobe_probe_success``,
``callprobe_probe_duration_seconds`` and one ``callprobe_check_success`` per
check, on a fresh registry (nothing from the process' global registry leaks
in). The shipped rule ``CallprobeProbeFailing`` pages on a failed probe.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge, delete_from_gateway, push_to_gateway

from ._errors import TargetError
from ._evidence import Verdict

__all__ = ["DEFAULT_JOB", "delete_verdict", "push_verdict", "verdict_registry"]

DEFAULT_JOB = "callprobe"


def verdict_registry(verdict: Verdict) -> CollectorRegistry:
    """The verdict as gauges on a new registry (a check passes only if all its results pass)."""
    registry = CollectorRegistry()
    success = Gauge("callprobe_probe_success", "1 if every check of the synthetic call passed", ["scenario"], registry=registry)
    duration = Gauge("callprobe_probe_duration_seconds", "Wall time of the synthetic call, collection included",
                     ["scenario"], registry=registry)
    checks = Gauge("callprobe_check_success", "1 if every result of this check passed", ["scenario", "check"], registry=registry)
    success.labels(scenario=verdict.scenario).set(1 if verdict.passed else 0)
    ev = verdict.evidence
    duration.labels(scenario=verdict.scenario).set(max(0.0, ev.finished_at - ev.started_at))
    per_check: dict[str, bool] = {}
    for result in verdict.results:
        if not result.observed:
            continue  # not observed is not success: no gauge rather than a 1
        per_check[result.check] = per_check.get(result.check, True) and result.passed
    for check, passed in per_check.items():
        checks.labels(scenario=verdict.scenario, check=check).set(1 if passed else 0)
    return registry


def _address(url: str) -> str:
    return url.rstrip("/")


def push_verdict(url: str, verdict: Verdict, job: str = DEFAULT_JOB, timeout: float = 10.0) -> None:
    """PUT the verdict's metrics to the Pushgateway at ``url`` under ``job`` (grouped by scenario)."""
    try:
        push_to_gateway(_address(url), job=job, registry=verdict_registry(verdict), timeout=timeout,
                        grouping_key={"scenario": verdict.scenario})
    except OSError as exc:
        raise TargetError(f"push to the Pushgateway failed ({exc})", endpoint=_address(url)) from None


def delete_verdict(url: str, scenario: str, job: str = DEFAULT_JOB, timeout: float = 10.0) -> None:
    """DELETE what :func:`push_verdict` pushed for ``scenario`` (tests clean up after themselves)."""
    try:
        delete_from_gateway(_address(url), job=job, grouping_key={"scenario": scenario}, timeout=timeout)
    except OSError as exc:
        raise TargetError(f"delete from the Pushgateway failed ({exc})", endpoint=_address(url)) from None
