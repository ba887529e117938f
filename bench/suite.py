"""Benchmark: the catalogue's wall time and the harness's own overhead per request.

Overhead is what callprobe adds on top of the gateway: the latency it measures
minus the gateway's own processing time (``Server-Timing: app;dur=``). The
baseline is a bare httpx loop sending the same kind of signed request to the
same endpoint in the same run, measured the same way, so the two columns differ
only by the harness.

    python bench/suite.py [--baseline-requests 300] [--repeat 1]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import time
from pathlib import Path

import httpx

from probes import Exchange, build_plan, load_scenario, probe
from probes._defaults import DEMO_RETELL_API_KEY
from probes._embedded import EmbeddedWorld
from probes._signing import SIGNATURE_HEADER, sign

ROOT = Path(__file__).resolve().parent.parent


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))]


def _overheads(exchanges: list[Exchange]) -> list[float]:
    return [x.latency_ms - x.server_ms for x in exchanges if x.latency_ms is not None and x.server_ms is not None]


async def _catalogue(world: EmbeddedWorld) -> tuple[float, list[tuple[str, float]], dict[str, list[Exchange]]]:
    rows, by_kind = [], {"single": [], "concurrent": []}
    started = time.perf_counter()
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        scenario = load_scenario(path)
        t = time.perf_counter()
        verdict = await probe(scenario, world.gateway())
        rows.append((f"{scenario.name}{'' if verdict.passed else ' (FAILED)'}", time.perf_counter() - t))
        by_kind["concurrent" if scenario.calls > 1 else "single"] += verdict.evidence.exchanges
    return time.perf_counter() - started, rows, by_kind


async def _bare_loop(world: EmbeddedWorld, n: int) -> tuple[float, list[float]]:
    """httpx alone: the happy path's own webhook bodies (call_started … call_analyzed), signed and posted back to back."""
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
            dur = response.headers.get("server-timing", "").split("dur=")[-1]
            out.append(latency - float(dur))
        return time.perf_counter() - started, out


def _row(name: str, values: list[float]) -> str:
    if not values:
        return f"| {name} | 0 | – | – | – |"
    return f"| {name} | {len(values)} | {statistics.median(values):.2f} | {_pct(values, 95):.2f} | {max(values):.2f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-requests", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=1, help="catalogue runs")
    args = parser.parse_args()
    world = EmbeddedWorld().start()
    try:
        walls, rows, single, concurrent = [], [], [], []
        for _ in range(args.repeat):
            wall, rows, by_kind = asyncio.run(_catalogue(world))
            walls.append(wall)
            single += by_kind["single"]
            concurrent += by_kind["concurrent"]
        base_wall, base = asyncio.run(_bare_loop(world, args.baseline_requests))
    finally:
        world.stop()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"catalogue wall time: {statistics.median(walls):.2f} s (median of {len(walls)}; {len(rows)} scenarios)\n")
    print("| scenario | wall s |\n|---|---|")
    for name, secs in rows:
        print(f"| {name} | {secs:.2f} |")
    print("\nper-request overhead = measured latency − gateway Server-Timing (ms)\n")
    print("| client | requests | median | p95 | max |\n|---|---|---|---|---|")
    print(_row("callprobe runner, single-call scenarios", _overheads(single)))
    print(_row("callprobe runner, 10 concurrent calls", _overheads(concurrent)))
    print(_row("bare httpx loop, same bodies (baseline)", base))
    print(f"\nbaseline loop: {args.baseline_requests / base_wall:.0f} requests/s; peak RSS of this process (harness + embedded servers): {rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
