"""The real observability stack: Prometheus, Alertmanager and Pushgateway as child processes.

Teams' alerts come from Prometheus rules routed through Alertmanager, so stack
mode proves that chain with the real binaries (Debian packages ``prometheus``,
``prometheus-alertmanager``, ``prometheus-pushgateway``), not with a stand-in.
Everything binds to loopback on ephemeral ports, keeps its config and storage
in one temporary directory, and is stopped by process group, then verified
gone (PID reaped, port closed), so a session leaves nothing behind.

Intervals are 1 s (scrape, evaluation, Alertmanager group interval), and the
shipped rules are loaded in the target's words and *time-compressed*
(:func:`probes._rules.compress_rules`: ``[5m]`` →
``[5s]``, ``for: 1m`` → ``for: 1s``): same expressions, labels and routing,
60 times faster, so a fault pages and resolves within seconds.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from ._contract import Contract
from ._errors import ConfigError
from ._rules import compress_rules, render_rules

__all__ = [
    "BINARIES",
    "ScrapeTarget",
    "Stack",
    "StackProcess",
    "free_port",
    "port_open",
    "require_binary",
]

BINARIES = {"prometheus": "prometheus", "alertmanager": "prometheus-alertmanager", "pushgateway": "prometheus-pushgateway"}
PACKAGES = {"prometheus": "prometheus", "prometheus-alertmanager": "prometheus-alertmanager",
            "prometheus-pushgateway": "prometheus-pushgateway", "promtool": "prometheus"}
READY_DEADLINE_S = 15.0
STOP_DEADLINE_S = 10.0


def require_binary(name: str) -> str:
    """The absolute path of ``name``, or a ConfigError naming the Debian package to install."""
    found = shutil.which(name)
    if found is None:
        package = PACKAGES.get(name, name)
        raise ConfigError(f"{name} not found: install the Debian package {package} (apt-get install --no-install-recommends {package})")
    return found


def free_port() -> int:
    """A loopback port that was free a moment ago (the binaries take a port, not a socket)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass(frozen=True)
class ScrapeTarget:
    """What Prometheus scrapes as job ``gateway``: ``host:port``, path, optional bearer token."""

    address: str
    metrics_path: str = "/api/metrics"
    scheme: str = "http"
    bearer_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_url(cls, url: str, token: str | None) -> ScrapeTarget:
        u = httpx.URL(url)
        return cls(address=f"{u.host}:{u.port or (443 if u.scheme == 'https' else 80)}", metrics_path=u.path or "/metrics",
                   scheme=u.scheme, bearer_token=token)


