"""Scenario + seed → a concrete synthetic call: the exact signed HTTP requests Retell would send.

The plan is pure and deterministic given (scenario, seed, start time, key):
faker is seeded, ids come from the seed, and nothing reads the clock unless no
start time is given. The runner re-signs each request when it actually sends
it (as Retell does), and re-renders a call when a step takes its arguments
from an earlier answer (``args_from``), the way the voice agent picks one of
the slots the gateway offered.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ._caller import Caller, make_caller
from ._contract import Contract, dig
from ._errors import ScenarioError
from ._retell import CallSpec, RenderedStep, StepSpec, default_function_args, render_call
from ._scenario import Scenario, Step
from ._signing import SIGNATURE_HEADER, now_ms, sign
from ._wire import dumps

__all__ = [
    "DEFAULT_PATHS",
    "Paths",
    "Plan",
    "PlannedCall",
    "PlannedRequest",
    "build_plan",
    "resolve_args_from",
    "signature_header",
]

USER_AGENT = "axios/1.15.2"
DEFAULT_CORRELATION_HEADER = "X-Correlation-ID"
STALE_BY_MS = 360_000
_REF = re.compile(r"^(?P<step>[A-Za-z0-9_-]+)\.(?P<field>[A-Za-z0-9_]+)(\[(?P<idx>\d+)\])?$")


@dataclass(frozen=True)
class Paths:
    """Where the target listens: each kind of Retell request, and the path roles of plain steps."""

    webhook: str = "/api/retell/webhook"
    inbound: str = "/api/retell/inbound"
    function: str = "/api/retell/functions/{name}"
    health: str = "/health"
    ready: str = "/health/ready"

    def for_step(self, step: Step) -> str:
        if step.http is not None:
            return self.http(step.http)
        if step.function is not None:
            return self.function.replace("{name}", step.function)
        return self.inbound if step.event == "call_inbound" else self.webhook

    def http(self, path_or_role: str) -> str:
        """A literal path as written; a path role (``health``, ``ready``) as the profile maps it."""
        if path_or_role.startswith("/"):
            return path_or_role
        if path_or_role in ("health", "ready"):
            return str(getattr(self, path_or_role))
        raise ScenarioError(f"http: {path_or_role!r} is not a path role (health, ready); a literal path starts with /")


DEFAULT_PATHS = Paths()


@dataclass(frozen=True)
class PlannedRequest:
    """One HTTP request of a synthetic call, ready to send (or to print)."""

    call_index: int
    step_index: int
    delivery: int
    step: Step
    call_id: str
    method: str
    path: str
    body: str
    headers: Mapping[str, str]
    send_at_s: float
    event_timestamp_ms: int
    tool_call_id: str | None

    @property
    def label(self) -> str:
        suffix = f" (delivery {self.delivery})" if self.delivery > 1 else ""
        return f"{self.step.label}{suffix}"

    @property
    def kind(self) -> str:
        if self.step.http is not None:
            return "http"
        return "function" if self.step.function is not None else "webhook"

    def to_dict(self, *, redact: bool = False) -> dict[str, Any]:
        headers = dict(self.headers)
        if redact and SIGNATURE_HEADER in headers:
            headers[SIGNATURE_HEADER] = "[redacted]"
        return {
            "call": self.call_index,
            "step": self.label,
            "call_id": self.call_id,
            "method": self.method,
            "path": self.path,
            "headers": headers,
            "body": self.body,
            "send_offset_s": round(self.send_at_s, 3),
        }


@dataclass(frozen=True)
class PlannedCall:
    index: int
    seed: int
    caller: Caller
    spec: CallSpec
    steps: tuple[StepSpec, ...]
    requests: tuple[PlannedRequest, ...]

    @property
    def call_id(self) -> str:
        return self.requests[0].call_id


@dataclass(frozen=True)
class Plan:
    scenario: Scenario
    seed: int
    run_id: str
    start_ms: int
    paths: Paths
    calls: tuple[PlannedCall, ...]
    api_key: str = field(repr=False, default="")
    correlation_header: str = DEFAULT_CORRELATION_HEADER

    def requests(self) -> list[PlannedRequest]:
        """Every request of every call, in send order."""
        every = [r for c in self.calls for r in c.requests]
        return sorted(every, key=lambda r: (r.send_at_s, r.call_index, r.step_index, r.delivery))

    def rebind(self, call: PlannedCall, args: Mapping[int, Mapping[str, Any]]) -> PlannedCall:
        """Re-render ``call`` with some steps' arguments replaced (by step index)."""
        steps = tuple(replace(s, args=dict(args[i])) if i in args else s for i, s in enumerate(call.steps))
        return _render(self.scenario, call.index, call.seed, call.caller, call.spec, steps, self.paths, self.api_key,
                       self.correlation_header)


