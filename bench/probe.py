"""Benchmark: scheduled probes. callprobe's exporter beside prometheus-blackbox-exporter, in the same run.

1. One probe's cost: callprobe's single-request module (``scenarios/health.yaml``:
   one GET /health, its status, latency and correlation header, on a target
   profile without telemetry sources) and blackbox_exporter's ``http_2xx``
   probing the same endpoint of the same reference gateway, alternately,
   sequentially. Both report ``probe_duration_seconds``; the target's own time
   is its ``Server-Timing: app;dur`` for that request. Goal: callprobe ≤ 2×
   blackbox.
2. The highest probe frequency one exporter process sustains with the
   catalogue's production-safe scenarios as 10 modules (the 8 safe ones, and
   two of them again with other seeds) against one reference gateway:
   every module is scraped every T seconds (T from 15 s down) for a while;
   sustained = every scrape answered 200 with probe_success 1 within T. The
   exporter's CPU (of one core) and RSS are read from /proc. Goal: every 15 s
   with CPU to spare (Grafana Synthetic Monitoring's floor for scripted checks
   is 60 s).
3. The exporter's RSS at start and at the end. Goal ≤ 80 MB.

Everything runs as separate processes on loopback (Cal.com mock, sinks,
gateway, callprobe exporter, blackbox exporter), started and stopped here.

    python bench/probe.py [--requests 200] [--step-seconds 30] [--intervals 15,5,2,1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], deadline_s: float = 30.0) -> None:
    until = time.monotonic() + deadline_s
    while time.monotonic() < until:
        if proc.poll() is not None:
            raise SystemExit(f"process on port {port} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port} after {deadline_s:g} s")


class Processes:
    """Child processes started by the benchmark, each stopped by its own pid."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], port: int, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env or ENV, cwd=ROOT)
        self.procs.append(proc)
        wait_port(port, proc)
        return proc

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


@dataclass
class World:
    gateway: str
    profile: dict[str, object]


@contextmanager
def reference_world(procs: Processes) -> Iterator[World]:
    """The README's separately started gateway: Cal.com mock, sinks, gateway; yields its target profile."""
    ports = {k: free_port() for k in ("calcom", "slack", "otlp", "sentry", "gateway")}
    cli = [sys.executable, "-m", "probes._cli"]
    procs.start([*cli, "mock", "calcom", "--port", str(ports["calcom"])], ports["calcom"])
    procs.start([*cli, "sink", "--port", str(ports["slack"])], ports["slack"])
    procs.start([*cli, "sink", "--kind", "otlp", "--port", str(ports["otlp"])], ports["otlp"])
    procs.start([*cli, "sink", "--kind", "sentry", "--port", str(ports["sentry"])], ports["sentry"])
    env = {**ENV, "CALLPROBE_ALERT_WEBHOOK_URL": f"http://127.0.0.1:{ports['slack']}/slack/alerts",
           "CALLPROBE_SENTRY_DSN": f"http://public@127.0.0.1:{ports['sentry']}/1"}
    procs.start([*cli, "gateway", "--port", str(ports["gateway"]), "--calcom-url", f"http://127.0.0.1:{ports['calcom']}",
                 "--otlp-endpoint", f"http://127.0.0.1:{ports['otlp']}", "--alert-cooldown", "1"], ports["gateway"], env)
    base = f"http://127.0.0.1:{ports['gateway']}"
    profile: dict[str, object] = {
        "base_url": base, "logs": {"kind": "gateway"}, "alert_sink_url": f"http://127.0.0.1:{ports['slack']}/api/messages",
        "calcom_mock_url": f"http://127.0.0.1:{ports['calcom']}", "traces": {"kind": "receiver", "url": f"http://127.0.0.1:{ports['otlp']}"},
        "errors": {"kind": "sentry_receiver", "url": f"http://127.0.0.1:{ports['sentry']}"}, "demo_secrets": True,
        "shared": True,  # ten modules probe one gateway at once: counter increments are lower bounds
        "telemetry_deadline_s": 2.0, "contract": {"sla": {"logs_ms": 1000, "metrics_ms": 1000, "alerts_ms": 1000}},
    }
    yield World(base, profile)


