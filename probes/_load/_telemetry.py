"""The telemetry reader of a load run: a process of its own, because Locust's process is gevent's.

The Locust master cannot run probes' asyncio observers (``import locust``
monkey-patches the process), so it starts this module as a child:
``python -m probes._load._telemetry <load options>``. It reads JSON lines on
stdin and answers one JSON line each on stdout:

- ``{"op": "mark"}`` when a run starts: scrape the metrics, note where every
  stream (logs, Cal.com journal, alert sink) stands → ``{"ok": true}``;
- ``{"op": "judge", "tally": {...}}`` when it ends: read what came after the
  mark, until the telemetry is complete or the profile's deadline passes, and
  judge it (:mod:`._completeness`) → ``{"report": {...}}``.

It exits when stdin closes. Errors become ``{"error": "..."}``, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

import httpx

from .._errors import ObserverError, ProbeError
from .._probe import Observers
from .._profile import TargetProfile
from ._calls import CallTarget
from ._completeness import Observed, judge, settled
from ._ledger import Tally
from ._options import LoadOptions, add_options

__all__ = ["TelemetryReader", "main"]

STREAMS = ("logs", "calcom", "alerts")
POLL_S = 0.25


class TelemetryReader:
    """The profile's evidence sources, marked at the start of a run and read at its end."""

    def __init__(self, target: CallTarget, client: httpx.AsyncClient, sample: int) -> None:
        self.target, self.sample = target, sample
        profile: TargetProfile = target.profile
        self.obs = Observers.from_profile(profile, client, profile.secrets().metrics_token)
        self.obs.traces = self.obs.errors = self.obs.prometheus = None  # spans and error events are not judged under load
        self.sources = self.obs.names()
        self.plan = target.plan(0, "telemetry", int(time.time() * 1000))
        self.marks: dict[str, int] = {}
        self.observed = Observed(self.sources)

    async def _guard(self, name: str, op: Any) -> Any:
        try:
            return await op
        except ObserverError as exc:
            self.observed.source_errors.setdefault(name, str(exc))
            setattr(self.obs, name, None)
            return None

    async def mark(self) -> None:
        self.observed = Observed(self.sources)
        self.marks = {}
        for name in STREAMS:
            source = getattr(self.obs, name)
            if source is not None and (mark := await self._guard(name, source.mark())) is not None:
                self.marks[name] = mark
        if self.obs.metrics is not None:
            self.observed.before = await self._guard("metrics", self.obs.metrics.snapshot())

    async def _read(self) -> None:
        for name, items in (("logs", self.observed.logs), ("calcom", self.observed.calcom), ("alerts", self.observed.alerts)):
            source = getattr(self.obs, name)
            if source is not None and name in self.marks and (page := await self._guard(name, source.read(self.marks[name]))):
                got, self.marks[name] = page
                items.extend(got)
        if self.obs.metrics is not None:
            self.observed.after = await self._guard("metrics", self.obs.metrics.snapshot())

    async def judge(self, tally: Tally, calls_total: int) -> dict[str, Any]:
        """Read until the telemetry is complete or the profile's deadline passes; then the report."""
        deadline = time.monotonic() + self.target.profile.telemetry_deadline_s
        while True:
            await self._read()
            report = judge(self.target.scenario, self.plan, self.target.contract, tally, self.observed,
                           shared=self.target.profile.shared, sample=self.sample)
            if settled(report) or time.monotonic() >= deadline:
                report["sampled_from"] = max(calls_total, report["calls_judged"])
                return report
            await asyncio.sleep(POLL_S)


async def _serve(reader: TelemetryReader) -> None:
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        try:
            msg = json.loads(line)
            if msg.get("op") == "mark":
                await reader.mark()
                answer: dict[str, Any] = {"ok": True, "sources": list(reader.sources), "source_errors": reader.observed.source_errors}
            else:
                tally = Tally.from_json(msg["tally"])
                answer = {"report": await reader.judge(tally, int(msg.get("calls_total", len(tally.calls))))}
        except (ProbeError, ValueError, KeyError) as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


async def _main(opts: LoadOptions, host: str | None) -> None:
    target = CallTarget.load(opts, host)
    async with httpx.AsyncClient(timeout=target.profile.request_timeout_s) as client:
        await _serve(TelemetryReader(target, client, opts.telemetry_sample))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m probes._load._telemetry")
    add_options(parser)
    parser.add_argument("--host", default=None)
    args = parser.parse_args(argv)
    try:
        asyncio.run(_main(LoadOptions.from_namespace(args), args.host))
    except ProbeError as exc:
        sys.stdout.write(json.dumps({"error": str(exc)}) + "\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
