"""The call timeline, the redactor and the failure categories, from real verdicts of the embedded world."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from probes._categories import allure_config, categories_json, category_of
from probes._checks import CHECK_NAMES
from probes._embedded import EmbeddedWorld
from probes._evidence import Verdict
from probes._probe import probe
from probes._redact import Redactor
from probes._scenario import load_scenario
from probes._timeline import KINDS, build_timelines, timeline_to_html, timeline_to_json, timeline_to_text

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


@pytest.fixture(scope="module")
def verdicts() -> Iterator[dict[str, Verdict]]:
    world = EmbeddedWorld(defects=frozenset({"no-alert-on-calcom-failure"})).start()
    try:
        out = {}
        for name in ("happy-path-booking", "calcom-5xx-alerts-once"):
            out[name] = asyncio.run(probe(load_scenario(SCENARIOS / f"{name}.yaml"), world.gateway()))
        yield out
    finally:
        world.stop()


def test_timeline_is_chronological_relative_and_keyed_by_correlation_id(verdicts: dict[str, Verdict]) -> None:
    verdict = verdicts["happy-path-booking"]
    [timeline] = build_timelines(verdict)
    entries = timeline.entries
    assert entries[0].kind == "request" and entries[0].t_ms == 0.0
    assert [e.t_ms for e in entries] == sorted(e.t_ms for e in entries)
    assert {e.kind for e in entries} >= {"request", "response", "calcom", "log", "metric", "span"}
    assert {e.kind for e in entries} <= set(KINDS)
    cid = verdict.evidence.correlation_ids(0)
    assert timeline.correlation_id in cid and all(e.correlation_id == timeline.correlation_id for e in entries)
    assert all(e.call_id == verdict.evidence.plan.calls[0].call_id for e in entries)
    assert not any(e.sla_breach for e in entries)
    assert any("Cal.com POST /v2/bookings (bookings.create) → 201" in e.summary for e in entries)


def test_sla_breach_is_marked(verdicts: dict[str, Verdict]) -> None:
    verdict = verdicts["happy-path-booking"]
    ev = verdict.evidence
    slow = next(x for x in ev.exchanges if x.expect.within_ms)
    ev_slow = type(slow)(**{**slow.__dict__, "latency_ms": slow.expect.within_ms + 1})
    patched = Verdict(verdict.scenario, verdict.results, type(ev)(**{**ev.__dict__, "exchanges": [ev_slow if x is slow else x for x in ev.exchanges]}))
    [timeline] = build_timelines(patched)
    breached = [e for e in timeline.entries if e.sla_breach]
    assert len(breached) == 1 and breached[0].kind == "response" and "SLA breach" in breached[0].summary
    assert "!" in timeline_to_text([timeline])
    assert 'class="response breach"' in timeline_to_html([timeline])


def test_three_renderings(verdicts: dict[str, Verdict]) -> None:
    timelines = build_timelines(verdicts["calcom-5xx-alerts-once"])
    data = json.loads(json.dumps(timeline_to_json(timelines)))
    assert data["scenario"] == "calcom-5xx-alerts-once"
    assert set(data["calls"][0]["entries"][0]) == {"t_ms", "kind", "call_id", "correlation_id", "summary", "sla_breach", "detail"}
    page = timeline_to_html(timelines)
    assert "<style>" in page and "<script" not in page and not re.search(r"(src|href)=[\"']?https?:", page)
    assert "fault server_error" in page
    text = timeline_to_text(timelines)
    assert text.splitlines()[0].startswith("timeline of call 1 (call_id call_")
    assert "Cal.com GET /v2/slots (slots) → 500, fault server_error" in text


def test_redactor_masks_headers_secrets_webhooks_and_phones() -> None:
    red = Redactor(secrets=["s3cr3t-value-123"], phones=["+15125550109"])
    headers = red.headers({"X-Retell-Signature": "v=1,d=ab", "Authorization": "Bearer x", "x-cal-secret-key": "k",
                           "Cookie": "a=b", "X-Api-Key": "k", "Content-Type": "application/json"})
    assert headers == {"X-Retell-Signature": "[redacted]", "Authorization": "[redacted]", "x-cal-secret-key": "[redacted]",
                       "Cookie": "[redacted]", "X-Api-Key": "[redacted]", "Content-Type": "application/json"}
    text = red.text('{"from_number":"+15125550109","n":"(512) 555-0109","k":"s3cr3t-value-123",'
                    '"u":"https://hooks.slack.com/services/T0/B0/XYZ","p":"http://127.0.0.1:1/slack/T000/ABC","a":"Bearer abc.def"}')
    for leaked in ("5125550109", "555-0109", "s3cr3t-value-123", "services/T0/B0/XYZ", "T000/ABC", "abc.def"):
        assert leaked not in text
    assert red.value({"apiKey": "zzz", "nested": [{"token": "t"}], "ok": 1}) == {"apiKey": "[redacted]", "nested": [{"token": "[redacted]"}], "ok": 1}


def test_every_check_has_a_category() -> None:
    assert {c: category_of(c) for c in CHECK_NAMES if category_of(c) is None} == {}
    assert category_of("alert-count") == "Alert missing or spam"
    assert category_of("latency-sla") == "SLA breach"
    assert category_of("correlation-in-logs") == "Correlation lost"
    assert category_of("trace-parent") == "Trace broken"
    assert category_of("target-reachable") == "Target unreachable"


def test_category_regex_sorts_by_the_first_failed_check() -> None:
    message = "probes.plugin.ScenarioFailed: [alert-count] scenario x: 2 of 9 checks failed\n✗ time-to-telemetry — late"
    matched = [c["name"] for c in categories_json() if "failed" in c["matchedStatuses"] and re.search(c["messageRegex"], message)]
    assert matched == ["Alert missing or spam"]
    assert allure_config()["categories"]["rules"] == categories_json()
    assert allure_config()["plugins"]["awesome"]["options"]["singleFile"] is True
