"""Benchmark of the load generator and of the reference gateway under load (not a timed test).

    python bench/load.py [--seconds 10] [--repeat 3]

Prints, from one run on this machine:

1. Generator cost against a trivial fast responder (nginx answering 204, and a
   fixed JSON answer to functions), so the generator is the bottleneck: the
   request rate of a bare FastHttpUser posting the same bodies (measured here,
   in this run) and of callprobe's whole-call users, one process and a master
   with two workers, with the responder's CPU share; research/tools.md's
   Locust/wrk numbers for this machine kind beside them.
2. The reference gateway (embedded, in this process): the highest call rate
   whose corrected webhook p95 stays under 500 ms (the knee), and corrected vs
   raw p99 at 1.5x the knee.
3. A 2 s stall of the responder (SIGSTOP/SIGCONT) during an open-model run: the
   corrected p99 shows it, the raw p99 (from when a request goes out on one of
   the stream's 4 connections) does not; Locust's closed model beside it.

Needs nginx (``apt-get install nginx``) and the load extra. Everything binds
127.0.0.1; every process started is stopped by its PID.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import yaml

from probes._defaults import DEMO_RETELL_API_KEY
from probes._embedded import EmbeddedWorld
from probes._plan import build_plan
from probes._scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "load-booking-call.yaml"
FUNCTION_ANSWER = ('{"available":true,"slots":["2030-01-07T10:00:00.000Z"],"booked":true,"booking_uid":"bench-1",'
                   '"cancelled":true,"message":"ok"}')
# research/tools.md §3 and §5: loopback, nginx `return 204`, 1,026-byte JSON POST, this machine kind.
PEERS = {"wrk -t1 -c16 (POST)": 98_332, "Locust FastHttpUser, 1 process": 5_705, "Locust HttpUser, 1 process": 1_354,
         "Locust FastHttpUser, master + 2 workers": 10_925}

BARE_LOCUSTFILE = '''
import json
from locust import FastHttpUser, constant, task
REQUESTS = json.load(open({requests!r}))
class BarePoster(FastHttpUser):
    """The same bodies and headers a whole call sends, posted back to back: no planning, signing or judging."""
    wait_time = constant(0)
    @task
    def call(self):
        for r in REQUESTS:
            self.client.request(r["method"], r["path"], data=r["body"].encode(), headers=r["headers"], name=r["name"])
'''


class Nginx:
    """nginx on a loopback port: 204 for webhooks, one fixed JSON answer for functions (a trivial fast responder)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        conf = folder / "nginx.conf"
        conf.write_text(f"""worker_processes 1;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {folder}/body; proxy_temp_path {folder}/proxy; fastcgi_temp_path {folder}/fastcgi;
  uwsgi_temp_path {folder}/uwsgi; scgi_temp_path {folder}/scgi;
  client_body_buffer_size 64k;
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{self.port};
    location /api/retell/functions/ {{ default_type application/json; return 200 '{FUNCTION_ANSWER}'; }}
    location / {{ return 204; }}
  }}
}}
""")
        self.proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(folder)], stderr=subprocess.DEVNULL)
        _wait_port(self.port)
        self.url = f"http://127.0.0.1:{self.port}"

    def processes(self) -> list[psutil.Process]:
        parent = psutil.Process(self.proc.pid)
        return [parent, *parent.children(recursive=True)]

    def stall(self, at_s: float, seconds: float) -> threading.Thread:
        """Stop every nginx process for ``seconds``, ``at_s`` from now (in a thread)."""

        def run() -> None:
            time.sleep(at_s)
            procs = self.processes()
            for p in procs:
                p.send_signal(signal.SIGSTOP)
            time.sleep(seconds)
            for p in procs:
                p.send_signal(signal.SIGCONT)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, deadline_s: float = 10.0) -> None:
    import socket

    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {deadline_s} s")


