"""The Cal.com mock: shapes and texts from docs/research/calcom.md, consistency, faults, fronts, admin API.

The clock is pinned to Friday 2026-02-27 10:00 UTC (11:00 in Berlin), so
Monday 2026-03-02 is bookable and every expected slot is known. Unit tests go
through ``httpx.ASGITransport``; the hang, the admin API and shutdown use a
real loopback server from ``mocks._serve``. Nothing sleeps to wait: delays are
measured as lower bounds, and waits poll with deadlines.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from polling import wait_for

from mocks._serve import serve_in_thread
from mocks.calcom import CalcomMock, calcom_router, create_app
from probes._calcom import (
    BOOKING_IN_PAST_MESSAGE,
    BOOKING_WINDOW_MESSAGE,
    INTERNAL_ERROR_MESSAGE,
    INVALID_API_KEY_MESSAGE,
    NO_AUTH_MESSAGE,
    RATE_LIMITED_MESSAGE,
    SEATS_FULL_MESSAGE,
    SLOT_TAKEN_MESSAGE,
    SLOT_TAKEN_TEAM_MESSAGE,
    CalcomRule,
    CalcomScript,
    Fault,
)

NOW = datetime(2026, 2, 27, 10, 0, tzinfo=UTC)
KEY = "cal_test_0123456789abcdef0123456789abcdef"
V_SLOTS = {"cal-api-version": "2024-09-04"}
V_BOOK = {"cal-api-version": "2024-08-13"}
V_ET = {"cal-api-version": "2024-06-14"}
AUTH = {"Authorization": f"Bearer {KEY}"}
MONDAY = {"start": "2026-03-02", "end": "2026-03-02", "eventTypeId": "1001", "timeZone": "Europe/Berlin"}
ATTENDEE = {"name": "Max Mustermann", "email": "max.mustermann@example.org", "timeZone": "Europe/Berlin",
            "phoneNumber": "+493023125042", "language": "de"}
BOOKING_REQUIRED = {"id", "uid", "title", "description", "hosts", "status", "start", "end", "duration", "eventTypeId",
                    "eventType", "location", "absentHost", "createdAt", "updatedAt", "attendees",
                    "bookingFieldsResponses"}
UID = re.compile(r"^[1-9a-km-zA-HJ-NP-Z]{22}$")


def booking(start: str = "2026-03-02T08:00:00Z", event_type: int = 1001, **extra: Any) -> dict[str, Any]:
    """A create-booking body as a phone gateway sends it."""
    return {"start": start, "eventTypeId": event_type, "attendee": ATTENDEE, **extra}


@pytest.fixture
def mock() -> CalcomMock:
    return CalcomMock(now=lambda: NOW)


@pytest.fixture
async def client(mock: CalcomMock) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(mock))
    async with httpx.AsyncClient(transport=transport, base_url="http://calcom.test") as c:
        yield c


async def create(client: httpx.AsyncClient, **kwargs: Any) -> httpx.Response:
    return await client.post("/v2/bookings", json=booking(**kwargs), headers=V_BOOK)


async def slot_starts(client: httpx.AsyncClient, **params: str) -> list[str]:
    response = await client.get("/v2/slots", params={**MONDAY, **params}, headers=V_SLOTS)
    assert response.status_code == 200, response.text
    return [s["start"] for day in response.json()["data"].values() for s in day]


def assert_error(response: httpx.Response, status: int, code: str, message: str) -> None:
    """The Nest envelope of docs/research/calcom.md §3.1, exactly."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"status", "timestamp", "path", "error"}
    assert body["status"] == "error" and body["timestamp"] == "2026-02-27T10:00:00.000Z"
    assert body["error"]["code"] == code
    assert body["error"]["message"] == message


# --- shapes and texts -----------------------------------------------------------------------------


