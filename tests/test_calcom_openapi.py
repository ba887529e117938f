"""The Cal.com mock against Cal.com's own OpenAPI v2 document.

Every request the mock sees in a full booking flow (slots, create, get, list,
cancel, reschedule, event types) is looked up in
``tests/data/calcom-openapi-v2.json`` (Cal.com's own OpenAPI document) by method and path template;
required headers and query parameters must be present, the request body must
validate against the operation's request schema and the response body against
the operation's response schema for that status.

The document cannot be used as-is, because in places it contradicts Cal.com's
own source. Each patch below is an exception the source forces, and each has a
test showing the unpatched document really rejects the faithful answer:

1. ``GET /v2/slots`` 200 (docs/research/calcom.md §2.1): the default-format schema says slot
   items are strings; the document's own example and the source return
   ``{"start": …}`` objects. Patched: items are objects. Also (not in
   docs/research/calcom.md): both 200 schemas describe only the date map, without the
   ``{"status","data"}`` envelope their own examples show, so they are applied
   to ``data``.
2. ``oneOf`` → ``anyOf``: some unions have overlapping branches, none with
   ``additionalProperties: false``, so one valid value matches several and a
   strict ``oneOf`` rejects it: the create-booking request body (every
   ``CreateBookingInput`` is also a ``CreateRecurringBookingInput``, whose
   ``recurrenceCount`` is optional) and event-type ``locations`` /
   ``bookingFields`` items. Where it matters the value is also validated,
   unpatched, against the one branch it must be. (The booking *output* unions
   are fine: the seated and recurring variants require keys a plain booking
   lacks.)
3. ``isDefault``/``required`` of booking fields are typed ``object`` with
   boolean examples; the source sends booleans. Patched: ``type: object`` with a
   boolean example/default accepts booleans.
4. ``EventTypeOutput_2024_06_14.users`` is typed ``string[]``; the source's
   ``User_2024_06_14[]`` are objects. Patched: items are objects.

OpenAPI 3.0 ``nullable`` is translated to a JSON-Schema ``null`` type.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from mocks.calcom import CalcomMock, create_app
from probes._calcom import JournalEntry

# Cal.com's own OpenAPI v2 document (calcom/companion docs/api-reference/v2/openapi.json at a85da636).
DOC_PATH = Path(__file__).parent / "data" / "calcom-openapi-v2.json"
BASE = "urn:calcom-openapi"
NOW = datetime(2026, 2, 27, 10, 0, tzinfo=UTC)
V_SLOTS = {"cal-api-version": "2024-09-04"}
V_BOOK = {"cal-api-version": "2024-08-13"}
V_ET = {"cal-api-version": "2024-06-14"}
AUTH = {"Authorization": "Bearer cal_test_0123456789abcdef"}
ATTENDEE = {"name": "Max Mustermann", "email": "max.mustermann@example.org", "timeZone": "Europe/Berlin",
            "phoneNumber": "+493023125042", "language": "de"}



@cache
def raw_doc() -> dict[str, Any]:
    """The document exactly as Cal.com publishes it."""
    doc: dict[str, Any] = json.loads(DOC_PATH.read_text())
    return doc


def _nullable(node: Any) -> Any:
    """OpenAPI 3.0 ``nullable: true`` → JSON Schema ``null`` alternative."""
    if isinstance(node, dict):
        node = {k: _nullable(v) for k, v in node.items()}
        if node.pop("nullable", False):
            return {"anyOf": [node, {"type": "null"}]}
        return node
    if isinstance(node, list):
        return [_nullable(v) for v in node]
    return node


def _patch(node: Any) -> Any:
    """Exceptions 2 and 3 of the module docstring, applied everywhere."""
    if isinstance(node, dict):
        node = {("anyOf" if k == "oneOf" else k): _patch(v) for k, v in node.items()}
        bool_hint = isinstance(node.get("example"), bool) or isinstance(node.get("default"), bool)
        if node.get("type") == "object" and bool_hint:
            node["type"] = ["object", "boolean"]
        return node
    if isinstance(node, list):
        return [_patch(v) for v in node]
    return node


@cache
def patched_doc() -> dict[str, Any]:
    """The document with the four documented exceptions applied."""
    doc = _patch(copy.deepcopy(raw_doc()))
    slots = doc["paths"]["/v2/slots"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    slots["anyOf"][0]["additionalProperties"]["items"] = {"type": "object", "required": ["start"]}  # exception 1
    users = doc["components"]["schemas"]["EventTypeOutput_2024_06_14"]["properties"]["users"]
    users["items"] = {"type": "object", "required": ["id", "name", "username"]}  # exception 4
    return doc


def validator(schema: dict[str, Any], *, patched: bool = True) -> jsonschema.Draft4Validator:
    """A validator that resolves ``#/components/…`` refs inside the (patched) document."""
    doc = _nullable(patched_doc() if patched else raw_doc())
    registry: Registry[Any] = Registry().with_resource(BASE, Resource.from_contents(doc, default_specification=DRAFT4))
    return jsonschema.Draft4Validator(_rebase(schema), registry=registry)