def _cpu(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def _locust(argv: list[str], folder: Path, responder: list[psutil.Process]) -> tuple[dict[str, Any], float]:
    """Run Locust headless; (its aggregated stats row, the responder's CPU share of one core)."""
    prefix = folder / f"run{time.monotonic_ns()}"
    cpu0, t0 = _cpu(responder), time.monotonic()
    subprocess.run([sys.executable, "-m", "locust", "--headless", "--only-summary", "--csv", str(prefix), *argv],
                   cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300, check=False)
    share = (_cpu(responder) - cpu0) / (time.monotonic() - t0)
    with open(f"{prefix}_stats.csv", newline="") as f:
        rows = {row["Name"]: row for row in csv.DictReader(f)}
    return rows, share


def _bare_requests(folder: Path) -> Path:
    plan = build_plan(load_scenario(SCENARIO), api_key=DEMO_RETELL_API_KEY)
    requests = [{"method": r.method, "path": r.path, "body": r.body, "headers": dict(r.headers), "name": r.label}
                for r in plan.requests()]
    path = folder / "requests.json"
    path.write_text(json.dumps(requests))
    return path


def generator(folder: Path, seconds: int, repeat: int) -> list[str]:
    nginx = Nginx(folder / "nginx")
    try:
        return _generator(nginx, folder, seconds, repeat)
    finally:
        nginx.stop()


def _two_workers() -> list[str]:
    """A master and two forked workers on a free loopback port."""
    port = str(_free_port())
    return ["--processes", "2", "--master-bind-host", "127.0.0.1", "--master-bind-port", port, "--master-port", port,
            "--expect-workers-max-wait", "30"]


def _target(folder: Path, url: str) -> Path:
    path = folder / "responder.yaml"
    path.write_text(yaml.safe_dump({"name": "responder", "base_url": url, "metrics_url": None, "logs": {"kind": "none"},
                                    "demo_secrets": True}))
    return path


def _generator(nginx: Nginx, folder: Path, seconds: int, repeat: int) -> list[str]:
    bare = folder / "bare.py"
    bare.write_text(BARE_LOCUSTFILE.format(requests=str(_bare_requests(folder))))
    responder, target = nginx.processes(), _target(folder, nginx.url)
    ours = ["-f", "locustfiles/calls.py", "--scenario", str(SCENARIO), "--target", str(target), "--model", "closed",
            "--rate", "16", "--duration", f"{seconds}s", "--time-scale", "0.000001", "--max-rate", "100000"]
    runs: dict[str, list[tuple[float, float]]] = {}

    def measure(name: str, argv: list[str]) -> None:
        rows, share = _locust(argv, folder, responder)
        runs.setdefault(name, []).append((float(rows["Aggregated"]["Requests/s"]), share))

    _locust(["-f", str(bare), "-u", "16", "-r", "16", "-t", "3s", "--host", nginx.url], folder, responder)  # warm-up
    for _ in range(repeat):
        measure("bare FastHttpUser, 1 process", ["-f", str(bare), "-u", "16", "-r", "16", "-t", f"{seconds}s", "--host", nginx.url])
        measure("callprobe whole calls, 1 process", ours)
    for _ in range(repeat):
        measure("bare FastHttpUser, master + 2 workers",
                ["-f", str(bare), "-u", "16", "-r", "16", "-t", f"{seconds}s", "--host", nginx.url, *_two_workers()])
        measure("callprobe whole calls, master + 2 workers", [*ours, *_two_workers(), "--streams", "2"])
    med = {name: (statistics.median(r for r, _ in v), statistics.median(s for _, s in v)) for name, v in runs.items()}
    lines = [f"| generator (16 users, nginx on loopback) | requests/s (median of {repeat}) | nginx CPU | vs bare |",
             "|---|---:|---:|---:|"]
    for name, (rate, share) in med.items():
        base = med["bare FastHttpUser, " + name.split(", ", 1)[1]][0]
        lines.append(f"| {name} | {rate:,.0f} | {100 * share:.0f} % | {100 * rate / base:.0f} % |")
    for name, rate in PEERS.items():
        lines.append(f"| peer (research/tools.md): {name} | {rate:,} | | |")
    for kind in ("bare FastHttpUser", "callprobe whole calls"):
        one, two_ = med[f"{kind}, 1 process"][0], med[f"{kind}, master + 2 workers"][0]
        lines.append(f"\n{kind}: 2 workers give {two_ / one:.2f}x one process, {100 * two_ / 2 / one:.0f} % per worker")
    return lines


def _verdict(argv: list[str], folder: Path) -> dict[str, Any]:
    """One ``callprobe load`` run (target given, so no embedded gateway of its own); its JSON verdict."""
    verdict = folder / f"v{time.monotonic_ns()}.json"
    subprocess.run([sys.executable, "-m", "probes._cli", "load", str(SCENARIO), *argv, "--json", str(verdict)], cwd=ROOT,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600, check=False)
    return dict(json.loads(verdict.read_text()))


def _webhook(verdict: dict[str, Any], kind: str, p: str) -> float:
    return float(verdict["steps"]["all webhook"][f"{kind}_ms"][p])


def knee(folder: Path, seconds: int) -> list[str]:
    """The reference gateway (embedded here): the highest rate whose corrected webhook p95 stays under 500 ms."""
    world = EmbeddedWorld().start()
    try:
        rows, best = [], 0.0
        for rate in (10, 20, 30, 40, 60, 80, 100, 130, 160):
            target = folder / f"gw{rate}.yaml"
            target.write_text(yaml.safe_dump(world.gateway().model_dump(mode="json")))
            v = _verdict(["--target", str(target), "--rate", str(rate), "--duration", f"{seconds}s"], folder)
            achieved = v["tally"]["started"] / max(v["tally"]["intended"], 1)
            p95c, p95r = _webhook(v, "corrected", "p95"), _webhook(v, "raw", "p95")
            rows.append(f"| {rate} | {p95c:.3g} | {p95r:.3g} | {100 * achieved:.0f} % | {v['verdict']} |")
            if p95c >= 500 or achieved < 0.95:
                break
            best = rate
        target = folder / "gw-over.yaml"
        target.write_text(yaml.safe_dump(world.gateway().model_dump(mode="json")))
        over = 1.5 * best
        v = _verdict(["--target", str(target), "--rate", f"{over:g}", "--duration", f"{seconds}s", "--max-rate", "1000"], folder)
    finally:
        world.stop()
    lines = ["| calls/s | corrected webhook p95 (ms) | raw webhook p95 (ms) | started/intended | gate |",
             "|---:|---:|---:|---:|---|", *rows,
             f"\nknee: {best:g} calls/s (corrected webhook p95 < 500 ms); at 1.5x the knee ({over:g} calls/s): "
             f"corrected webhook p99 {_webhook(v, 'corrected', 'p99'):.4g} ms, raw p99 {_webhook(v, 'raw', 'p99'):.4g} ms"]
    return lines


def stall(folder: Path, seconds: int) -> list[str]:
    """A 2 s stall of the responder in the middle of an open and a closed run."""
    nginx = Nginx(folder / "nginx-stall")
    try:
        target = _target(folder, nginx.url)
        common = ["--target", str(target), "--duration", f"{seconds}s", "--time-scale", "0.001", "--max-rate", "100000",
                  "--connections", "4"]
        out = []
        for model, rate in (("open", "50"), ("closed", "4")):
            nginx.stall(seconds / 2, 2.0)
            v = _verdict([*common, "--model", model, "--rate", rate], folder)
            n = v["steps"]["all webhook"]["count"]
            out.append(f"| {model} ({rate} {'calls/s' if model == 'open' else 'users'}, 4 connections) | {n} | "
                       f"{_webhook(v, 'corrected', 'p99'):.4g} | {_webhook(v, 'raw', 'p99'):.4g} | "
                       f"{_webhook(v, 'corrected', 'p50'):.3g} | {v['tally']['started']} |")
            time.sleep(2.5)
    finally:
        nginx.stop()
    return ["| model | webhook requests | corrected p99 (ms) | raw p99 (ms) | corrected p50 (ms) | calls started |",
            "|---|---:|---:|---:|---:|---:|", *out]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of each generator run")
    parser.add_argument("--repeat", type=int, default=3, help="generator runs per configuration (the median is shown)")
    parser.add_argument("--part", type=int, action="append", choices=(1, 2, 3), help="run only these parts (repeatable)")
    args = parser.parse_args()
    parts = set(args.part or (1, 2, 3))
    if shutil.which("nginx") is None:
        sys.exit("bench/load.py needs nginx as the trivial responder: apt-get install nginx")
    with tempfile.TemporaryDirectory(prefix="callprobe-bench-load-") as tmp:
        folder = Path(tmp)
        print(f"# callprobe load benchmark ({os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M')})\n")
        if 1 in parts:
            print("## 1. generator cost against nginx\n", *generator(folder, args.seconds, args.repeat), sep="\n")
        if 2 in parts:
            print("\n## 2. the reference gateway: the knee\n", *knee(folder, max(5, args.seconds // 2)), sep="\n")
        if 3 in parts:
            print("\n## 3. a 2 s stall: corrected vs raw, open vs closed\n", *stall(folder, args.seconds), sep="\n")


if __name__ == "__main__":
    main()