async def test_create_answers_201_with_the_booking_output(client: httpx.AsyncClient) -> None:
    response = await create(client, metadata={"call_id": "call_7f3a9c"},
                            bookingFieldsResponses={"attendeePhoneNumber": "+493023125042", "notes": "Neupatient"})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"status", "data"} and body["status"] == "success"
    data = body["data"]
    assert BOOKING_REQUIRED <= set(data)
    assert UID.match(data["uid"]) and isinstance(data["id"], int)
    assert (data["start"], data["end"], data["duration"]) == ("2026-03-02T08:00:00.000Z", "2026-03-02T08:30:00.000Z", 30)
    assert data["createdAt"] == "2026-02-27T10:00:00.000Z"
    assert data["status"] == "accepted" and data["cancellationReason"] == "" and data["cancelledByEmail"] == ""
    assert data["eventType"] == {"id": 1001, "slug": "cleaning"}
    assert data["hosts"][0]["name"] == "Dr. Beispiel" and data["hosts"][0]["email"] == "praxis@example.com"
    assert data["location"] == data["meetingUrl"] == f"https://app.cal.com/video/{data['uid']}"
    assert data["icsUid"] == f"{data['uid']}@Cal.com"
    assert data["attendees"][0]["phoneNumber"] == "+493023125042"
    assert data["bookingFieldsResponses"]["notes"] == "Neupatient"
    assert data["metadata"] == {"call_id": "call_7f3a9c"}


async def test_every_response_has_request_id_and_rate_limit_headers(client: httpx.AsyncClient) -> None:
    first = await client.get("/v2/slots", params=MONDAY, headers=V_SLOTS)
    second = await client.get("/v2/nowhere")
    for response, remaining in ((first, "119"), (second, "118")):
        assert uuid.UUID(response.headers["x-request-id"]).version == 4
        assert response.headers["x-ratelimit-limit-default"] == "120"
        assert response.headers["x-ratelimit-remaining-default"] == remaining
        assert 1 <= int(response.headers["x-ratelimit-reset-default"]) <= 60
        assert "retry-after" not in response.headers
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_slots_render_in_the_requested_zone_with_luxon_iso(client: httpx.AsyncClient) -> None:
    starts = await slot_starts(client)
    assert starts[0] == "2026-03-02T09:00:00.000+01:00" and starts[-1] == "2026-03-02T16:30:00.000+01:00"
    assert len(starts) == 16
    raw = await client.get("/v2/slots", params={k: v for k, v in MONDAY.items() if k != "timeZone"}, headers=V_SLOTS)
    assert raw.json()["data"]["2026-03-02"][0] == {"start": "2026-03-02T08:00:00.000Z"}
    ranged = await client.get("/v2/slots", params={**MONDAY, "format": "range"}, headers=V_SLOTS)
    assert ranged.json()["data"]["2026-03-02"][0] == {"start": "2026-03-02T09:00:00.000+01:00",
                                                      "end": "2026-03-02T09:30:00.000+01:00"}


async def test_slots_respect_notice_window_and_weekends(client: httpx.AsyncClient) -> None:
    today = await slot_starts(client, start="2026-02-27", end="2026-03-01")
    assert today[0] == "2026-02-27T13:00:00.000+01:00"  # 11:00 Berlin now + 120 min notice
    assert all(s.startswith("2026-02-27") for s in today)  # the weekend has no slots
    assert await slot_starts(client, start="2026-04-28", end="2026-04-28")  # day 60
    assert await slot_starts(client, start="2026-04-29", end="2026-04-29") == []  # day 61: outside the window
    empty = await client.get("/v2/slots", params={**MONDAY, "start": "2026-02-28", "end": "2026-03-01"},
                             headers=V_SLOTS)
    assert empty.json() == {"status": "success", "data": {}}


async def test_slot_errors(client: httpx.AsyncClient) -> None:
    unknown = await client.get("/v2/slots", params={**MONDAY, "eventTypeId": "9"}, headers=V_SLOTS)
    assert_error(unknown, 404, "NotFoundException", "Event Type with ID=9 not found")
    bad = await client.get("/v2/slots", params={**MONDAY, "start": "02.03.2026"}, headers=V_SLOTS)
    assert_error(bad, 400, "BadRequestException", "start property is wrong,start must be a valid ISO 8601 date string ")


