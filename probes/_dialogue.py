"""What the agent and the caller say, and what Retell's analysis makes of it.

A gateway may store transcripts, summarise them or key alerts on them, so a
synthetic call should read like a real one in the caller's language: the
practice answers, the caller asks for the service on a day, the agent checks
the calendar, offers slots (or says there are none, or that the slot was just
taken, or that the calendar is down), books, and says goodbye. This module
holds the text tables, the pacing of words in time (:func:`place`) and the
call analysis; wire shapes live in :mod:`probes._retell`.

Lines are ``(speaker, template)`` pairs, ``"A"`` for the agent and ``"U"``
for the caller; templates use the fields of :class:`Talk`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

__all__ = [
    "AGENT_NAMES",
    "Line",
    "Talk",
    "call_analysis",
    "cancel_reason",
    "closing",
    "lead_in",
    "natural_length",
    "opening",
    "place",
    "report",
    "spoken_day",
    "spoken_time",
    "transfer_request",
]

Speaker = Literal["A", "U"]
Template = tuple[Speaker, str]
AGENT_NAMES = {"en_US": "Ava", "de_DE": "Lena"}
# Pace of speech (s): word, gap between words, gap between turns (as in docs/research/retell.md §8).
_WORD_S, _WORD_GAP_S, _TURN_GAP_S = 0.28, 0.04, 0.9


@dataclass(frozen=True)
class Line:
    """One utterance: ``role`` as Retell writes it (``agent``/``user``)."""

    role: Literal["agent", "user"]
    text: str


@dataclass(frozen=True)
class Talk:
    """Everything a line may mention, already formatted for the locale."""

    locale: str
    agent: str
    practice: str
    first_name: str
    service: str
    day: str
    time: str
    other_time: str
    alt_time: str


_EN: dict[str, tuple[Template, ...]] = {
    "greet_inbound": (("A", "Thanks for calling {practice}, this is {agent}. How can I help you today?"),),
    "greet_outbound": (("A", "Hello {first_name}, this is {agent} from {practice}, returning your call. How can I help?"),),
    "ask_check_availability": (("U", "Hi, I'd like to book a {service} on {day}."),),
    "ask_book_appointment": (("U", "Hi, I'd like to book a {service} on {day} at {time}."),),
    "ask_cancel_appointment": (("U", "Hi, I need to cancel my appointment on {day}."),),
    "ask_custom": (("U", "Hi, I have a question about my appointment."),),
    "ask_none": (("U", "Hi, do you offer a {service}?"),),
    "lead_check_availability": (("A", "Sure, let me check what we have open on {day}."),),
    "lead_book_appointment": (("A", "Sure, let me book {day} at {time} for you."),),
    "lead_book_appointment_slots": (("U", "{time} please."), ("A", "Great, booking {time} for you now.")),
    "lead_book_appointment_slot_taken": (("U", "Yes, {time} works."), ("A", "Okay, booking {time} for you now.")),
    "lead_cancel_appointment": (("A", "One moment, I'll cancel that for you."),),
    "lead_custom": (("A", "One moment, please."),),
    "report_slots": (("A", "I have {time} or {other_time} on {day}. Which works better?"),),
    "report_no_slots": (("A", "I'm sorry, we have nothing free on {day}."),),
    "report_booked": (("A", "You're all set for {day} at {time}. Anything else?"),),
    "report_slot_taken": (("A", "I'm sorry, {time} was just taken. I could offer {alt_time} instead. Would that work?"),),
    "report_error": (("A", "I'm sorry, I can't reach our calendar right now."),),
    "report_cancelled": (("A", "Your appointment is cancelled."),),
    "report_done": (("A", "Alright, that's done."),),
    "close_booked": (("U", "No, that's it. Thanks, bye."), ("A", "Have a great day, goodbye!")),
    "close_slots": (("U", "Let me check my calendar first and call back. Bye."), ("A", "Of course. Goodbye!")),
    "close_no_slots": (("U", "Okay, I'll try again next week. Bye."), ("A", "Sorry about that. Goodbye!")),
    "close_slot_taken": (("U", "Never mind, I'll call back later. Bye."), ("A", "Okay, goodbye!")),
    "close_error": (("U", "Okay, I'll call back later."), ("A", "Sorry again. Goodbye!")),
    "close_cancelled": (("U", "No, that's all. Bye."), ("A", "Goodbye!")),
    "close_none": (
        ("A", "Yes, we do. Is there anything else I can help with?"),
        ("U", "No, thanks. Bye."),
        ("A", "Goodbye!"),
    ),
    "close": (("U", "No, that's all, thanks. Bye."), ("A", "Goodbye!")),
    "transfer": (("U", "Could I speak to someone at the front desk?"), ("A", "Of course, I'll transfer you now.")),
    "cancel_reason": (("U", "Caller cancelled by phone."),),
}

_DE: dict[str, tuple[Template, ...]] = {
    "greet_inbound": (("A", "{practice}, guten Tag, hier ist {agent}. Wie kann ich Ihnen helfen?"),),
    "greet_outbound": (("A", "Guten Tag, hier ist {agent} von der {practice}. Sie hatten um Rückruf gebeten. Wie kann ich helfen?"),),
    "ask_check_availability": (("U", "Guten Tag, ich hätte gern einen Termin für eine {service} am {day}."),),
    "ask_book_appointment": (("U", "Guten Tag, ich möchte eine {service} am {day} um {time} buchen."),),
    "ask_cancel_appointment": (("U", "Guten Tag, ich muss leider meinen Termin am {day} absagen."),),
    "ask_custom": (("U", "Guten Tag, ich habe eine Frage zu meinem Termin."),),
    "ask_none": (("U", "Guten Tag, bieten Sie auch eine {service} an?"),),
    "lead_check_availability": (("A", "Gern, ich schaue nach, was am {day} frei ist."),),
    "lead_book_appointment": (("A", "Gern, ich buche {day} um {time} für Sie."),),
    "lead_book_appointment_slots": (("U", "{time} passt mir gut."), ("A", "Sehr gut, ich buche {time} für Sie.")),
    "lead_book_appointment_slot_taken": (("U", "Ja, {time} passt auch."), ("A", "Gut, ich buche {time} für Sie.")),
    "lead_cancel_appointment": (("A", "Einen Moment, ich storniere den Termin."),),
    "lead_custom": (("A", "Einen Moment bitte."),),
    "report_slots": (("A", "Am {day} hätte ich {time} oder {other_time} frei. Was passt Ihnen besser?"),),
    "report_no_slots": (("A", "Das tut mir leid, am {day} ist leider nichts mehr frei."),),
    "report_booked": (("A", "Ihr Termin am {day} um {time} ist gebucht. Kann ich sonst noch etwas für Sie tun?"),),
    "report_slot_taken": (("A", "Entschuldigung, {time} wurde gerade vergeben. Ich könnte Ihnen {alt_time} anbieten. Passt das?"),),
    "report_error": (("A", "Entschuldigung, ich erreiche unseren Kalender gerade nicht."),),
    "report_cancelled": (("A", "Ihr Termin ist storniert."),),
    "report_done": (("A", "So, das ist erledigt."),),
    "close_booked": (("U", "Nein, das war alles. Vielen Dank, tschüss."), ("A", "Schönen Tag noch, auf Wiederhören!")),
    "close_slots": (("U", "Ich schaue erst in meinen Kalender und rufe wieder an. Tschüss."), ("A", "Gern. Auf Wiederhören!")),
    "close_no_slots": (("U", "Schade, dann versuche ich es nächste Woche. Tschüss."), ("A", "Tut mir leid. Auf Wiederhören!")),
    "close_slot_taken": (("U", "Dann rufe ich später noch mal an. Tschüss."), ("A", "In Ordnung. Auf Wiederhören!")),
    "close_error": (("U", "Okay, dann rufe ich später noch mal an."), ("A", "Entschuldigen Sie bitte. Auf Wiederhören!")),
    "close_cancelled": (("U", "Nein, das war alles. Tschüss."), ("A", "Auf Wiederhören!")),
    "close_none": (
        ("A", "Ja, das bieten wir an. Kann ich sonst noch etwas für Sie tun?"),
        ("U", "Nein, danke. Tschüss."),
        ("A", "Auf Wiederhören!"),
    ),
    "close": (("U", "Nein, das war alles, danke. Tschüss."), ("A", "Auf Wiederhören!")),
    "transfer": (("U", "Kann ich bitte mit jemandem am Empfang sprechen?"), ("A", "Natürlich, ich verbinde Sie jetzt.")),
    "cancel_reason": (("U", "Vom Anrufer telefonisch abgesagt."),),
}

_TABLES = {"en_US": _EN, "de_DE": _DE}

_EN_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_EN_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December")
_DE_DAYS = ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag")
_DE_MONTHS = ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August",
              "September", "Oktober", "November", "Dezember")


def spoken_day(when: datetime, locale: str) -> str:
    """``Tuesday, January 6`` / ``Dienstag, 6. Januar`` (no locale module: deterministic)."""
    if locale == "de_DE":
        return f"{_DE_DAYS[when.weekday()]}, {when.day}. {_DE_MONTHS[when.month - 1]}"
    return f"{_EN_DAYS[when.weekday()]}, {_EN_MONTHS[when.month - 1]} {when.day}"


def spoken_time(when: datetime, locale: str) -> str:
    """``9:30 AM`` / ``9:30 Uhr``."""
    if locale == "de_DE":
        return f"{when.hour}:{when.minute:02d} Uhr"
    hour = when.hour % 12 or 12
    return f"{hour}:{when.minute:02d} {'AM' if when.hour < 12 else 'PM'}"


def _lines(talk: Talk, key: str, fallback: str | None = None) -> list[Line]:
    table = _TABLES[talk.locale]
    templates = table.get(key) or (table[fallback] if fallback else ())
    fields = asdict(talk)
    return [Line("agent" if who == "A" else "user", text.format(**fields)) for who, text in templates]


def _fn_key(function: str | None) -> str:
    known = ("check_availability", "book_appointment", "cancel_appointment")
    if function is None:
        return "none"
    return function if function in known else "custom"


def opening(talk: Talk, first_function: str | None, direction: str) -> list[Line]:
    """Greeting by the practice (or the agent calling back) and the caller's request."""
    return _lines(talk, f"greet_{direction}") + _lines(talk, f"ask_{_fn_key(first_function)}")


