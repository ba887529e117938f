"""A check sees only its own call: the catalogue on a gateway that serves other calls at the same time.

A long-lived reference gateway gets a steady stream of unrelated synthetic
calls (inbound, started, ended, analyzed: the same counters, log stream and
correlation IDs as the catalogue's calls) from another thread while the whole
catalogue runs against it through a profile with ``shared: true``. Every
scenario must pass: log lines, alerts and Cal.com requests are judged by the
run's own IDs, and counter increments are lower bounds.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from probes import load_scenario, parse_scenario, probe
from probes._defaults import DEMO_RETELL_API_KEY
from probes._embedded import EmbeddedWorld
from probes._plan import build_plan
from probes._profile import TargetProfile

CATALOGUE = [load_scenario(p) for p in sorted(Path("scenarios").glob("*.yaml")) if not p.stem.startswith("stack-")]
OTHER_CALL = parse_scenario({"name": "someone-else", "caller": {"seed": 77}, "steps": [
    {"event": "call_inbound", "at": -1}, {"event": "call_started", "at": 0},
    {"event": "call_ended", "at": 20}, {"event": "call_analyzed", "at": 25}]})
MAX_OTHER_CALLS = 5000  # bounded: the stream stops at this many calls or when the test ends
PACE_S = 0.02  # at most about 50 unrelated calls a second


class OtherTraffic:
    """Unrelated calls posted back to back from a thread of their own (loopback only, bounded)."""

    def __init__(self, profile: TargetProfile) -> None:
        self.profile = profile
        self.calls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="other-traffic", daemon=True)

    def __enter__(self) -> OtherTraffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        base = self.profile.base_url
        with httpx.Client(timeout=5.0) as client:
            for n in range(MAX_OTHER_CALLS):
                if self._stop.is_set():
                    return
                plan = build_plan(OTHER_CALL, api_key=DEMO_RETELL_API_KEY, seed=100_000 + n, identity=f"other-{n}")
                for request in plan.requests():
                    client.post(base + request.path, content=request.body.encode(), headers=dict(request.headers))
                self.calls += 1
                self._stop.wait(PACE_S)  # a steady stream, not a flood: overlap is the point, not load


@pytest.fixture(scope="module")
def shared_gateway() -> Iterator[TargetProfile]:
    world = EmbeddedWorld().start()
    try:
        yield world.session_gateway().model_copy(update={"shared": True, "name": "shared reference gateway"})
    finally:
        world.stop()


def test_the_catalogue_passes_while_other_calls_hit_the_same_gateway(shared_gateway: TargetProfile) -> None:
    async def catalogue() -> dict[str, list[str]]:
        failed = {}
        for scenario in CATALOGUE:
            verdict = await probe(scenario, shared_gateway)
            if not verdict.passed:
                failed[scenario.name] = [f"{r.check}: {r.reason}" for r in verdict.failures]
        return failed

    with OtherTraffic(shared_gateway) as other:
        deadline = time.monotonic() + 10
        while other.calls < 3 and time.monotonic() < deadline:  # the stream is flowing before the first probe
            time.sleep(0.01)
        started = other.calls
        failed = asyncio.run(catalogue())
        during = other.calls - started
    assert failed == {}
    assert during >= len(CATALOGUE), f"only {during} unrelated calls overlapped the catalogue"


def test_on_a_shared_target_a_zero_delta_is_not_observed_and_increments_are_lower_bounds(shared_gateway: TargetProfile) -> None:
    scenario = load_scenario("scenarios/no-slots.yaml")
    with OtherTraffic(shared_gateway):
        verdict = asyncio.run(probe(scenario, shared_gateway))
    assert verdict.passed
    zero = [r for r in verdict.results if r.check == "metric-delta" and not r.observed]
    assert zero and all("a zero delta cannot be told apart from other traffic" in r.reason for r in zero)
