"""Loki and Elasticsearch log observers against their documented response shapes (no sockets).

Samples follow Loki's ``GET /loki/api/v1/query_range`` (``resultType: streams``,
``values: [["<unix ns>", "<line>"]]``) and Elasticsearch's ``_search``
(``hits.hits[]._source`` and ``sort``), and the profile selects them.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from probes._errors import ConfigError, ObserverError
from probes._observers import ElasticsearchLogs, LokiLogs
from probes._observers._select import log_source
from probes._profile import TargetProfile, load_profile

LINE_1 = {"timestamp": "2026-01-02T16:00:00.041Z", "level": "INFO", "event": "call_started", "correlation_id": "c-1", "call_id": "call_a"}
LINE_2 = {"timestamp": "2026-01-02T16:00:00.052Z", "level": "ERROR", "event": "calcom_request_failed", "correlation_id": "c-1", "call_id": "call_a"}

LOKI_ANSWER = {
    "status": "success",
    "data": {
        "resultType": "streams",
        "result": [
            {"stream": {"app": "gateway", "level": "info"}, "values": [["1767369600041000000", json.dumps(LINE_1)]]},
            {"stream": {"app": "gateway", "level": "error"}, "values": [["1767369600052000000", json.dumps(LINE_2)], ["1767369600053000000", "print: raw text"]]},
        ],
        "stats": {"summary": {"bytesProcessedPerSecond": 1024, "execTime": 0.001}},
    },
}

ES_ANSWER = {
    "took": 3, "timed_out": False, "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
    "hits": {
        "total": {"value": 2, "relation": "eq"}, "max_score": None,
        "hits": [
            {"_index": "gateway-logs-2026.01.02", "_id": "a1", "_score": None, "_source": {"@timestamp": "2026-01-02T16:00:00.041Z", **LINE_1}, "sort": [1767369600041, 0]},
            {"_index": "gateway-logs-2026.01.02", "_id": "a2", "_score": None, "_source": {"@timestamp": "2026-01-02T16:00:00.052Z", "message": json.dumps(LINE_2)}, "sort": [1767369600052, 1]},
        ],
    },
}


def client_for(handler: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def test_loki_reads_streams_in_time_order_and_moves_the_cursor() -> None:
    asked: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.url)
        return httpx.Response(200, json=LOKI_ANSWER)

    async with client_for(handler) as client:
        loki = LokiLogs("http://loki:3100", '{app="gateway"}', client)
        lines, cursor = await loki.read(1767369600000000000)
        again, _ = await loki.read(cursor)
    params = asked[0].params
    assert asked[0].path == "/loki/api/v1/query_range"
    assert (params["query"], params["start"], params["direction"]) == ('{app="gateway"}', "1767369600000000000", "forward")
    assert [line.record.get("event") for line in lines] == ["call_started", "calcom_request_failed", None]
    assert lines[2].raw == "print: raw text" and cursor == 1767369600053000000
    assert again == []  # boundary lines are re-read but not repeated


async def test_loki_rejects_a_metric_query_and_a_failed_answer() -> None:
    matrix = {"status": "success", "data": {"resultType": "matrix", "result": []}}
    async with client_for(lambda r: httpx.Response(200, json=matrix)) as client:
        with pytest.raises(ObserverError, match="is a metric query"):
            await LokiLogs("http://loki:3100", 'rate({app="gateway"}[1m])', client).read(0)
    async with client_for(lambda r: httpx.Response(200, json={"status": "error", "error": "parse error"})) as client:
        with pytest.raises(ObserverError, match=r"Loki at http://loki:3100/loki/api/v1/query_range: expected"):
            await LokiLogs("http://loki:3100", "{", client).read(0)


async def test_elasticsearch_ranges_sorts_and_pages_with_search_after() -> None:
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        assert request.url.path == "/gateway-logs-*/_search"
        return httpx.Response(200, json=ES_ANSWER)

    async with client_for(handler) as client:
        es = ElasticsearchLogs("http://es:9200", "gateway-logs-*", client)
        lines, cursor = await es.read(1767369600000)
        again, _ = await es.read(cursor)
    assert bodies[0]["query"] == {"range": {"@timestamp": {"gte": 1767369600000, "format": "epoch_millis"}}}
    assert bodies[0]["sort"][0] == {"@timestamp": {"order": "asc"}}
    assert [line.record.get("event") for line in lines] == ["call_started", "calcom_request_failed"]
    assert lines[1].raw == json.dumps(LINE_2)  # a shipper that kept the line as "message": the line itself
    assert cursor == 1767369600052 and again == []


async def test_elasticsearch_follows_search_after_when_a_page_is_full(monkeypatch: pytest.MonkeyPatch) -> None:
    import probes._observers._logs_backends as backends

    monkeypatch.setattr(backends, "PAGE", 1)
    pages = [ES_ANSWER["hits"]["hits"][:1], ES_ANSWER["hits"]["hits"][1:], []]  # type: ignore[index]
    seen_after: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen_after.append(body.get("search_after"))
        return httpx.Response(200, json={"hits": {"hits": pages[len(seen_after) - 1]}})

    async with client_for(handler) as client:
        lines, _ = await ElasticsearchLogs("http://es:9200", "logs", client).read(0)
    assert len(lines) == 2 and seen_after == [None, [1767369600041, 0], [1767369600052, 1]]


def test_profile_selects_the_log_backend(tmp_path: Any) -> None:
    client = httpx.AsyncClient()
    loki = TargetProfile.model_validate({"base_url": "http://gw", "logs": {"kind": "loki", "url": "http://loki:3100", "query": '{app="gw"}'}})
    es = TargetProfile.model_validate({"base_url": "http://gw", "logs": {"kind": "elasticsearch", "url": "http://es:9200", "index": "logs-*"}})
    assert isinstance(log_source(loki, client, None), LokiLogs)
    assert isinstance(log_source(es, client, None), ElasticsearchLogs)
    bad = tmp_path / "bad.yaml"
    bad.write_text("base_url: http://gw\nlogs: {kind: loki, url: http://loki:3100}\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:2: logs: logs\.kind=loki needs query"):
        load_profile(bad)