def lead_in(talk: Talk, function: str, previous_outcome: str | None) -> list[Line]:
    """What is said right before the agent calls ``function``."""
    key = f"lead_{_fn_key(function)}"
    return _lines(talk, f"{key}_{previous_outcome}", key)


def report(talk: Talk, outcome: str) -> list[Line]:
    """The agent telling the caller what the tool answered (empty for a hang-up)."""
    return _lines(talk, f"report_{outcome}")


def closing(talk: Talk, last_outcome: str | None) -> list[Line]:
    """Goodbyes that fit how the call went."""
    return _lines(talk, f"close_{last_outcome or 'none'}", "close")


def transfer_request(talk: Talk) -> list[Line]:
    """The caller asking for a human, and the agent announcing the transfer."""
    return _lines(talk, "transfer")


def cancel_reason(locale: str) -> str:
    """Default ``reason`` argument of ``cancel_appointment``."""
    return _TABLES[locale]["cancel_reason"][0][1]


def natural_length(lines: Sequence[Line]) -> float:
    """Seconds ``lines`` take at a normal pace."""
    if not lines:
        return 0.0
    words = sum(len(line.text.split()) for line in lines)
    return words * (_WORD_S + _WORD_GAP_S) - _WORD_GAP_S * len(lines) + _TURN_GAP_S * (len(lines) - 1)