async def test_version_dispatch(client: httpx.AsyncClient) -> None:
    missing = await client.get("/v2/slots", params={"eventTypeId": "1001"})
    assert_error(missing, 404, "NotFoundException", "Cannot GET /v2/slots?eventTypeId=1001")
    assert missing.json()["path"] == "/v2/slots?eventTypeId=1001"
    assert missing.json()["error"]["details"] == {"message": "Cannot GET /v2/slots?eventTypeId=1001",
                                                  "error": "Not Found", "statusCode": 404}
    wrong = await client.get("/v2/slots", params=MONDAY, headers={"cal-api-version": "2024-08-13"})
    assert wrong.status_code == 404
    old = await client.get("/v2/slots/available", params={"startTime": "2026-03-02", "endTime": "2026-03-02",
                                                           "eventTypeId": "1001"})
    assert old.json()["data"]["slots"]["2026-03-02"][0] == {"time": "2026-03-02T08:00:00.000Z"}
    too_new = await client.post("/v2/bookings", json=booking(), headers={"cal-api-version": "2024-09-04"})
    assert_error(too_new, 404, "NotFoundException", "Cannot POST /v2/bookings")
    no_header = await client.post("/v2/bookings", json=booking())
    assert (no_header.status_code, no_header.json()) == (500, {"statusCode": 500, "message": "Internal server error"})
    current = await client.post("/api/v2/bookings", json=booking(), headers={"cal-api-version": "2026-02-25"})
    assert current.status_code == 201


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (booking(bogus=1), "bogus property is wrong,property bogus should not exist "),
        ({"eventTypeId": 1001, "attendee": ATTENDEE}, "start property is wrong,start must be a valid ISO 8601 date string "),
        (booking(start="next monday"), "start property is wrong,start must be a valid ISO 8601 date string "),
        ({"start": "2026-03-02T08:00:00Z", "eventTypeId": 1001},
         "attendee property is wrong,nested property attendee must be either object or array "),
        ({"start": "2026-03-02T08:00:00Z", "eventTypeId": 1001, "attendee": {"name": "Max", "timeZone": "Europe/Berlin"}},
         "attendee property is wrong, email property is wrong,Either email or phoneNumber must be provided "),
        (booking(lengthInMinutes=30), "Can't specify 'lengthInMinutes' because event type does not have multiple "
                                      "possible lengths. Please, remove the 'lengthInMinutes' field from the request."),
        (booking(event_type=1004, lengthInMinutes=45), "Provided 'lengthInMinutes' is not one of the possible lengths "
                                                        "for the event type. The possible lengths are: 15, 30, 60"),
        (booking(start="2026-02-26T08:00:00Z"), BOOKING_IN_PAST_MESSAGE),
        (booking(start="2026-02-27T11:00:00Z"), BOOKING_WINDOW_MESSAGE),  # inside the 120 min notice
        (booking(start="2026-05-04T08:00:00Z"), BOOKING_WINDOW_MESSAGE),  # beyond 60 days
        (booking(start="2026-02-28T09:00:00Z"), SLOT_TAKEN_MESSAGE),  # Saturday: host not available
    ],
)
async def test_create_validation_texts(client: httpx.AsyncClient, body: dict[str, Any], message: str) -> None:
    response = await client.post("/v2/bookings", json=body, headers=V_BOOK)
    assert_error(response, 400, "BadRequestException", message)


async def test_empty_body_and_unknown_event_type(client: httpx.AsyncClient) -> None:
    empty = await client.post("/v2/bookings", content=b"", headers=V_BOOK)
    assert_error(empty, 400, "BadRequestException", "Body is required")
    unknown = await create(client, event_type=4219620)
    assert_error(unknown, 404, "NotFoundException", "Event type with id 4219620 not found.")


async def test_phone_only_and_multi_duration_bookings(client: httpx.AsyncClient) -> None:
    phone_only = {"name": "Erika", "timeZone": "Europe/Berlin", "phoneNumber": "+4915199999999"}
    response = await client.post("/v2/bookings", json={**booking(), "attendee": phone_only}, headers=V_BOOK)
    assert response.status_code == 201
    assert response.json()["data"]["attendees"][0]["phoneNumber"] == "+4915199999999"
    long = await create(client, event_type=1004, start="2026-03-03T08:00:00Z", lengthInMinutes=60)
    assert long.json()["data"]["duration"] == 60


# --- consistency ----------------------------------------------------------------------------------


async def test_booked_slot_disappears_and_cancel_frees_it(client: httpx.AsyncClient, mock: CalcomMock) -> None:
    made = (await create(client)).json()["data"]
    assert "2026-03-02T09:00:00.000+01:00" not in await slot_starts(client)
    assert "2026-03-02T09:00:00.000+01:00" not in await slot_starts(client, eventTypeId="1002")  # same host
    taken = await create(client)
    assert_error(taken, 400, "BadRequestException", SLOT_TAKEN_MESSAGE)
    cancelled = await client.post(f"/v2/bookings/{made['uid']}/cancel", json={"cancellationReason": "Krank"},
                                  headers=V_BOOK)
    assert cancelled.status_code == 200
    data = cancelled.json()["data"]
    assert (data["status"], data["cancellationReason"], data["cancelledByEmail"]) == (
        "cancelled", "Krank", "max.mustermann@example.org")
    assert (await client.get(f"/v2/bookings/{made['uid']}", headers=V_BOOK)).json()["data"]["status"] == "cancelled"
    assert "2026-03-02T09:00:00.000+01:00" in await slot_starts(client)
    again = await client.post(f"/v2/bookings/{made['uid']}/cancel", json={}, headers=V_BOOK)
    assert_error(again, 400, "BadRequestException",
                 f"Can't cancel booking with uid={made['uid']} because it has been cancelled already. "
                 "Please provide uid of a booking that is not cancelled.")
    assert [b["status"] for b in mock.bookings()] == ["cancelled"]


