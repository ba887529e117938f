"""The runner replays a call in its story's order, however slow the answers or busy the harness."""

from __future__ import annotations

import asyncio
import json

import httpx

from probes._plan import build_plan
from probes._runner import RunOptions, run_plan
from probes._scenario import parse_scenario

KEY = "key_runner_test_not_a_secret"


def _events(steps: list[dict[str, object]]) -> list[str]:
    """The order in which a target saw the requests start and finish, for a call whose call_started is slow."""
    seen: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content or b"{}")
        name = body.get("event") or body.get("name") or request.url.path
        seen.append(f"in {name}")
        if name == "call_started":
            await asyncio.sleep(0.2)  # a slow answer, longer than the compressed gap to the next event
        if name == "book_appointment":
            await asyncio.sleep(1.0)  # never answered before the caller hangs up
        seen.append(f"out {name}")
        return httpx.Response(204)

    scenario = parse_scenario({"name": "order", "time_scale": 0.001, "steps": steps})
    plan = build_plan(scenario, api_key=KEY, seed=1)

    async def go() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://target") as client:
            await run_plan(plan, client, RunOptions(base_url="http://target", api_key=KEY, time_scale=0.001))

    asyncio.run(go())
    return seen


def test_the_next_event_waits_for_the_answer_to_the_previous_one() -> None:
    seen = _events([{"event": "call_started", "at": 0}, {"event": "call_ended", "at": 10}, {"event": "call_analyzed", "at": 12}])
    assert seen == ["in call_started", "out call_started", "in call_ended", "out call_ended", "in call_analyzed", "out call_analyzed"]


def test_a_hung_up_function_call_is_done_when_the_caller_gives_up() -> None:
    seen = _events([{"event": "call_started", "at": 0},
                    {"function": "book_appointment", "at": 5, "outcome": "hangup", "abandon_after_ms": 50},
                    {"event": "call_ended", "at": 6, "disconnection_reason": "user_hangup"}])
    assert seen[:4] == ["in call_started", "out call_started", "in book_appointment", "in call_ended"]
