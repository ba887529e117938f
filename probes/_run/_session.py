"""One ``callprobe run``: each scenario against one target, with deadlines, retries and a clean stop.

Scenarios run one after the other (a scheduled probe is a handful of them, and
the live view shows one call at a time). Each attempt leases its target
(a fresh embedded gateway, or the profile's gateway), runs the probe with the
recorder as its listener, and ends in one of three ways: a verdict; the
``--timeout`` deadline, which cancels the probe (its cleanup still runs) and
reports a failed verdict of what was seen so far; or SIGTERM/SIGINT, which
does the same and stops the run. A failed verdict is retried up to
``--retries`` times, and the first attempt is kept beside the final one.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console

from .._deadline import Recorder, deadline_verdict
from .._errors import ConfigError
from .._evidence import Verdict
from .._exitcodes import EXIT_FAILED, EXIT_HARNESS, EXIT_OK, EXIT_USAGE
from .._probe import probe
from .._probeconfig import Module, ProbeConfig, Target
from .._profile import TargetProfile
from .._scenario import Scenario
from ._live import LiveView

__all__ = ["Outcome", "RunSettings", "run_scenarios"]


@dataclass(frozen=True)
class RunSettings:
    """The command line's say over every scenario of the run (None: the module's own value)."""

    seed: int | None = None
    timeout: float | None = None
    retries: int = 0
    strict: bool = False
    live: Console | None = None


@dataclass
class Outcome:
    """What one scenario came to: the final verdict, the first attempt's, and how it ended."""

    module: Module
    verdict: Verdict | None
    first: Verdict | None = None
    attempts: int = 1
    seconds: float = 0.0
    error: str | None = None  # the run could not finish this scenario (interrupted, harness error)
    profile: TargetProfile | None = None
    report: str = ""  # failure text and timeline, filled in by the front

    @property
    def scenario(self) -> Scenario:
        return self.module.scenario

    @property
    def exit_code(self) -> int:
        if self.error is not None:
            return EXIT_HARNESS
        if self.verdict is None:
            return EXIT_HARNESS
        if not self.verdict.passed:
            return EXIT_FAILED
        return EXIT_OK if any(r.observed for r in self.verdict.results) else EXIT_USAGE  # nothing to judge


@dataclass
class _Stop:
    """The signal that stopped the run, if any."""

    by: str | None = None  # the signal's name
    task: asyncio.Task[object] | None = field(default=None, repr=False)
    recorder: Recorder | None = field(default=None, repr=False)  # the running probe's, frozen when the signal comes

    def __call__(self, sig: signal.Signals) -> None:
        if self.by is None and self.task is not None:
            self.by = sig.name
            if self.recorder is not None:
                self.recorder.freeze()
            self.task.cancel()


async def _attempt(config: ProbeConfig, target: Target, module: Module, settings: RunSettings,
                   stop: _Stop) -> tuple[Verdict, TargetProfile]:
    """One attempt; a deadline or a stopping signal turns into a failed verdict of what had been seen.

    Either way the probe was cancelled first, and its cleanup ran while it unwound.
    """
    recorder = stop.recorder = Recorder()
    seed = settings.seed if settings.seed is not None else module.seed
    timeout = settings.timeout if settings.timeout is not None else module.timeout
    started = time.time()
    async with config.lease(target) as profile:
        view = LiveView(module.scenario, profile, tuple(profile.secret_values())) if settings.live is not None else None
        recorder.forward = view
        try:
            with view.shown(settings.live) if view is not None and settings.live is not None else contextlib.nullcontext():
                verdict = await _within(probe(module.scenario, profile, seed=seed, listener=recorder, watch=view is not None),
                                        timeout, recorder)
        except TimeoutError:
            assert timeout is not None
            verdict = _stopped(recorder, module, timeout, started, f"--timeout {timeout:g} s passed", profile)
        except asyncio.CancelledError:
            if stop.by is None:
                raise
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            verdict = _stopped(recorder, module, round(time.time() - started, 1), started, f"interrupted by {stop.by}", profile)
    return (verdict.strict() if settings.strict or module.strict else verdict), profile


async def _within(work: Coroutine[Any, Any, Verdict], timeout: float | None, recorder: Recorder) -> Verdict:
    """``await work``, cancelled (cleanup and all) after ``timeout``; the recorder keeps what was pending at the deadline."""
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
    except asyncio.CancelledError:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise
    if task in done:
        return task.result()
    recorder.freeze()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    raise TimeoutError


def _stopped(recorder: Recorder, module: Module, seconds: float, started: float, why: str, profile: TargetProfile) -> Verdict:
    verdict = deadline_verdict(recorder, module.scenario.name, seconds, started, why, profile)
    if verdict is None:
        raise ConfigError(f"{module.name}: {why} before the probe had planned its calls")
    return verdict


async def _scenario(config: ProbeConfig, target: Target, module: Module, settings: RunSettings,
                    announce: Callable[[str], None], stop: _Stop) -> Outcome:
    started = time.perf_counter()
    first: Verdict | None = None
    verdict: Verdict | None = None
    profile: TargetProfile | None = None
    attempts = 0
    for attempt in range(1 + settings.retries):
        attempts = attempt + 1
        verdict, profile = await _attempt(config, target, module, settings, stop)
        first = first or verdict
        if stop.by is not None:
            outcome = Outcome(module, verdict, None, attempts, time.perf_counter() - started, profile=profile)
            outcome.error = f"interrupted by {stop.by}"
            return outcome
        if verdict.passed:
            break
        if attempt < settings.retries:
            announce(f"{module.name}: attempt {attempts} failed ({', '.join(sorted(verdict.failed_checks()))}); retrying")
    return Outcome(module, verdict, first if attempts > 1 else None, attempts, time.perf_counter() - started, profile=profile)


def run_scenarios(config: ProbeConfig, target: Target, modules: list[Module], settings: RunSettings,
                  done: Callable[[Outcome], None], announce: Callable[[str], None]) -> tuple[list[Outcome], str | None]:
    """Run ``modules`` in order, calling ``done`` after each; returns the outcomes and the signal that stopped the run."""

    async def main() -> tuple[list[Outcome], str | None]:
        stop = _Stop(task=asyncio.current_task())
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop, sig)
        outcomes: list[Outcome] = []
        try:
            for module in modules:
                outcome = await _scenario(config, target, module, settings, announce, stop)
                outcomes.append(outcome)
                done(outcome)
                if stop.by is not None:
                    break
        except asyncio.CancelledError:
            if stop.by is None:
                raise
            asyncio.current_task().uncancel()  # type: ignore[union-attr]  # stopped between probes
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        return outcomes, stop.by

    try:
        return asyncio.run(main())
    finally:
        config.close()
