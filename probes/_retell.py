"""Every payload Retell posts to a gateway, built exactly as Retell builds it.

A gateway is only tested honestly if the requests look like Retell's own: the
same envelopes, the same call object at each stage of the call (``ongoing``
with the transcript so far, ``ended`` with the final transcript, ``analyzed``
with the analysis added), absent fields omitted rather than ``null``, and a
transcript whose timings agree with when each request is sent. The rules come
from ``docs/research/retell.md`` (sections 1, 3-6, 8, 9); the call object validates
against ``retell-sdk``'s ``PhoneCallResponse``.

Rendering is pure: the same :class:`CallSpec` and steps give the same
payloads byte for byte. Ids come from ``random.Random(seed)``, never the clock.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo

from . import _dialogue as dialogue
from ._caller import SYNTHETIC_MARKER, Caller
from ._errors import ConfigError
from ._wire import dumps

__all__ = [
    "DISCONNECTION_REASONS",
    "NOT_CONNECTED_REASONS",
    "OUTCOMES",
    "STEP_KINDS",
    "CallSpec",
    "RenderedStep",
    "StepKind",
    "StepSpec",
    "appointment_start",
    "default_function_args",
    "new_agent_id",
    "new_call_id",
    "new_tool_call_id",
    "render_call",
]

StepKind = Literal[
    "call_inbound", "call_started", "function", "call_ended", "call_analyzed", "transcript_updated",
    "transfer_started", "transfer_bridged", "transfer_cancelled", "transfer_ended",
]
STEP_KINDS: frozenset[str] = frozenset(get_args(StepKind))
OUTCOMES = frozenset({"slots", "no_slots", "booked", "slot_taken", "error", "cancelled", "hangup"})
# SDK 6.2.13 PhoneCallResponse.disconnection_reason (docs/research/retell.md §4).
DISCONNECTION_REASONS = frozenset({
    "user_hangup", "agent_hangup", "user_requested_dnc", "user_requested_callback", "call_transfer",
    "voicemail_reached", "ivr_reached", "inactivity", "max_duration_reached", "concurrency_limit_reached",
    "no_concurrency_fallback", "no_valid_payment", "credit_exhausted", "budget_reached", "scam_detected",
    "dial_busy", "dial_failed", "dial_no_answer", "invalid_destination", "telephony_provider_permission_denied",
    "telephony_provider_unavailable", "sip_routing_error", "marked_as_spam", "network_blocked", "user_declined",
    "error_llm_websocket_open", "error_llm_websocket_lost_connection", "error_llm_websocket_runtime",
    "error_llm_websocket_corrupt_payload", "error_no_audio_received", "error_asr", "error_retell",
    "error_unknown", "error_user_not_joined", "registered_call_timeout", "transfer_bridged",
    "transfer_cancelled", "manual_stopped", "call_take_over",
})
# Reasons that pair with call_status "not_connected" (docs reliability/debug-call-disconnect).
NOT_CONNECTED_REASONS = frozenset({
    "dial_busy", "dial_failed", "dial_no_answer", "invalid_destination", "telephony_provider_permission_denied",
    "telephony_provider_unavailable", "sip_routing_error", "marked_as_spam", "network_blocked", "user_declined",
})
_DEFAULT_OUTCOME = {"check_availability": "slots", "book_appointment": "booked", "cancel_appointment": "cancelled"}
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
_BODYLESS = frozenset({"GET", "DELETE"})
_TRANSFER_WITH_DESTINATION = frozenset({"transfer_started", "transfer_bridged", "transfer_cancelled"})
_AGENT_NAMES = {"en_US": "Front Desk (bookings)", "de_DE": "Empfang (Terminbuchung)"}
_CDN = "https://dxc03zgurdly9.cloudfront.net"
# What Retell logs when a custom function answers non-2xx (docs/research/retell.md §6.4, [obs]).
_AXIOS_ERROR = (
    'Axios Error: error code: ERR_BAD_RESPONSE\nresponse status: 500\nresponse data: {"error":"internal_error"}'
)


@dataclass(frozen=True)
class StepSpec:
    """One request of the call, at ``at_s`` seconds after the call started."""

    kind: StepKind
    at_s: float
    function: str | None = None
    args: Mapping[str, Any] | None = None
    args_at_root: bool = False
    method: str = "POST"
    outcome: str | None = None
    disconnection_reason: str | None = None


@dataclass(frozen=True)
class CallSpec:
    """Who calls, when, and what the call carries besides its steps.

    ``partial_call_cost`` sends a never-connected call's ``call_cost`` as
    ``{"combined_cost": 0}`` only, as real traffic did (docs/research/retell.md §8.11); the
    SDK model rejects that shape, so the default is the SDK-complete variant.
    ``identity`` makes the call_id the call's own (a new call each run, though
    the story is the seed's); ``day_index`` puts the caller's wished-for day on
    the n-th bookable weekday, so concurrent calls never want the same day.
    """

    caller: Caller
    seed: int
    start_ms: int
    run_id: str
    direction: Literal["inbound", "outbound"] = "inbound"
    dynamic_variables: Mapping[str, str] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    include_inbound_call_id: bool = False
    appointment_start: str | None = None
    partial_call_cost: bool = False
    identity: str | None = None
    day_index: int | None = None


@dataclass(frozen=True)
class RenderedStep:
    """A step with the exact JSON Retell would post for it."""

    step: StepSpec
    payload: dict[str, Any]
    call_id: str
    tool_call_id: str | None
    event_timestamp_ms: int


def new_call_id(rng: random.Random) -> str:
    """``call_`` + 27 lowercase hex, the id format of current Retell traffic."""
    return f"call_{rng.getrandbits(108):027x}"


def new_agent_id(rng: random.Random) -> str:
    """``agent_`` + 26 lowercase hex."""
    return f"agent_{rng.getrandbits(104):026x}"


def new_tool_call_id(rng: random.Random) -> str:
    """``tool_call_`` + 6 lowercase hex."""
    return f"tool_call_{rng.getrandbits(24):06x}"


def _hex(rng: random.Random, n: int) -> str:
    return f"{rng.getrandbits(4 * n):0{n}x}"


def _alnum(rng: random.Random, n: int) -> str:
    chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(rng.choice(chars) for _ in range(n))


# ---------------------------------------------------------------- appointment


def appointment_start(spec: CallSpec) -> datetime:
    """The slot the caller wants: given, or a seeded weekday half-hour.

    Derived slots fall 2-9 days after the call, on a weekday, at a half-hour
    between 09:00 and 16:00 in the caller's time zone, so they are bookable in
    a normal practice calendar and never in the past.
    """
    if spec.appointment_start is not None:
        try:
            when = datetime.fromisoformat(spec.appointment_start)
        except ValueError:
            raise ConfigError(f"appointment_start {spec.appointment_start!r} is not ISO 8601") from None
        if when.tzinfo is None:
            raise ConfigError(f"appointment_start {spec.appointment_start!r} needs a UTC offset")
        return when
    tz = ZoneInfo(spec.caller.time_zone)
    today = datetime.fromtimestamp(spec.start_ms / 1000, tz).date()
    rng = random.Random(f"callprobe-appointment:{spec.seed}")
    offsets = [d for d in range(2, 10) if (today + timedelta(days=d)).weekday() < 5]
    if spec.day_index is not None:
        offsets = [d for d in range(2, 2 + 2 * (spec.day_index + 5)) if (today + timedelta(days=d)).weekday() < 5]
        day = today + timedelta(days=offsets[spec.day_index])
    else:
        day = today + timedelta(days=rng.choice(offsets))
    minutes = 9 * 60 + 30 * rng.randrange(15)
    return datetime(day.year, day.month, day.day, minutes // 60, minutes % 60, tzinfo=tz)


def _other_slot(when: datetime) -> datetime:
    """The second slot offered next to ``when`` (same day, 90 minutes apart)."""
    later = when + timedelta(minutes=90)
    return later if later.hour < 17 else when - timedelta(minutes=90)


def _alternative(when: datetime) -> datetime:
    """What the gateway offers when ``when`` was just taken."""
    later = when + timedelta(minutes=60)
    return later if later.hour < 17 else when - timedelta(minutes=60)


def _default_args(name: str, caller: Caller, when: datetime) -> dict[str, Any]:
    if name == "check_availability":
        return {"date": when.date().isoformat(), "service": caller.service, "time_zone": caller.time_zone}
    if name == "book_appointment":
        return {"start": when.isoformat(), "name": caller.name, "email": caller.email, "phone": caller.phone,
                "service": caller.service, "time_zone": caller.time_zone}
    if name == "cancel_appointment":
        return {"booking_uid": "", "reason": dialogue.cancel_reason(caller.locale)}
    return {}


def default_function_args(name: str, spec: CallSpec) -> dict[str, Any]:
    """The arguments the agent sends to ``name`` when the scenario gives none."""
    return _default_args(name, spec.caller, appointment_start(spec))


def _talk(caller: Caller, when: datetime) -> dialogue.Talk:
    loc = caller.locale
    return dialogue.Talk(
        locale=loc, agent=dialogue.AGENT_NAMES[loc], practice=caller.practice_name,
        first_name=caller.first_name, service=caller.service, day=dialogue.spoken_day(when, loc),
        time=dialogue.spoken_time(when, loc), other_time=dialogue.spoken_time(_other_slot(when), loc),
        alt_time=dialogue.spoken_time(_alternative(when), loc),
    )


# ---------------------------------------------------------------- validation


def _check(spec: CallSpec, steps: Sequence[StepSpec]) -> None:
    """Reject steps Retell could never send, with a message naming the step."""
    for i, s in enumerate(steps):
        where = f"step {i} ({s.kind})"
        if s.kind not in STEP_KINDS:
            raise ConfigError(f"{where}: unknown kind; use one of {', '.join(sorted(STEP_KINDS))}")
        if s.kind == "function" and not s.function:
            raise ConfigError(f"{where}: a function step needs a function name")
        if s.outcome is not None and s.outcome not in OUTCOMES:
            raise ConfigError(f"{where}: outcome {s.outcome!r} is not one of {', '.join(sorted(OUTCOMES))}")
        if s.disconnection_reason is not None and s.disconnection_reason not in DISCONNECTION_REASONS:
            raise ConfigError(f"{where}: {s.disconnection_reason!r} is not a Retell disconnection_reason")
        if s.method.upper() not in _METHODS:
            raise ConfigError(f"{where}: method {s.method!r} is not one of {', '.join(sorted(_METHODS))}")
        if s.kind == "call_inbound" and spec.direction == "outbound":
            raise ConfigError(f"{where}: Retell sends call_inbound only for inbound calls")
    if spec.caller.locale not in dialogue.AGENT_NAMES:
        allowed = ", ".join(dialogue.AGENT_NAMES)
        raise ConfigError(f"caller locale {spec.caller.locale!r} has no dialogue; use one of {allowed}")
    for key, value in spec.dynamic_variables.items():
        if not isinstance(value, str):
            raise ConfigError(f"dynamic variable {key!r}: Retell dynamic variables are strings, got {value!r}")


# ---------------------------------------------------------------- timeline


@dataclass
class _Entry:
    """A ``transcript_with_tool_calls`` entry and the time (s) it is complete."""

    t: float
    item: dict[str, Any]

    @property
    def is_utterance(self) -> bool:
        return self.item["role"] in ("agent", "user")


@dataclass
class _Story:
    """The whole call as it happened, from which each stage is cut."""

    entries: list[_Entry] = field(default_factory=list)
    invocation_index: dict[int, int] = field(default_factory=dict)
    tool_call_ids: dict[int, str] = field(default_factory=dict)
    sent_args: dict[int, dict[str, Any]] = field(default_factory=dict)
    final: str = "none"
    talk: dialogue.Talk | None = None
    hangup_at: float | None = None


def _timed(left: Sequence[dialogue.Line], right: Sequence[dialogue.Line], t0: float, t1: float) -> list[_Entry]:
    return [_Entry(t, item) for t, item in dialogue.place(left, right, t0, t1)]


def _tool_result(outcome: str, call_args: Mapping[str, Any], when: datetime, talk: dialogue.Talk,
                 booking_uid: str) -> tuple[bool, str]:
    """(successful, content) of the tool answer in the story, as the gateway contract words it."""
    message = " ".join(line.text for line in dialogue.report(talk, outcome))
    slots = sorted([when, _other_slot(when)])
    bodies: dict[str, dict[str, Any]] = {
        "slots": {"available": True, "slots": [s.isoformat() for s in slots], "message": message},
        "no_slots": {"available": False, "slots": [], "message": message},
        "booked": {"booked": True, "booking_uid": booking_uid, "start": when.isoformat(), "message": message},
        "slot_taken": {"booked": False, "error": "slot_taken", "alternatives": [_alternative(when).isoformat()],
                       "message": message},
        "cancelled": {"cancelled": True, "booking_uid": str(call_args.get("booking_uid") or booking_uid)},
    }
    if outcome == "error":
        return False, _AXIOS_ERROR
    return True, dumps(bodies.get(outcome, {"success": True}))


def _call_end_s(steps: Sequence[StepSpec]) -> float:
    """When the call hangs up: shortly before Retell reports it."""
    ended = [s.at_s for s in steps if s.kind == "call_ended"]
    analyzed = [s.at_s for s in steps if s.kind == "call_analyzed"]
    if ended:
        return max(ended[0] - 1.0, 0.0)
    if analyzed:
        return max(analyzed[0] - 6.0, 0.0)
    return max((s.at_s for s in steps), default=0.0) + 3.0


@dataclass(frozen=True)
class _Ids:
    """Every id and opaque value of one call, drawn from the seed in a fixed order."""

    call_id: str
    agent_id: str
    agent_version: int
    org_id: str
    twilio_sid: str
    recording_key: str
    booking_uid: str
    builtin_tool_ids: tuple[str, str]
    rng: random.Random

    @classmethod
    def draw(cls, seed: int, identity: str | None = None) -> _Ids:
        """Ids from the seed; ``identity`` gives the call a call_id of its own while the story stays the seed's."""
        rng = random.Random(seed)
        call_id, agent_id = new_call_id(rng), new_agent_id(rng)
        if identity is not None:
            call_id = new_call_id(random.Random(f"callprobe-identity:{seed}:{identity}"))
        return cls(call_id, agent_id, rng.randint(1, 9), "org_" + _alnum(rng, 16), "CA" + _hex(rng, 32),
                   _hex(rng, 64), _alnum(rng, 22), (new_tool_call_id(rng), new_tool_call_id(rng)), rng)


