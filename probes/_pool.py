"""Probes running concurrently on one background event loop, behind one timing gate.

The fronts submit whole probes (coroutine factories) and get
``concurrent.futures.Future`` objects back, so synchronous code (pytest items,
the CLI) can wait for each verdict while the pool keeps ``concurrency``
probes going. Every probe on the pool shares the pool's
:class:`~probes._gate.TimingGate`: latency-asserting probes still measure
with the process to themselves.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ._gate import TimingGate

__all__ = ["ProbePool"]

T = TypeVar("T")
_START_DEADLINE_S = 10.0


class ProbePool:
    """A thread running an event loop; at most ``concurrency`` submitted jobs run at once."""

    def __init__(self, concurrency: int = 1) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.concurrency = concurrency
        self.gate = TimingGate()
        self._closing = False
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="callprobe-probes", daemon=True)
        self._thread.start()
        if not self._ready.wait(_START_DEADLINE_S):
            raise RuntimeError("the probe loop did not start")
        self._slots = asyncio.run_coroutine_threadsafe(self._semaphore(), self._loop).result(_START_DEADLINE_S)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(self._ready.set)
        self._loop.run_forever()

    async def _semaphore(self) -> asyncio.Semaphore:
        return asyncio.Semaphore(self.concurrency)

    def submit(self, job: Callable[[TimingGate], Awaitable[T]]) -> concurrent.futures.Future[T]:
        """Run ``job(gate)`` when a slot is free; the future holds its result or exception."""

        async def bounded() -> T:
            async with self._slots:
                if self._closing:
                    raise asyncio.CancelledError  # closed while it waited: never started
                return await job(self.gate)

        return asyncio.run_coroutine_threadsafe(bounded(), self._loop)

    def close(self, timeout: float = 60.0) -> None:
        """Drop what has not started, let what runs finish (its cleanup included), stop the loop.

        A probe cancelled halfway would skip cancelling what it booked; each
        has its own deadlines, so waiting for the running ones is bounded.
        Whatever still runs after ``timeout`` is cancelled.
        """
        if not self._thread.is_alive():
            return
        self._closing = True

        async def drain() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            _, late = await asyncio.wait(tasks, timeout=timeout) if tasks else (set(), set())
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(drain(), self._loop).result(timeout + 10)
        except (concurrent.futures.TimeoutError, RuntimeError):
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> ProbePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
