"""A load run on Locust's engine: the shape, the end-of-run gate, and master/worker bookkeeping (imports Locust).

- :class:`CallLoadShape` keeps ``--streams`` arrival streams alive for
  ``--duration`` plus the drain (open model), or moves the number of users
  along ``--shape`` (closed model); then the run ends.
- At ``test_start`` the master (or the single local process) asks the
  telemetry reader (:mod:`._telemetry`, a child process) to mark where every
  evidence source stands.
- At ``test_stop`` it asks every worker to finish (stop starting calls, let
  those in flight end, cancel what is still booked) and to send its tally and
  histograms (custom messages ``callprobe_flush`` / ``callprobe_final``);
  a worker that went missing or never answers is a harness error (exit 3).
  Then it judges telemetry completeness, evaluates the gate, prints the table
  and sets the process's exit code.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import gevent
from locust import LoadTestShape, events
from locust.env import Environment
from locust.runners import STATE_MISSING, MasterRunner, WorkerRunner

from .._errors import ProbeError
from .._exitcodes import EXIT_HARNESS, EXIT_USAGE
from ._arrivals import RateProfile
from ._gate import evaluate
from ._histograms import LatencyBook
from ._ledger import Tally
from ._locust_users import (
    IDLE_LISTENERS,
    ClosedCallUser,
    LoadProcess,
    OpenCallUser,
    encode_final,
    process,
    set_process,
)
from ._options import LoadOptions, add_options
from ._report import LoadReport

__all__ = ["CallLoadShape"]

log = logging.getLogger("callprobe.load")
FLUSH = "callprobe_flush"
FINAL = "callprobe_final"
IDLE = "callprobe_idle"
FLUSH_MARGIN_S = 10.0  # beyond the drain, how long the master waits for a worker's final report


class CallLoadShape(LoadTestShape):
    """``--shape`` over ``--duration``: arrival streams for the open model, users for the closed one."""

    def tick(self) -> tuple[int, float, list[Any]] | None:
        state = _STATE
        if state.opts is None:
            return None
        t, opts = float(self.get_run_time()), state.opts  # type: ignore[no-untyped-call]
        if opts.model == "open":
            if t >= opts.duration and (state.all_idle(self.runner) or t >= opts.duration + state.drain_s):
                return None
            return opts.streams, float(opts.streams), [OpenCallUser]
        if t >= opts.duration:
            return None
        users = max(1, round(RateProfile(opts.shape, opts.rate, opts.duration).rate_at(t)))
        return users, float(max(users, 1)), [ClosedCallUser]


class _State:
    """The master's (or local process's) view of the run."""

    def __init__(self) -> None:
        self.opts: LoadOptions | None = None
        self.run: LoadProcess | None = None  # the options checked: scenario, target, drain (no calls are placed with it)
        self.drain_s = 0.0
        self.reader: subprocess.Popen[str] | None = None
        self.finals: dict[str, dict[str, Any]] = {}
        self.workers: set[str] = set()
        self.idle: set[str] = set()  # workers whose streams are all done
        self.harness_errors: list[str] = []
        self.started_at = 0.0
        self.report: LoadReport | None = None

    def all_idle(self, runner: Any) -> bool:
        """Every stream has started its last call and seen every call end (the run may stop before the drain)."""
        if isinstance(runner, MasterRunner):  # a worker gone missing starts no more calls: it counts as idle
            alive = {c.id for c in runner.clients.all if c.state != STATE_MISSING}
            return bool(self.idle) and alive <= self.idle
        run = process()
        return run is not None and run.idle


_STATE = _State()


def _tell_master_idle(run: LoadProcess) -> None:
    runner = run.environment.runner
    if isinstance(runner, WorkerRunner):
        runner.send_message(IDLE, {})


IDLE_LISTENERS.append(_tell_master_idle)


def _options(parser: Any) -> None:
    add_options(parser, include_in_web_ui=True)


def _role(environment: Environment) -> str:
    runner = environment.runner
    return "master" if isinstance(runner, MasterRunner) else "worker" if isinstance(runner, WorkerRunner) else "local"


def _init(environment: Environment, **_: Any) -> None:
    """Check the options once, where they were given (a worker gets them with its first spawn message)."""
    runner = environment.runner
    if runner is None:
        return
    if _role(environment) == "worker":
        runner.register_message(FLUSH, _on_flush, concurrent=True)
        return
    try:
        opts = LoadOptions.from_namespace(environment.parsed_options)
        _STATE.run = LoadProcess.start(environment, opts, 0)  # refuses a bad scenario, profile, host or rate now
    except ProbeError as exc:
        print(f"callprobe: error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_USAGE) from None
    _STATE.opts, _STATE.drain_s = opts, _STATE.run.drain_s
    main = gevent.getcurrent()  # Locust installs its SIGTERM handler only after a shape run: stop it as Ctrl-C does
    gevent.signal_handler(signal.SIGTERM, lambda: main.throw(KeyboardInterrupt))
    _STATE.reader = _start_reader(opts, environment.host)
    if isinstance(runner, MasterRunner):
        runner.register_message(FINAL, _on_final)
        runner.register_message(IDLE, lambda environment, msg, **_: _STATE.idle.add(msg.node_id))


def _start_reader(opts: LoadOptions, host: str | None) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "probes._load._telemetry", *opts.to_argv()] + (["--host", host] if host else [])
    return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=Path.cwd())


def _ask_reader(msg: dict[str, Any]) -> dict[str, Any]:
    reader = _STATE.reader
    if reader is None or reader.stdin is None or reader.stdout is None or reader.poll() is not None:
        return {"error": "the telemetry reader is not running"}
    reader.stdin.write(json.dumps(msg) + "\n")
    reader.stdin.flush()
    line = reader.stdout.readline()
    try:
        return dict(json.loads(line)) if line else {"error": "the telemetry reader exited"}
    except ValueError:
        return {"error": f"the telemetry reader answered {line[:80]!r}"}


def _test_start(environment: Environment, **_: Any) -> None:
    role = _role(environment)
    opts = LoadOptions.from_namespace(environment.parsed_options)
    index = getattr(environment.runner, "worker_index", 0) if role == "worker" else 0
    if role != "master":
        set_process(LoadProcess.start(environment, opts, index))
    if role == "worker":
        return
    _STATE.finals, _STATE.harness_errors, _STATE.report, _STATE.idle = {}, [], None, set()
    _STATE.workers = {c.id for c in environment.runner.clients.all} if isinstance(environment.runner, MasterRunner) else set()
    answer = _ask_reader({"op": "mark"})
    if "error" in answer:
        _STATE.harness_errors.append(f"telemetry reader: {answer['error']}")
    _STATE.started_at = time.monotonic()


def _on_flush(environment: Environment, msg: Any, **_: Any) -> None:
    """Worker: finish the run and send the master everything counted."""
    run, runner = process(), environment.runner
    assert runner is not None
    if run is None:
        runner.send_message(FINAL, {"tally": Tally().to_json(), "hist": {}})
        return
    run.finish(float(msg.data.get("drain_s", run.drain_s)))
    runner.send_message(FINAL, encode_final(run))


def _on_final(environment: Environment, msg: Any, **_: Any) -> None:
    _STATE.finals[msg.node_id] = msg.data


def _collect_finals(environment: Environment) -> None:
    """Master: ask every worker to finish and wait for each one's final report (a missing worker is a harness error)."""
    runner = environment.runner
    assert isinstance(runner, MasterRunner)
    for worker in runner.clients.all:
        _STATE.workers.add(worker.id)
        runner.send_message(FLUSH, {"drain_s": _STATE.drain_s}, client_id=worker.id)
    deadline = time.monotonic() + _STATE.drain_s + FLUSH_MARGIN_S
    while time.monotonic() < deadline:
        missing = {c.id for c in runner.clients.all if c.state == STATE_MISSING}
        gone = _STATE.workers - {c.id for c in runner.clients.all}
        waiting = _STATE.workers - set(_STATE.finals) - missing - gone
        if not waiting:
            break
        gevent.sleep(0.05)
    for lost in sorted(_STATE.workers - set(_STATE.finals)):
        _STATE.harness_errors.append(f"worker {lost} sent no final report (it died or went missing)")


