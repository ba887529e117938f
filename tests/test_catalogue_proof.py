"""Every check can fail: the catalogue against each seeded defect of the reference gateway.

For each defect the whole catalogue runs against a gateway started with it,
and the check named for that defect must be among the failures, with a reason
that says what was wrong. The clean gateway must pass the whole catalogue,
again and again (``CALLPROBE_PROOF_RUNS``: 1 by default, 20 in CI), with no flake.

It runs in two halves (xdist groups ``proof-0`` and ``proof-1``), each sent at
once to one probe pool, so it costs about what its CPU work costs, not the sum
of its waits, and two workers share it.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from mocks.gateway import Defect
from probes import Scenario, Verdict, load_scenario, probe
from probes._checks import CHECK_NAMES
from probes._embedded import EmbeddedWorld
from probes._gate import TimingGate
from probes._pool import ProbePool

CATALOGUE = [load_scenario(p) for p in sorted(Path("scenarios").glob("*.yaml"))]

# defect → the checks that must catch it (each of them must fail)
DETECTED_BY: dict[Defect, tuple[str, ...]] = {
    Defect.CORRELATION_NOT_ECHOED: ("correlation-echoed",),
    Defect.CORRELATION_PER_REQUEST: ("correlation-continuity", "correlation-in-alerts", "correlation-in-calcom", "trace-attributes"),
    Defect.CORRELATION_MISSING_IN_LOGS: ("correlation-in-logs",),
    Defect.CORRELATION_SHARED_ACROSS_CALLS: ("correlation-distinct",),
    Defect.RAW_PHONE_IN_LOGS: ("log-pii",),
    Defect.TRANSCRIPT_IN_LOGS: ("log-pii",),
    Defect.BOOKING_NOT_LOGGED: ("log-present",),
    Defect.BOOKING_METRIC_NOT_INCREMENTED: ("metric-delta",),
    Defect.WRONG_METRIC_LABEL: ("metric-delta",),
    Defect.CALCOM_ERRORS_NOT_COUNTED: ("metric-delta",),  # and, with --stack, promql and alertmanager-alert: tests/test_stack.py
    Defect.METRICS_ENDPOINT_DOWN: ("telemetry-reachable",),
    Defect.NO_ALERT_ON_CALCOM_FAILURE: ("alert-count",),
    Defect.ALERT_PER_ERROR: ("alert-count",),
    Defect.RAW_PHONE_IN_ALERTS: ("alert-content",),
    Defect.SLOW_PATH: ("latency-sla", "latency-percentile"),
    Defect.FORGED_SIGNATURE_ACCEPTED: ("signature-rejected",),
    Defect.DUPLICATE_BOOKS_TWICE: ("calcom-requests", "step-body"),
    Defect.READY_WHILE_CALCOM_DOWN: ("step-status",),
    Defect.CALL_ANALYZED_CONNECTION_DROPPED: ("target-reachable",),
    Defect.HISTOGRAM_BUCKETS_MISS_SLA: ("histogram-sla-bucket",),
    Defect.METRIC_LABEL_CARDINALITY: ("metric-cardinality",),
    Defect.BROKEN_TRACE: ("trace-continuity",),
    Defect.SPAN_ERROR_STATUS_MISSING: ("trace-error-status",),
    Defect.ERROR_NOT_REPORTED: ("error-reported",),
    Defect.HISTOGRAM_IN_MILLISECONDS: ("histogram-units",),
    Defect.LATE_LOGS: ("time-to-telemetry",),
}
PROVEN_IN_STACK_MODE = {"promql", "alertmanager-alert"}  # tests/test_stack.py::test_stack_checks_catch_their_defects
# Defects only overlapping calls show: the catalogue (one call, or one batch of calls, per gateway)
# must pass them, and a load run must catch them (tests/test_load.py).
PASSED_BY_CATALOGUE: frozenset[Defect] = frozenset({Defect.LOG_CONTEXT_SHARED})


HALVES = 2  # the proof runs in two xdist groups, so two workers (two processes, two timing gates) share it


def half_of(defect: Defect | str) -> int:
    """Which half of the proof a catalogue run belongs to: defects alternate; the clean runs, and the load tests, are the first."""
    if defect == "":
        return 0
    return sorted(set(DETECTED_BY) | PASSED_BY_CATALOGUE).index(Defect(defect)) % HALVES


def in_half(defect: Defect | str, run: int = 0) -> Any:
    """A test parameter in its half's xdist group: one worker runs each half on one pool."""
    return pytest.param(defect if defect != "" else run, marks=pytest.mark.xdist_group(f"proof-{half_of(defect)}"))