async def test_unknown_uid_texts(client: httpx.AsyncClient) -> None:
    uid = "o1WXCm1HBSdPzhnCEZLwxr"
    got = await client.get(f"/v2/bookings/{uid}", headers=V_BOOK)
    assert_error(got, 404, "NotFoundException", f"Booking with uid={uid} was not found in the database")
    cancel = await client.post(f"/v2/bookings/{uid}/cancel", json={}, headers=V_BOOK)
    assert_error(cancel, 404, "NotFoundException", f"Booking with uid={uid} not found")
    moved = await client.post(f"/v2/bookings/{uid}/reschedule", json={"start": "2026-03-02T09:00:00Z"}, headers=V_BOOK)
    assert_error(moved, 404, "NotFoundException", f"Booking with uid={uid} not found")


async def test_reschedule_moves_the_booking(client: httpx.AsyncClient) -> None:
    old = (await create(client)).json()["data"]
    response = await client.post(f"/v2/bookings/{old['uid']}/reschedule",
                                 json={"start": "2026-03-02T12:00:00Z", "reschedulingReason": "Termin passt nicht"},
                                 headers=V_BOOK)
    assert response.status_code == 201
    new = response.json()["data"]
    assert new["uid"] != old["uid"] and UID.match(new["uid"])
    assert (new["start"], new["rescheduledFromUid"], new["reschedulingReason"]) == (
        "2026-03-02T12:00:00.000Z", old["uid"], "Termin passt nicht")
    assert new["icsUid"] == old["icsUid"]
    previous = (await client.get(f"/v2/bookings/{old['uid']}", headers=V_BOOK)).json()["data"]
    assert (previous["status"], previous["rescheduledToUid"]) == ("cancelled", new["uid"])
    starts = await slot_starts(client)
    assert "2026-03-02T09:00:00.000+01:00" in starts and "2026-03-02T13:00:00.000+01:00" not in starts
    again = await client.post(f"/v2/bookings/{old['uid']}/reschedule", json={"start": "2026-03-02T14:00:00Z"},
                              headers=V_BOOK)
    assert again.status_code == 400 and "rescheduled already to booking with uid=" + new["uid"] in again.text


async def test_seated_event_counts_seats_then_conflicts(client: httpx.AsyncClient) -> None:
    start = "2026-03-02T08:00:00Z"
    for booked in (1, 2, 3):
        response = await create(client, event_type=1003, start=start)
        assert response.status_code == 201
        data = response.json()["data"]
        assert len(data["attendees"]) == booked and data["seatUid"]
        slots = await client.get("/v2/slots", params={**MONDAY, "eventTypeId": "1003"}, headers=V_SLOTS)
        first = slots.json()["data"]["2026-03-02"][0]
        if booked < 3:
            assert first == {"start": "2026-03-02T09:00:00.000+01:00", "seatsBooked": booked,
                             "seatsRemaining": 3 - booked, "seatsTotal": 3, "bookingUid": data["uid"]}
        else:
            assert first["start"] == "2026-03-02T10:00:00.000+01:00"
    full = await create(client, event_type=1003, start=start)
    assert_error(full, 409, "ConflictException", SEATS_FULL_MESSAGE)


async def test_list_needs_auth_and_paginates(client: httpx.AsyncClient) -> None:
    for hour in (8, 9, 10):
        await create(client, start=f"2026-03-02T{hour:02d}:00:00Z")
    unauthenticated = await client.get("/v2/bookings", headers=V_BOOK)
    assert_error(unauthenticated, 401, "UnauthorizedException", NO_AUTH_MESSAGE)
    page = (await client.get("/v2/bookings", params={"take": "2"}, headers={**V_BOOK, **AUTH})).json()
    assert len(page["data"]) == 2 and page["pagination"] == {
        "totalItems": 3, "remainingItems": 1, "returnedItems": 2, "itemsPerPage": 2, "currentPage": 1,
        "totalPages": 2, "hasNextPage": True, "hasPreviousPage": False}
    last = (await client.get("/v2/bookings", params={"take": "2", "skip": "2"}, headers={**V_BOOK, **AUTH})).json()
    assert [b["start"] for b in last["data"]] == ["2026-03-02T10:00:00.000Z"]
    assert last["pagination"]["hasPreviousPage"] and not last["pagination"]["hasNextPage"]


