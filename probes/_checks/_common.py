"""Helpers shared by the checks: selecting exchanges, finding a call's correlation ID,
comparing JSON subsets with a key path, and formatting values the way reasons print them.

Kept free of any check logic so each check module reads as "what is asserted",
not "how a dict is walked".
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from .._evidence import Evidence, Exchange
from .._profile import Contract
from .._scenario import Scenario, Step

__all__ = [
    "answered",
    "call_correlation_id",
    "call_ids",
    "call_of",
    "correlation_exchanges",
    "excerpt",
    "fmt_ms",
    "js",
    "request_header",
    "step_of",
    "subset_diff",
    "where",
]


def js(value: Any) -> str:
    """A value as JSON (``true``, ``"x"``, ``null``), the notation scenario files are written in."""
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=False, default=str)
    except (TypeError, ValueError):
        return repr(value)


def excerpt(text: str, limit: int = 120) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def fmt_ms(value: float) -> str:
    """Milliseconds for a reason: whole numbers as such, others with one decimal."""
    return f"{value:.0f} ms" if float(value).is_integer() else f"{value:.1f} ms"


def where(x: Exchange) -> str:
    """``POST /api/retell/webhook (call_started)``: how a reason names one exchange."""
    return f"{x.method} {x.path} ({x.step})"


def step_of(scenario: Scenario, x: Exchange) -> Step | None:
    return scenario.steps[x.step_index] if 0 <= x.step_index < len(scenario.steps) else None


def answered(x: Exchange) -> bool:
    """The exchange got an HTTP answer (was neither abandoned nor lost to a transport error)."""
    return not x.abandoned and x.error is None and x.status is not None


def correlation_exchanges(scenario: Scenario, evidence: Evidence, call_index: int) -> list[Exchange]:
    """The exchanges that belong to the call as the gateway sees it.

    Plain HTTP steps (a readiness probe) and requests with a bad signature are
    not part of the call: the gateway may rightly give them an ID of their own.
    """
    out = []
    for x in evidence.for_call(call_index):
        step = step_of(scenario, x)
        if answered(x) and x.kind != "http" and (step is None or step.signature == "valid"):
            out.append(x)
    return out


def call_correlation_id(scenario: Scenario, evidence: Evidence, call_index: int, contract: Contract) -> str | None:
    """The ID the gateway gave the call: the one most of its responses carry (first seen wins ties)."""
    seen = [v for x in correlation_exchanges(scenario, evidence, call_index) if (v := x.header(contract.correlation_header))]
    if not seen:
        return None
    return Counter(seen).most_common(1)[0][0]


def call_ids(evidence: Evidence) -> dict[int, str]:
    """call index → call_id, from the exchanges (every run) or else the plan."""
    out: dict[int, str] = {}
    for x in evidence.exchanges:
        if x.call_id and x.call_index not in out:
            out[x.call_index] = x.call_id
    for call in evidence.plan.calls:
        out.setdefault(call.index, call.call_id)
    return out


def call_of(evidence: Evidence, call_id: str | None) -> int | None:
    """The call index that ``call_id`` belongs to, if it is one of ours."""
    for index, cid in call_ids(evidence).items():
        if cid and cid == call_id:
            return index
    return None


def request_header(x: Exchange, name: str) -> str | None:
    lname = name.lower()
    return next((v for k, v in x.request_headers.items() if k.lower() == lname), None)


def _path(root: str, keys: Iterable[str | int]) -> str:
    return root + "".join(f"[{k}]" if isinstance(k, int) else f"[{js(k)}]" for k in keys)


def _same_scalar(want: Any, got: Any) -> bool:
    if isinstance(want, bool) or isinstance(got, bool):
        return isinstance(want, bool) and isinstance(got, bool) and want == got
    return bool(want == got)


def subset_diff(want: Any, got: Any, root: str = "body", keys: tuple[str | int, ...] = ()) -> str | None:
    """None when ``want`` is a recursive subset of ``got``, else the first difference.

    Mappings: every expected key must be present and match; lists: same length,
    item by item; scalars: equal (``true`` is not ``1``). The difference reads
    ``expected body["booked"] = true, got false`` (tavern's key-path style).
    """
    if isinstance(want, Mapping):
        if not isinstance(got, Mapping):
            return f"expected {_path(root, keys)} to be an object, got {js(got)}"
        for k, v in want.items():
            if k not in got:
                return f"expected {_path(root, (*keys, k))} = {js(v)}, got no such key"
            diff = subset_diff(v, got[k], root, (*keys, k))
            if diff is not None:
                return diff
        return None
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return f"expected {_path(root, keys)} = {js(want)}, got {js(got)}"
        for i, (w, g) in enumerate(zip(want, got, strict=True)):
            diff = subset_diff(w, g, root, (*keys, i))
            if diff is not None:
                return diff
        return None
    if not _same_scalar(want, got):
        return f"expected {_path(root, keys)} = {js(want)}, got {js(got)}"
    return None
