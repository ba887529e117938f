"""The live view: each piece of evidence is on screen the moment the probe sees it, with the SLA clock running."""

from __future__ import annotations

import asyncio
import time
from io import StringIO

from rich.console import Console

from probes import load_scenario, probe
from probes._embedded import EmbeddedWorld
from probes._evidence import Exchange
from probes._progress import ProbeEvent
from probes._run._live import LiveView

HAPPY = load_scenario("scenarios/happy-path-booking.yaml")


def screen(view: LiveView) -> str:
    console = Console(file=StringIO(), width=200, color_system=None)
    console.print(view)
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_each_item_is_drawn_while_the_call_is_still_going_on() -> None:
    world = EmbeddedWorld().start()
    drawn: dict[str, tuple[str, str]] = {}  # kind → (what the screen showed when it arrived, the probe's phase then)
    try:
        async def run() -> None:
            async with world.lease() as profile:
                view = LiveView(HAPPY, profile)

                def listener(event: ProbeEvent) -> None:
                    view(event)
                    if event.kind not in drawn:
                        drawn[event.kind] = (screen(view), view.phase)

                verdict = await probe(HAPPY, profile, listener=listener, watch=True)
                assert verdict.passed

        asyncio.run(run())
    finally:
        world.stop()
    assert {"request", "response", "log", "calcom", "span", "metric", "cleanup"} <= drawn.keys()
    log_screen, phase = drawn["log"]
    assert phase == "calls" and "[INFO] call_inbound: inbound call answered" in log_screen  # during the calls, not after
    assert "bookings{status=created,source=retell} +1 (as expected)" in drawn["metric"][0] or drawn["metric"][1] == "calls"
    assert "clock +" in drawn["response"][0] and "call_id call_" in drawn["response"][0]


def test_the_sla_clock_turns_late_when_telemetry_has_not_come_within_its_sla() -> None:
    world = EmbeddedWorld().start()
    try:
        profile = world.gateway()
    finally:
        world.stop()
    view = LiveView(HAPPY, profile)  # the embedded SLA: 1 s for logs and metrics

    now = time.time()
    answer = Exchange(call_index=0, call_id="call_x", step_index=1, step="call_started", delivery=1, kind="webhook", method="POST",
                      path="/api/retell/webhook", request_headers={}, request_body="", sent_at=now - 3, expect=HAPPY.steps[1].expect,
                      latency_ms=2.0, status=204, response_headers={"X-Correlation-ID": "c-1"})
    view(ProbeEvent("request", now - 3, answer))
    view(ProbeEvent("response", now - 2.5, answer))
    text = screen(view)
    assert "correlation_id c-1" in text and "call_started: 204 in 2.0 ms" in text
    assert "logs 0 (SLA 1 s, late)" in text and "metrics 0/5 (SLA 1 s, late)" in text and "last answer 2." in text