def _speak(lines: Sequence[Line], start: float, scale: float) -> tuple[list[tuple[float, dict[str, Any]]], float]:
    """Utterance entries with word timings from ``start``; returns them and the end time."""
    out: list[tuple[float, dict[str, Any]]] = []
    cursor = start
    for n, line in enumerate(lines):
        if n:
            cursor += (_TURN_GAP_S - _WORD_GAP_S) * scale
        words = []
        for w in line.text.split():
            end = cursor + _WORD_S * scale
            words.append({"word": w, "start": round(cursor, 2), "end": round(end, 2)})
            cursor = end + _WORD_GAP_S * scale
        cursor -= _WORD_GAP_S * scale
        out.append((round(cursor, 2), {"role": line.role, "content": line.text, "words": words}))
    return out, cursor


def place(left: Sequence[Line], right: Sequence[Line], t0: float, t1: float) -> list[tuple[float, dict[str, Any]]]:
    """Put ``left`` right after ``t0`` and ``right`` right before ``t1``.

    What the agent says about a tool result follows the result; what it says
    before a tool call leads into it. When the window is too short for a normal
    pace, both are compressed so every utterance still ends before ``t1``.
    """
    la, lb = natural_length(left), natural_length(right)
    gap = _TURN_GAP_S if left and right else 0.0
    t1 = max(t1, 0.0)
    t0 = min(t0, t1)  # no room at all: say it in no time rather than after t1
    window = t1 - t0
    if la + lb + gap <= window:
        first, _ = _speak(left, t0, 1.0)
        second, _ = _speak(right, t1 - lb, 1.0)
        return first + second
    scale = window / (la + lb + gap) if la + lb + gap else 0.0
    first, end = _speak(left, t0, scale)
    second, _ = _speak(right, end + gap * scale, scale)
    return first + second


