"""The timing gate: timed windows run alone, the rest shares the process, collection pauses only when timed."""

from __future__ import annotations

import asyncio
import gc

from probes._gate import OPEN, TimingGate, gc_paused, is_timed
from probes._scenario import parse_scenario


def test_collection_is_paused_while_calls_are_timed_and_restored_after() -> None:
    assert gc.isenabled()
    with gc_paused():
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer window is still timing calls
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled(), "a collector the caller had turned off stays off"
    finally:
        gc.enable()


def test_a_scenario_is_timed_when_it_asserts_a_bound_under_a_second() -> None:
    steps = [{"event": "call_started", "expect": {"within_ms": 500}}]
    assert is_timed(parse_scenario({"name": "a", "steps": steps}))
    assert not is_timed(parse_scenario({"name": "b", "steps": [{"event": "call_started", "expect": {"within_ms": 4000}}]}))
    assert is_timed(parse_scenario({"name": "c", "steps": [{"event": "call_started"}],
                                    "expect": {"latency": [{"kind": "webhook", "max_ms": 200}]}}))


def test_a_timed_window_waits_for_shared_ones_in_flight_and_keeps_new_ones_out() -> None:
    events: list[str] = []

    async def go() -> None:
        gate = TimingGate()
        released = asyncio.Event()

        async def poll(name: str) -> None:
            async with gate.shared():
                events.append(f"{name} in")
                await released.wait()
                events.append(f"{name} out")

        async def timed() -> None:
            async with gate.exclusive():
                events.append("timed in")
                assert not gc.isenabled()
                await asyncio.sleep(0)
                events.append("timed out")

        first = asyncio.create_task(poll("first"))
        await asyncio.sleep(0)
        window = asyncio.create_task(timed())
        await asyncio.sleep(0)
        late = asyncio.create_task(poll("late"))  # arrives while the timed window waits: must not jump the queue
        await asyncio.sleep(0)
        released.set()
        await asyncio.gather(first, window, late)

    asyncio.run(go())
    assert events == ["first in", "first out", "timed in", "timed out", "late in", "late out"]
    assert gc.isenabled()


def test_the_open_gate_only_pauses_collection_for_timed_windows() -> None:
    async def go() -> tuple[bool, bool]:
        async with OPEN.hold(False):
            shared = gc.isenabled()
        async with OPEN.hold(True):
            timed = gc.isenabled()
        return shared, timed

    assert asyncio.run(go()) == (True, False)
