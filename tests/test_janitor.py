"""The synthetic marker survives into real bookings, cleanup cancels what a probe booked, the janitor nothing else.

Bookings are planted in the Cal.com mock through its v2 API (the same API the
janitor and the cleanup use on the real Cal.com), by hand or by a gateway:
the reference gateway and the independent example gateway, which copies only
the caller's name, e-mail and phone into the booking.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
import yaml

import probes
from examples.other_gateway import Settings
from examples.other_gateway import create_app as create_other_gateway
from mocks._serve import RunningServer, serve_in_thread
from mocks.calcom import create_app as create_calcom_app
from probes._bookings import is_synthetic_booking
from probes._cleanup import leave_nothing
from probes._cli import main
from probes._defaults import DEMO_CALCOM_API_KEY
from probes._embedded import EmbeddedWorld
from probes._evidence import Exchange
from probes._exitcodes import EXIT_OK
from probes._plan import build_plan
from probes._profile import TargetProfile
from probes._runner import RunOptions
from probes._scenario import StepExpectation, load_scenario
from tests.test_exporter import SLOW_BOOKING, wait_for

V_SLOTS = {"cal-api-version": "2024-09-04"}
V_BOOK = {"cal-api-version": "2024-08-13"}
HAPPY = load_scenario("scenarios/happy-path-booking.yaml")


@pytest.fixture
def calcom() -> Iterator[RunningServer]:
    with serve_in_thread(create_calcom_app()) as server:
        yield server


def free_slots(url: str, event_type: int, n: int, days_ahead: int = 3) -> list[str]:
    start = datetime.now(UTC).date() + timedelta(days=days_ahead)
    params = {"start": start.isoformat(), "end": (start + timedelta(days=14)).isoformat(), "eventTypeId": str(event_type)}
    data = httpx.get(f"{url}/v2/slots", params=params, headers=V_SLOTS, timeout=5).json()["data"]
    return [slot["start"] for day in sorted(data) for slot in data[day]][:n]


def plant(url: str, email: str | None, start: str, event_type: int = 1001, phone: str | None = None) -> str:
    attendee = {"name": "Planted Person", "timeZone": "Europe/Berlin", **({"email": email} if email else {}),
                **({"phoneNumber": phone} if phone else {})}
    answer = httpx.post(f"{url}/v2/bookings", json={"start": start, "eventTypeId": event_type, "attendee": attendee},
                        headers=V_BOOK, timeout=5)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["data"]["uid"])


def bookings(url: str) -> dict[str, dict[str, Any]]:
    return {b["uid"]: b for b in httpx.get(f"{url}/__admin/bookings", timeout=5).json()["bookings"]}


@pytest.fixture
def planted(calcom: RunningServer) -> dict[str, str]:
    """uid → what it is: synthetic ones and every kind of booking that must be left alone."""
    one, two, three, four, five, six = free_slots(calcom.url, 1001, 6)
    [seat] = free_slots(calcom.url, 1003, 1, days_ahead=30)  # another day: the host is busy during the others
    out = {
        plant(calcom.url, "jane.doe@callprobe.invalid", one): "synthetic",
        plant(calcom.url, "JOHN.ROE@CallProbe.Invalid", two): "synthetic",
        plant(calcom.url, "max.mustermann@example.org", three): "real",
        plant(calcom.url, "jane.doe@callprobe.invalid.example.com", four): "lookalike",
        plant(calcom.url, None, five, phone="+4915112345678"): "phone-only",
        plant(calcom.url, "someone@callprobe-invalid.de", six): "lookalike",
    }
    shared = plant(calcom.url, "jane.doe@callprobe.invalid", seat, event_type=1003)
    assert plant(calcom.url, "real.person@example.org", seat, event_type=1003) == shared  # a seat next to a real person
    out[shared] = "mixed seats"
    return out


def profile_file(tmp_path: Path, calcom: RunningServer) -> Path:
    path = tmp_path / "target.yaml"
    path.write_text(yaml.safe_dump({"base_url": "http://127.0.0.1:9", "calcom_api_url": calcom.url, "demo_secrets": True}))
    return path


def test_the_marker_is_every_attendee_on_the_synthetic_domain(calcom: RunningServer, planted: dict[str, str]) -> None:
    now = bookings(calcom.url)
    assert {uid for uid, kind in planted.items() if kind == "synthetic"} == {uid for uid in now if is_synthetic_booking(now[uid])}


def test_janitor_dry_run_then_sweep_cancels_only_old_synthetic_bookings(calcom: RunningServer, planted: dict[str, str],
                                                                         tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = str(profile_file(tmp_path, calcom))
    assert main(["janitor", "--target", target, "--older-than", "15m"]) == EXIT_OK  # all too young: a probe may still run
    assert "cancelled 0 synthetic, 0 could not be cancelled, 2 synthetic younger than 900 s kept, 5 without" in capsys.readouterr().out
    assert main(["janitor", "--target", target, "--older-than", "0s", "--dry-run"]) == EXIT_OK
    out = capsys.readouterr().out
    assert sum(line.startswith("would cancel ") for line in out.splitlines()) == 2 and "would cancel 2 synthetic" in out
    assert all(b["status"] == "accepted" for b in bookings(calcom.url).values())
    assert main(["janitor", "--target", target, "--older-than", "0s"]) == EXIT_OK
    out = capsys.readouterr().out
    now = bookings(calcom.url)
    assert {uid for uid, b in now.items() if b["status"] == "cancelled"} == {u for u, k in planted.items() if k == "synthetic"}
    assert "7 bookings listed" in out and "cancelled 2 synthetic" in out and "5 without the synthetic marker never touched" in out
    assert DEMO_CALCOM_API_KEY not in out
    assert main(["janitor", "--target", target, "--older-than", "0s"]) == EXIT_OK
    assert "cancelled 0 synthetic" in capsys.readouterr().out  # cancelled bookings are not listed again


def test_bookings_made_through_either_gateway_carry_the_marker_and_the_janitor_finds_them(calcom: RunningServer, tmp_path: Path) -> None:
    """The reference gateway and the example gateway (which copies only name, e-mail and phone) both book synthetic bookings."""
    world = EmbeddedWorld().start()
    try:
        profile = world.gateway().model_copy(update={"cleanup": "calcom"})  # cancelled through the Cal.com API, not the gateway
        verdict = asyncio.run(probes.probe(HAPPY, profile))
        [uid] = verdict.evidence.booked
        assert verdict.passed and not verdict.evidence.cleanup_left
        assert [x.path for x in verdict.evidence.cleanup] == [f"/v2/bookings/{uid}/cancel"]
        reference = bookings(str(profile.calcom_mock_url))[uid]
        assert is_synthetic_booking(reference) and reference["status"] == "cancelled"
    finally:
        world.stop()
    key = "key_othergw_janitor_test"
    settings = Settings(calcom_url=calcom.url, retell_api_key=key, metrics_token="t", log_file=tmp_path / "gw.log",
                        calcom_api_key=DEMO_CALCOM_API_KEY)
    with serve_in_thread(create_other_gateway(settings)) as gw, httpx.Client(base_url=gw.url, timeout=10) as http:
        paths = probes.Paths(webhook="/retell/events", inbound="/retell/inbound-call", function="/retell/tools/{name}")
        answers: dict[str, Any] = {}
        for r in build_plan(HAPPY, api_key=key, paths=paths).requests():
            body = r.body
            if r.step.function == "book_appointment":
                data = json.loads(body)
                data["args"]["start"] = answers["check_availability"]["options"][0]
                body = json.dumps(data, separators=(",", ":"))
            signed = {**r.headers, probes.SIGNATURE_HEADER: probes.sign(body, key)}
            answers[r.step.label] = http.post(r.path, content=body.encode(), headers=signed).json()
        assert answers["book_appointment"]["confirmed"] is True
    [booked] = bookings(calcom.url).values()
    assert is_synthetic_booking(booked) and booked["metadata"].keys() == {"call_id", "request_id"}  # no synthetic flag of its own
    assert main(["janitor", "--target", str(profile_file(tmp_path, calcom)), "--older-than", "0s"]) == EXIT_OK
    assert bookings(calcom.url)[booked["uid"]]["status"] == "cancelled"


def booked_exchange(uid: str) -> Exchange:
    return Exchange(call_index=0, call_id="call_x", step_index=3, step="book_appointment", delivery=1, kind="function",
                    method="POST", path="/api/retell/functions/book_appointment", request_headers={}, request_body="{}",
                    sent_at=0.0, expect=StepExpectation(), latency_ms=1.0, status=200,
                    response_body=json.dumps({"booked": True, "booking_uid": uid}))


@pytest.mark.parametrize("api", [True, False])
async def test_a_cancel_the_gateway_does_not_confirm_falls_back_to_the_calcom_api(calcom: RunningServer, api: bool) -> None:
    uid = plant(calcom.url, "jane.doe@callprobe.invalid", free_slots(calcom.url, 1001, 1)[0])
    profile = TargetProfile(base_url="http://gateway.test", calcom_api_url=calcom.url if api else None, demo_secrets=True)
    opts = RunOptions(base_url=profile.base_url, api_key="k")
    with respx.mock(assert_all_called=False) as router:
        router.post(url__startswith="http://gateway.test/").respond(500, text="<html>oops</html>")
        router.route(host="127.0.0.1").pass_through()
        async with httpx.AsyncClient(timeout=5) as client:
            done = await leave_nothing(build_plan(HAPPY, api_key="k"), [booked_exchange(uid)], [], profile, client, opts)
    assert done.booked == [uid]
    if api:
        assert done.left == [] and [x.status for x in done.records] == [500, 200]
        assert done.records[-1].path == f"/v2/bookings/{uid}/cancel" and "Authorization" not in str(done.records[-1].response_body)
        assert bookings(calcom.url)[uid]["status"] == "cancelled"
    else:
        assert done.left == [uid] and bookings(calcom.url)[uid]["status"] == "accepted"


async def test_a_probe_cancelled_after_it_booked_still_cancels_the_booking() -> None:
    world = EmbeddedWorld().start()
    try:
        async with world.lease() as profile:
            admin = f"{profile.calcom_mock_url}/__admin/bookings"
            task = asyncio.create_task(probes.probe(SLOW_BOOKING, profile))
            await asyncio.to_thread(wait_for, "the booking", lambda: httpx.get(admin, timeout=5).json()["bookings"])
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            after = await asyncio.to_thread(httpx.get, admin, timeout=5)
            assert [b["status"] for b in after.json()["bookings"]] == ["cancelled"]
    finally:
        world.stop()