def _build_story(spec: CallSpec, steps: Sequence[StepSpec], ids: _Ids) -> tuple[_Story, float]:
    """Lay out the conversation around the function steps; returns it and the call's end (s)."""
    story, caller, when = _Story(), spec.caller, appointment_start(spec)
    fns = sorted((i for i, s in enumerate(steps) if s.kind == "function"), key=lambda i: steps[i].at_s)
    taken = set(ids.builtin_tool_ids)
    for i in fns:
        tid = new_tool_call_id(ids.rng)
        while tid in taken:
            tid = new_tool_call_id(ids.rng)
        story.tool_call_ids[i] = tid
        taken.add(tid)
    end_s = _call_end_s(steps)
    left = dialogue.opening(_talk(caller, when), steps[fns[0]].function if fns else None, spec.direction)
    cursor, previous, booked = 0.5, None, False
    for k, i in enumerate(fns):
        step, talk = steps[i], _talk(caller, when)
        name = str(step.function)
        right = [] if story.hangup_at is not None else dialogue.lead_in(talk, name, previous)
        story.entries += _timed(left, right, cursor, step.at_s - 0.2)
        args = dict(step.args) if step.args is not None else _default_args(name, caller, when)
        if step.args_at_root:
            args["call_id"] = ids.call_id
        story.sent_args[i] = args
        story.invocation_index[i] = len(story.entries)
        story.entries.append(_Entry(step.at_s, {"role": "tool_call_invocation", "tool_call_id": story.tool_call_ids[i],
                                                "name": name, "arguments": dumps(args), "type": "custom"}))
        outcome = step.outcome or _DEFAULT_OUTCOME.get(name, "done")
        if outcome == "hangup":
            story.hangup_at = step.at_s if story.hangup_at is None else story.hangup_at
            left, cursor = [], step.at_s + 0.1
            continue
        nxt = steps[fns[k + 1]].at_s if k + 1 < len(fns) else end_s
        result_t = round(step.at_s + min(0.8, max(0.05, (nxt - step.at_s) * 0.2)), 2)
        ok, content = _tool_result(outcome, args, when, talk, ids.booking_uid)
        story.entries.append(_Entry(result_t, {"role": "tool_call_result", "tool_call_id": story.tool_call_ids[i],
                                               "successful": ok, "content": content}))
        left = [] if story.hangup_at is not None else dialogue.report(talk, outcome)
        cursor, previous = result_t + 0.3, outcome
        when = _alternative(when) if outcome == "slot_taken" else when
        booked = (booked or outcome == "booked") and outcome != "cancelled"
        story.final = "booked" if booked else outcome
    story.talk = _talk(caller, when)
    return story, _close(spec, steps, story, (left, cursor, previous), end_s, ids)