def _rebase(schema: dict[str, Any]) -> dict[str, Any]:
    """Point local ``#/components`` refs of a schema cut out of the document at the document."""
    text = json.dumps(_nullable(schema)).replace('"#/components/', f'"{BASE}#/components/')
    rebased: dict[str, Any] = json.loads(text)
    return rebased


def component(name: str, *, patched: bool = False) -> jsonschema.Draft4Validator:
    """A validator for one component schema (unpatched unless asked)."""
    return validator({"$ref": f"#/components/schemas/{name}"}, patched=patched)


def assert_valid(check: jsonschema.Draft4Validator, instance: Any, what: str) -> None:
    """Fail with every schema error, each with its JSON path."""
    errors = sorted(check.iter_errors(instance), key=lambda e: list(e.absolute_path))
    detail = "\n".join(f"  {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:300]}" for e in errors)
    assert not errors, f"{what} does not match the OpenAPI document:\n{detail}"


def operation(method: str, path: str, *, patched: bool = True) -> tuple[str, dict[str, Any]]:
    """The OpenAPI path template and operation for a concrete request."""
    for template, item in (patched_doc() if patched else raw_doc())["paths"].items():
        regex = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if method.lower() in item and re.match(regex, path):
            return template, item[method.lower()]
    raise AssertionError(f"{method} {path} is not in the OpenAPI document")


def check_entry(entry: JournalEntry) -> None:
    """One journalled request/response pair against its operation."""
    template, op = operation(entry.method, entry.path)
    what = f"{entry.method} {template} → {entry.status}"
    for param in op.get("parameters", []):
        source = entry.headers if param["in"] == "header" else entry.query if param["in"] == "query" else None
        name = param["name"].lower() if param["in"] == "header" else param["name"]
        if source is not None and param.get("required") and name != "authorization":
            assert name in source, f"{what}: required {param['in']} parameter {param['name']} missing"
        if source is not None and name in source and param.get("schema", {}).get("type") == "number":
            float(source[name])
    body_schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if body_schema is not None and entry.body is not None:
        assert_valid(validator(body_schema), entry.body, f"{what} request body")
    response = op["responses"].get(str(entry.status))
    assert response is not None, f"{what}: status {entry.status} is not documented"
    schema = response.get("content", {}).get("application/json", {}).get("schema")
    if schema is not None:
        body = entry.response
        if entry.path == "/v2/slots":  # exception 1: the schema is for ``data``
            assert body["status"] == "success"
            body = body["data"]
        assert_valid(validator(schema), body, f"{what} response")


async def run_flow(client: httpx.AsyncClient) -> dict[str, Any]:
    """Every documented operation the mock serves, once or more; returns the created bookings."""
    q = {"start": "2026-03-02", "end": "2026-03-03", "eventTypeId": "1001", "timeZone": "Europe/Berlin"}
    await client.get("/v2/slots", params=q, headers=V_SLOTS)
    await client.get("/v2/slots", params={**q, "format": "range", "eventTypeId": "1003"}, headers=V_SLOTS)
    body = {"start": "2026-03-02T08:00:00Z", "eventTypeId": 1001, "attendee": ATTENDEE,
            "bookingFieldsResponses": {"notes": "Neupatient"}, "metadata": {"call_id": "call_7f3a9c"}}
    made = (await client.post("/v2/bookings", json=body, headers=V_BOOK)).json()["data"]
    seated = (await client.post("/v2/bookings", json={**body, "eventTypeId": 1003, "start": "2026-03-03T10:00:00Z"},
                                headers=V_BOOK)).json()["data"]
    await client.get("/v2/slots", params={**q, "eventTypeId": "1003"}, headers=V_SLOTS)
    await client.get(f"/v2/bookings/{made['uid']}", headers=V_BOOK)
    await client.get(f"/v2/bookings/{seated['uid']}", headers=V_BOOK)
    await client.get("/v2/bookings", params={"take": "1"}, headers={**V_BOOK, **AUTH})
    moved = (await client.post(f"/v2/bookings/{made['uid']}/reschedule",
                               json={"start": "2026-03-02T09:00:00Z", "reschedulingReason": "Patient verhindert"},
                               headers=V_BOOK)).json()["data"]
    await client.post(f"/v2/bookings/{moved['uid']}/cancel", json={"cancellationReason": "Krank"}, headers=V_BOOK)
    await client.get("/v2/event-types", headers={**V_ET, **AUTH})
    await client.get("/v2/event-types/1003", headers={**V_ET, **AUTH})
    return {"made": made, "seated": seated, "moved": moved}


