"""The Cal.com mock under a hostile-input corpus: Cal.com's own 4xx, never a 500, a traceback or a hang.

Each class of input that once crashed or hung the mock is sent to every place
the mock reads such a value: non-ASCII digits (``int("²")`` raised, Arabic-Indic
digits were taken as numbers), numbers longer than ``int()`` allows, dates in
years 1, 9999 and 10000 (datetime overflow when adding zone offsets, a day or a
booking length), a slot range of thousands of years (never answered), JSON
nested 100 000 deep (``RecursionError``), ``NaN``, and absurd admin script
numbers. The ASGI transport re-raises anything the app does not answer, so a
crash fails the test with its traceback; every request has a deadline.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from test_calcom_openapi import check_entry

from mocks._input import MAX_BODY_BYTES
from mocks.calcom import CalcomMock, EventTypeConfig, create_app
from mocks.calcom._slots import MAX_SLOT_RANGE_DAYS
from probes._calcom import MAX_DELAY_MS

NOW = datetime(2026, 2, 27, 10, 0, tzinfo=UTC)
DEADLINE_S = 5.0
V_SLOTS = {"cal-api-version": "2024-09-04"}
V_BOOK = {"cal-api-version": "2024-08-13"}
V_ET = {"cal-api-version": "2024-06-14", "Authorization": "Bearer cal_test_hostile"}
LIST = {**V_BOOK, "Authorization": "Bearer cal_test_hostile"}
ATTENDEE = {"name": "Max Mustermann", "email": "max.mustermann@example.org", "timeZone": "Europe/Berlin"}

NUMBERS = ["²", "١٠٠١", "٣", "9" * 5000, "1_001", " 1001", "0x3E9", "1e3", "-1", "", "NaN"]
DATES = ["0001-01-01", "0001-01-01T00:00:00+01:00", "0001-01-02T00:00:00Z", "9999-12-31", "9999-12-30",
         "9999-12-31T23:00:00-05:00", "10000-01-01", "٢٠٢٦-٠٣-٠٢", "2026-03-02\n", "2026-02-30", "2026-03-02T24:00:00Z"]
TEXTS = ["\x00", "../../../etc/passwd", "A" * 10_000, "Europe/Berlin\n", "💥", "%", "UTC\x00x", ","]
GOOD_SLOTS = {"start": "2026-03-02", "end": "2026-03-03", "eventTypeId": "1001"}
GOOD_OLD_SLOTS = {"startTime": "2026-03-02", "endTime": "2026-03-03", "eventTypeId": "1001"}
# (path, headers, good query) × the query parameters that carry numbers, dates and other text there.
QUERIES: list[tuple[str, dict[str, str], dict[str, str], list[str], list[str], list[str]]] = [
    ("/v2/slots", V_SLOTS, GOOD_SLOTS, ["eventTypeId", "duration"], ["start", "end"],
     ["timeZone", "format", "eventTypeSlug", "username", "teamSlug", "bookingUidToReschedule"]),
    ("/v2/slots/available", {}, GOOD_OLD_SLOTS, ["eventTypeId", "duration"], ["startTime", "endTime"],
     ["timeZone", "slotFormat", "rescheduleUid"]),
    ("/v1/slots", {}, {**GOOD_OLD_SLOTS, "apiKey": "cal_test_hostile"}, ["eventTypeId"], ["startTime", "endTime"],
     ["timeZone", "apiKey"]),
    ("/v2/bookings", LIST, {}, ["take", "skip", "eventTypeId", "eventTypeIds"], ["afterStart", "beforeEnd"],
     ["status", "attendeeEmail", "attendeeName", "bookingUid", "sortStart", "sortCreated"]),
    ("/v2/event-types", V_ET, {}, [], [], ["username", "eventSlug"]),
]


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(CalcomMock(now=lambda: NOW)))
    async with httpx.AsyncClient(transport=transport, base_url="http://calcom.test") as http:
        yield http


async def send(client: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request that must be answered, below 500, within the deadline."""
    response = await asyncio.wait_for(client.request(method, path, **kwargs), DEADLINE_S)
    assert response.status_code < 500, f"{method} {path} {kwargs.get('params', '')}: {response.status_code} {response.text[:300]}"
    return response


def assert_nest_400(response: httpx.Response, *, mentions: str = "") -> None:
    """Cal.com's envelope for a BadRequestException (docs/research/calcom.md §3.1)."""
    body = response.json()
    assert response.status_code == 400 and body["status"] == "error", response.text
    assert body["error"]["code"] == "BadRequestException" and body["error"]["details"]["statusCode"] == 400
    assert mentions in body["error"]["message"]


