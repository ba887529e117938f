"""``callprobe run`` and ``callprobe janitor``: scheduled probes from the command line, without pytest.

``run`` places each scenario's synthetic calls against one target and exits
0 (every check passed), 1 (a check failed), 2 (bad input or configuration,
a refused scenario, or nothing to judge) or 3 (callprobe could not finish:
interrupted, or a report it could not deliver): what cron, a systemd timer, a
Kubernetes CronJob or a CI schedule reads. A failure prints what pytest would:
the assertion diff and the call's timeline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from .._argtypes import bounded_int, duration
from .._errors import ConfigError, ProbeError
from .._exitcodes import EXIT_FAILED, EXIT_HARNESS, EXIT_OK, EXIT_USAGE
from .._measures import measure
from .._probeconfig import EMBEDDED, Module, ProbeConfig, Target, load_config
from .._profile import load_profile
from .._pushgateway import DEFAULT_JOB, PushKey, push_measures, write_textfile
from .._redact import Redactor
from .._report import format_failure, run_to_json, verdict_to_json
from .._safety import refusal
from .._scenario import load_scenario
from .._timeline import build_timelines, timeline_to_text
from ._janitor import sweep_target
from ._junit import write_junit
from ._session import Outcome, RunSettings, run_scenarios

__all__ = ["add_commands"]

def add_commands(sub: Any) -> None:
    run = sub.add_parser("run", help="run scenarios against a target once, without pytest (cron, CronJob, CI schedule)",
                         description="Exit 0: passed; 1: a check failed; 2: bad input, a refused scenario or nothing to judge; "
                                     "3: interrupted or a report could not be delivered.")
    run.add_argument("scenarios", nargs="+", metavar="SCENARIO", help="a scenario file, or a module/scenario name of the config")
    run.add_argument("--target", default=None, metavar="PROFILE|NAME",
                     help="a target profile file, or a target name of --config (default: the embedded reference gateway)")
    run.add_argument("--config", default=None, metavar="FILE", help="the probe config: named targets and modules (README)")
    run.add_argument("--json", default=None, metavar="FILE", help="write the verdicts as JSON (schema_version 1)")
    run.add_argument("--junitxml", default=None, metavar="FILE", help="write the run as JUnit XML")
    run.add_argument("--retries", type=bounded_int(0, 10), default=0, metavar="N", help="retry a failed scenario up to N times")
    run.add_argument("--timeout", type=duration, default=None, metavar="DURATION", help="deadline of each attempt (e.g. 30s)")
    run.add_argument("--live", action="store_true", help="show each call as it happens (requests, answers, telemetry, SLA clock)")
    run.add_argument("--push", default=None, metavar="URL", help="push each probe's metrics to this Pushgateway")
    run.add_argument("--textfile", default=None, metavar="DIR", help="write each probe's metrics for node_exporter's textfile collector")
    run.add_argument("--job", default=DEFAULT_JOB, help=f"the job label of pushed metrics (default {DEFAULT_JOB})")
    run.add_argument("--location", default=None, help="the location label of pushed metrics (default: the config's, else the host name)")
    run.add_argument("--seed", type=int, default=None, help="override every scenario's seed (the story; calls are new every run)")
    run.add_argument("--strict", action="store_true", help="fail expectations the target gives no way to observe")
    run.add_argument("--gateway-defect", action="append", default=[], metavar="NAME",
                     help="embedded target only: start the reference gateway with this seeded defect (repeatable)")
    run.set_defaults(func=cmd_run)

    janitor = sub.add_parser("janitor", help="cancel synthetic bookings that killed probes left in Cal.com (never any other)")
    janitor.add_argument("--target", required=True, metavar="PROFILE|NAME", help="a target profile file, or a target name of --config")
    janitor.add_argument("--config", default=None, metavar="FILE")
    janitor.add_argument("--older-than", type=duration, default=900.0, metavar="DURATION",
                         help="only bookings created at least this long ago (default 15m: a running probe keeps its own)")
    janitor.add_argument("--dry-run", action="store_true", help="print what would be cancelled, cancel nothing")
    janitor.set_defaults(func=cmd_janitor)


def _target(config: ProbeConfig, name: str | None, defects: list[str]) -> Target:
    """``--target``: a name of the config, a profile file, or (None) the embedded target."""
    if name is None or name == EMBEDDED:
        target = config.targets[EMBEDDED]
        return Target(EMBEDDED, None, frozenset(defects)) if defects else target
    if defects:
        raise ConfigError("--gateway-defect starts the embedded reference gateway; it cannot seed a defect into --target")
    found = config.target(name)
    if found is not None:
        return found
    if Path(name).is_file() or name.endswith((".yaml", ".yml")):
        return config.add_profile(load_profile(name))
    raise ConfigError(f"--target {name!r}: neither a target of {config.source} nor a profile file")


def _module(config: ProbeConfig, ref: str) -> Module:
    path = Path(ref)
    if path.is_file() or ref.endswith((".yaml", ".yml")):
        scenario = load_scenario(path)
        return Module(scenario.name, scenario)
    found = config.module(ref)
    if found is None:
        raise ConfigError(f"scenario {ref!r}: no such file, and no module or scenario of that name in {config.source}")
    return found


def _report(outcome: Outcome, secrets: list[str]) -> str:
    """The failure text and timeline as under pytest, redacted (empty for a passed verdict)."""
    verdict = outcome.verdict
    if verdict is None or verdict.passed:
        return ""
    profile = outcome.profile
    red = Redactor.for_verdict(verdict, secrets)
    timelines = build_timelines(verdict, red, profile.contract if profile is not None else None)
    return red.text(format_failure(verdict)) + "\n" + timeline_to_text(timelines)


def _headline(outcome: Outcome, target: str) -> str:
    verdict = outcome.verdict
    took = f"in {outcome.seconds:.1f} s, target {target}"
    retried = f", attempt {outcome.attempts}" if outcome.attempts > 1 else ""
    if outcome.error is not None or verdict is None:
        return f"! {outcome.module.name}: {outcome.error or 'no verdict'} ({took})"
    if verdict.passed:
        unobserved = sorted({r.check for r in verdict.unobserved})
        extra = f", not observed: {', '.join(unobserved)}" if unobserved else ""
        first = outcome.first
        flaky = f"; first attempt failed: {', '.join(sorted(first.failed_checks()))}" if first is not None and not first.passed else ""
        return f"✓ {outcome.module.name}: {len(verdict.results)} checks passed{extra} ({took}{retried}{flaky})"
    return f"✗ {outcome.module.name}: {len(verdict.failures)} of {len(verdict.results)} checks failed ({took}{retried})"


class _Deliveries:
    """Push and textfile output after each probe; a delivery that fails is one line and exit 3."""

    def __init__(self, args: argparse.Namespace, target: str, location: str) -> None:
        self.args, self.target, self.location = args, target, location
        self.failed = False

    def __call__(self, outcome: Outcome) -> None:
        if outcome.verdict is None or outcome.error is not None or not (self.args.push or self.args.textfile):
            return
        key = PushKey(probe=outcome.module.name, target=self.target, location=self.location, job=self.args.job)
        numbers = measure(outcome.verdict)
        try:
            if self.args.push:
                push_measures(self.args.push, numbers, key)
            if self.args.textfile:
                write_textfile(self.args.textfile, numbers, key)
        except ProbeError as exc:
            print(f"callprobe: error: {exc}", file=sys.stderr)
            self.failed = True


def cmd_run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    target = _target(config, args.target, args.gateway_defect)
    modules = [_module(config, ref) for ref in args.scenarios]
    refused = [line for m in modules if (line := refusal(m.scenario, target.profile))]
    if refused:
        for line in refused:
            print(f"callprobe: error: {line}", file=sys.stderr)
        return EXIT_USAGE
    if args.textfile and not Path(args.textfile).is_dir():
        raise ConfigError(f"--textfile: {args.textfile} is not a folder")
    location = args.location or config.location or os.environ.get("CALLPROBE_LOCATION") or socket.gethostname()
    deliver = _Deliveries(args, target.name, location)
    settings = RunSettings(seed=args.seed, timeout=args.timeout, retries=args.retries, strict=args.strict,
                           live=Console(stderr=False) if args.live else None)

    def done(outcome: Outcome) -> None:
        outcome.report = _report(outcome, outcome.profile.secret_values() if outcome.profile else [])
        print(_headline(outcome, target.name), flush=True)
        if outcome.report:
            print(outcome.report, flush=True)
        deliver(outcome)

    outcomes, stopped = run_scenarios(config, target, modules, settings, done,
                                      lambda line: print(f"callprobe: {line}", file=sys.stderr, flush=True))
    code = max([o.exit_code for o in outcomes] or [EXIT_OK])
    if stopped is not None:
        print(f"callprobe: interrupted by {stopped}; bookings made so far were cancelled", file=sys.stderr)
        code = EXIT_HARNESS
    if deliver.failed:
        code = max(code, EXIT_HARNESS)
    _write_outputs(args, outcomes, target.name, code)
    return code


def _write_outputs(args: argparse.Namespace, outcomes: list[Outcome], target: str, code: int) -> None:
    if args.json:
        docs = []
        for o in outcomes:
            if o.verdict is None:
                continue
            red = Redactor.for_verdict(o.verdict, o.profile.secret_values() if o.profile else [])
            docs.append(verdict_to_json(o.verdict, red, target=target, first_attempt=o.first, attempts=o.attempts))
        try:
            Path(args.json).write_text(json.dumps(run_to_json(docs, exit_code=code), indent=2, ensure_ascii=False), encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"--json: cannot write {args.json} ({exc.strerror or exc})") from None
    if args.junitxml:
        write_junit(args.junitxml, outcomes, target)


def cmd_janitor(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    target = _target(config, args.target, [])
    profile = target.profile
    url = profile.resolved_calcom_api_url if profile is not None else None
    key = profile.calcom_api_key() if profile is not None else None
    if profile is None or not url or not key:
        env = profile.calcom_api_key_env if profile is not None else "CALCOM_API_KEY"
        raise ConfigError(f"janitor: target {args.target!r} needs calcom_api_url (or calcom_mock_url) in its profile and the "
                          f"Cal.com API key in {env}")
    red = Redactor(secrets=[key])

    def report(what: str, booking: dict[str, Any]) -> None:
        emails = ", ".join(str(a.get("email")) for a in booking.get("attendees") or [] if isinstance(a, dict))
        print(red.text(f"{what} {booking.get('uid')} (created {booking.get('createdAt')}, start {booking.get('start')}, "
                       f"attendees {emails})"), flush=True)

    result = asyncio.run(sweep_target(url, key, older_than_s=args.older_than, now=time.time(), dry_run=args.dry_run, report=report))
    verb = "would cancel" if args.dry_run else "cancelled"
    print(f"janitor: {result.listed} bookings listed at {url}; {verb} {len(result.cancelled)} synthetic, "
          f"{len(result.failed)} could not be cancelled, {result.young} synthetic younger than {args.older_than:g} s kept, "
          f"{result.kept} without the synthetic marker never touched", flush=True)
    return EXIT_FAILED if result.failed else EXIT_OK
