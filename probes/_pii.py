"""What counts as caller PII in telemetry, and how to find it without printing it.

Phone numbers are matched on their digits, so every common spelling is caught:
E.164 (``+14155550142``), digits only (``14155550142``), national forms with
spaces, dashes, dots, slashes or brackets (``(415) 555-0142``, ``030 23125123``),
and international prefixes (``0049 30 …``). A digit run in the text matches
when it contains the number's national significant number (split from the
country code by libphonenumber's metadata, via ``phonenumbers``). Transcript text is matched on
whole utterances of at least :data:`MIN_UTTERANCE` characters, which is long
enough that a match is not a coincidence.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import phonenumbers

if TYPE_CHECKING:
    from ._evidence import Evidence

__all__ = [
    "MIN_UTTERANCE",
    "CallerPii",
    "caller_pii",
    "excerpt",
    "find_phone",
    "find_utterance",
    "mask_digits",
    "redact_phones",
    "walk_strings",
]

MIN_UTTERANCE = 20
_RUN = re.compile(r"\+?\d[\d\s().\-/]*\d")


@functools.lru_cache(maxsize=1024)
def national_digits(number: str) -> str:
    """The national significant number, without country code or trunk prefix (``+14155550142`` → ``4155550142``).

    libphonenumber's metadata knows every country code's length; a number it
    cannot parse is searched for whole. Cached: the checks ask for the same few
    numbers on every poll, for every field of every log line.
    """
    try:
        return str(phonenumbers.parse(number if number.startswith("+") else f"+{number}").national_number)
    except phonenumbers.NumberParseException:
        return re.sub(r"\D", "", number)


def excerpt(text: str, limit: int = 120) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def mask_digits(text: str, keep: int = 2) -> str:
    """Every digit but the last ``keep`` replaced by ``*`` (``+14155550142`` → ``+*********42``)."""
    total = sum(c.isdigit() for c in text)
    out, seen = [], 0
    for c in text:
        if c.isdigit():
            seen += 1
            out.append(c if seen > total - keep else "*")
        else:
            out.append(c)
    return "".join(out)


@dataclass(frozen=True)
class CallerPii:
    """The caller data that must never reach logs or alerts."""

    phones: tuple[str, ...]
    utterances: tuple[str, ...]


def find_phone(text: str, phones: tuple[str, ...]) -> tuple[int, int] | None:
    """The span of the first digit run in ``text`` that spells one of ``phones``."""
    nationals = [n for p in phones if len(n := national_digits(p)) >= 7]
    for match in _RUN.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if any(n in digits for n in nationals):
            return match.span()
    return None


def redact_phones(text: str, phones: tuple[str, ...]) -> str:
    """``text`` with every spelling of ``phones`` masked down to its last two digits."""
    out, pos = [], 0
    while (span := find_phone(text[pos:], phones)) is not None:
        start, end = pos + span[0], pos + span[1]
        out += [text[pos:start], mask_digits(text[start:end])]
        pos = end
    return "".join(out) + text[pos:]


def find_utterance(text: str, utterances: tuple[str, ...]) -> str | None:
    flat = " ".join(text.split())
    return next((u for u in utterances if u in flat), None)


def walk_strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(field path, text) for every string or number inside a JSON value."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from walk_strings(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from walk_strings(v, f"{path}[{i}]")
    elif isinstance(value, str):
        yield path, value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield path, str(value)


@functools.lru_cache(maxsize=256)  # a verdict's bodies, for the probes judged at once; bounded for the exporter
def _from_payload(body: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The caller's number and utterances in one request body.

    Cached: every PII check of a verdict asks again about the same bodies,
    and parsing them was a tenth of a catalogue run's CPU.
    """
    try:
        payload = json.loads(body) if body else None
    except ValueError:
        return (), ()
    if not isinstance(payload, dict):
        return (), ()
    phones: list[str] = []
    utterances: list[str] = []
    for key in ("call", "call_inbound"):
        call = payload.get(key)
        if not isinstance(call, dict):
            continue
        number = call.get("to_number" if call.get("direction") == "outbound" else "from_number")
        if isinstance(number, str) and number:
            phones.append(number)
        for item in call.get("transcript_object") or []:
            content = item.get("content") if isinstance(item, dict) else None
            if isinstance(content, str) and len(content.strip()) >= MIN_UTTERANCE:
                utterances.append(" ".join(content.split()))
    return tuple(phones), tuple(utterances)


def caller_pii(evidence: Evidence) -> CallerPii:
    """Phones and utterances of every synthetic caller, from the plan and every request sent."""
    phones = {c.caller.phone for c in evidence.plan.calls if c.caller.phone}
    utterances: set[str] = set()
    bodies = {request.body for call in evidence.plan.calls for request in call.requests}
    bodies.update(x.request_body for x in evidence.exchanges)
    for body in bodies:
        found_phones, found_utterances = _from_payload(body)
        phones.update(found_phones)
        utterances.update(found_utterances)
    return CallerPii(phones=tuple(sorted(phones)), utterances=tuple(sorted(utterances, key=len, reverse=True)))