def _test_stop(environment: Environment, **_: Any) -> None:
    role = _role(environment)
    if role == "worker" or _STATE.opts is None:
        return
    if role == "master":
        _collect_finals(environment)
    else:
        run = process()
        if run is not None:
            run.finish(_STATE.drain_s)
            _STATE.finals["local"] = encode_final(run)
    _STATE.report = _judge(environment, _STATE.opts)
    if environment.parsed_options is None or not environment.parsed_options.headless:
        print(_STATE.report.text(), flush=True)  # the web UI's run is over; the process goes on


def _judge(environment: Environment, opts: LoadOptions) -> LoadReport:
    tally, book = Tally(), LatencyBook()
    for final in _STATE.finals.values():
        tally.merge(Tally.from_json(final["tally"]))
        book.merge(final["hist"])
    tally.harness_errors += _STATE.harness_errors
    exceptions = environment.runner.exceptions.values() if environment.runner is not None else []
    tally.harness_errors += [f"exception in the load run: {e['msg']}" for e in exceptions]
    run = _STATE.run
    assert run is not None
    scenario = run.target.scenario
    telemetry = None
    if scenario.load.telemetry and tally.completed:
        sample = Tally.from_json(tally.to_json())
        sample.calls = tally.newest(opts.telemetry_sample)
        answer = _ask_reader({"op": "judge", "tally": sample.to_json(), "calls_total": len(tally.calls)})
        if "error" in answer:
            tally.harness_errors.append(f"telemetry reader: {answer['error']}")
        telemetry = answer.get("report")
    gate = evaluate(scenario, tally, book, call_entry=run.call_entry(), open_model=opts.model == "open", telemetry=telemetry)
    title = (f"callprobe load: {scenario.name} against {run.target.profile.name} ({run.target.profile.base_url}), "
             f"{opts.model} model, {opts.shape} {opts.rate:g} {'calls/s' if opts.model == 'open' else 'users'} for "
             f"{opts.duration:g} s ({opts.arrival} arrivals), time scale {run.target.time_scale:g}")
    report = LoadReport(title, tally, book, gate, telemetry, run.call_entry(), opts.duration)
    environment.process_exit_code = gate.exit_code
    if opts.callprobe_json:
        Path(opts.callprobe_json).write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
    return report


def _quitting(environment: Environment, **_: Any) -> None:
    if _role(environment) == "worker" or _STATE.opts is None:
        return
    if _STATE.report is None:  # no run happened (or it never stopped cleanly)
        environment.process_exit_code = EXIT_USAGE if not _STATE.harness_errors else EXIT_HARNESS
    else:
        environment.process_exit_code = _STATE.report.gate.exit_code


def _quit(exit_code: int, **_: Any) -> None:
    """After Locust's own tables: ours and the verdict are the last thing a headless run prints."""
    if _STATE.report is not None:
        print("\n" + _STATE.report.text(), flush=True)
    reader = _STATE.reader
    if reader is not None and reader.poll() is None:
        if reader.stdin is not None:
            reader.stdin.close()
        try:
            reader.wait(timeout=5)
        except subprocess.TimeoutExpired:
            reader.kill()


for hook, listener in ((events.init_command_line_parser, _options), (events.init, _init), (events.test_start, _test_start),
                       (events.test_stop, _test_stop), (events.quitting, _quitting), (events.quit, _quit)):
    hook.add_listener(listener)  # type: ignore[no-untyped-call]