class Proof:
    """The catalogue runs of the proof, sent to one probe pool at once, a half at a time: each defect's, and the clean runs.

    A half is sent when a test first asks for one of its runs, so a worker
    runs only the halves whose tests it was given. They run concurrently
    (each scenario on a lane of its own, latency-asserting ones alone
    through the timing gate); each test waits for its own runs only.
    """

    def __init__(self, world: EmbeddedWorld, pool: ProbePool, clean_runs: int) -> None:
        self.world, self.pool, self.clean_runs = world, pool, clean_runs
        self.runs: dict[tuple[Defect | str, int], list[Future[Verdict]]] = {}
        self.sent: set[int] = set()

    def _send(self, half: int) -> None:
        self.sent.add(half)
        for defect in sorted(set(DETECTED_BY) | PASSED_BY_CATALOGUE):
            if half_of(defect) == half:
                self.runs[(defect, 0)] = [self.pool.submit(_job(self.world, s, frozenset({defect}))) for s in CATALOGUE]
        for run in range(self.clean_runs):
            if half == half_of(""):
                self.runs[("", run)] = [self.pool.submit(_job(self.world, s, frozenset())) for s in CATALOGUE]

    def verdicts(self, defect: Defect | str, run: int = 0) -> list[Verdict]:
        if (half := half_of(defect)) not in self.sent:
            self._send(half)
        return [f.result() for f in self.runs[(defect, run)]]


def _job(world: EmbeddedWorld, scenario: Scenario, defects: frozenset[str]) -> Callable[[TimingGate], Awaitable[Verdict]]:
    async def run(gate: TimingGate) -> Verdict:
        async with world.lease(defects, gate=gate) as profile:
            return await probe(scenario, profile, gate=gate)

    return run


CLEAN_RUNS = int(os.environ.get("CALLPROBE_PROOF_RUNS", "1"))


@pytest.fixture(scope="module")
def proof() -> Iterator[Proof]:
    world = EmbeddedWorld().start()
    pool = ProbePool(concurrency=16)  # most runs wait (telemetry deadlines, hangs): more of them overlap the CPU work
    try:
        yield Proof(world, pool, CLEAN_RUNS)
    finally:
        pool.close()
        world.stop()


def test_every_defect_has_a_detecting_check() -> None:
    assert set(DETECTED_BY) | PASSED_BY_CATALOGUE == set(Defect)
    assert not set(DETECTED_BY) & PASSED_BY_CATALOGUE


def test_every_check_is_failed_by_some_defect() -> None:
    proven = {check for checks in DETECTED_BY.values() for check in checks} | PROVEN_IN_STACK_MODE
    assert [c for c in CHECK_NAMES if c not in proven] == []


@pytest.mark.parametrize("defect", [in_half(d) for d in sorted(DETECTED_BY)])
def test_catalogue_catches_defect(proof: Proof, defect: Defect) -> None:
    verdicts = proof.verdicts(defect)
    failing = {v.scenario: v.failed_checks() for v in verdicts if not v.passed}
    assert failing, f"the catalogue passed against a gateway with the defect {defect!r}"
    for check in DETECTED_BY[defect]:
        hits = [r for v in verdicts for r in v.failures if r.check == check]
        reasons = {v.scenario: [f"{r.check}: {r.reason}" for r in v.failures] for v in verdicts if not v.passed}
        assert hits, f"{defect}: expected check {check!r} to fail; failures were {reasons}"
        assert all(r.reason and r.expected and r.seen for r in hits), [r.reason for r in hits]


@pytest.mark.parametrize("defect", [in_half(d) for d in sorted(PASSED_BY_CATALOGUE)])
def test_catalogue_passes_concurrency_only_defect(proof: Proof, defect: Defect) -> None:
    """The defect hides from one call at a time: proving that a load run is needed to see it."""
    verdicts = proof.verdicts(defect)
    failures = {v.scenario: [f"{r.check}: {r.reason}" for r in v.failures] for v in verdicts if not v.passed}
    assert not failures, f"{defect}: the catalogue caught it, so it belongs in DETECTED_BY: {failures}"


@pytest.mark.parametrize("run", [in_half("", run) for run in range(CLEAN_RUNS)])
def test_clean_gateway_passes_repeatedly(proof: Proof, run: int) -> None:
    verdicts = proof.verdicts("", run)
    failures = {v.scenario: [f"{r.check}: {r.reason}" for r in v.failures] for v in verdicts if not v.passed}
    assert not failures, f"run {run + 1}/{CLEAN_RUNS}: {failures}"