@dataclass
class StackProcess:
    """One started binary: its process, port and log file."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, limit: int = 600) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-limit:]
        except OSError:
            return ""


class Stack:
    """Prometheus + Alertmanager + Pushgateway, started together, stopped together.

    ``receiver_url`` is where Alertmanager posts notifications (webhook
    receiver); ``target`` what Prometheus scrapes as job ``gateway`` (change it
    later with :meth:`set_target`, which reloads Prometheus).
    """

    def __init__(self, *, receiver_url: str, target: ScrapeTarget | None = None, contract: Contract | None = None,
                 extra_scrape: tuple[dict[str, object], ...] = ()) -> None:
        self.receiver_url = receiver_url
        self.extra_scrape = extra_scrape  # more scrape jobs, e.g. a callprobe exporter's /probe (blackbox-style relabelling)
        self.target = target
        self.contract = contract or Contract()
        self.processes: dict[str, StackProcess] = {}
        self._prometheus_port = 0
        self._dir: Path | None = None

    # -- addresses --------------------------------------------------------------

    @property
    def prometheus_url(self) -> str:
        return self.processes["prometheus"].url

    @property
    def alertmanager_url(self) -> str:
        return self.processes["alertmanager"].url

    @property
    def pushgateway_url(self) -> str:
        return self.processes["pushgateway"].url

    @property
    def pids(self) -> list[int]:
        return [p.process.pid for p in self.processes.values()]

    @property
    def ports(self) -> list[int]:
        return [p.port for p in self.processes.values()]

    # -- lifecycle --------------------------------------------------------------

    def start(self) -> Stack:
        """Start all three (Pushgateway, Alertmanager, then Prometheus) and wait for ``/-/ready``.

        A missing binary is a ConfigError naming the package; a binary that is
        not ready before the deadline is a ConfigError quoting its log. Either
        way nothing started is left running.
        """
        paths = {k: require_binary(v) for k, v in BINARIES.items()}
        self._dir = Path(tempfile.mkdtemp(prefix="callprobe-stack-"))
        try:
            # Debian's build persists to /var/lib/prometheus/pushgateway.data by default: a session must not
            # inherit the last one's pushes (a stale failed probe would page), so memory only.
            self._spawn("pushgateway", [paths["pushgateway"], "--persistence.file="])
            self._spawn("alertmanager", [paths["alertmanager"], *self._alertmanager_args()])
            self._write_prometheus_config(self._free_prometheus_port())
            self._spawn("prometheus", [paths["prometheus"], *self._prometheus_args()])
            for proc in self.processes.values():
                self._wait_ready(proc)
        except BaseException:
            self.stop()
            raise
        return self

    def _free_prometheus_port(self) -> int:
        self._prometheus_port = free_port()
        return self._prometheus_port

    def _spawn(self, name: str, argv: list[str]) -> None:
        assert self._dir is not None
        port = self._prometheus_port if name == "prometheus" else free_port()
        argv = [*argv, f"--web.listen-address=127.0.0.1:{port}"]
        if name != "pushgateway":
            argv.append(f"--web.external-url=http://127.0.0.1:{port}")
        log = self._dir / f"{name}.log"
        with log.open("wb") as out:
            # A new session (and process group) so stop() can signal the whole group.
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    cwd=self._dir, start_new_session=True)
        self.processes[name] = StackProcess(name, proc, port, log)

    def _alertmanager_args(self) -> list[str]:
        assert self._dir is not None
        config = {
            "route": {"receiver": "callprobe", "group_by": ["alertname"], "group_wait": "0s",
                      "group_interval": "1s", "repeat_interval": "1h"},
            "receivers": [{"name": "callprobe", "webhook_configs": [{"url": self.receiver_url, "send_resolved": True}]}],
        }
        (self._dir / "alertmanager.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
        (self._dir / "amdata").mkdir()
        # Empty cluster address: otherwise Alertmanager gossips on *:9094 (all interfaces).
        return ["--config.file=alertmanager.yml", "--storage.path=amdata", "--cluster.listen-address="]

    def _prometheus_args(self) -> list[str]:
        return ["--config.file=prometheus.yml", "--storage.tsdb.path=promdata", "--web.enable-lifecycle",
                "--storage.tsdb.retention.time=1h"]

    def _write_prometheus_config(self, port: int) -> None:
        assert self._dir is not None
        (self._dir / "rules.yml").write_text(compress_rules(render_rules(self.contract, strict=False)), encoding="utf-8")
        scrape = [{"job_name": "pushgateway", "honor_labels": True,
                   "static_configs": [{"targets": [f"127.0.0.1:{self.processes['pushgateway'].port}"]}]}]
        if self.target is not None:
            job: dict[str, object] = {"job_name": "gateway", "metrics_path": self.target.metrics_path,
                                      "scheme": self.target.scheme, "static_configs": [{"targets": [self.target.address]}]}
            if self.target.bearer_token:
                token_file = self._dir / "gateway.token"
                token_file.write_text(self.target.bearer_token, encoding="utf-8")
                token_file.chmod(0o600)
                job["authorization"] = {"type": "Bearer", "credentials_file": str(token_file)}
            scrape.insert(0, job)
        scrape += [dict(job) for job in self.extra_scrape]
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
            "rule_files": ["rules.yml"],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{self.processes['alertmanager'].port}"]}]}]},
            "scrape_configs": scrape,
        }
        (self._dir / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")

    def _wait_ready(self, proc: StackProcess, deadline_s: float = READY_DEADLINE_S) -> None:
        until = time.monotonic() + deadline_s
        with httpx.Client(timeout=1.0) as client:
            while True:
                if proc.process.poll() is not None:
                    raise ConfigError(f"{BINARIES[proc.name]} exited with code {proc.process.returncode} at start: {proc.log_tail()}")
                try:
                    if client.get(f"{proc.url}/-/ready").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > until:
                    raise ConfigError(f"{BINARIES[proc.name]} on 127.0.0.1:{proc.port} not ready within {deadline_s:.0f} s: "
                                      f"{proc.log_tail()}")
                time.sleep(0.05)  # polling /-/ready against a deadline

    def set_target(self, target: ScrapeTarget, contract: Contract | None = None) -> None:
        """Scrape ``target`` from now on, with the rules in its contract's words (rewrites the config, ``POST /-/reload``)."""
        contract = contract or self.contract
        if target == self.target and contract == self.contract:
            return
        self.target, self.contract = target, contract
        if "prometheus" not in self.processes:
            return
        self._write_prometheus_config(self.processes["prometheus"].port)
        response = httpx.post(f"{self.prometheus_url}/-/reload", timeout=10.0)
        if response.status_code != 200:
            raise ConfigError(f"prometheus at {self.prometheus_url}: reload failed ({response.status_code}): {response.text[:200]}")

    def stop(self) -> None:
        """SIGTERM each process group, SIGKILL what outlives the deadline, reap, remove the temp dir."""
        for proc in self.processes.values():
            _signal_group(proc.process, signal.SIGTERM)
        until = time.monotonic() + STOP_DEADLINE_S
        for proc in self.processes.values():
            try:
                proc.process.wait(timeout=max(0.1, until - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc.process, signal.SIGKILL)
                proc.process.wait(timeout=STOP_DEADLINE_S)
        self.processes = {}
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, sig)  # start_new_session: the group id is the child's pid
    except ProcessLookupError:
        pass