def signature_header(body: str, mode: str, api_key: str, at_ms: int) -> str | None:
    """The ``X-Retell-Signature`` value for a signature mode (None = no header)."""
    if mode == "missing":
        return None
    if mode == "forged":
        return sign(body, hashlib.sha256(api_key.encode()).hexdigest(), at_ms)
    if mode == "stale":
        return sign(body, api_key, at_ms - STALE_BY_MS)
    if mode == "malformed":
        return sign(body, api_key, at_ms).upper().replace(",", ", ")
    return sign(body, api_key, at_ms)


def _step_spec(step: Step) -> StepSpec:
    return StepSpec(
        kind="function" if step.function is not None else (step.event or "call_started"),
        at_s=step.at,
        function=step.function,
        args=step.args,
        args_at_root=step.args_at_root,
        method=step.method,
        outcome=step.outcome,
        disconnection_reason=step.disconnection_reason,
    )


def _headers(step: Step, body: str, api_key: str, at_ms: int, call_seed: int, correlation_header: str) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    sig = signature_header(body, step.signature, api_key, at_ms)
    if sig is not None:
        headers[SIGNATURE_HEADER] = sig
    if step.correlation_id:
        headers[correlation_header] = step.correlation_id
    if step.traceparent:
        digest = hashlib.sha256(f"{call_seed}:{at_ms}".encode()).hexdigest()
        headers["traceparent"] = f"00-{digest[:32]}-{digest[32:48]}-01"
    return headers


def _request(
    call_index: int, i: int, step: Step, rendered: RenderedStep | None, paths: Paths, api_key: str, seed: int, start_ms: int,
    correlation_header: str,
) -> list[PlannedRequest]:
    send_at = step.send_at if step.send_at is not None else step.at
    if rendered is None:  # a plain HTTP step: unsigned, no body
        at_ms = start_ms + int(step.at * 1000)
        headers = {"User-Agent": f"callprobe/{_version()}"}
        return [
            PlannedRequest(call_index, i, d, step, "", step.method, paths.for_step(step), "", headers, send_at, at_ms, None)
            for d in range(1, step.repeat + 1)
        ]
    body = "" if step.method in ("GET", "DELETE") else dumps(rendered.payload)
    out = []
    for delivery in range(1, step.repeat + 1):
        at_ms = rendered.event_timestamp_ms + (delivery - 1 if step.resign_repeats else 0) * 1000
        headers = _headers(step, body, api_key, at_ms, seed, correlation_header)
        out.append(
            PlannedRequest(
                call_index, i, delivery, step, rendered.call_id, step.method, paths.for_step(step),
                body, headers, send_at, at_ms, rendered.tool_call_id,
            )
        )
    return out


