"""The synthetic caller: a seeded, clearly fake person who rings a fake practice.

Probes may run against production, so every value a synthetic call carries
must be harmless if it leaks: phone numbers come only from ranges that are
reserved for fiction (they can never ring a real subscriber), e-mail addresses
only from ``callprobe.invalid`` (RFC 2606 reserves ``.invalid``: no mail can
ever be delivered there), and every call carries the synthetic marker so the
gateway (and the people reading its logs) can tell it apart.

The e-mail domain is also the marker that survives into a real Cal.com
booking: a gateway copies the caller's name, e-mail and phone into the
booking's attendee, while call metadata may stay behind. No real caller can
have an address under ``.invalid``, so ``callprobe janitor`` cancels exactly
the bookings whose attendees all have one (:func:`is_synthetic_email`).

The caller is a pure function of ``(seed, locale)``: faker is seeded per
instance (never the global seed, which other libraries share), so the same
seed gives the same caller in every process.
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
from dataclasses import dataclass

from faker import Faker

from ._errors import ConfigError

__all__ = [
    "ALLOWED_LOCALES",
    "SYNTHETIC_EMAIL_DOMAIN",
    "SYNTHETIC_MARKER",
    "Caller",
    "is_fictional_number",
    "is_synthetic_email",
    "make_caller",
]

SYNTHETIC_MARKER = "callprobe"
ALLOWED_LOCALES = ("de_DE", "en_US")
SYNTHETIC_EMAIL_DOMAIN = "callprobe.invalid"  # RFC 2606 §2: ".invalid" never resolves

# NANP: 555-0100 through 555-0199 are reserved for fictional use in every area
# code (NANPA, "555 NXX line numbers"). Each area code carries its time zone so
# the practice's calendar and its phone number agree.
_US_AREAS: tuple[tuple[str, str], ...] = (
    ("212", "America/New_York"),
    ("617", "America/New_York"),
    ("312", "America/Chicago"),
    ("512", "America/Chicago"),
    ("303", "America/Denver"),
    ("415", "America/Los_Angeles"),
    ("206", "America/Los_Angeles"),
)

# Germany: the Bundesnetzagentur keeps 1000 numbers in each of five local
# networks permanently unassigned for films, books and teaching material
# ("Rufnummern für Medienproduktionen / Drama Numbers", Mitteilung Nr. 148/2021,
# Amtsblatt 7/2021 p. 489; summarised at
# https://www.teltarif.de/drama-rufnummern-fiktiv-bundesnetzagentur-filme/news/84487.html):
# Berlin (0)30 23125 000-999, Frankfurt/Main (0)69 90009 000-999,
# Hamburg (0)40 66969 000-999, Köln (0)221 4710 000-999, München (0)89 99998 000-999.
# Stored as the E.164 prefix without the three final digits.
_DE_DRAMA_PREFIXES = ("+493023125", "+496990009", "+494066969", "+492214710", "+498999998")

_FICTIONAL_RE = re.compile(
    r"\+1[2-9]\d\d55501\d\d"
    r"|(?:" + "|".join(re.escape(p) for p in _DE_DRAMA_PREFIXES) + r")\d{3}"
)

_US_PRACTICES = ("Harbor", "Maple", "Riverside", "Lakeview", "Oak Street", "Summit")
_SERVICES = {
    "en_US": ("cleaning", "checkup", "filling consultation", "whitening consultation"),
    "de_DE": ("Zahnreinigung", "Kontrolluntersuchung", "Füllungsberatung", "Bleaching-Beratung"),
}
_TRANSLIT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"})

_FAKERS: dict[str, Faker] = {}
_FAKERS_LOCK = threading.Lock()


@dataclass(frozen=True)
class Caller:
    """Who rings whom in one synthetic call (all values fictional)."""

    locale: str
    first_name: str
    last_name: str
    name: str
    email: str
    phone: str
    practice_name: str
    practice_phone: str
    company_id: str
    service: str
    time_zone: str
    language: str


def is_fictional_number(number: str) -> bool:
    """True when ``number`` (E.164) lies in a range reserved for fiction.

    The check is what keeps a probe from ever dialling or logging a real
    subscriber, so it is deliberately narrow: NANP 555-01xx and the five
    German drama-number blocks, nothing else.
    """
    return _FICTIONAL_RE.fullmatch(number or "") is not None


def is_synthetic_email(address: str) -> bool:
    """True when ``address`` is a synthetic caller's (its domain is :data:`SYNTHETIC_EMAIL_DOMAIN`).

    Compared case-insensitively on the whole domain, so ``x@callprobe.invalid.example``
    or ``x@notcallprobe.invalid`` are not synthetic.
    """
    _, at, domain = (address or "").strip().rpartition("@")
    return bool(at) and domain.lower().rstrip(".") == SYNTHETIC_EMAIL_DOMAIN


@functools.lru_cache(maxsize=1024)
def make_caller(seed: int, locale: str = "en_US") -> Caller:
    """The deterministic synthetic caller for ``(seed, locale)`` (kept: a scheduled probe makes the same caller every run)."""
    if locale not in ALLOWED_LOCALES:
        raise ConfigError(
            f"caller locale {locale!r} is not supported; use one of {', '.join(ALLOWED_LOCALES)}"
        )
    with _FAKERS_LOCK:
        fake = _FAKERS.get(locale)
        if fake is None:
            fake = _FAKERS[locale] = Faker(locale)
        fake.seed_instance(seed)
        return _build(fake, locale)


def _build(fake: Faker, locale: str) -> Caller:
    first, last = fake.first_name(), fake.last_name()
    service = fake.random_element(_SERVICES[locale])
    company_id = "cmp_" + fake.hexify("^" * 8)
    if locale == "en_US":
        area, tz = fake.random_element(_US_AREAS)
        caller_line, practice_line = _two_distinct(fake)
        phone, practice_phone = f"+1{area}55501{caller_line:02d}", f"+1{area}55501{practice_line:02d}"
        practice = f"{fake.random_element(_US_PRACTICES)} Dental"
        tz_name, language = tz, "en"
    else:
        caller_line, practice_line = _two_distinct(fake, 1000)
        phone = f"{fake.random_element(_DE_DRAMA_PREFIXES)}{caller_line:03d}"
        practice_phone = f"{_DE_DRAMA_PREFIXES[0]}{practice_line:03d}"
        practice = f"Zahnarztpraxis Dr. {fake.last_name()}"
        tz_name, language = "Europe/Berlin", "de"
    return Caller(
        locale=locale,
        first_name=first,
        last_name=last,
        name=f"{first} {last}",
        email=f"{_mailbox(first)}.{_mailbox(last)}@{SYNTHETIC_EMAIL_DOMAIN}",
        phone=phone,
        practice_name=practice,
        practice_phone=practice_phone,
        company_id=company_id,
        service=service,
        time_zone=tz_name,
        language=language,
    )


def _two_distinct(fake: Faker, size: int = 100) -> tuple[int, int]:
    """Two different line numbers, so the caller never rings itself."""
    a = fake.random_int(0, size - 1)
    b = (a + fake.random_int(1, size - 1)) % size
    return a, b


def _mailbox(part: str) -> str:
    """ASCII local part from a name (``Jürgen`` → ``juergen``): mail systems
    and Cal.com's validator handle ASCII local parts everywhere."""
    folded = unicodedata.normalize("NFKD", part.translate(_TRANSLIT))
    ascii_only = folded.encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9]+", "", ascii_only) or "caller"