async def test_every_query_number_date_and_text_is_answered_below_500(client: httpx.AsyncClient) -> None:
    for path, headers, good, numbers, dates, texts in QUERIES:
        corpus = [(n, NUMBERS) for n in numbers] + [(d, DATES) for d in dates] + [(t, TEXTS) for t in texts]
        for name, values in corpus:
            for value in values:
                await send(client, "GET", path, params={**good, name: value}, headers=headers)


@pytest.mark.parametrize("value", TEXTS + NUMBERS[:3])
@pytest.mark.parametrize("field", ["timeZone", "name", "email", "phoneNumber", "language"])
async def test_hostile_attendee_fields_are_a_400(client: httpx.AsyncClient, field: str, value: str) -> None:
    body = {"start": "2026-03-02T08:00:00Z", "eventTypeId": 1001, "attendee": {**ATTENDEE, field: value}}
    response = await send(client, "POST", "/v2/bookings", json=body, headers=V_BOOK)
    assert response.status_code in (201, 400), response.text


@pytest.mark.parametrize("value", NUMBERS)
@pytest.mark.parametrize(("method", "template", "headers"), [
    ("GET", "/v2/event-types/{}", V_ET), ("GET", "/v2/bookings/{}", V_BOOK), ("GET", "/v1/bookings/{}?apiKey=k", {}),
    ("POST", "/v2/bookings/{}/cancel", V_BOOK), ("DELETE", "/v1/bookings/{}/cancel?apiKey=k", {}),
])
async def test_path_ids_are_a_404_never_a_crash(client: httpx.AsyncClient, method: str, template: str,
                                                headers: dict[str, str], value: str) -> None:
    response = await send(client, method, template.format(value or "x"), headers=headers)
    assert response.status_code == 404


@pytest.mark.parametrize("value", [*NUMBERS[:4], "١٠٠١"])
async def test_non_ascii_digits_are_not_numbers(client: httpx.AsyncClient, value: str) -> None:
    response = await send(client, "GET", "/v2/slots", params={**GOOD_SLOTS, "eventTypeId": value}, headers=V_SLOTS)
    assert response.status_code == 404 and response.json()["error"]["message"] == f"Event Type with ID={value} not found"


@pytest.mark.parametrize("start", ["9999-12-28T23:50:00Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:50:00Z",
                                   "0001-06-01T00:00:00Z", "10000-01-01T00:00:00Z"])
async def test_booking_at_the_ends_of_time_is_a_400(client: httpx.AsyncClient, start: str) -> None:
    body = {"start": start, "eventTypeId": 1001, "attendee": ATTENDEE}
    assert_nest_400(await send(client, "POST", "/v2/bookings", json=body, headers=V_BOOK))
    v1 = {"eventTypeId": 1001, "start": start, "end": start, "responses": {"name": "A", "email": "a@example.org"}}
    assert (await send(client, "POST", "/v1/bookings", params={"apiKey": "k"}, json=v1)).status_code == 400


async def test_a_reschedule_to_the_end_of_time_is_a_400(client: httpx.AsyncClient) -> None:
    made = await send(client, "POST", "/v2/bookings", json={"start": "2026-03-02T08:00:00Z", "eventTypeId": 1001,
                                                            "attendee": ATTENDEE}, headers=V_BOOK)
    uid = made.json()["data"]["uid"]
    for start in ("9999-12-28T23:59:00Z", "9999-12-31T23:59:00Z", "0001-01-01T00:30:00+01:00"):
        assert_nest_400(await send(client, "POST", f"/v2/bookings/{uid}/reschedule", json={"start": start}, headers=V_BOOK))


async def test_a_slot_range_of_seven_thousand_years_is_a_quick_400(client: httpx.AsyncClient) -> None:
    started = time.monotonic()
    response = await send(client, "GET", "/v2/slots", params={**GOOD_SLOTS, "start": "0001-01-03", "end": "7000-01-01"},
                          headers=V_SLOTS)
    assert_nest_400(response, mentions=f"end property is wrong,end must be at most {MAX_SLOT_RANGE_DAYS} days after start")
    assert time.monotonic() - started < 1.0


async def test_a_long_range_inside_the_limit_walks_only_the_booking_window(client: httpx.AsyncClient) -> None:
    wide = {**GOOD_SLOTS, "start": "2020-01-01", "end": "2029-12-31"}
    slots = (await send(client, "GET", "/v2/slots", params=wide, headers=V_SLOTS)).json()["data"]
    assert min(slots) == "2026-02-27" and max(slots) == "2026-04-28"  # today (after the notice) to the window's end
    # a one-minute grid over ten years is 1.7 million candidate starts (seconds of work); the week's window is not
    fine = EventTypeConfig(1001, "fine", "Fine", 15, slot_interval=1, window_days=7)
    transport = httpx.ASGITransport(app=create_app(CalcomMock(now=lambda: NOW, event_types=[fine])))
    async with httpx.AsyncClient(transport=transport, base_url="http://calcom.test") as fine_client:
        started = time.monotonic()
        week = (await send(fine_client, "GET", "/v2/slots", params=wide, headers=V_SLOTS)).json()["data"]
        assert time.monotonic() - started < 1.0
    assert len(week) == 6 and sum(map(len, week.values())) == 2556
    long_ago = await send(client, "GET", "/v2/slots", params={**GOOD_SLOTS, "start": "0001-06-01", "end": "0001-06-30"},
                          headers=V_SLOTS)
    assert long_ago.json() == {"status": "success", "data": {}}


