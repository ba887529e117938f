"""Every check can fail: the catalogue against each seeded defect of the reference gateway.

For each defect the whole catalogue runs against a gateway started with it,
and the check named for that defect must be among the failures, with a reason
that says what was wrong. The clean gateway must pass the whole catalogue,
again and again (``CALLPROBE_PROOF_RUNS``, 20 in CI), with no flake.

All of it runs at once on one probe pool, so the whole proof costs about
what its CPU work costs, not the sum of its waits.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest

from mocks.gateway import Defect
from probes import Scenario, Verdict, load_scenario, probe
from probes._checks import CHECK_NAMES
from probes._embedded import EmbeddedWorld
from probes._gate import TimingGate
from probes._pool import ProbePool

pytestmark = pytest.mark.xdist_group("proof")  # one worker runs the whole proof on one pool

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


class Proof:
    """Every catalogue run of the proof, sent to one probe pool at once: each defect's, and the clean runs.

    They run concurrently (each scenario on a lane of its own, latency-asserting
    ones alone through the timing gate); each test waits for its own runs only.
    """

    def __init__(self, world: EmbeddedWorld, pool: ProbePool, clean_runs: int) -> None:
        self.runs: dict[tuple[Defect | str, int], list[Future[Verdict]]] = {}
        for defect in sorted(set(DETECTED_BY) | PASSED_BY_CATALOGUE):
            self.runs[(defect, 0)] = [pool.submit(_job(world, s, frozenset({defect}))) for s in CATALOGUE]
        for run in range(clean_runs):
            self.runs[("", run)] = [pool.submit(_job(world, s, frozenset())) for s in CATALOGUE]

    def verdicts(self, defect: Defect | str, run: int = 0) -> list[Verdict]:
        return [f.result() for f in self.runs[(defect, run)]]


def _job(world: EmbeddedWorld, scenario: Scenario, defects: frozenset[str]) -> Callable[[TimingGate], Awaitable[Verdict]]:
    async def run(gate: TimingGate) -> Verdict:
        async with world.lease(defects, gate=gate) as profile:
            return await probe(scenario, profile, gate=gate)

    return run


CLEAN_RUNS = int(os.environ.get("CALLPROBE_PROOF_RUNS", "3"))


@pytest.fixture(scope="module")
def proof() -> Iterator[Proof]:
    world = EmbeddedWorld().start()
    pool = ProbePool(concurrency=8)
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


@pytest.mark.parametrize("defect", sorted(DETECTED_BY))
def test_catalogue_catches_defect(proof: Proof, defect: Defect) -> None:
    verdicts = proof.verdicts(defect)
    failing = {v.scenario: v.failed_checks() for v in verdicts if not v.passed}
    assert failing, f"the catalogue passed against a gateway with the defect {defect!r}"
    for check in DETECTED_BY[defect]:
        hits = [r for v in verdicts for r in v.failures if r.check == check]
        assert hits, f"{defect}: expected check {check!r} to fail; failures were {failing}"
        assert all(r.reason and r.expected and r.seen for r in hits), [r.reason for r in hits]


@pytest.mark.parametrize("defect", sorted(PASSED_BY_CATALOGUE))
def test_catalogue_passes_concurrency_only_defect(proof: Proof, defect: Defect) -> None:
    """The defect hides from one call at a time: proving that a load run is needed to see it."""
    verdicts = proof.verdicts(defect)
    failures = {v.scenario: [f"{r.check}: {r.reason}" for r in v.failures] for v in verdicts if not v.passed}
    assert not failures, f"{defect}: the catalogue caught it, so it belongs in DETECTED_BY: {failures}"


@pytest.mark.parametrize("run", range(CLEAN_RUNS))
def test_clean_gateway_passes_repeatedly(proof: Proof, run: int) -> None:
    verdicts = proof.verdicts("", run)
    failures = {v.scenario: [f"{r.check}: {r.reason}" for r in v.failures] for v in verdicts if not v.passed}
    assert not failures, f"run {run + 1}/{CLEAN_RUNS}: {failures}"