async def test_api_keys_and_bearer_checks() -> None:
    mock = CalcomMock(now=lambda: NOW, api_keys={KEY})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(mock)), base_url="http://t") as client:
        bad_key = await client.get("/v2/slots", params=MONDAY, headers={**V_SLOTS, "Authorization": "Bearer cal_nope"})
        assert_error(bad_key, 401, "UnauthorizedException", INVALID_API_KEY_MESSAGE)
        good = await client.get("/v2/slots", params=MONDAY, headers={**V_SLOTS, **AUTH})
        assert good.status_code == 200
        token = await client.post("/v2/bookings", json=booking(), headers={**V_BOOK, "Authorization": "Bearer xyz"})
        assert_error(token, 401, "UnauthorizedException", "ApiAuthStrategy - Invalid Bearer token")


async def test_event_types(client: httpx.AsyncClient) -> None:
    listed = (await client.get("/v2/event-types", headers={**V_ET, **AUTH})).json()["data"]
    assert [(e["id"], e["slug"], e["lengthInMinutes"]) for e in listed] == [
        (1001, "cleaning", 30), (1002, "checkup", 20), (1003, "info-evening", 60), (1004, "consultation", 30)]
    by_user = (await client.get("/v2/event-types", params={"username": "dr-beispiel", "eventSlug": "checkup"},
                                headers=V_ET)).json()["data"]
    assert [e["id"] for e in by_user] == [1002]
    one = (await client.get("/v2/event-types/1003", headers={**V_ET, **AUTH})).json()["data"]
    assert one["seats"]["seatsPerTimeSlot"] == 3 and one["minimumBookingNotice"] == 120
    assert (await client.get("/v2/event-types/1003", headers=V_ET)).status_code == 401
    assert_error(await client.get("/v2/event-types/77", headers={**V_ET, **AUTH}), 404, "NotFoundException",
                 "Event type with id=77 not found")
    assert (await client.get("/v2/event-types", headers=AUTH)).status_code == 404


async def test_v1_legacy_api(client: httpx.AsyncClient) -> None:
    query = {"apiKey": KEY, "eventTypeId": "1001", "startTime": "2026-03-02", "endTime": "2026-03-02",
             "timeZone": "Europe/Berlin"}
    slots = (await client.get("/v1/slots", params=query)).json()
    assert slots["slots"]["2026-03-02"][0] == {"time": "2026-03-02T09:00:00+01:00"}
    body = {"eventTypeId": 1001, "start": "2026-03-02T08:00:00Z", "end": "2026-03-02T08:30:00Z",
            "responses": {"name": "Max", "email": "max@example.org"}, "timeZone": "Europe/Berlin", "language": "de"}
    made = (await client.post("/v1/bookings", params={"apiKey": KEY}, json=body)).json()
    assert made["status"] == "ACCEPTED" and made["startTime"] == "2026-03-02T08:00:00.000Z"
    assert "2026-03-02T09:00:00.000+01:00" not in await slot_starts(client)  # one calendar for v1 and v2
    got = (await client.get(f"/v1/bookings/{made['id']}", params={"apiKey": KEY})).json()
    assert got["booking"]["uid"] == made["uid"]
    cancel = await client.delete(f"/v1/bookings/{made['id']}/cancel", params={"apiKey": KEY})
    assert cancel.json()["message"] == "Booking successfully cancelled."
    twice = await client.delete(f"/v1/bookings/{made['id']}/cancel", params={"apiKey": KEY})
    assert (twice.status_code, twice.json()["message"]) == (400, "This booking has already been cancelled.")
    no_key = await client.get("/v1/slots", params={k: v for k, v in query.items() if k != "apiKey"})
    assert (no_key.status_code, no_key.json()["message"]) == (401, "No apiKey provided")
    bad = await client.post("/v1/bookings", params={"apiKey": KEY}, json={**body, "eventTypeId": "1001"})
    assert bad.json() == {"message": "Bad request, eventTypeId must be a number",
                          "url": f"/v1/bookings?apiKey={KEY}", "method": "POST", "data": None}
    missing = (await client.get("/v1/bookings/999", params={"apiKey": KEY})).json()
    assert missing["message"] == "Booking not found"


