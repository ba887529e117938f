"""Checks on what the gateway answered: reachable, status, signature rejection, body.

These read only the exchanges, so they hold for any target, whatever its
telemetry looks like.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._contract import Contract, StatusSet, dig
from .._errors import UnmappedRole
from .._evidence import CheckResult, Evidence, Exchange
from .._scenario import Scenario, Step
from .._signing import SIGNATURE_HEADER
from ._common import answered, call_correlation_id, excerpt, js, step_of, subset_diff, unmapped, where

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


def _status_role(x: Exchange, step: Step) -> str | None:
    """The contract's status role for a step's kind, when the scenario states no status."""
    if step.http is not None:
        return step.http if step.http in ("health", "ready") else None
    if step.function is not None:
        return "function"
    return "inbound" if step.event == "call_inbound" else "webhook"


def allowed_statuses(x: Exchange, step: Step, contract: Contract) -> StatusSet | None:
    """What the step may be answered with: ``expect.status`` (a number, a list or a role) or its kind's role.

    None: nothing to check (a step with a bad signature and no stated status is
    judged by signature-rejected). Raises UnmappedRole for a role the contract lacks.
    """
    want = x.expect.status
    if isinstance(want, str):
        return contract.status(want)
    if want is not None:
        return StatusSet(tuple(want) if isinstance(want, list) else (want,))
    if step.is_retell and step.signature != "valid":
        return None
    role = _status_role(x, step)
    return contract.status(role) if role else StatusSet(("2xx",))


def check_status(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """step-status: ``expect.status`` when given, otherwise the contract's status for the step's kind."""
    out = []
    for x in evidence.exchanges:
        step = step_of(scenario, x)
        if not answered(x) or step is None:
            continue
        try:
            allowed = allowed_statuses(x, step, contract)
        except UnmappedRole as exc:
            out.append(unmapped("step-status", exc))
            continue
        if allowed is None:
            continue
        ok = allowed.allows(x.status)
        reason = f"{where(x)} answered {x.status}" + ("" if ok else f", expected {allowed}")
        out.append(_result("step-status", x, ok, reason, str(allowed), _answer(x), _corr(scenario, evidence, x, contract)))
    return out


def _signature_text(mode: str) -> str:
    if mode == "missing":
        return f"a request without {SIGNATURE_HEADER}"
    return f"a {mode} {SIGNATURE_HEADER}"


def check_signature_rejected(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """signature-rejected: a missing, forged, stale or malformed signature must be refused (statuses.signature_rejected)."""
    out = []
    for x in evidence.exchanges:
        step = step_of(scenario, x)
        if not answered(x) or step is None or step.signature == "valid" or not step.is_retell:
            continue
        try:
            allowed = contract.status(x.expect.status) if isinstance(x.expect.status, str) else (
                StatusSet(tuple(_listed(x.expect.status))) if x.expect.status is not None else contract.status("signature_rejected"))
        except UnmappedRole as exc:
            out.append(unmapped("signature-rejected", exc))
            continue
        what = _signature_text(step.signature)
        status = x.status or 0
        if allowed.allows(status):
            reason, ok = f"{what} was rejected with {status}", True
        elif 200 <= status < 300:
            reason, ok = f"{what} was accepted with {status}", False
        else:
            reason, ok = f"{what} was answered with {status}, expected {allowed}", False
        out.append(_result("signature-rejected", x, ok, reason, str(allowed), _answer(x), _corr(scenario, evidence, x, contract)))
    return out


def _listed(status: int | list[int]) -> list[int]:
    return list(status) if isinstance(status, list) else [status]


def _expected_result(expect: Mapping[str, Any], contract: Contract) -> list[tuple[str, Any]]:
    """(the target's field path, the value it must hold) for each field role of ``expect.result``."""
    out = []
    for role, value in expect.items():
        path = contract.result_field(role)
        out.append((path, contract.result_value(value) if isinstance(value, str) else value))
    return out


def _result_diff(x: Exchange, got: Any, contract: Contract) -> str | None:
    """The first difference between the answer and ``expect.result`` / ``synthetic_marked``, or None."""
    for path, want in _expected_result(x.expect.result or {}, contract):
        found, value = dig(got, path)
        if not found:
            return f"expected {path} = {js(want)}, got no such field"
        diff = subset_diff(want, value, root=path)
        if diff is not None:
            return diff
    if x.expect.synthetic_marked is not None:
        marker = contract.results.synthetic
        if marker is None:
            raise UnmappedRole("the contract names no synthetic marker of the inbound answer", key="contract.results.synthetic")
        _, value = dig(got, marker)
        marked = value not in (None, False, "", 0) and str(value).lower() not in ("false", "0", "no")
        if marked != x.expect.synthetic_marked:
            return f"expected {marker} to mark the call as {'synthetic' if x.expect.synthetic_marked else 'not synthetic'}, got {js(value)}"
    return None


def check_step_body(scenario: Scenario, evidence: Evidence, contract: Contract) -> list[CheckResult]:
    """step-body: the JSON answer holds ``expect.result`` (contract roles) and ``expect.body`` (literal subset)."""
    out = []
    for x in evidence.exchanges:
        e = x.expect
        if (e.body is None and e.result is None and e.synthetic_marked is None) or not answered(x):
            continue
        corr = _corr(scenario, evidence, x, contract)
        expected = ", ".join(js(v) for v in (e.result, e.body) if v is not None) or f"synthetic_marked={js(e.synthetic_marked)}"
        got = x.response_json
        if got is None:
            reason = f"{x.step}: the answer is not JSON: {excerpt(x.response_body, 80) or '(empty)'}"
            out.append(_result("step-body", x, False, reason, expected, _answer(x), corr))
            continue
        try:
            diff = _result_diff(x, got, contract) or (subset_diff(e.body, got) if e.body is not None else None)
        except UnmappedRole as exc:
            out.append(unmapped("step-body", exc))
            continue
        reason = f"{x.step}: {diff}" if diff else f"{x.step}: the answer contains {expected}"
        out.append(_result("step-body", x, diff is None, reason, expected, excerpt(js(got), 300), corr))
    return out