def _close(spec: CallSpec, steps: Sequence[StepSpec], story: _Story,
           state: tuple[list[dialogue.Line], float, str | None], end_s: float, ids: _Ids) -> float:
    """Add goodbyes (or the transfer, or nothing after a hang-up); returns the call's end (s)."""
    assert story.talk is not None
    left, cursor, previous = state
    last_t = story.entries[-1].t if story.entries else 0.0
    if story.hangup_at is not None:
        story.final = "hangup"
        return max(min(end_s, story.hangup_at + 1.5), last_t + 0.1)
    end_s = max(end_s, last_t + 0.3)
    transfer = next((s.at_s for s in steps if s.kind == "transfer_started"), None)
    if transfer is not None:
        story.final = "transfer"
        story.entries += _timed(left, dialogue.transfer_request(story.talk), cursor, max(transfer - 0.3, cursor))
        _append_builtin(story, ids, "transfer_call", transfer - 0.1)
        return max(end_s, transfer, story.entries[-1].t + 0.1)
    story.entries += _timed(left, dialogue.closing(story.talk, previous), cursor, max(end_s - 0.4, cursor))
    if _reason(steps, story) == "agent_hangup":
        _append_builtin(story, ids, "end_call", end_s - 0.2)
    return max(end_s, story.entries[-1].t + 0.1)


