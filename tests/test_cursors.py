"""Cursors: a reader that only wants what comes next asks for the tail (``after=-1``), not the whole history.

A probe late in a long session (hundreds of synthetic calls against one set
of sinks) must cost what the first one did; walking every span, log line and
journal entry since the session began to find "now" made it cost more each
time, and the growing work showed up as latency noise in the gateway.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from mocks.calcom import CalcomMock, create_app
from mocks.gateway._logs import LogBuffer
from mocks.sinks import SentryEventStore, SlackSink, SpanStore
from probes._errors import ObserverError
from probes._observers._http import TAIL, PagedReader


def _pages(items: list[int], *, knows_tail: bool = True, refuses_tail: bool = False) -> tuple[Any, list[int]]:
    asked: list[int] = []

    async def page(after: int) -> tuple[list[int], int]:
        asked.append(after)
        if after < 0 and refuses_tail:
            raise ObserverError("source at http://x/api: answered 400")
        if after < 0 and knows_tail:
            return [], len(items)
        found = [i for i in items if i > after][:2]  # pages of two
        return found, (found[-1] if found else max(after, 0))

    return page, asked


async def test_mark_asks_for_the_tail_once() -> None:
    page, asked = _pages(list(range(1, 101)))
    reader = PagedReader(page)
    assert await reader.mark() == 100 and asked == [TAIL]
    assert await reader.mark() == 100 and asked == [TAIL, 100]  # later marks go on from the known cursor


@pytest.mark.parametrize("behaviour", [{"knows_tail": False}, {"refuses_tail": True}], ids=["tail-unaware", "tail-refused"])
async def test_a_source_without_the_tail_is_walked(behaviour: dict[str, bool]) -> None:
    page, asked = _pages([1, 2, 3, 4, 5], **behaviour)
    reader = PagedReader(page)
    assert await reader.mark() == 5
    assert asked[0] == TAIL and asked[-1] == 5


def _filled() -> list[tuple[str, Any]]:
    logs, slack, spans, events = LogBuffer(), SlackSink(), SpanStore(), SentryEventStore()
    for i in range(3):
        logs.write({"event": f"e{i}"})
        slack.record("/slack/alerts", {"text": f"a{i}"})
        spans.add([{"name": f"s{i}"}])
        events.add("1", {}, {"event_id": f"x{i}"})
    return [("gateway logs", logs), ("slack sink", slack), ("span store", spans), ("sentry store", events)]


@pytest.mark.parametrize(("name", "store"), _filled(), ids=lambda v: v if isinstance(v, str) else "")
def test_stores_answer_the_tail_with_their_cursor(name: str, store: Any) -> None:
    assert store.after(TAIL) == ([], 3), name
    items, nxt = store.after(1)
    assert len(items) == 2 and nxt == 3, name


async def test_calcom_journal_answers_the_tail() -> None:
    mock = CalcomMock()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(mock)), base_url="http://calcom.test") as client:
        for _ in range(3):
            await client.get("/v2/event-types/1001", headers={"Authorization": "Bearer cal_test"})
        tail = (await client.get("/__admin/journal", params={"after": -1})).json()
        assert tail == {"entries": [], "next": 3}
        assert len((await client.get("/__admin/journal", params={"after": 1})).json()["entries"]) == 2
        bad = await client.get("/__admin/journal", params={"after": "soon"})
        assert bad.status_code == 400 and "after must be an integer" in bad.text
