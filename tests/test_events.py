"""The one event store behind every recorder, and the cursor API every read endpoint serves.

``probes._observers._http.PagedReader`` walks each stream with the same
contract (``after=N`` → newer items and the next cursor, ``after=-1`` → none
and the current cursor), so the store is tested once here and each read
endpoint is tested for the same answers to the same cursors.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from mocks._events import CURSOR_MESSAGE, EventStore, parse_cursor
from mocks._input import BadInput
from mocks.calcom import CalcomMock
from mocks.calcom import create_app as calcom_app
from mocks.gateway._logs import LogBuffer
from mocks.sinks import create_alertmanager_receiver_app, create_otlp_app, create_sentry_app, create_sink_app


def numbered(store: EventStore[dict[str, Any]], n: int) -> None:
    for _ in range(n):
        store.append(lambda seq: {"seq": seq})


def seqs(items: list[dict[str, Any]]) -> list[int]:
    return [item["seq"] for item in items]


def test_after_pages_in_order_and_the_tail_is_the_current_cursor() -> None:
    store: EventStore[dict[str, Any]] = EventStore(capacity=100, page_limit=3)
    assert store.after(0) == ([], 0) and store.after(-1) == ([], 0)
    numbered(store, 7)
    assert store.seq == 7 and store.after(-1) == ([], 7)
    first, nxt = store.after(0)
    assert seqs(first) == [1, 2, 3] and nxt == 3
    assert seqs(store.after(nxt)[0]) == [4, 5, 6]
    assert store.after(7) == ([], 7) and store.after(99) == ([], 99)  # nothing newer: the cursor stays
    assert seqs(store.after(2, limit=1)[0]) == [3]
    assert seqs(store.after(0, limit=10)[0]) == [1, 2, 3]  # a reader cannot ask for more than a page
    assert store.after(0, limit=0) == ([], 0) and store.after(0, limit=-3) == ([], 0)


def test_capacity_drops_the_oldest_and_a_reader_behind_gets_what_is_left() -> None:
    store: EventStore[dict[str, Any]] = EventStore(capacity=3)
    numbered(store, 10)
    assert seqs(store.all()) == [8, 9, 10]
    assert store.after(2) == (store.all(), 10)  # fell behind: no error, the rest
    assert seqs(store.after(8)[0]) == [9, 10]


def test_clear_keeps_counting() -> None:
    store: EventStore[dict[str, Any]] = EventStore()
    numbered(store, 3)
    store.clear()
    assert store.all() == [] and store.after(-1) == ([], 3) and store.after(0) == ([], 0)
    numbered(store, 1)
    assert store.after(0) == ([{"seq": 4}], 4) and store.after(3) == ([{"seq": 4}], 4)


def test_seq_is_unique_and_gapless_under_concurrent_writers() -> None:
    store: EventStore[dict[str, Any]] = EventStore(capacity=100_000)
    workers = [threading.Thread(target=numbered, args=(store, 500)) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(10)
    assert seqs(store.all()) == list(range(1, 4001))


def test_bad_capacity_is_refused() -> None:
    with pytest.raises(ValueError, match="capacity and page_limit must be >= 1"):
        EventStore(capacity=0)


@pytest.mark.parametrize(("raw", "value"), [(None, 0), ("0", 0), ("17", 17), ("-1", -1), ("-5", -5)])
def test_cursor_values(raw: str | None, value: int) -> None:
    assert parse_cursor(raw) == value


@pytest.mark.parametrize("raw", ["", "soon", "²", "٣", "１", "--5", " 3", "3 ", "+3", "3_0", "1e3", "9" * 5000])
def test_cursors_that_are_not_ascii_integers_are_refused(raw: str) -> None:
    with pytest.raises(BadInput) as err:
        parse_cursor(raw)
    assert str(err.value) == f"{CURSOR_MESSAGE}, got {raw[:40]!r}"


def test_log_buffer_keeps_its_capacity() -> None:
    logs = LogBuffer(capacity=2)
    for i in range(5):
        logs.write({"event": f"e{i}"})
    assert [line["event"] for line in logs.lines()] == ["e3", "e4"] and logs.seq == 5
    assert seqs(logs.after(0)[0]) == [4, 5]


async def _post_slack(client: httpx.AsyncClient) -> httpx.Response:
    return await client.post("/slack/alerts", json={"text": "x"})


async def _post_alertmanager(client: httpx.AsyncClient) -> httpx.Response:
    return await client.post("/alertmanager", json={"version": "4", "alerts": []})


async def _post_span(client: httpx.AsyncClient) -> httpx.Response:
    span = {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "name": "s"}
    return await client.post("/v1/traces", json={"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]})


async def _post_event(client: httpx.AsyncClient) -> httpx.Response:
    return await client.post("/api/1/envelope/", headers={"Content-Encoding": "gzip"},
                             content=gzip.compress(b'{"event_id":"a"}\n{"type":"event"}\n{"message":"m"}\n'))


async def _calcom_request(client: httpx.AsyncClient) -> httpx.Response:
    return await client.get("/v2/event-types/1001", headers={"cal-api-version": "2024-06-14", "Authorization": "Bearer cal_test"})


Write = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]
READ_APIS: list[tuple[str, Callable[[], Starlette], Write, str, str]] = [
    ("slack sink", create_sink_app, _post_slack, "/api/messages", "messages"),
    ("alertmanager receiver", create_alertmanager_receiver_app, _post_alertmanager, "/api/messages", "messages"),
    ("otlp receiver", create_otlp_app, _post_span, "/api/spans", "spans"),
    ("sentry receiver", create_sentry_app, _post_event, "/api/events", "events"),
    ("calcom journal", lambda: calcom_app(CalcomMock()), _calcom_request, "/__admin/journal", "entries"),
]


@pytest.mark.parametrize(("name", "factory", "write", "path", "key"), READ_APIS, ids=[r[0] for r in READ_APIS])
async def test_every_read_api_answers_the_same_cursors_alike(name: str, factory: Callable[[], Starlette],
                                                             write: Write, path: str, key: str) -> None:
    transport = httpx.ASGITransport(app=factory())
    async with httpx.AsyncClient(transport=transport, base_url="http://recorder.test") as client:
        for _ in range(3):
            assert (await write(client)).status_code < 300
        assert (await client.get(path, params={"after": -1})).json() == {key: [], "next": 3}, name
        page = (await client.get(path, params={"after": 1})).json()
        assert [item["seq"] for item in page[key]] == [2, 3] and page["next"] == 3, name
        assert [item["seq"] for item in (await client.get(path)).json()[key]] == [1, 2, 3], name
        for bad in ("soon", "²", "٣", "--5", "9" * 5000):
            response = await client.get(path, params={"after": bad})
            assert response.status_code == 400 and CURSOR_MESSAGE in response.text, (name, bad)