def _append_builtin(story: _Story, ids: _Ids, kind: str, at: float) -> None:
    """Log a built-in tool call (``end_call``, ``transfer_call``) after everything said so far."""
    at = max(at, story.entries[-1].t if story.entries else 0.0, 0.0)
    tid = ids.builtin_tool_ids[0 if kind == "end_call" else 1]
    item = {"role": "tool_call_invocation", "tool_call_id": tid, "name": kind, "arguments": "{}", "type": kind}
    story.entries.append(_Entry(round(at, 2), item))


def _reason(steps: Sequence[StepSpec], story: _Story | None) -> str:
    """disconnection_reason: the scenario's, else what the story implies."""
    for s in steps:
        if s.kind in ("call_ended", "call_analyzed") and s.disconnection_reason:
            return s.disconnection_reason
    if story is not None and story.hangup_at is not None:
        return "user_hangup"
    if any(s.kind == "transfer_started" for s in steps):
        return "call_transfer"
    return "agent_hangup"


# ---------------------------------------------------------------- call objects


def _copy(value: Any) -> Any:
    """A deep copy of JSON data (dicts, lists, scalars): what ``copy.deepcopy`` did here, at a fraction of its cost.

    A load run renders every call's whole story again (and again for each
    ``args_from``), so this copy was most of the generator's work per call.
    """
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _stats(values: Sequence[float]) -> dict[str, Any]:
    """Retell's latency summary (ms): percentiles by linear interpolation."""
    s = sorted(values)

    def pct(p: float) -> float:
        pos = (len(s) - 1) * p
        lo, hi = math.floor(pos), math.ceil(pos)
        return round(s[lo] + (s[hi] - s[lo]) * (pos - lo), 1)

    return {"p50": pct(0.5), "p90": pct(0.9), "p95": pct(0.95), "p99": pct(0.99), "max": s[-1], "min": s[0],
            "num": len(s), "values": list(values)}