@functools.cache
def _version() -> str:
    """callprobe's version, read once: package metadata costs a millisecond or two per read (a scheduled probe's budget)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("callprobe")
    except PackageNotFoundError:
        return "dev"


def _render(
    scenario: Scenario,
    index: int,
    seed: int,
    caller: Caller,
    spec: CallSpec,
    steps: tuple[StepSpec, ...],
    paths: Paths,
    api_key: str,
    correlation_header: str,
) -> PlannedCall:
    retell = [s for s, step in zip(steps, scenario.steps, strict=True) if step.is_retell]
    rendered = iter(render_call(spec, retell, isolated=False))  # each payload is serialized at once
    call_id = ""
    requests: list[PlannedRequest] = []
    for i, step in enumerate(scenario.steps):
        r = next(rendered) if step.is_retell else None
        call_id = r.call_id if r is not None else call_id
        requests += _request(index, i, step, r, paths, api_key, seed, spec.start_ms, correlation_header)
    requests = [replace(r, call_id=r.call_id or call_id) for r in requests]
    return PlannedCall(index=index, seed=seed, caller=caller, spec=spec, steps=steps, requests=tuple(requests))


def build_plan(
    scenario: Scenario,
    *,
    api_key: str,
    seed: int | None = None,
    start_ms: int | None = None,
    paths: Paths = DEFAULT_PATHS,
    run_id: str | None = None,
    run_index: int = 0,
    identity: str | None = None,
    correlation_header: str = DEFAULT_CORRELATION_HEADER,
) -> Plan:
    """Turn a scenario into concrete calls. ``seed`` overrides the scenario's seed.

    The seed pins the story (caller, dialogue, timing); the calls' identity
    (their call_id, hence the correlation ID a gateway gives them) is fresh for
    every start time, so the same scenario run twice against one long-lived
    gateway is two new calls, not a duplicate delivery. ``identity`` pins it
    (``callprobe plan --start`` prints the same ids every time).
    """
    base_seed = seed if seed is not None else (scenario.caller.seed if scenario.caller.seed is not None else 0)
    start = now_ms() if start_ms is None else start_ms
    run = run_id or f"r-{base_seed}-{run_index}-{start}"
    who = identity if identity is not None else str(start)
    calls: list[PlannedCall] = []
    for index in range(scenario.calls):
        call_seed = base_seed + 1000 * run_index + index
        caller = make_caller(call_seed, scenario.caller.locale)
        spec = CallSpec(
            caller=caller,
            seed=call_seed,
            start_ms=start,
            run_id=run,
            direction=scenario.caller.direction,
            dynamic_variables=dict(scenario.caller.dynamic_variables),
            metadata=dict(scenario.caller.metadata),
            identity=f"{who}:{run_index}",
            day_index=index if scenario.calls > 1 else None,
        )
        steps = tuple(_step_spec(s) for s in scenario.steps)  # http steps keep a placeholder spec
        calls.append(_render(scenario, index, call_seed, caller, spec, steps, paths, api_key, correlation_header))
    return Plan(scenario=scenario, seed=base_seed, run_id=run, start_ms=start, paths=paths, calls=tuple(calls),
                api_key=api_key, correlation_header=correlation_header)


def resolve_args_from(
    call: PlannedCall, step: Step, answers: Mapping[str, Any], *, where: str, contract: Contract | None = None
) -> dict[str, Any]:
    """The step's arguments with those it takes from earlier answers of the same call.

    The bound values go over the story's defaults (name, email, phone …), as
    the agent fills one argument from the tool's answer and the rest from the
    call. ``answers`` maps step labels to their parsed JSON answers; the field
    of a reference is a result field role, found where the contract says the
    target puts it (``slots`` may be ``options`` there). ``[n]`` indexes a
    list; a missing field or index is a :class:`ScenarioError` naming both, so a
    gateway that offered no slots fails with a reason rather than a KeyError.
    """
    terms = contract or Contract()
    out: dict[str, Any] = {**default_function_args(step.function or "", call.spec), **(step.args or {})}
    for key, ref in step.args_from.items():
        m = _REF.match(ref)
        if m is None:  # validated when the scenario was loaded
            raise ScenarioError(f"args_from.{key}: bad reference {ref!r}", path=where)
        field_path = terms.result_field(m["field"])
        found, value = dig(answers.get(m["step"]), field_path)
        if not found:
            raise ScenarioError(f"args_from.{key}: the answer to {m['step']!r} has no field {field_path!r}", path=where)
        if m["idx"] is not None:
            idx = int(m["idx"]) + call.index if step.args_from_per_call else int(m["idx"])
            if not isinstance(value, list) or idx >= len(value):
                raise ScenarioError(f"args_from.{key}: {m['step']}.{field_path} has no item {idx}", path=where)
            value = value[idx]
        out[key] = value
    return out
