"""Checks on what the gateway answered: reachable, status, signature rejection, body.

These read only the exchanges, so they hold for any target, whatever its
telemetry looks like.
"""

from __future__ import annotations

from .._evidence import CheckResult, Evidence, Exchange
from .._profile import Contract
from .._scenario import Scenario
from .._signing import SIGNATURE_HEADER
from ._common import answered, call_correlation_id, excerpt, js, step_of, subset_diff, where

__all__ = ["check_reachable", "check_signature_rejected", "check_status", "check_step_body"]


def _result(
    check: str, x: Exchange, passed: bool, reason: str, expected: str, seen: str, corr: str | None, evidence: object = None
) -> CheckResult:
    return CheckResult(
        check=check, passed=passed, reason=reason, expected=expected, seen=seen,
        call_id=x.call_id or None, correlation_id=corr, step=x.step, evidence=evidence,
    )


def _corr(scenario: Scenario, evidence: Evidence, x: Exchange, contract: Contract) -> str | None:
    return call_correlation_id(scenario, evidence, x.call_id, contract) or x.header(contract.correlation_header)


def _answer(x: Exchange) -> str:
    return f"{x.status} {excerpt(x.response_body, 160)}".rstrip()


def check_reachable(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """target-reachable: every request that was not deliberately abandoned got an answer."""
    out = []
    for x in evidence.exchanges:
        if x.abandoned:
            continue
        corr = _corr(scenario, evidence, x, contract)
        if x.error is not None:
            reason = f"{where(x)} got no answer: {x.error}"
            out.append(_result("target-reachable", x, False, reason, "an HTTP answer", x.error, corr))
        else:
            reason = f"{where(x)} answered {x.status}"
            out.append(_result("target-reachable", x, True, reason, "an HTTP answer", str(x.status), corr))
    return out


def _allowed(status: int | list[int]) -> list[int]:
    return list(status) if isinstance(status, list) else [status]


def check_status(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """step-status: ``expect.status`` when given, otherwise any 2xx for a validly signed step."""
    out = []
    for x in evidence.exchanges:
        step = step_of(scenario, x)
        if not answered(x) or step is None:
            continue
        if x.expect.status is not None:
            allowed = _allowed(x.expect.status)
            ok = x.status in allowed
            want = " or ".join(str(s) for s in allowed)
        elif step.signature == "valid":
            ok = x.status is not None and 200 <= x.status < 300
            want = "a 2xx"
        else:
            continue
        reason = f"{where(x)} answered {x.status}" + ("" if ok else f", expected {want}")
        out.append(_result("step-status", x, ok, reason, want, _answer(x), _corr(scenario, evidence, x, contract)))
    return out


def _signature_text(mode: str) -> str:
    if mode == "missing":
        return f"a request without {SIGNATURE_HEADER}"
    return f"a {mode} {SIGNATURE_HEADER}"


def check_signature_rejected(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """signature-rejected: a missing, forged, stale or malformed signature must get 401 (or expect.status)."""
    out = []
    for x in evidence.exchanges:
        step = step_of(scenario, x)
        if not answered(x) or step is None or step.signature == "valid" or not step.is_retell:
            continue
        allowed = _allowed(x.expect.status) if x.expect.status is not None else [401]
        want = " or ".join(str(s) for s in allowed)
        what = _signature_text(step.signature)
        status = x.status or 0
        if status in allowed:
            reason, ok = f"{what} was rejected with {status}", True
        elif 200 <= status < 300:
            reason, ok = f"{what} was accepted with {status}", False
        else:
            reason, ok = f"{what} was answered with {status}, expected {want}", False
        out.append(_result("signature-rejected", x, ok, reason, want, _answer(x), _corr(scenario, evidence, x, contract)))
    return out


def check_step_body(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """step-body: the JSON answer contains ``expect.body`` (recursive subset, first difference shown)."""
    out = []
    for x in evidence.exchanges:
        if x.expect.body is None or not answered(x):
            continue
        corr = _corr(scenario, evidence, x, contract)
        expected = js(x.expect.body)
        got = x.response_json
        if got is None:
            reason = f"{x.step}: the answer is not JSON: {excerpt(x.response_body, 80) or '(empty)'}"
            out.append(_result("step-body", x, False, reason, expected, _answer(x), corr))
            continue
        diff = subset_diff(x.expect.body, got)
        reason = f"{x.step}: {diff}" if diff else f"{x.step}: the answer contains {expected}"
        out.append(_result("step-body", x, diff is None, reason, expected, excerpt(js(got), 300), corr))
    return out
