"""Retell payloads: SDK-valid call objects, stage rules, determinism, signatures, §8 shapes."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pydantic
import pytest
from retell import Retell
from retell.lib.webhook_auth import verify as sdk_verify
from retell.types.phone_call_response import PhoneCallResponse

from probes._caller import is_fictional_number, make_caller
from probes._errors import ConfigError
from probes._retell import (
    CallSpec,
    RenderedStep,
    StepSpec,
    appointment_start,
    default_function_args,
    render_call,
)
from probes._signing import sign
from probes._wire import dumps

START_MS = 1767369600000  # 2026-01-02 16:00 UTC, the §8 examples' call start
API_KEY = "key_callprobe_test_not_a_secret"

# ---- key sets of the docs/research/retell.md §8 samples (copied from the document) ----
S83_CALL = {
    "call_id", "call_type", "agent_id", "agent_version", "agent_name", "retell_llm_dynamic_variables",
    "call_status", "start_timestamp", "direction", "from_number", "to_number", "metadata",
    "data_storage_setting", "opt_in_signed_url", "telephony_identifier",
}
TRANSCRIPT = {"transcript", "transcript_object", "transcript_with_tool_calls"}
S84_CALL = S83_CALL | TRANSCRIPT
S86_CALL = S84_CALL | {"latency"}
S89_CALL = S83_CALL | TRANSCRIPT | {
    "end_timestamp", "duration_ms", "disconnection_reason", "recording_url", "recording_multi_channel_url",
    "public_log_url", "latency", "call_cost", "llm_token_usage",
}
S811_CALL = {
    "call_id", "call_type", "agent_id", "agent_version", "agent_name", "retell_llm_dynamic_variables",
    "call_status", "duration_ms", "transcript", "disconnection_reason", "metadata", "call_cost",
    "from_number", "to_number", "direction",
}
UTTERANCE = {"role", "content", "words"}
WORD = {"word", "start", "end"}
INVOCATION = {"role", "tool_call_id", "name", "arguments", "type"}
RESULT = {"role", "tool_call_id", "successful", "content"}
STATS = {"p50", "p90", "p95", "p99", "max", "min", "num", "values"}


def booking_steps() -> list[StepSpec]:
    """The §8 story: inbound, check availability, book, end, analysis."""
    return [
        StepSpec("call_inbound", -2.3),
        StepSpec("call_started", 0.041),
        StepSpec("function", 12.6, function="check_availability"),
        StepSpec("transcript_updated", 12.003),
        StepSpec("function", 22.55, function="book_appointment"),
        StepSpec("call_ended", 34.667),
        StepSpec("call_analyzed", 39.892),
    ]


def make_spec(seed: int = 11, locale: str = "en_US", **kw: Any) -> CallSpec:
    return CallSpec(caller=make_caller(seed, locale), seed=seed, start_ms=START_MS, run_id="r-test", **kw)


def by_kind(rendered: Sequence[RenderedStep], kind: str, n: int = 0) -> RenderedStep:
    return [r for r in rendered if r.step.kind == kind][n]


def undeclared(model: pydantic.BaseModel, path: str = "call") -> Iterator[str]:
    """Keys the SDK model accepted as extras (its models allow them silently)."""
    for key in model.model_extra or {}:
        yield f"{path}.{key}"
    for name in type(model).model_fields:
        yield from _walk(getattr(model, name), f"{path}.{name}")


def _walk(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, pydantic.BaseModel):
        yield from undeclared(value, path)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk(item, f"{path}[{i}]")


def assert_sdk_valid(call: dict[str, Any]) -> None:
    assert set(call) <= set(PhoneCallResponse.model_fields), set(call) - set(PhoneCallResponse.model_fields)
    model = PhoneCallResponse.model_validate(call)
    assert list(undeclared(model)) == []


def call_objects(rendered: Sequence[RenderedStep]) -> Iterator[dict[str, Any]]:
    for r in rendered:
        if r.step.kind == "function" and "call" in r.payload:
            yield r.payload["call"]
        elif "call" in r.payload:
            yield r.payload["call"]


STORIES: dict[str, list[StepSpec]] = {
    "booking": booking_steps(),
    "no_slots": [
        StepSpec("call_started", 0.05),
        StepSpec("function", 10.0, function="check_availability", outcome="no_slots"),
        StepSpec("call_ended", 25.0),
        StepSpec("call_analyzed", 30.0),
    ],
    "slot_taken_then_booked": [
        StepSpec("call_started", 0.05),
        StepSpec("function", 10.0, function="check_availability"),
        StepSpec("function", 20.0, function="book_appointment", outcome="slot_taken"),
        StepSpec("function", 30.0, function="book_appointment"),
        StepSpec("call_ended", 45.0),
        StepSpec("call_analyzed", 50.0),
    ],
    "calendar_error": [
        StepSpec("call_started", 0.05),
        StepSpec("function", 10.0, function="check_availability", outcome="error"),
        StepSpec("call_ended", 22.0),
        StepSpec("call_analyzed", 27.0),
    ],
    "hangup": [
        StepSpec("call_started", 0.05),
        StepSpec("function", 10.0, function="check_availability"),
        StepSpec("function", 20.0, function="book_appointment", outcome="hangup"),
        StepSpec("call_ended", 40.0),
        StepSpec("call_analyzed", 45.0),
    ],
    "cancel": [
        StepSpec("call_started", 0.05),
        StepSpec("function", 8.0, function="cancel_appointment"),
        StepSpec("call_ended", 20.0),
        StepSpec("call_analyzed", 25.0),
    ],
    "transfer": [
        StepSpec("call_started", 0.05),
        StepSpec("function", 10.0, function="check_availability"),
        StepSpec("transfer_started", 24.0),
        StepSpec("transfer_bridged", 27.0),
        StepSpec("transfer_ended", 60.0),
        StepSpec("call_ended", 61.0),
        StepSpec("call_analyzed", 66.0),
    ],
    "compressed": [  # steps too close for a normal pace: timings must still fit
        StepSpec("call_started", 0.0),
        StepSpec("function", 1.0, function="check_availability"),
        StepSpec("function", 1.5, function="book_appointment"),
        StepSpec("call_ended", 2.0),
    ],
    "early_function": [StepSpec("function", 0.2, function="check_availability"), StepSpec("call_ended", 0.5)],
    "no_functions": [StepSpec("call_started", 0.05), StepSpec("call_ended", 15.0), StepSpec("call_analyzed", 18.0)],
    "not_connected": [
        StepSpec("call_ended", 30.0, disconnection_reason="dial_no_answer"),
        StepSpec("call_analyzed", 33.0),
    ],
}


@pytest.mark.parametrize("direction", ["inbound", "outbound"])
@pytest.mark.parametrize("locale", ["en_US", "de_DE"])
@pytest.mark.parametrize("story", sorted(STORIES))
def test_every_call_object_validates_with_the_sdk(story: str, locale: str, direction: str) -> None:
    steps = [s for s in STORIES[story] if not (direction == "outbound" and s.kind == "call_inbound")]
    rendered = render_call(make_spec(3, locale, direction=direction), steps)
    objects = list(call_objects(rendered))
    assert objects
    for call in objects:
        assert_sdk_valid(call)
        assert None not in call.values()


def test_undeclared_key_is_caught() -> None:
    """The no-extras check itself must be able to fail (the SDK model allows extras)."""
    call = by_kind(render_call(make_spec(), booking_steps()), "call_ended").payload["call"]
    bad = copy.deepcopy(call)
    bad["transcript_with_tool_calls"][3]["time_sec"] = 12.6
    with pytest.raises(AssertionError):
        assert_sdk_valid(bad)
    bad = copy.deepcopy(call)
    bad["opt_out_sensitive_data_storage"] = False
    with pytest.raises(AssertionError):
        assert_sdk_valid(bad)


def test_partial_cost_of_a_not_connected_call_is_real_but_not_sdk_valid() -> None:
    """§8.11: real traffic had call_cost {"combined_cost": 0}; the SDK requires the full shape."""
    steps = STORIES["not_connected"]
    full = by_kind(render_call(make_spec(), steps), "call_ended").payload["call"]
    assert full["call_cost"] == {"product_costs": [], "total_duration_seconds": 0,
                                 "total_duration_unit_price": 0, "combined_cost": 0}
    partial = by_kind(render_call(make_spec(partial_call_cost=True), steps), "call_ended").payload["call"]
    assert partial["call_cost"] == {"combined_cost": 0}
    with pytest.raises(pydantic.ValidationError):
        PhoneCallResponse.model_validate(partial)


# ---------------------------------------------------------------- determinism


def test_same_seed_same_bytes() -> None:
    a = [dumps(r.payload) for r in render_call(make_spec(5, "de_DE"), booking_steps())]
    b = [dumps(r.payload) for r in render_call(make_spec(5, "de_DE"), booking_steps())]
    assert a == b


def test_shared_payloads_are_the_same_bytes_and_isolated_ones_share_nothing() -> None:
    """``isolated=False`` (the planner's) changes what is shared in memory, never what is sent."""
    shared = render_call(make_spec(5, "de_DE"), booking_steps(), isolated=False)
    isolated = render_call(make_spec(5, "de_DE"), booking_steps())
    assert [dumps(r.payload) for r in shared] == [dumps(r.payload) for r in isolated]
    ended, analyzed = by_kind(isolated, "call_ended").payload["call"], by_kind(isolated, "call_analyzed").payload["call"]
    ended["transcript_object"][0]["content"] = "changed"
    assert analyzed["transcript_object"][0]["content"] != "changed"


def test_different_seed_different_call_and_caller() -> None:
    a, b = render_call(make_spec(5), booking_steps()), render_call(make_spec(6), booking_steps())
    assert a[0].call_id != b[0].call_id
    assert a[0].payload["call_inbound"]["from_number"] != b[0].payload["call_inbound"]["from_number"] or (
        make_caller(5, "en_US").name != make_caller(6, "en_US").name
    )
    assert dumps(a[-1].payload) != dumps(b[-1].payload)


def test_ids_have_retells_formats_and_one_call_id() -> None:
    rendered = render_call(make_spec(), booking_steps())
    assert len({r.call_id for r in rendered}) == 1
    assert re.fullmatch(r"call_[0-9a-f]{27}", rendered[0].call_id)
    assert re.fullmatch(r"agent_[0-9a-f]{26}", rendered[0].payload["call_inbound"]["agent_id"])
    tool_ids = [r.tool_call_id for r in rendered if r.step.kind == "function"]
    assert len(set(tool_ids)) == 2
    assert all(t is not None and re.fullmatch(r"tool_call_[0-9a-f]{6}", t) for t in tool_ids)
    final = by_kind(rendered, "call_ended").payload["call"]["transcript_with_tool_calls"]
    invocation_ids = [e["tool_call_id"] for e in final if e["role"] == "tool_call_invocation"]
    assert len(invocation_ids) == len(set(invocation_ids)) == 3  # two custom + end_call


def test_event_timestamps() -> None:
    rendered = render_call(make_spec(), booking_steps())
    for r in rendered:
        assert r.event_timestamp_ms == START_MS + round(r.step.at_s * 1000)
        if r.step.kind != "function":
            assert r.payload["event_timestamp"] == r.event_timestamp_ms
    assert rendered[0].event_timestamp_ms == START_MS - 2300


# ---------------------------------------------------------------- stage rules


def test_call_started_is_basic_info_only() -> None:
    call = by_kind(render_call(make_spec(), booking_steps()), "call_started").payload["call"]
    assert set(call) == S83_CALL
    assert call["call_status"] == "ongoing" and call["start_timestamp"] == START_MS


def test_function_call_transcript_ends_with_its_own_invocation() -> None:
    rendered = render_call(make_spec(), booking_steps())
    for r in (by_kind(rendered, "function", 0), by_kind(rendered, "function", 1)):
        assert list(r.payload) == ["name", "args", "call"]
        call = r.payload["call"]
        assert call["call_status"] == "ongoing"
        last = call["transcript_with_tool_calls"][-1]
        assert last == {"role": "tool_call_invocation", "tool_call_id": r.tool_call_id, "name": r.step.function,
                        "arguments": dumps(r.payload["args"]), "type": "custom"}
        for entry in call["transcript_object"]:
            assert entry["words"][-1]["end"] <= r.step.at_s
    first, second = by_kind(rendered, "function", 0), by_kind(rendered, "function", 1)
    assert set(first.payload["call"]) == S84_CALL
    assert set(second.payload["call"]) == S86_CALL
    earlier = second.payload["call"]["transcript_with_tool_calls"]
    result = next(e for e in earlier if e["role"] == "tool_call_result")
    assert result["tool_call_id"] == first.tool_call_id and result["successful"] is True
    slots = dumps(result["content"])
    assert second.payload["args"]["start"] in slots


def test_default_args_follow_the_story() -> None:
    spec = make_spec(8, "de_DE")
    when = appointment_start(spec)
    rendered = render_call(spec, booking_steps())
    check, book = by_kind(rendered, "function", 0).payload["args"], by_kind(rendered, "function", 1).payload["args"]
    assert check == default_function_args("check_availability", spec)
    assert check == {"date": when.date().isoformat(), "service": spec.caller.service, "time_zone": "Europe/Berlin"}
    assert book == default_function_args("book_appointment", spec)
    assert list(book) == ["start", "name", "email", "phone", "service", "time_zone"]
    assert book["start"] == when.isoformat() and book["phone"] == spec.caller.phone
    cancel = default_function_args("cancel_appointment", spec)
    assert cancel["booking_uid"] == "" and cancel["reason"]
    assert default_function_args("lookup_patient", spec) == {}


def test_slot_taken_rebooks_the_alternative() -> None:
    rendered = render_call(make_spec(), STORIES["slot_taken_then_booked"])
    first, second = by_kind(rendered, "function", 1), by_kind(rendered, "function", 2)
    assert first.payload["args"]["start"] != second.payload["args"]["start"]
    taken = next(e for e in second.payload["call"]["transcript_with_tool_calls"]
                 if e.get("tool_call_id") == first.tool_call_id and e["role"] == "tool_call_result")
    assert '"error":"slot_taken"' in taken["content"]
    assert second.payload["args"]["start"] in taken["content"]


def test_transcript_updated_holds_what_was_said_by_then() -> None:
    rendered = render_call(make_spec(), booking_steps())
    r = by_kind(rendered, "transcript_updated")
    call = r.payload["call"]
    assert set(call) == S84_CALL and call["call_status"] == "ongoing"
    assert all(u["words"][-1]["end"] <= r.step.at_s for u in call["transcript_object"])
    assert call["transcript"].endswith("\n")
    later = by_kind(rendered, "function", 0).payload["call"]["transcript_with_tool_calls"]
    assert later[: len(call["transcript_with_tool_calls"])] == call["transcript_with_tool_calls"]


def test_call_analyzed_is_call_ended_plus_analysis() -> None:
    rendered = render_call(make_spec(), booking_steps())
    ended = by_kind(rendered, "call_ended").payload["call"]
    analyzed = dict(by_kind(rendered, "call_analyzed").payload["call"])
    analysis = analyzed.pop("call_analysis")
    assert dumps(analyzed) == dumps(ended)
    assert set(ended) == S89_CALL and ended["call_status"] == "ended"
    assert ended["disconnection_reason"] == "agent_hangup"
    assert ended["duration_ms"] == ended["end_timestamp"] - START_MS
    assert ended["end_timestamp"] < by_kind(rendered, "call_ended").event_timestamp_ms
    assert not ended["transcript"].endswith("\n")
    assert ended["transcript_with_tool_calls"][-1]["name"] == "end_call"
    assert analysis == {
        "call_summary": analysis["call_summary"], "in_voicemail": False, "user_sentiment": "Positive",
        "call_successful": True,
        "custom_analysis_data": {"appointment_booked": True, "service": make_caller(11, "en_US").service},
    }


def test_word_timings_are_monotonic_and_inside_the_call() -> None:
    for name, steps in STORIES.items():
        rendered = render_call(make_spec(4), steps)
        ended = by_kind(rendered, "call_ended").payload["call"]
        times = [t for u in ended.get("transcript_object", []) for w in u["words"] for t in (w["start"], w["end"])]
        assert times == sorted(times), name
        assert all(isinstance(t, float) for t in times), name
        if times:
            assert times[-1] * 1000 <= ended["duration_ms"], name


@pytest.mark.parametrize("story", sorted(STORIES))
def test_utterances_come_before_the_step_that_follows_them(story: str) -> None:
    """Each request carries only what was said before it, and the final log is in time order."""
    steps = STORIES[story]
    rendered = render_call(make_spec(9, "de_DE"), steps)
    at_by_tool = {r.tool_call_id: r.step.at_s for r in rendered if r.tool_call_id}
    for r in rendered:
        call = r.payload.get("call")
        if call and call["call_status"] == "ongoing":
            assert all(u["words"][-1]["end"] <= r.step.at_s for u in call.get("transcript_object", [])), r.step
    ended = by_kind(rendered, "call_ended").payload["call"]
    known = []
    for e in ended.get("transcript_with_tool_calls", []):
        if e["role"] in ("agent", "user"):
            known += [e["words"][0]["start"], e["words"][-1]["end"]]
        elif e["role"] == "tool_call_invocation" and e["tool_call_id"] in at_by_tool:
            known.append(at_by_tool[e["tool_call_id"]])
    assert known == sorted(known)


def test_hangup_has_no_result_and_ends_user_hangup() -> None:
    rendered = render_call(make_spec(), STORIES["hangup"])
    hung = by_kind(rendered, "function", 1)
    ended = by_kind(rendered, "call_ended").payload["call"]
    entries = ended["transcript_with_tool_calls"]
    assert entries[-1]["tool_call_id"] == hung.tool_call_id and entries[-1]["role"] == "tool_call_invocation"
    assert not any(e["role"] == "tool_call_result" and e["tool_call_id"] == hung.tool_call_id for e in entries)
    assert ended["disconnection_reason"] == "user_hangup"
    analysis = by_kind(rendered, "call_analyzed").payload["call"]["call_analysis"]
    assert analysis["call_successful"] is False and analysis["custom_analysis_data"]["appointment_booked"] is False


def test_error_outcome_is_an_axios_error_result() -> None:
    rendered = render_call(make_spec(), STORIES["calendar_error"])
    entries = by_kind(rendered, "call_ended").payload["call"]["transcript_with_tool_calls"]
    result = next(e for e in entries if e["role"] == "tool_call_result")
    assert result["successful"] is False and result["content"].startswith("Axios Error: ")
    assert by_kind(rendered, "call_analyzed").payload["call"]["call_analysis"]["user_sentiment"] == "Negative"


def test_args_at_root_body_is_args_plus_call_id() -> None:
    steps = [StepSpec("call_started", 0.05),
             StepSpec("function", 9.0, function="check_availability", args_at_root=True)]
    spec = make_spec()
    r = render_call(spec, steps)[1]
    assert r.payload == {**default_function_args("check_availability", spec), "call_id": r.call_id}


def test_get_and_delete_functions_have_no_body() -> None:
    steps = [StepSpec("function", 9.0, function="lookup", method="GET"),
             StepSpec("function", 12.0, function="forget", method="DELETE", args={"id": "1"})]
    rendered = render_call(make_spec(), steps)
    assert [r.payload for r in rendered] == [{}, {}]
    assert all(r.tool_call_id for r in rendered)


def test_explicit_args_are_sent_verbatim() -> None:
    steps = [StepSpec("function", 9.0, function="book_appointment", args={"start": "2026-01-06T09:30:00-08:00"})]
    r = render_call(make_spec(), steps)[0]
    assert r.payload["args"] == {"start": "2026-01-06T09:30:00-08:00"}


def test_inbound_call_id_only_on_request() -> None:
    without = render_call(make_spec(), booking_steps())[0].payload
    assert set(without["call_inbound"]) == {"agent_id", "agent_version", "from_number", "to_number"}
    with_id = render_call(make_spec(include_inbound_call_id=True), booking_steps())
    assert with_id[0].payload["call_inbound"]["call_id"] == with_id[0].call_id


def test_outbound_numbers_and_sip_headers() -> None:
    spec = make_spec(direction="outbound")
    steps = [s for s in booking_steps() if s.kind != "call_inbound"]
    call = by_kind(render_call(spec, steps), "call_started").payload["call"]
    assert call["from_number"] == spec.caller.practice_phone and call["to_number"] == spec.caller.phone
    assert call["direction"] == "outbound"
    headers = call["custom_sip_headers"]
    assert headers["X-RetellAI-CallId"] == call["call_id"] and headers["X-RetellAI-Direction"] == "Outbound"
    assert re.fullmatch(r"org_[A-Za-z0-9]{16}", headers["X-RetellAI-OrgId"])
    with pytest.raises(ConfigError, match="call_inbound"):
        render_call(spec, booking_steps())


def test_not_connected_call() -> None:
    spec = make_spec(direction="outbound")
    rendered = render_call(spec, STORIES["not_connected"])
    call = rendered[0].payload["call"]
    assert set(call) == S811_CALL
    assert call["call_status"] == "not_connected" and call["duration_ms"] == 0 and call["transcript"] == ""
    analysis = rendered[1].payload["call"]["call_analysis"]
    assert "custom_analysis_data" not in analysis and analysis["user_sentiment"] == "Unknown"
    with pytest.raises(ConfigError, match="never connected"):
        render_call(spec, [StepSpec("call_started", 0.0), *STORIES["not_connected"]])


def test_transfer_events() -> None:
    rendered = render_call(make_spec(), STORIES["transfer"])
    started = by_kind(rendered, "transfer_started").payload
    assert list(started) == ["event", "call", "event_timestamp", "transfer_destination", "transfer_option"]
    assert is_fictional_number(started["transfer_destination"]["number"])
    assert "transfer_destination" not in by_kind(rendered, "transfer_ended").payload
    ended = by_kind(rendered, "call_ended").payload["call"]
    assert ended["disconnection_reason"] == "call_transfer"
    assert ended["transfer_destination"] == started["transfer_destination"]["number"]


def test_synthetic_marker_and_merges() -> None:
    spec = make_spec(dynamic_variables={"clinic_branch": "north"}, metadata={"team": "qa"})
    call = by_kind(render_call(spec, booking_steps()), "call_started").payload["call"]
    assert call["metadata"] == {"probe_run": "r-test", "synthetic": True, "team": "qa"}
    assert call["retell_llm_dynamic_variables"] == {
        "customer_name": spec.caller.name, "practice": spec.caller.practice_name, "synthetic": "callprobe",
        "clinic_branch": "north",
    }


@pytest.mark.parametrize(
    ("steps", "spec_kw", "match"),
    [
        ([StepSpec("function", 1.0, function="x", outcome="maybe")], {}, "outcome 'maybe'"),
        ([StepSpec("call_ended", 1.0, disconnection_reason="gone")], {}, "'gone'"),
        ([StepSpec("function", 1.0)], {}, "function name"),
        ([StepSpec("function", 1.0, function="x", method="TRACE")], {}, "TRACE"),
        ([StepSpec("call_started", 0.0)], {"dynamic_variables": {"n": 3}}, "'n'"),
        ([StepSpec("call_started", 0.0)], {"appointment_start": "2026-01-06T09:30:00"}, "UTC offset"),
    ],
)
def test_bad_input_is_a_config_error(steps: list[StepSpec], spec_kw: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        render_call(make_spec(**spec_kw), steps)


def test_derived_appointments_are_bookable() -> None:
    for seed in range(100):
        spec = make_spec(seed, "en_US" if seed % 2 else "de_DE")
        when = appointment_start(spec)
        local_start = datetime.fromtimestamp(START_MS / 1000, ZoneInfo(spec.caller.time_zone)).date()
        assert when.weekday() < 5
        assert timedelta(days=2) <= when.date() - local_start <= timedelta(days=9)
        assert when.minute in (0, 30) and (9, 0) <= (when.hour, when.minute) <= (16, 0)
        assert when.utcoffset() is not None
    given = make_spec(appointment_start="2026-02-03T10:00:00+01:00")
    assert appointment_start(given).isoformat() == "2026-02-03T10:00:00+01:00"


def test_language_follows_the_locale() -> None:
    de = by_kind(render_call(make_spec(2, "de_DE"), booking_steps()), "call_ended").payload["call"]["transcript"]
    en = by_kind(render_call(make_spec(2, "en_US"), booking_steps()), "call_ended").payload["call"]["transcript"]
    assert "guten Tag" in de and "Wiederhören" in de
    assert "Thanks for calling" in en and "goodbye" in en


# ---------------------------------------------------------------- signatures


def _german_non_ascii_seed() -> int:
    return next(s for s in range(200) if not make_caller(s, "de_DE").name.isascii())


@pytest.mark.parametrize("kind", ["call_inbound", "call_started", "function", "call_ended", "call_analyzed"])
def test_signature_round_trip_with_the_sdk(kind: str) -> None:
    seed = _german_non_ascii_seed()
    rendered = render_call(make_spec(seed, "de_DE"), booking_steps())
    body = dumps(by_kind(rendered, kind).payload)
    if kind != "call_inbound":
        assert not make_caller(seed, "de_DE").name.isascii() and make_caller(seed, "de_DE").name in body
        assert "\\u00" not in body
    header = sign(body, API_KEY)
    assert sdk_verify(body, API_KEY, header) is True
    assert Retell(api_key=API_KEY).verify(body, API_KEY, header) is True
    raw = bytearray(body.encode("utf-8"))
    raw[len(raw) // 2] ^= 0x01
    assert sdk_verify(raw.decode("utf-8", errors="replace"), API_KEY, header) is False


def test_empty_body_of_get_function_verifies() -> None:
    header = sign("", API_KEY)
    assert sdk_verify("", API_KEY, header) is True


# ---------------------------------------------------------------- §8 shapes


def _entry_keys(entries: list[dict[str, Any]]) -> set[tuple[str, frozenset[str]]]:
    return {(e["role"], frozenset(e)) for e in entries}


def test_shapes_match_the_retell_md_samples() -> None:
    rendered = render_call(make_spec(), booking_steps())
    inbound = rendered[0].payload
    assert list(inbound) == ["event", "event_timestamp", "call_inbound"]
    assert set(inbound["call_inbound"]) == {"agent_id", "agent_version", "from_number", "to_number"}
    for kind in ("call_started", "transcript_updated", "call_ended", "call_analyzed"):
        assert list(by_kind(rendered, kind).payload) == ["event", "call", "event_timestamp"]
    ended = by_kind(rendered, "call_ended").payload["call"]
    assert set(by_kind(rendered, "call_analyzed").payload["call"]) == S89_CALL | {"call_analysis"}
    assert _entry_keys(ended["transcript_with_tool_calls"]) == {
        ("agent", frozenset(UTTERANCE)), ("user", frozenset(UTTERANCE)),
        ("tool_call_invocation", frozenset(INVOCATION)), ("tool_call_result", frozenset(RESULT)),
    }
    assert {frozenset(w) for u in ended["transcript_object"] for w in u["words"]} == {frozenset(WORD)}
    assert set(ended["latency"]) == {"e2e", "llm", "tts"}
    assert all(set(v) == STATS for v in ended["latency"].values())
    assert set(ended["call_cost"]) == {"product_costs", "total_duration_seconds", "total_duration_unit_price",
                                       "combined_cost"}
    assert {frozenset(p) for p in ended["call_cost"]["product_costs"]} == {frozenset({"product", "unit_price", "cost"})}
    assert set(ended["llm_token_usage"]) == {"values", "average", "num_requests"}
    assert set(by_kind(rendered, "call_analyzed").payload["call"]["call_analysis"]) == {
        "call_summary", "in_voicemail", "user_sentiment", "call_successful", "custom_analysis_data"}
    assert ended["recording_url"].startswith("https://dxc03zgurdly9.cloudfront.net/")
    assert ended["telephony_identifier"]["twilio_call_sid"].startswith("CA")