def _transcript(entries: Sequence[_Entry], final: bool, own: Callable[[Any], Any]) -> dict[str, Any]:
    """The three transcript fields; mid-call text ends with a newline, the final one does not (§8)."""
    said = [e.item for e in entries if e.is_utterance]
    lines = [f"{'Agent' if u['role'] == 'agent' else 'User'}: {u['content']}" for u in said]
    text = "\n".join(lines) if final else "".join(line + "\n" for line in lines)
    return {"transcript": text, "transcript_object": own(said), "transcript_with_tool_calls": [own(e.item) for e in entries]}


@dataclass
class _Call:
    """One call being rendered: spec, ids, story, and its end."""

    spec: CallSpec
    steps: Sequence[StepSpec]
    ids: _Ids
    story: _Story
    end_s: float
    reason: str
    status: str
    latencies: dict[str, list[float]]
    tokens: list[int]
    isolated: bool = True  # every payload owns its data (see render_call)

    def own(self, value: Any) -> Any:
        """``value`` for one payload: a copy when payloads must not share data, else itself."""
        return _copy(value) if self.isolated else value

    def base(self, status: str) -> dict[str, Any]:
        """Identity, agent, numbers, status and what the call carries (call_started's object)."""
        spec, caller = self.spec, self.spec.caller
        inbound = spec.direction == "inbound"
        call: dict[str, Any] = {
            "call_id": self.ids.call_id, "call_type": "phone_call", "agent_id": self.ids.agent_id,
            "agent_version": self.ids.agent_version, "agent_name": _AGENT_NAMES[caller.locale],
            "retell_llm_dynamic_variables": self.dynamic_variables(), "call_status": status,
            "start_timestamp": spec.start_ms, "direction": spec.direction,
            "from_number": caller.phone if inbound else caller.practice_phone,
            "to_number": caller.practice_phone if inbound else caller.phone,
            "metadata": self.metadata(), "data_storage_setting": "everything", "opt_in_signed_url": False,
            "telephony_identifier": {"twilio_call_sid": self.ids.twilio_sid},
        }
        if not inbound:
            call["custom_sip_headers"] = {"X-RetellAI-CallId": self.ids.call_id, "X-RetellAI-Direction": "Outbound",
                                          "X-RetellAI-OrgId": self.ids.org_id}
        return call

    def dynamic_variables(self) -> dict[str, str]:
        caller = self.spec.caller
        return {"customer_name": caller.name, "practice": caller.practice_name, "synthetic": SYNTHETIC_MARKER,
                **self.spec.dynamic_variables}

    def metadata(self) -> dict[str, Any]:
        return {"probe_run": self.spec.run_id, "synthetic": True, **self.spec.metadata}

    def live(self, entries: Sequence[_Entry], *, with_latency: bool = False) -> dict[str, Any]:
        """The ``ongoing`` call with the transcript so far (function calls, transcript/transfer events)."""
        call = self.base("ongoing") | _transcript(entries, final=False, own=self.own)
        responses = sum(1 for e in entries if e.item["role"] == "agent") - 1
        if with_latency and responses >= 2:  # §8.4 (one response) has none, §8.6 (three) has e2e
            call["latency"] = {"e2e": _stats(self.latencies["e2e"][:responses])}
        return call

    def ended(self) -> dict[str, Any]:
        """call_ended's object: everything but call_analysis (docs/research/retell.md §3.3, §8.9, §8.11)."""
        if self.status == "not_connected":
            return self.not_connected()
        end_ms = self.spec.start_ms + round(self.end_s * 1000)
        call = self.base(self.status) | {"end_timestamp": end_ms, "duration_ms": end_ms - self.spec.start_ms,
                                         "disconnection_reason": self.reason}
        call |= _transcript(self.story.entries, final=True, own=self.own)
        key = f"{_CDN}/{self.ids.recording_key}"
        call |= {"recording_url": f"{key}/recording.wav",
                 "recording_multi_channel_url": f"{key}/recording_multichannel.wav",
                 "public_log_url": f"{key}/public_log.txt"}
        n = max(sum(1 for e in self.story.entries if e.item["role"] == "agent") - 1, 1)
        call["latency"] = {k: _stats(v[:n]) for k, v in self.latencies.items()}
        call["call_cost"] = _call_cost(call["duration_ms"] / 1000)
        tokens = self.tokens[:n]
        call["llm_token_usage"] = {"values": tokens, "average": round(sum(tokens) / n, 1), "num_requests": n}
        if self.reason == "call_transfer":
            call["transfer_destination"] = _transfer_number(self.spec.caller)
        return call

    def not_connected(self) -> dict[str, Any]:
        """A call that never connected: no start, no transcript beyond ``""`` (docs/research/retell.md §8.11)."""
        caller, inbound = self.spec.caller, self.spec.direction == "inbound"
        cost: dict[str, Any] = {"combined_cost": 0} if self.spec.partial_call_cost else {
            "product_costs": [], "total_duration_seconds": 0, "total_duration_unit_price": 0, "combined_cost": 0}
        return {
            "call_id": self.ids.call_id, "call_type": "phone_call", "agent_id": self.ids.agent_id,
            "agent_version": self.ids.agent_version, "agent_name": _AGENT_NAMES[caller.locale],
            "retell_llm_dynamic_variables": self.dynamic_variables(), "call_status": "not_connected",
            "duration_ms": 0, "transcript": "", "disconnection_reason": self.reason, "metadata": self.metadata(),
            "call_cost": cost, "from_number": caller.phone if inbound else caller.practice_phone,
            "to_number": caller.practice_phone if inbound else caller.phone, "direction": self.spec.direction,
        }


