"""Benchmark: the catalogue's wall time, serial and concurrent, and the harness's own overhead per request.

The catalogue runs twice in one process: one scenario at a time (the
baseline, as the plugin did before it ran scenarios concurrently) and on a
probe pool, as ``pytest scenarios/`` runs it now. Overhead is what callprobe
adds on top of the gateway: the latency it measures minus the gateway's own
processing time (``Server-Timing: app;dur=``); its baseline is a bare httpx
loop sending the same kind of signed request to the same endpoint in the same
run, measured the same way, so the columns differ only by the harness. The
timed scenarios' latencies are shown for both runs: concurrency must not move
them (the timing gate sends their requests alone).

    python bench/suite.py [--baseline-requests 300] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import time
from pathlib import Path

import httpx

from probes import Exchange, Scenario, Verdict, build_plan, load_scenario, probe
from probes._defaults import DEMO_RETELL_API_KEY
from probes._embedded import EmbeddedWorld
from probes._gate import TimingGate, is_timed
from probes._pool import ProbePool
from probes._signing import SIGNATURE_HEADER, sign

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = [load_scenario(p) for p in sorted((ROOT / "scenarios").glob("*.yaml"))]


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))]


def _overheads(exchanges: list[Exchange]) -> list[float]:
    return [x.latency_ms - x.server_ms for x in exchanges if x.latency_ms is not None and x.server_ms is not None]


def _serial(world: EmbeddedWorld) -> tuple[float, list[Verdict]]:
    async def run() -> list[Verdict]:
        return [await probe(s, world.gateway()) for s in CATALOGUE]

    started = time.perf_counter()
    verdicts = asyncio.run(run())
    return time.perf_counter() - started, verdicts


def _concurrent(world: EmbeddedWorld, concurrency: int) -> tuple[float, list[Verdict]]:
    def job(scenario: Scenario):  # type: ignore[no-untyped-def]
        async def run(gate: TimingGate) -> Verdict:
            async with world.lease(gate=gate) as profile:
                return await probe(scenario, profile, gate=gate)

        return run

    with ProbePool(concurrency) as pool:
        started = time.perf_counter()
        futures = [pool.submit(job(s)) for s in CATALOGUE]
        verdicts = [f.result() for f in futures]
        return time.perf_counter() - started, verdicts


def _bare_loop(world: EmbeddedWorld, n: int) -> tuple[float, list[float]]:
    """httpx alone: the happy path's own webhook bodies (call_started … call_analyzed), signed and posted back to back."""

    async def run() -> tuple[float, list[float]]:
        profile = world.gateway()
        plan = build_plan(load_scenario(ROOT / "scenarios" / "happy-path-booking.yaml"), api_key=DEMO_RETELL_API_KEY, seed=1)
        bodies = [r.body for r in plan.requests() if r.kind == "webhook"]
        url = profile.base_url + profile.paths.webhook
        out = []
        async with httpx.AsyncClient(timeout=10) as client:
            started = time.perf_counter()
            for i in range(n):
                body = bodies[i % len(bodies)]
                headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, DEMO_RETELL_API_KEY)}
                t = time.perf_counter()
                response = await client.post(url, content=body.encode(), headers=headers)
                latency = (time.perf_counter() - t) * 1000
                out.append(latency - float(response.headers.get("server-timing", "dur=0").split("dur=")[-1]))
            return time.perf_counter() - started, out

    return asyncio.run(run())


def _row(name: str, values: list[float]) -> str:
    if not values:
        return f"| {name} | 0 | – | – | – |"
    return f"| {name} | {len(values)} | {statistics.median(values):.2f} | {_pct(values, 95):.2f} | {max(values):.2f} |"


def _timed_latencies(verdicts: list[Verdict]) -> list[float]:
    timed = {s.name for s in CATALOGUE if is_timed(s)}
    return [x.latency_ms for v in verdicts if v.scenario in timed for x in v.evidence.exchanges if x.latency_ms is not None]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--baseline-requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    world = EmbeddedWorld().start()
    try:
        serial_s, serial = _serial(world)
        concurrent_s, concurrent = _concurrent(world, args.concurrency)
        base_wall, base = _bare_loop(world, args.baseline_requests)
    finally:
        world.stop()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"catalogue of {len(CATALOGUE)} scenarios, embedded target\n")
    print("| run | wall s | failed |\n|---|---|---|")
    print(f"| one scenario at a time (baseline) | {serial_s:.2f} | {sum(not v.passed for v in serial)} |")
    print(f"| {args.concurrency} at a time, timing gate | {concurrent_s:.2f} | {sum(not v.passed for v in concurrent)} |")
    print("\nlatency of the timed scenarios' requests (ms): concurrency must not move it\n")
    print("| run | requests | median | p95 | max |\n|---|---|---|---|---|")
    print(_row("one at a time", _timed_latencies(serial)))
    print(_row(f"{args.concurrency} at a time", _timed_latencies(concurrent)))
    print("\nper-request overhead = measured latency − gateway Server-Timing (ms)\n")
    print("| client | requests | median | p95 | max |\n|---|---|---|---|---|")
    print(_row("callprobe runner, one at a time", _overheads([x for v in serial for x in v.evidence.exchanges])))
    print(_row("callprobe runner, concurrent", _overheads([x for v in concurrent for x in v.evidence.exchanges])))
    print(_row("bare httpx loop, same bodies (baseline)", base))
    print(f"\nbaseline loop: {args.baseline_requests / base_wall:.0f} requests/s; peak RSS (harness + embedded servers): {rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
