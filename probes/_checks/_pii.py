"""What counts as caller PII in telemetry, and how to find it without printing it.

Phone numbers are matched on their digits, so every common spelling is caught:
E.164 (``+14155550142``), digits only (``14155550142``), national forms with
spaces, dashes, dots, slashes or brackets (``(415) 555-0142``, ``030 23125123``),
and international prefixes (``0049 30 …``). A digit run in the text matches
when it contains the number's national digits. Transcript text is matched on
whole utterances of at least :data:`MIN_UTTERANCE` characters, which is long
enough that a match is not a coincidence.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .._evidence import Evidence

__all__ = ["MIN_UTTERANCE", "CallerPii", "caller_pii", "find_phone", "find_utterance", "mask_digits", "redact_phones", "walk_strings"]

MIN_UTTERANCE = 20
_RUN = re.compile(r"\+?\d[\d\s().\-/]*\d")
_ONE_DIGIT_CC = {"1", "7"}
_TWO_DIGIT_CC = {
    "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47", "48", "49",
    "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63", "64", "65", "66", "81", "82", "84",
    "86", "90", "91", "92", "93", "94", "95", "98",
}


def national_digits(e164: str) -> str:
    """The digits after the country code (``+14155550142`` → ``4155550142``)."""
    digits = re.sub(r"\D", "", e164)
    if digits[:1] in _ONE_DIGIT_CC:
        return digits[1:]
    if digits[:2] in _TWO_DIGIT_CC:
        return digits[2:]
    return digits[3:]


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


def _from_payload(body: str, phones: set[str], utterances: set[str]) -> None:
    try:
        payload = json.loads(body) if body else None
    except ValueError:
        return
    if not isinstance(payload, dict):
        return
    for key in ("call", "call_inbound"):
        call = payload.get(key)
        if not isinstance(call, dict):
            continue
        number = call.get("to_number" if call.get("direction") == "outbound" else "from_number")
        if isinstance(number, str) and number:
            phones.add(number)
        for item in call.get("transcript_object") or []:
            content = item.get("content") if isinstance(item, dict) else None
            if isinstance(content, str) and len(content.strip()) >= MIN_UTTERANCE:
                utterances.add(" ".join(content.split()))


def caller_pii(evidence: Evidence) -> CallerPii:
    """Phones and utterances of every synthetic caller, from the plan and every request sent."""
    phones = {c.caller.phone for c in evidence.plan.calls if c.caller.phone}
    utterances: set[str] = set()
    for call in evidence.plan.calls:
        for request in call.requests:
            _from_payload(request.body, phones, utterances)
    for x in evidence.exchanges:
        _from_payload(x.request_body, phones, utterances)
    return CallerPii(phones=tuple(sorted(phones)), utterances=tuple(sorted(utterances, key=len, reverse=True)))