def _call_cost(duration_s: float) -> dict[str, Any]:
    """Per-minute product costs in cents, shaped like §8.9."""
    products = [("elevenlabs_tts", 0.1166667), ("gpt-4.1", 0.0083333), ("voice_engine", 0.0)]
    amounts = [round(u * duration_s, 7) for _, u in products]
    costs = [{"product": p, "unit_price": u, "cost": cost} for (p, u), cost in zip(products, amounts, strict=True)]
    return {"product_costs": costs, "total_duration_seconds": math.ceil(duration_s),
            "total_duration_unit_price": 0.125, "combined_cost": round(sum(amounts), 7)}


def _transfer_number(caller: Caller) -> str:
    """The practice's (fictional) front-desk line the agent transfers to."""
    line = caller.practice_phone
    return line[:-2] + f"{(int(line[-2:]) + 1) % 100:02d}"


# ---------------------------------------------------------------- rendering


def _prepare(spec: CallSpec, steps: Sequence[StepSpec]) -> _Call:
    _check(spec, steps)
    ids = _Ids.draw(spec.seed, spec.identity)
    reason = _reason(steps, None)
    if reason in NOT_CONNECTED_REASONS:
        talking = [s.kind for s in steps if s.kind not in ("call_inbound", "call_ended", "call_analyzed")]
        if talking:
            raise ConfigError(f"a call that ends with {reason!r} never connected, so Retell sends no {talking[0]}")
        story, end_s = _Story(final="not_connected", talk=_talk(spec.caller, appointment_start(spec))), 0.0
    else:
        story, end_s = _build_story(spec, steps, ids)
        reason = _reason(steps, story)
    status = "not_connected" if reason in NOT_CONNECTED_REASONS else "error" if reason.startswith("error_") else "ended"
    latencies = {k: [float(ids.rng.randint(lo, hi)) for _ in range(64)]
                 for k, (lo, hi) in {"e2e": (650, 1450), "llm": (350, 700), "tts": (180, 290)}.items()}
    tokens = [1400 + 250 * i + ids.rng.randint(0, 80) for i in range(64)]
    return _Call(spec, steps, ids, story, end_s, reason, status, latencies, tokens)