# --- scripted faults ------------------------------------------------------------------------------


async def test_fault_texts_and_statuses(client: httpx.AsyncClient, mock: CalcomMock) -> None:
    cases: list[tuple[Fault, int, Any]] = [
        (Fault.SLOT_TAKEN, 400, SLOT_TAKEN_MESSAGE),
        (Fault.SLOT_TAKEN_TEAM, 400, SLOT_TAKEN_TEAM_MESSAGE),
        (Fault.SEATS_FULL, 409, SEATS_FULL_MESSAGE),
        (Fault.NO_SLOTS, 400, BOOKING_WINDOW_MESSAGE),
        (Fault.SERVER_ERROR, 500, INTERNAL_ERROR_MESSAGE),
    ]
    for fault, status, message in cases:
        mock.set_script(CalcomScript(rules=[CalcomRule(endpoint="bookings.create", fault=fault, times=1)]))
        response = await create(client)
        assert (response.status_code, response.json()["error"]["message"]) == (status, message), fault
    assert response.json()["error"] == {"code": "INTERNAL_SERVER_ERROR", "message": INTERNAL_ERROR_MESSAGE}
    mock.set_script(CalcomScript(rules=[CalcomRule(fault=Fault.SERVER_ERROR_BARE)]))
    bare = await client.get("/v2/slots", params=MONDAY, headers=V_SLOTS)
    assert (bare.status_code, bare.json()) == (500, {"statusCode": 500, "message": "Internal server error"})


async def test_no_slots_empties_the_slot_map(client: httpx.AsyncClient, mock: CalcomMock) -> None:
    mock.set_script(CalcomScript(rules=[CalcomRule(endpoint="slots", fault=Fault.NO_SLOTS)]))
    assert (await client.get("/v2/slots", params=MONDAY, headers=V_SLOTS)).json() == {"status": "success", "data": {}}


@pytest.mark.parametrize(("status", "expected"), [(None, 502), (503, 503), (504, 504)])
async def test_bad_gateway_is_a_non_json_page(client: httpx.AsyncClient, mock: CalcomMock, status: int | None,
                                              expected: int) -> None:
    mock.set_script(CalcomScript(rules=[CalcomRule(fault=Fault.BAD_GATEWAY, status=status)]))
    response = await client.get("/v2/slots", params=MONDAY, headers=V_SLOTS)
    assert response.status_code == expected and response.headers["content-type"].startswith("text/html")
    assert "cloudflare" in response.text.lower()
    with pytest.raises(ValueError):
        response.json()


async def test_rate_limited_fault(client: httpx.AsyncClient, mock: CalcomMock) -> None:
    mock.set_script(CalcomScript(rules=[CalcomRule(fault=Fault.RATE_LIMITED, times=1),
                                        CalcomRule(fault=Fault.RATE_LIMITED, times=1, retry_after=30)]))
    plain = await client.get("/v2/slots", params=MONDAY, headers=V_SLOTS)
    assert_error(plain, 429, "ThrottlerException", RATE_LIMITED_MESSAGE)
    assert plain.json()["error"]["details"] == RATE_LIMITED_MESSAGE
    assert plain.headers["x-ratelimit-remaining-default"] == "0" and "retry-after" not in plain.headers
    with_retry = await client.get("/v2/slots", params=MONDAY, headers=V_SLOTS)
    assert with_retry.status_code == 429 and with_retry.headers["retry-after"] == "30"
    assert (await client.get("/v2/slots", params=MONDAY, headers=V_SLOTS)).status_code == 200


async def test_real_rate_limit_per_key() -> None:
    mock = CalcomMock(now=lambda: NOW, rate_limit=2)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(mock)), base_url="http://t") as client:
        statuses = [(await client.get("/v2/slots", params=MONDAY, headers={**V_SLOTS, **AUTH})).status_code
                    for _ in range(3)]
        other = await client.get("/v2/slots", params=MONDAY, headers=V_SLOTS)  # another tracker
    assert statuses == [200, 200, 429] and other.status_code == 200


