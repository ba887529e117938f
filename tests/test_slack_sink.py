"""The Slack-compatible sink: answers like Slack, records posts, reads back by cursor."""

from __future__ import annotations

import httpx

from mocks._input import MAX_BODY_BYTES
from mocks._serve import serve_in_thread
from mocks.sinks import SlackSink, create_alertmanager_receiver_app, create_sink_app


def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_sink_app()), base_url="http://sink")


async def test_post_answers_ok_like_slack_and_is_recorded() -> None:
    async with _client() as client:
        response = await client.post("/slack/T000/B000/XXXX", json={"text": "hello", "blocks": []})
        assert (response.status_code, response.text) == (200, "ok")
        assert response.headers["content-type"].startswith("text/plain")
        listing = (await client.get("/api/messages")).json()
    [message] = listing["messages"]
    assert listing["next"] == message["seq"] == 1
    assert message["path"] == "/slack/T000/B000/XXXX"
    assert message["json"] == {"text": "hello", "blocks": []}
    assert message["received_at"].endswith("Z")


async def test_cursor_and_reset() -> None:
    async with _client() as client:
        for n in range(3):
            await client.post("/slack/alerts", json={"text": f"m{n}"})
        first = (await client.get("/api/messages?after=1")).json()
        assert [m["json"]["text"] for m in first["messages"]] == ["m1", "m2"]
        assert first["next"] == 3
        assert (await client.get("/api/messages?after=3")).json() == {"messages": [], "next": 3}
        assert (await client.post("/api/reset")).status_code == 200
        assert (await client.get("/api/messages")).json()["messages"] == []
        await client.post("/slack/alerts", json={"text": "after reset"})
        assert [m["seq"] for m in (await client.get("/api/messages?after=3")).json()["messages"]] == [4]


async def test_bad_json_and_bad_cursor() -> None:
    async with _client() as client:
        bad = await client.post("/slack/alerts", content=b"not json", headers={"Content-Type": "application/json"})
        assert (bad.status_code, bad.text) == (400, "invalid_payload")
        assert (await client.get("/api/messages?after=x")).status_code == 400
        assert (await client.get("/api/messages")).json()["messages"] == []


def test_capacity_bounds_memory() -> None:
    sink = SlackSink(capacity=2)
    for n in range(5):
        sink.record("/slack/x", {"n": n})
    messages, nxt = sink.after(0)
    assert [m["json"]["n"] for m in messages] == [3, 4] and nxt == 5


def test_sink_over_loopback() -> None:
    with serve_in_thread(create_sink_app()) as server:
        with httpx.Client(base_url=server.url, timeout=5) as client:
            assert client.post("/slack/services/T/B/X", json={"text": "loopback"}).text == "ok"
            assert client.get("/api/messages").json()["messages"][0]["json"] == {"text": "loopback"}


async def test_hostile_posts_are_refused_and_the_readback_still_works() -> None:
    async with _client() as client:
        for body in (b"[" * 100_000, b'{"text": NaN}', b'{"n": 1e999}', b"\xff"):
            refused = await client.post("/slack/alerts", content=body)
            assert (refused.status_code, refused.text) == (400, "invalid_payload")
        big = await client.post("/slack/alerts", content=b" " * (MAX_BODY_BYTES + 1))
        assert (big.status_code, big.text) == (413, "payload_too_large")
        assert (await client.get("/api/messages")).json() == {"messages": [], "next": 0}


async def test_alertmanager_receiver_records_and_refuses_like_the_sink() -> None:
    transport = httpx.ASGITransport(app=create_alertmanager_receiver_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as client:
        assert (await client.post("/alertmanager", json={"version": "4", "status": "firing"})).text == "ok"
        refused = await client.post("/alertmanager", content=b"[" * 100_000)
        assert (refused.status_code, refused.text) == (400, "invalid JSON")
        [message] = (await client.get("/api/messages")).json()["messages"]
    assert message["path"] == "/alertmanager" and message["json"]["status"] == "firing"