def _prefix(entries: Sequence[_Entry], at_s: float) -> list[_Entry]:
    """Entries complete by ``at_s`` (the transcript a mid-call event carries)."""
    out: list[_Entry] = []
    for e in entries:
        if e.t > at_s:
            break
        out.append(e)
    return out


def _function_payload(call: _Call, i: int, step: StepSpec) -> dict[str, Any]:
    args = call.story.sent_args[i]
    if step.method.upper() in _BODYLESS:
        return {}
    if step.args_at_root:
        return dict(call.own(args))
    entries = call.story.entries[: call.story.invocation_index[i] + 1]
    return {"name": step.function, "args": call.own(args), "call": call.live(entries, with_latency=True)}


def _event_payload(call: _Call, step: StepSpec, ts: int, ended: dict[str, Any]) -> dict[str, Any]:
    kind = step.kind
    if kind == "call_inbound":
        inner: dict[str, Any] = {"agent_id": call.ids.agent_id, "agent_version": call.ids.agent_version,
                                 "from_number": call.spec.caller.phone, "to_number": call.spec.caller.practice_phone}
        if call.spec.include_inbound_call_id:
            inner["call_id"] = call.ids.call_id
        return {"event": kind, "event_timestamp": ts, "call_inbound": inner}
    if kind == "call_started":
        body = call.base("ongoing")
    elif kind == "call_ended":
        body = call.own(ended)
    elif kind == "call_analyzed":
        assert call.story.talk is not None
        analysis = dialogue.call_analysis(call.story.talk, call.story.final,
                                          in_voicemail=call.reason == "voicemail_reached")
        body = call.own(ended) | {"call_analysis": analysis}
    else:
        body = call.live(_prefix(call.story.entries, step.at_s))
    payload: dict[str, Any] = {"event": kind, "call": body, "event_timestamp": ts}
    if kind in _TRANSFER_WITH_DESTINATION:
        payload["transfer_destination"] = {"number": _transfer_number(call.spec.caller)}
        payload["transfer_option"] = {"type": "cold_transfer", "showTransfereeAsCaller": False}
    return payload


def render_call(spec: CallSpec, steps: Sequence[StepSpec], *, isolated: bool = True) -> list[RenderedStep]:
    """Every step's payload, in the order given (one :class:`RenderedStep` per step).

    Each payload owns its data, so a caller may change one without touching
    another. ``isolated=False`` lets payloads share what they have in common
    (transcript items, arguments, the ended call): for a caller that serializes
    each payload at once and changes none, as the planner does; copying was a
    tenth of a catalogue run's CPU.
    """
    if not steps:
        return []  # a call of plain HTTP steps only (a liveness probe): no story to tell
    call = _prepare(spec, steps)
    call.isolated = isolated
    ended = call.ended() if any(s.kind in ("call_ended", "call_analyzed") for s in steps) else {}
    out: list[RenderedStep] = []
    for i, step in enumerate(steps):
        ts = spec.start_ms + round(step.at_s * 1000)
        if step.kind == "function":
            payload, tool_call_id = _function_payload(call, i, step), call.story.tool_call_ids[i]
        else:
            payload, tool_call_id = _event_payload(call, step, ts, ended), None
        out.append(RenderedStep(step=step, payload=payload, call_id=call.ids.call_id,
                                tool_call_id=tool_call_id, event_timestamp_ms=ts))
    return out