_SUMMARIES: dict[str, dict[str, str]] = {
    "en_US": {
        "booked": "The caller booked a {service} for {day} at {time}. The agent checked availability, "
                  "confirmed the slot and ended the call politely.",
        "slots": "The caller asked for a {service} on {day}. The agent offered {time} and {other_time}; "
                 "the caller did not book yet.",
        "no_slots": "The caller asked for a {service} on {day}, but no slots were available. No appointment was booked.",
        "slot_taken": "The caller's chosen time on {day} was taken just before booking. No appointment was booked.",
        "error": "The agent could not reach the calendar to help the caller with a {service}. No appointment was booked.",
        "cancelled": "The caller cancelled their appointment on {day}.",
        "hangup": "The caller hung up while the agent was working on their request. No appointment was booked.",
        "transfer": "The caller asked to speak to the front desk and was transferred.",
        "done": "The agent handled the caller's request.",
        "none": "The caller asked whether the practice offers a {service}. The agent confirmed.",
        "not_connected": "The call did not connect.",
    },
    "de_DE": {
        "booked": "Der Anrufer hat eine {service} am {day} um {time} gebucht. Die Agentin prüfte die "
                  "Verfügbarkeit, bestätigte den Termin und beendete das Gespräch freundlich.",
        "slots": "Der Anrufer fragte nach einer {service} am {day}. Die Agentin bot {time} und {other_time} an; "
                 "gebucht wurde noch nicht.",
        "no_slots": "Der Anrufer fragte nach einer {service} am {day}, es war aber nichts frei. Kein Termin gebucht.",
        "slot_taken": "Der gewünschte Termin am {day} wurde kurz vor der Buchung vergeben. Kein Termin gebucht.",
        "error": "Die Agentin erreichte den Kalender nicht und konnte keine {service} buchen.",
        "cancelled": "Der Anrufer hat seinen Termin am {day} abgesagt.",
        "hangup": "Der Anrufer legte auf, während die Agentin sein Anliegen bearbeitete. Kein Termin gebucht.",
        "transfer": "Der Anrufer wollte mit dem Empfang sprechen und wurde weiterverbunden.",
        "done": "Die Agentin hat das Anliegen des Anrufers erledigt.",
        "none": "Der Anrufer fragte, ob die Praxis eine {service} anbietet. Die Agentin bestätigte das.",
        "not_connected": "Der Anruf kam nicht zustande.",
    },
}
_SENTIMENT = {
    "booked": "Positive", "done": "Positive", "none": "Positive", "cancelled": "Neutral", "slots": "Neutral",
    "no_slots": "Neutral", "transfer": "Neutral", "slot_taken": "Negative", "error": "Negative",
    "hangup": "Negative", "not_connected": "Unknown",
}
_SUCCESSFUL = {"booked", "cancelled", "done", "none", "transfer"}


def call_analysis(talk: Talk, story: str, *, in_voicemail: bool = False) -> dict[str, Any]:
    """Retell's post-call analysis for a call whose story ended in ``story``.

    ``story`` is one of the keys of the summary table (``booked``,
    ``no_slots``, ``hangup``, ``not_connected`` …). As in real traffic the
    custom analysis fields are absent when no conversation happened.
    """
    out: dict[str, Any] = {
        "call_summary": _SUMMARIES[talk.locale][story].format(**asdict(talk)),
        "in_voicemail": in_voicemail,
        "user_sentiment": _SENTIMENT[story],
        "call_successful": story in _SUCCESSFUL,
    }
    if story != "not_connected":
        out["custom_analysis_data"] = {"appointment_booked": story == "booked", "service": talk.service}
    return out