async def test_times_endpoint_and_first_match(client: httpx.AsyncClient, mock: CalcomMock) -> None:
    mock.set_script(CalcomScript(rules=[
        CalcomRule(endpoint="bookings.create", fault=Fault.SLOT_TAKEN, times=2),
        CalcomRule(endpoint="any", fault=Fault.SLOT_TAKEN_TEAM, times=1),  # does not apply to slots
        CalcomRule(endpoint="any", fault=Fault.SERVER_ERROR, times=1),
    ]))
    assert (await client.get("/v2/slots", params=MONDAY, headers=V_SLOTS)).status_code == 500
    assert (await client.get("/v2/slots", params=MONDAY, headers=V_SLOTS)).status_code == 200
    messages = [(await create(client)).json()["error"]["message"] for _ in range(3)]
    assert messages == [SLOT_TAKEN_MESSAGE, SLOT_TAKEN_MESSAGE, SLOT_TAKEN_TEAM_MESSAGE]
    assert (await create(client)).status_code == 201
    assert [r.times for r in mock.script().rules] == [0, 0, 0]
    assert [e.fault for e in mock.journal()] == ["server_error", None, "slot_taken", "slot_taken", "slot_taken_team",
                                                  None]


async def test_latency_answers_normally_after_the_delay(client: httpx.AsyncClient, mock: CalcomMock) -> None:
    mock.set_script(CalcomScript(rules=[CalcomRule(endpoint="slots", fault=Fault.LATENCY, delay_ms=150)]))
    started = time.perf_counter()
    response = await client.get("/v2/slots", params=MONDAY, headers=V_SLOTS)
    assert time.perf_counter() - started >= 0.15
    assert response.status_code == 200 and response.json()["data"]
    assert mock.journal()[-1].duration_ms >= 150 and mock.journal()[-1].fault == "latency"


async def test_reset_cuts_a_long_delay_short(client: httpx.AsyncClient, mock: CalcomMock) -> None:
    mock.set_script(CalcomScript(rules=[CalcomRule(fault=Fault.LATENCY, delay_ms=60_000)]))
    task = asyncio.create_task(client.get("/v2/slots", params=MONDAY, headers=V_SLOTS))
    async with asyncio.timeout(5):
        while not mock.journal():
            await asyncio.sleep(0)
        mock.reset()
        response = await task
    assert response.status_code == 200


def test_hang_ends_in_a_client_timeout_and_the_server_still_stops(mock: CalcomMock) -> None:
    mock.set_script(CalcomScript(rules=[CalcomRule(fault=Fault.HANG)]))
    server = serve_in_thread(create_app(mock))
    try:
        with httpx.Client(base_url=server.url, timeout=0.3) as client, pytest.raises(httpx.ReadTimeout):
            client.get("/v2/slots", params=MONDAY, headers=V_SLOTS)
        entry = mock.journal()[-1]
        assert (entry.status, entry.response, entry.fault) == (0, None, "hang")
    finally:
        started = time.monotonic()
        server.stop(timeout=10)
    assert not server._thread.is_alive() and time.monotonic() - started < 5


def test_reset_releases_a_hung_request(mock: CalcomMock) -> None:
    mock.set_script(CalcomScript(rules=[CalcomRule(fault=Fault.HANG)]))
    results: list[httpx.Response] = []
    with serve_in_thread(create_app(mock)) as server:
        def call() -> None:
            with httpx.Client(base_url=server.url, timeout=10) as client:
                results.append(client.get("/v2/slots", params=MONDAY, headers=V_SLOTS))

        caller = threading.Thread(target=call)
        caller.start()
        wait_for("a journal entry", lambda: bool(mock.journal()), 5.0, interval_s=0.005)
        mock.reset()
        caller.join(5)
    assert not caller.is_alive() and results[0].status_code == 504


# --- respx front ----------------------------------------------------------------------------------

PARITY: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/v2/slots", {"params": MONDAY, "headers": V_SLOTS}),
    ("GET", "/v2/slots", {"params": {**MONDAY, "format": "range", "eventTypeId": "1003"}, "headers": V_SLOTS}),
    ("GET", "/v2/slots", {"params": MONDAY}),
    ("POST", "/v2/bookings", {"json": booking(bogus=True), "headers": V_BOOK}),
    ("POST", "/v2/bookings", {"json": booking(start="2026-02-28T09:00:00Z"), "headers": V_BOOK}),
    ("GET", "/v2/event-types", {"headers": {**V_ET, **AUTH}}),
    ("GET", "/v1/slots", {"params": {"apiKey": KEY, "eventTypeId": "1002", "startTime": "2026-03-02",
                                     "endTime": "2026-03-03", "timeZone": "Europe/Berlin"}}),
]