def write_config(folder: Path, world: World) -> Path:
    (folder / "gw.yaml").write_text(yaml.safe_dump(world.profile))
    bare = {**world.profile, "metrics_url": None, "logs": {"kind": "none"}, "alert_sink_url": None, "calcom_mock_url": None,
            "traces": {"kind": "none"}, "errors": {"kind": "none"}}
    (folder / "bare.yaml").write_text(yaml.safe_dump(bare))  # the single-request comparison: no telemetry, as blackbox
    safe = ["health", "happy-path-booking", "booking-args-only-de", "inbound-dynamic-variables", "out-of-order-events",
            "duplicate-delivery", "webhook-latency-percentile", "stack-webhook-p95"]
    modules: dict[str, dict[str, object]] = {name: {"scenario": name} for name in safe}
    # Two more that book nothing: two booking stories on one calendar at once may race for the same first slot.
    modules["inbound-dynamic-variables-2"] = {"scenario": "inbound-dynamic-variables", "seed": 2323}
    modules["out-of-order-events-2"] = {"scenario": "out-of-order-events", "seed": 3434}
    config = {"targets": {"gw": {"profile": "gw.yaml"}, "bare": {"profile": "bare.yaml"}}, "modules": modules,
              "scenario_dirs": [str(ROOT / "scenarios")], "exporter": {"concurrency": 16}}
    (folder / "callprobe.yml").write_text(yaml.safe_dump(config))
    return folder / "callprobe.yml"


def probe_duration(text: str) -> tuple[float, bool]:
    values = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}
    return values["probe_duration_seconds"], values["probe_success"] == 1


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def single_request(exporter: str, blackbox: str, gateway: str, n: int) -> None:
    own: list[float] = []
    results: dict[str, list[float]] = {"blackbox http_2xx": [], "callprobe health": []}
    with httpx.Client(timeout=30) as client:
        for i in range(n + 20):
            bb = client.get(f"{blackbox}/probe", params={"module": "http_2xx", "target": f"{gateway}/health"})
            cp = client.get(f"{exporter}/probe", params={"module": "health", "target": "bare"})
            timing = client.get(f"{gateway}/health").headers.get("server-timing", "app;dur=0").split("dur=")[1]
            if i < 20:
                continue  # warm-up
            for name, answer in (("blackbox http_2xx", bb), ("callprobe health", cp)):
                seconds, ok = probe_duration(answer.text)
                assert ok, (name, answer.text[:300])
                results[name].append(seconds * 1000)
            own.append(float(timing))
    target = statistics.median(own)
    print(f"\n## One probe of GET /health ({n} each, alternating; the target's own time, Server-Timing: median {target:.2f} ms)\n")
    print("| probe | probe_duration_seconds p50 | p95 | added over the target's own time (p50) |")
    print("|---|---|---|---|")
    for name, values in results.items():
        print(f"| {name} | {statistics.median(values):.2f} ms | {pct(values, 95):.2f} ms | {statistics.median(values) - target:.2f} ms |")
    ratio = statistics.median(results["callprobe health"]) / statistics.median(results["blackbox http_2xx"])
    print(f"\ncallprobe / blackbox (p50): {ratio:.2f}× (goal ≤ 2×)")


