"""Running many probes in one process without lying about latency.

The catalogue's scenarios mostly wait (time-scaled calls, telemetry
deadlines), so they can share a process; but a probe that asserts a tight
latency bound measures the gateway *and* everything else the process is doing
(the embedded gateways serve from threads of the same interpreter). The
:class:`TimingGate` keeps that measurement honest: every request of a *timed*
probe goes out alone. While one is in flight, every other probe waits at its
next request, poll or plan (``shared``); the timed request first lets the
CPU work in flight finish (starting or stopping a server, building a plan,
judging a verdict), and the requests and polls in flight too, up to
``drain_s`` (one still open after that is waiting on a scripted Cal.com hang,
not using the CPU); and no
automatic garbage collection runs during it (as ``timeit`` does). Between a
timed probe's requests, and for probes without tight bounds, the process is
shared freely.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from typing import Protocol

from ._scenario import Scenario

__all__ = ["OPEN", "TIMED_BOUND_MS", "Gate", "TimingGate", "gc_paused", "is_timed"]

# Bounds of a second or more are not moved by the milliseconds of contention concurrent probes add;
# tighter ones are measured with the process to themselves.
TIMED_BOUND_MS = 1000.0
# How long a timed request lets the requests in flight finish: a loopback exchange takes a few
# milliseconds; one still open after this is waiting on the network (a scripted hang, a latency
# fault), and waiting for it would stall every probe behind one that is not using the CPU.
DRAIN_S = 0.025

_paused = 0  # windows in this process during which collection is off
_gc_was_enabled = True  # the collector's state when the first of them opened


@contextmanager
def gc_paused() -> Iterator[None]:
    """No automatic garbage collection inside the window; nested windows share it.

    A full collection stops every thread for 100 ms or more; when the target
    runs in this process (the embedded default), that pause would be charged
    to the gateway's latency. Collection resumes when the last window closes.
    """
    global _paused, _gc_was_enabled
    if _paused == 0:
        _gc_was_enabled = gc.isenabled()
    _paused += 1
    gc.disable()
    try:
        yield
    finally:
        _paused -= 1
        if _paused == 0 and _gc_was_enabled:
            gc.enable()


def is_timed(scenario: Scenario) -> bool:
    """The scenario's outcome hangs on a time tighter than :data:`TIMED_BOUND_MS`.

    A latency bound (a step's ``within_ms``, ``expect.latency``) or a caller
    who hangs up after so many milliseconds (``abandon_after_ms``: whether the
    gateway read the request before that is the point of the scenario).
    """
    bounds = [s.expect.within_ms for s in scenario.steps if s.expect.within_ms is not None]
    bounds += [s.abandon_after_ms for s in scenario.steps if s.abandon_after_ms is not None]
    bounds += [item.max_ms for item in scenario.expect.latency]
    return any(b < TIMED_BOUND_MS for b in bounds)


class Gate(Protocol):
    """What a probe needs of a gate: shared windows, and exclusive ones for timed sends."""

    def shared(self, io: bool = False) -> AbstractAsyncContextManager[None]: ...

    def exclusive(self, owner: object = None) -> AbstractAsyncContextManager[None]: ...

    def hold(self, timed: bool, owner: object = None) -> AbstractAsyncContextManager[None]: ...


class TimingGate:
    """A writer-preferring read/write lock: timed requests are exclusive, everything else is shared.

    Used from one event loop (the probes' loop). ``exclusive`` keeps new
    shared holders out and waits for those in flight: for CPU work
    (``shared()``: starting a server, building a plan, judging a verdict)
    until it is done, for requests and polls (``shared(io=True)``) up to
    ``drain_s`` (one still open after that is waiting on the network, a
    scripted Cal.com hang, not competing for the CPU). Exclusive windows of
    one ``owner`` (the requests of one timed probe) may overlap each other.
    """

    def __init__(self, drain_s: float = DRAIN_S) -> None:
        self.drain_s = drain_s
        self._working = 0  # shared windows doing CPU work
        self._waiting_io = 0  # shared windows waiting on the network
        self._owner: object = None
        self._depth = 0
        self._waiting = 0
        self._cond: asyncio.Condition | None = None

    def _condition(self) -> asyncio.Condition:
        if self._cond is None:
            self._cond = asyncio.Condition()
        return self._cond

    @asynccontextmanager
    async def shared(self, io: bool = False) -> AsyncIterator[None]:
        """A window any number of probes may hold; ``io=True`` for one that mostly waits on the network."""
        cond = self._condition()
        async with cond:
            await cond.wait_for(lambda: self._depth == 0 and self._waiting == 0)
            self._count(io, +1)
        try:
            yield
        finally:
            async with cond:
                self._count(io, -1)
                cond.notify_all()

    def _count(self, io: bool, step: int) -> None:
        if io:
            self._waiting_io += step
        else:
            self._working += step

    @asynccontextmanager
    async def exclusive(self, owner: object = None) -> AsyncIterator[None]:
        cond = self._condition()
        async with cond:
            if not (self._depth and owner is not None and self._owner is owner):
                await self._take(cond, owner)
            else:
                self._depth += 1
        try:
            with gc_paused():
                yield
        finally:
            async with cond:
                self._depth -= 1
                if self._depth == 0:
                    self._owner = None
                cond.notify_all()

    async def _take(self, cond: asyncio.Condition, owner: object) -> None:
        """Wait for the CPU work in flight, and for the requests in flight up to ``drain_s``."""
        if self._idle() and self._waiting_io == 0:  # free: no task and timer for a wait that would end at once
            self._owner, self._depth = owner, 1
            return
        self._waiting += 1
        try:
            try:
                await asyncio.wait_for(cond.wait_for(lambda: self._idle() and self._waiting_io == 0), self.drain_s)
            except TimeoutError:
                await cond.wait_for(self._idle)
        finally:
            self._waiting -= 1
        self._owner, self._depth = owner, 1

    def _idle(self) -> bool:
        return self._depth == 0 and self._working == 0

    def hold(self, timed: bool, owner: object = None) -> AbstractAsyncContextManager[None]:
        """For one request: ``exclusive(owner)`` when timed, else a shared window that waits on the network."""
        return self.exclusive(owner) if timed else self.shared(io=True)


class _Open:
    """The gate of a probe that runs alone: nothing to wait for."""

    @asynccontextmanager
    async def shared(self, io: bool = False) -> AsyncIterator[None]:
        yield

    @asynccontextmanager
    async def exclusive(self, owner: object = None) -> AsyncIterator[None]:
        with gc_paused():
            yield

    def hold(self, timed: bool, owner: object = None) -> AbstractAsyncContextManager[None]:
        return self.exclusive(owner) if timed else self.shared(io=True)


OPEN: Gate = _Open()