@pytest.mark.parametrize(("body", "message"), [
    (b"[" * 100_000, "JSON nested deeper than 100 levels"),
    (b'{"start": "2026-03-02T08:00:00Z", "eventTypeId": NaN}', "NaN is not a JSON value"),
    (b'{"eventTypeId": ' + b"9" * 5000 + b"}", "not JSON"),
    (b'{"start": "\xff"}', "not JSON"),
    (b'{"start": ', "Unexpected token in JSON at position 10"),
], ids=["deep", "nan", "huge-int", "not-utf8", "truncated"])
async def test_hostile_json_bodies_are_a_400(client: httpx.AsyncClient, body: bytes, message: str) -> None:
    for path in ("/v2/bookings", "/v2/bookings/abc/reschedule", "/v2/bookings/abc/cancel"):
        response = await send(client, "POST", path, content=body, headers=V_BOOK)
        assert_nest_400(response, mentions=message)
    v1 = await send(client, "POST", "/v1/bookings", params={"apiKey": "k"}, content=body)
    assert (v1.status_code, v1.json()["message"]) == (400, "Bad request, body must be JSON")
    journal = (await send(client, "GET", "/__admin/journal")).json()["entries"]
    assert all(isinstance(e["body"], str) for e in journal)  # kept as text, so the journal itself stays readable


async def test_a_body_over_the_limit_is_nests_bare_413(client: httpx.AsyncClient) -> None:
    response = await send(client, "POST", "/v2/bookings", content=b" " * (MAX_BODY_BYTES + 1), headers=V_BOOK)
    assert (response.status_code, response.json()) == (413, {"statusCode": 413, "message": "request entity too large"})


@pytest.mark.parametrize(("rule", "field"), [
    ({"fault": "latency", "delay_ms": MAX_DELAY_MS + 1}, "rules.0.delay_ms"),
    ({"fault": "latency", "delay_ms": 10**15}, "rules.0.delay_ms"),
    ({"fault": "server_error", "times": 10**12}, "rules.0.times"),
    ({"fault": "rate_limited", "retry_after": 10**9}, "rules.0.retry_after"),
    ({"fault": "bad_gateway", "status": 101}, "rules.0.status"),
    ({"fault": "latency", "delay_ms": "٣"}, "rules.0.delay_ms"),
])
async def test_absurd_script_numbers_are_a_400_naming_the_field(client: httpx.AsyncClient, rule: dict[str, Any],
                                                                 field: str) -> None:
    response = await send(client, "PUT", "/__admin/script", content=json.dumps({"rules": [rule]}))
    assert response.status_code == 400
    assert response.json()["message"].startswith(f"invalid script: {field}: "), response.text
    assert (await send(client, "GET", "/__admin/script")).json() == {"rules": []}


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"rules": NaN}', b"\xff",
                                  b'{"rules": [{"fault": "latency", "delay_ms": 1e400}]}'],
                         ids=["deep", "nan", "not-utf8", "overflowing-number"])
async def test_hostile_script_bodies_are_a_400(client: httpx.AsyncClient, body: bytes) -> None:
    response = await send(client, "PUT", "/__admin/script", content=body)
    assert response.status_code == 400 and response.json()["error"] == "bad_request"
    assert response.json()["message"].startswith("script body")


async def test_the_2xx_answers_to_hostile_input_still_match_the_openapi_document() -> None:
    mock = CalcomMock(now=lambda: NOW)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(mock)), base_url="http://calcom.test") as http:
        for path, headers, good, _, date_params, _ in QUERIES:  # numbers and texts make requests the document forbids
            for name in date_params:
                for value in DATES:
                    await send(http, "GET", path, params={**good, name: value}, headers=headers)
        await send(http, "GET", "/v2/slots", params={**GOOD_SLOTS, "start": "2020-01-01", "end": "2029-12-31"},
                   headers=V_SLOTS)
    documented = [e for e in mock.journal() if 200 <= e.status < 300 and not e.path.startswith(("/v1/", "/v2/slots/"))]
    assert len(documented) >= 10
    for entry in documented:
        check_entry(entry)