async def _rate_step(exporter: str, modules: list[str], interval: float, seconds: float) -> dict[str, float]:
    durations: list[float] = []
    failures: list[str] = []
    late = 0

    async def one(client: httpx.AsyncClient, module: str) -> None:
        nonlocal late
        started = time.monotonic()
        try:
            answer = await client.get(f"{exporter}/probe", params={"module": module, "target": "gw"},
                                      headers={"X-Prometheus-Scrape-Timeout-Seconds": str(interval)})
        except httpx.HTTPError as exc:
            failures.append(f"{module}: {type(exc).__name__}")
            return
        took = time.monotonic() - started
        late += took > interval
        if answer.status_code != 200:
            failures.append(f"{module}: HTTP {answer.status_code}")
            return
        _, ok = probe_duration(answer.text)
        durations.append(took)
        if not ok:
            reason = next((s.labels["reason"] for f in text_string_to_metric_families(answer.text) for s in f.samples
                           if s.name == "probe_failure_info"), "?")
            failures.append(f"{module}: probe_success 0 ({reason})")

    async with httpx.AsyncClient(timeout=interval + 30) as client:
        tasks: list[asyncio.Task[None]] = []
        offsets = {m: i * interval / len(modules) for i, m in enumerate(modules)}  # spread, as Prometheus spreads targets
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            tick = time.monotonic() - t0
            for module, offset in offsets.items():
                rounds = int((tick - offset) // interval) + 1 if tick >= offset else 0
                while len([t for t in tasks if t.get_name() == module]) < rounds:
                    task = asyncio.create_task(one(client, module), name=module)
                    tasks.append(task)
            await asyncio.sleep(0.01)
        await asyncio.gather(*tasks)
    return {"probes": len(tasks), "failed": len(failures), "late": late,
            "p95_s": pct(durations, 95) if durations else float("nan"), "first_failure": failures[0] if failures else ""}  # type: ignore[dict-item]


def rates(exporter: str, pid: int, modules: list[str], intervals: list[float], seconds: float) -> None:
    print(f"\n## Sustained frequency: {len(modules)} modules of the production-safe catalogue, each every T seconds, "
          f"{seconds:g} s per step\n")
    print("| T | probes a second | probes | failed | answered after T | scrape p95 | exporter CPU (one core) | exporter RSS |")
    print("|---|---|---|---|---|---|---|---|")
    best = None
    for interval in intervals:
        cpu0, wall0 = cpu_seconds(pid), time.monotonic()
        step = asyncio.run(_rate_step(exporter, modules, interval, seconds))
        cpu = (cpu_seconds(pid) - cpu0) / (time.monotonic() - wall0)
        ok = step["failed"] == 0 and step["late"] == 0
        best = interval if ok else best
        print(f"| {interval:g} s | {len(modules) / interval:.2f} | {step['probes']:.0f} | {step['failed']:.0f} | {step['late']:.0f} | "
              f"{step['p95_s']:.2f} s | {cpu * 100:.0f} % | {rss_mb(pid):.1f} MB |"
              + (f" {step['first_failure']}" if step["first_failure"] else ""))
        if not ok:
            break
    if best is not None:
        print(f"\nhighest sustained: every {best:g} s per module ({len(modules) / best:.2f} probes a second)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="probes of each exporter in the single-request comparison")
    parser.add_argument("--step-seconds", type=float, default=30.0, help="how long each frequency step runs")
    parser.add_argument("--intervals", default="15,5,2,1,0.5", help="seconds between two probes of a module, slowest first")
    args = parser.parse_args()
    blackbox_bin = shutil.which("prometheus-blackbox-exporter")
    if blackbox_bin is None:
        raise SystemExit("prometheus-blackbox-exporter not found: apt-get install --no-install-recommends prometheus-blackbox-exporter")
    procs = Processes()
    folder = Path(tempfile.mkdtemp(prefix="callprobe-bench-"))
    try:
        with reference_world(procs) as world:
            config = write_config(folder, world)
            port, bb_port = free_port(), free_port()
            exporter = procs.start([sys.executable, "-m", "probes._cli", "exporter", "--config", str(config), "--port", str(port)], port)
            (folder / "blackbox.yml").write_text(yaml.safe_dump(
                {"modules": {"http_2xx": {"prober": "http", "timeout": "5s", "http": {"preferred_ip_protocol": "ip4"}}}}))
            procs.start([blackbox_bin, f"--config.file={folder / 'blackbox.yml'}", f"--web.listen-address=127.0.0.1:{bb_port}"], bb_port)
            started_rss = rss_mb(exporter.pid)
            print(f"exporter RSS at start: {started_rss:.1f} MB; machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
            single_request(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{bb_port}", world.gateway, args.requests)
            modules = list(yaml.safe_load(config.read_text())["modules"])
            rates(f"http://127.0.0.1:{port}", exporter.pid, modules, [float(x) for x in args.intervals.split(",")], args.step_seconds)
            print(f"\nexporter RSS: {started_rss:.1f} MB at start, {rss_mb(exporter.pid):.1f} MB at the end (goal ≤ 80 MB)")
    finally:
        procs.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
