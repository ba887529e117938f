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
                return await job(self.gate)

        return asyncio.run_coroutine_threadsafe(bounded(), self._loop)

    def close(self, timeout: float = 30.0) -> None:
        """Cancel what has not finished, stop the loop and join its thread."""
        if not self._thread.is_alive():
            return

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(cancel_all(), self._loop).result(timeout)
        except (concurrent.futures.TimeoutError, RuntimeError):
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> ProbePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