@pytest.fixture
async def flow() -> tuple[CalcomMock, dict[str, Any]]:
    """A mock that has served the whole flow, pinned to a Friday before the booked Monday."""
    mock = CalcomMock(now=lambda: NOW)
    transport = httpx.ASGITransport(app=create_app(mock))
    async with httpx.AsyncClient(transport=transport, base_url="http://calcom.test") as client:
        made = await run_flow(client)
    return mock, made


def successful(mock: CalcomMock) -> Iterator[JournalEntry]:
    """The journal's 2xx entries (the error shapes are not in the document)."""
    return (e for e in mock.journal() if 200 <= e.status < 300)


async def test_every_request_and_response_matches_the_document(flow: tuple[CalcomMock, dict[str, Any]]) -> None:
    mock, _ = flow
    entries = list(successful(mock))
    assert len(entries) == len(mock.journal()) == 12
    for entry in entries:
        check_entry(entry)


async def test_booking_data_matches_its_own_branch_strictly(flow: tuple[CalcomMock, dict[str, Any]]) -> None:
    _, made = flow
    assert_valid(component("BookingOutput_2024_08_13"), made["made"], "created booking")
    assert_valid(component("BookingOutput_2024_08_13"), made["moved"], "rescheduled booking")
    assert_valid(component("CreateSeatedBookingOutput_2024_08_13"), made["seated"], "seated booking")
    for attendee in made["seated"]["attendees"]:
        assert_valid(component("SeatedAttendee"), attendee, "seated attendee")
    for booking in made.values():
        for host in booking["hosts"]:
            assert_valid(component("BookingHost"), host, "host")


def test_create_request_matches_create_booking_input_strictly() -> None:
    body = {"start": "2026-03-02T08:00:00Z", "eventTypeId": 1001, "attendee": ATTENDEE,
            "bookingFieldsResponses": {"attendeePhoneNumber": "+493023125042"}, "metadata": {"source": "retell"}}
    assert_valid(component("CreateBookingInput_2024_08_13"), body, "create booking input")
    assert_valid(component("RescheduleBookingInput_2024_08_13"), {"start": "2026-03-02T09:00:00Z"}, "reschedule input")
    assert_valid(component("CancelBookingInput_2024_08_13"), {"cancellationReason": "x"}, "cancel input")


async def test_exception_1_slots_items_are_objects_not_strings(flow: tuple[CalcomMock, dict[str, Any]]) -> None:
    mock, _ = flow
    entry = next(e for e in mock.journal() if e.path == "/v2/slots" and "format" not in e.query)
    raw = raw_doc()["paths"]["/v2/slots"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    time_format = raw["oneOf"][0]
    assert time_format["additionalProperties"]["items"] == {"type": "string"}
    assert isinstance(time_format["example"]["data"]["2050-09-05"][0], dict)  # the document's own example
    assert list(validator(time_format, patched=False).iter_errors(entry.response["data"]))


async def test_exception_2_oneof_branches_overlap(flow: tuple[CalcomMock, dict[str, Any]]) -> None:
    mock, _ = flow
    entry = next(e for e in mock.journal() if e.method == "POST" and e.path == "/v2/bookings")
    _, op = operation("POST", "/v2/bookings", patched=False)
    union = op["requestBody"]["content"]["application/json"]["schema"]
    assert list(validator(union, patched=False).iter_errors(entry.body))  # strict oneOf fails …
    assert_valid(component("CreateBookingInput_2024_08_13"), entry.body, "body")  # … branch 1 holds
    assert_valid(component("CreateRecurringBookingInput_2024_08_13"), entry.body, "body")  # and so does branch 3
    booking = next(e for e in mock.journal() if e.method == "GET" and e.path.startswith("/v2/bookings/"))
    assert_valid(component("GetBookingOutput_2024_08_13"), booking.response, "booking output, strict oneOf")


async def test_exceptions_3_and_4_event_type_fields(flow: tuple[CalcomMock, dict[str, Any]]) -> None:
    mock, _ = flow
    entry = next(e for e in mock.journal() if e.path == "/v2/event-types/1003")
    errors = list(component("EventTypeOutput_2024_06_14").iter_errors(entry.response["data"]))
    paths = {"/".join(map(str, e.absolute_path)) for e in errors}
    assert "users/0" in paths
    assert any(p.startswith("bookingFields") for p in paths)
    assert_valid(component("EventTypeOutput_2024_06_14", patched=True), entry.response["data"], "event type")
