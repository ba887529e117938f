"""``callprobe load``: a thin front over the locustfile, with the embedded gateway when no target is given.

Locust runs as a child process (``import locust`` monkey-patches a process
with gevent; this one stays plain Python), in a session of its own so that
Ctrl-C reaches only this front, which then stops Locust's master cleanly
(SIGINT, Locust's own Ctrl-C: the run ends, the bookings it made are
cancelled, the gate judges) and waits for it.
Without ``--target`` this process hosts the embedded reference gateway (with
``--gateway-defect`` seeded) and hands Locust a profile pointing at it.
Locust's own ``--csv``, ``--html`` and ``--loglevel`` are passed through, and
any other Locust option with ``--locust-args "…"``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from .._errors import ConfigError
from .._exitcodes import EXIT_HARNESS, EXIT_USAGE
from .._profile import TargetProfile
from ._calls import CallTarget
from ._options import LoadOptions, add_options

__all__ = ["add_commands", "run_load"]

LOCUSTFILE = Path(__file__).with_name("_locustfile.py")
WORKERS_WAIT_S = 30  # how long the master waits for its workers to connect before it gives up (exit 3)
STOP_GRACE_S = 60.0  # after Ctrl-C, how long Locust may take to finish (drain, cancel, judge) before it is killed
_INTERRUPTED: list[int] = []  # signals that asked this run to stop


def add_commands(sub: Any) -> None:
    """``callprobe load SCENARIO [--target PROFILE] [--rate R] [--duration D] [--workers N] …``."""
    p = sub.add_parser("load", help="load-test a gateway with whole synthetic calls on Locust (SLA-gated exit code)",
                       description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("scenario", help="scenario file, or the name of one in ./scenarios")
    add_options(p, skip=("--scenario", "--callprobe-json"))
    p.add_argument("--workers", type=int, default=1,
                   help="Locust worker processes (1: a single process; N: a master and N workers on loopback)")
    p.add_argument("--gateway-defect", action="append", default=[], metavar="NAME",
                   help="without --target: start the embedded reference gateway with this seeded defect (repeatable)")
    p.add_argument("--json", dest="json_file", default=None, metavar="FILE", help="write the load verdict as JSON to FILE")
    p.add_argument("--csv", default=None, metavar="PREFIX", help="Locust's CSV stats files (passed through)")
    p.add_argument("--html", default=None, metavar="FILE", help="Locust's HTML report (passed through)")
    p.add_argument("--loglevel", default=None, help="Locust's log level (passed through)")
    p.add_argument("--locust-args", default="", metavar="ARGS", help='any other Locust options, as one string ("--reset-stats …")')
    p.set_defaults(func=_cmd_load)


def _locust_passthrough(args: argparse.Namespace) -> list[str]:
    out = shlex.split(args.locust_args)
    for flag in ("csv", "html", "loglevel"):
        if getattr(args, flag) is not None:
            out += [f"--{flag}", str(getattr(args, flag))]
    return out


def _cmd_load(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("locust") is None or importlib.util.find_spec("hdrh") is None:
        raise ConfigError("callprobe load needs Locust and hdrhistogram: pip install 'callprobe[load]'")
    if args.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {args.workers}")
    if args.target and args.gateway_defect:
        raise ConfigError("--gateway-defect seeds the embedded gateway; it cannot change the gateway of --target")
    opts = LoadOptions.from_namespace(args)
    if args.workers > 1 and opts.streams == 1:  # one arrival stream per worker process
        opts = replace(opts, streams=args.workers)
    return run_load(opts, workers=args.workers, defects=args.gateway_defect, json_file=args.json_file,
                    locust_args=_locust_passthrough(args))


@contextlib.contextmanager
def _embedded_target(defects: list[str]) -> Iterator[Path]:
    """The embedded reference gateway (+ Cal.com mock and sinks) in this process, as a profile file for Locust."""
    from .._embedded import EmbeddedWorld

    world = EmbeddedWorld(defects=frozenset(defects)).start()
    try:
        profile = world.gateway(defects)
        with tempfile.TemporaryDirectory(prefix="callprobe-load-") as folder:
            yield _write_profile(profile, Path(folder) / "embedded.yaml")
    finally:
        world.stop()


def _write_profile(profile: TargetProfile, path: Path) -> Path:
    path.write_text(yaml.safe_dump(profile.model_dump(mode="json"), sort_keys=False), encoding="utf-8")
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def locust_argv(opts: LoadOptions, workers: int, locust_args: list[str]) -> list[str]:
    """The Locust command line of a run: headless, our locustfile, loopback master when distributed."""
    argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary", *opts.to_argv()]
    if workers > 1:
        port = str(_free_port())
        argv += ["--processes", str(workers), "--master-bind-host", "127.0.0.1", "--master-bind-port", port,
                 "--master-host", "127.0.0.1", "--master-port", port, "--expect-workers-max-wait", str(WORKERS_WAIT_S)]
    return argv + locust_args


def run_load(opts: LoadOptions, *, workers: int = 1, defects: list[str] | None = None, json_file: str | None = None,
             locust_args: list[str] | None = None) -> int:
    """Run Locust on the scenario (against the embedded gateway unless ``opts.target``); the gate's exit code."""
    with contextlib.ExitStack() as stack:
        if opts.target is None:
            opts = replace(opts, target=str(stack.enter_context(_embedded_target(list(defects or [])))))
        CallTarget.load(opts)  # a bad scenario, profile, host or rate: one line and exit 2, before Locust starts
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="callprobe-load-")))
        verdict = Path(json_file) if json_file else folder / "verdict.json"
        opts = replace(opts, callprobe_json=str(verdict.resolve()))
        code = _run_locust(locust_argv(opts, workers, list(locust_args or [])))
        return _exit_code(code, verdict)


def _run_locust(argv: list[str]) -> int:
    """Run Locust in a session of its own; Ctrl-C or SIGTERM here stops it cleanly (SIGTERM), then hard after a grace."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    child = subprocess.Popen(argv, start_new_session=True, env=env)
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def stop(signum: int, frame: Any) -> None:  # the master only: it stops its workers itself, after their final reports
        _INTERRUPTED.append(signum)
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signal.SIGINT)  # Locust's own Ctrl-C: the shape ends, the run is judged

    for sig in previous:
        signal.signal(sig, stop)
    try:
        try:
            return child.wait()
        except KeyboardInterrupt:
            stop(signal.SIGINT, None)
            return child.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        return EXIT_HARNESS
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        with contextlib.suppress(ProcessLookupError):  # nothing of the run outlives it (forked workers included)
            os.killpg(child.pid, signal.SIGKILL)


def _exit_code(code: int, verdict: Path) -> int:
    """The gate's exit code from the verdict Locust wrote; without one, the run did not get that far.

    Stopped (Ctrl-C) before any run ended, there is nothing to judge: 2. Otherwise
    Locust or a worker failed before the gate: 3.
    """
    try:
        return int(json.loads(verdict.read_text(encoding="utf-8"))["exit_code"])
    except (OSError, ValueError, KeyError):
        return EXIT_USAGE if code == EXIT_USAGE or _INTERRUPTED else EXIT_HARNESS