async def test_respx_router_gives_the_same_bodies_as_the_app(client: httpx.AsyncClient) -> None:
    in_process = CalcomMock(now=lambda: NOW)
    router = calcom_router(in_process, base_url="https://api.cal.com")
    async with httpx.AsyncClient(transport=httpx.MockTransport(router.async_handler),
                                 base_url="https://api.cal.com") as fake:
        for method, path, kwargs in PARITY:
            over_asgi = await client.request(method, path, **kwargs)
            over_respx = await fake.request(method, path, **kwargs)
            assert over_respx.status_code == over_asgi.status_code, path
            assert over_respx.content == over_asgi.content, path
            assert over_respx.headers["content-type"] == over_asgi.headers["content-type"]
            assert over_respx.headers["x-ratelimit-limit-default"] == "120"


def test_respx_router_hang_and_latency(mock: CalcomMock) -> None:
    mock.set_script(CalcomScript(rules=[CalcomRule(fault=Fault.HANG, times=1),
                                        CalcomRule(fault=Fault.LATENCY, delay_ms=5_000, times=1)]))
    with calcom_router(mock) as router, httpx.Client(base_url="https://api.cal.com") as client:
        with pytest.raises(httpx.ReadTimeout):
            client.get("/v2/slots", params=MONDAY, headers=V_SLOTS)
        started = time.perf_counter()
        assert client.get("/v2/slots", params=MONDAY, headers=V_SLOTS).status_code == 200
        assert time.perf_counter() - started < 5
        assert router.calls.call_count == 2
    assert mock.journal()[-1].duration_ms >= 5_000 and mock.journal()[0].status == 0


# --- admin API over loopback ----------------------------------------------------------------------


def test_admin_api_over_a_real_server(mock: CalcomMock) -> None:
    with serve_in_thread(create_app(mock)) as server, httpx.Client(base_url=server.url, timeout=5) as http:
        assert http.get("/__admin/health").json() == {"status": "ok"}
        bad = http.put("/__admin/script", json={"rules": [{"fault": "explode"}]})
        assert bad.status_code == 400 and "rules.0.fault" in bad.json()["message"]
        assert bad.json()["errors"][0]["loc"] == "rules.0.fault"
        extra = http.put("/__admin/script", json={"rules": [{"fault": "hang", "endpoint": "slots", "tims": 1}]})
        assert extra.status_code == 400 and "rules.0.tims" in extra.json()["message"]
        script = {"rules": [{"endpoint": "bookings.create", "fault": "slot_taken", "times": 1}]}
        assert http.put("/__admin/script", json=script).status_code == 200
        assert http.get("/__admin/script").json()["rules"][0]["times"] == 1
        headers = {**V_BOOK, **AUTH, "X-Correlation-ID": "corr-123",
                   "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
        assert http.post("/v2/bookings", json=booking(), headers=headers).status_code == 400
        assert http.post("/v2/bookings", json=booking(), headers=headers).status_code == 201
        http.get("/v1/slots", params={"apiKey": KEY, "eventTypeId": "1001", "startTime": "2026-03-02",
                                      "endTime": "2026-03-02"})
        journal = http.get("/__admin/journal").json()
        assert [e["seq"] for e in journal["entries"]] == [1, 2, 3] and journal["next"] == 3
        first = journal["entries"][0]
        assert first["headers"]["authorization"] == "[redacted]" and KEY not in str(journal)
        assert (first["correlation_id"], first["traceparent"]) == ("corr-123", headers["traceparent"])
        assert (first["endpoint"], first["fault"], first["status"]) == ("bookings.create", "slot_taken", 400)
        assert first["body"]["attendee"]["name"] == "Max Mustermann" and first["response"]["status"] == "error"
        assert journal["entries"][2]["query"]["apiKey"] == "[redacted]"
        paged = http.get("/__admin/journal", params={"after": 2}).json()
        assert [e["seq"] for e in paged["entries"]] == [3] and paged["next"] == 3
        assert http.get("/__admin/journal", params={"after": 3}).json() == {"entries": [], "next": 3}
        assert http.get("/__admin/journal", params={"after": "x"}).status_code == 400
        assert [b["status"] for b in http.get("/__admin/bookings").json()["bookings"]] == ["accepted"]
        assert http.delete("/__admin/script").json() == {"rules": []}
        assert http.post("/__admin/reset").status_code == 200
        assert http.get("/__admin/bookings").json() == {"bookings": []}
        assert http.get("/__admin/journal").json() == {"entries": [], "next": 0}
