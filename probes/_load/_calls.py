"""One whole synthetic call under load, without the engine: plan it, prepare each request, judge each answer.

The Locust side (:mod:`._locust_users`) owns the concurrency and the HTTP
client; everything it decides about a call comes from here, and from the same
library the catalogue uses: :func:`~probes._plan.build_plan` with a fresh seed
and identity per call, :func:`~probes._plan.signature_header` at send time,
:func:`~probes._plan.resolve_args_from` with the profile's contract, and the
checks ``step-status``, ``signature-rejected`` and ``step-body`` to judge an
answer (so a miss reads exactly as it does in the catalogue).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from .._checks import run_checks
from .._cli import scenario_path
from .._contract import Contract
from .._errors import ConfigError
from .._evidence import Evidence, Exchange
from .._plan import (
    Plan,
    PlannedRequest,
    build_plan,
    resolve_args_from,
    signature_header,
)
from .._profile import TargetProfile, load_profile, profile_from_env
from .._scenario import Scenario, Step, load_scenario
from .._signing import SIGNATURE_HEADER, now_ms
from ._options import LoadOptions

__all__ = ["CallTarget", "allowed_host", "kind_of", "step_name"]

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}
ANSWER_CHECKS = frozenset({"target-reachable", "step-status", "signature-rejected", "step-body"})  # judged per request


def kind_of(step: Step) -> str:
    """``webhook``, ``inbound``, ``function`` or ``http``: how the stats group a step's requests."""
    if step.http is not None:
        return "http"
    if step.function is not None:
        return "function"
    return "inbound" if step.event == "call_inbound" else "webhook"


def step_name(step: Step) -> str:
    """The stats entry of a step: ``webhook call_started``, ``function book_appointment`` …"""
    return f"{kind_of(step)} {step.label}"


def allowed_host(profile: TargetProfile) -> bool:
    """A load may go to loopback, or to a host whose profile says ``load: {allowed: true}``."""
    host = (urlsplit(profile.base_url).hostname or "").lower()
    if profile.load.allowed or host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class CallTarget:
    """What every process of a load run needs to place calls: scenario, profile, key, pacing."""

    scenario: Scenario
    profile: TargetProfile
    api_key: str = field(repr=False)
    time_scale: float

    @property
    def contract(self) -> Contract:
        return self.profile.contract

    @classmethod
    def load(cls, opts: LoadOptions, host: str | None = None) -> CallTarget:
        """Read the scenario and the profile, and refuse what a load must not do (a ConfigError, exit 2)."""
        scenario = load_scenario(scenario_path(opts.scenario))
        profile = _profile(opts.target, host)
        if not allowed_host(profile):
            raise ConfigError(f"target {profile.name!r}: {urlsplit(profile.base_url).hostname} is not loopback; a load run "
                              "goes elsewhere only when the profile says load: {allowed: true}")
        cap = min(opts.max_rate, profile.load.max_rate or opts.max_rate)
        if opts.rate > cap:
            raise ConfigError(f"--rate {opts.rate:g} is above the cap of {cap:g} calls/s (raise --max-rate, or load.max_rate in "
                              "the profile, on purpose)")
        time_scale = opts.time_scale if opts.time_scale is not None else scenario.time_scale
        return cls(scenario, profile, profile.secrets().retell_api_key, time_scale)

    def plan(self, seed: int, identity: str, start_ms: int) -> Plan:
        """A fresh call (new caller, call_id and so correlation ID) of the scenario, starting at ``start_ms``."""
        return build_plan(self.scenario, api_key=self.api_key, seed=seed, start_ms=start_ms, identity=identity,
                          paths=self.profile.paths.to_paths(), correlation_header=self.contract.correlation_header)

    def span_s(self, plan: Plan) -> float:
        """How long the call's requests take to send, scaled (the last send offset)."""
        return max((r.send_at_s for r in plan.requests()), default=0.0) * self.time_scale

    def bind(self, plan: Plan, req: PlannedRequest, answers: dict[str, Any]) -> tuple[Plan, str]:
        """(the plan, the body to send) with ``args_from`` bound to this call's earlier answers.

        A reference the answers cannot satisfy (no slot offered) raises
        ScenarioError; the call goes on and the request counts as failed.
        """
        if not req.step.args_from:
            return plan, req.body
        where = f"{self.scenario.source or self.scenario.name}: steps[{req.step_index}]"
        call = plan.calls[req.call_index]
        args = resolve_args_from(call, req.step, answers, where=where, contract=self.contract)
        rebound = plan.rebind(call, {req.step_index: args})
        calls = tuple(rebound if c.index == call.index else c for c in plan.calls)
        plan = replace(plan, calls=calls)
        body = next(r.body for r in rebound.requests if r.step_index == req.step_index and r.delivery == req.delivery)
        return plan, body

    def headers(self, req: PlannedRequest, body: str) -> dict[str, str]:
        """The request's headers, its Retell signature made now (as Retell signs when it sends)."""
        headers = dict(req.headers)
        if req.step.is_retell:
            headers.pop(SIGNATURE_HEADER, None)
            sig = signature_header(body, req.step.signature, self.api_key, now_ms())
            if sig is not None:
                headers[SIGNATURE_HEADER] = sig
        return headers

    def judge(self, plan: Plan, exchange: Exchange) -> str | None:
        """Why the answer misses the step's expectation (the catalogue's own checks say it), or None."""
        evidence = Evidence(plan=plan, exchanges=[exchange])
        for result in run_checks(self.scenario, evidence, self.contract, only=ANSWER_CHECKS):
            if not result.passed:
                seen = f" (seen: {result.seen})" if result.seen and result.seen not in result.reason else ""
                return f"{result.reason}{seen}"
        return None


def _profile(target: str | None, host: str | None) -> TargetProfile:
    """``--target`` file, else the environment (CALLPROBE_TARGET_URL …), else Locust's ``--host`` with demo keys."""
    if target:
        return load_profile(target)
    env = profile_from_env()
    if env is not None:
        return env
    if host:
        return TargetProfile(name="host", base_url=host, demo_secrets=not os.environ.get("RETELL_API_KEY"))
    raise ConfigError("no target: give --target PROFILE, set CALLPROBE_TARGET_URL, or give Locust's --host")
