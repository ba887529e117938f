"""The synthetic caller: deterministic, fictional everywhere, locale-correct."""

from __future__ import annotations

import random
import re

import pytest

from probes._caller import (
    ALLOWED_LOCALES,
    SYNTHETIC_EMAIL_DOMAIN,
    SYNTHETIC_MARKER,
    is_fictional_number,
    is_synthetic_email,
    make_caller,
)
from probes._errors import ConfigError

SEEDS = range(200)
_EMAIL = re.compile(r"[a-z0-9]+\.[a-z0-9]+@(?P<domain>[a-z.]+)")


@pytest.mark.parametrize("locale", ALLOWED_LOCALES)
def test_same_seed_same_caller(locale: str) -> None:
    assert make_caller(42, locale) == make_caller(42, locale)
    # interleaving other seeds and locales must not leak state into the next caller
    first = make_caller(7, locale)
    make_caller(8, "de_DE")
    make_caller(9, "en_US")
    assert make_caller(7, locale) == first


@pytest.mark.parametrize("locale", ALLOWED_LOCALES)
def test_different_seeds_differ(locale: str) -> None:
    callers = {make_caller(seed, locale) for seed in range(20)}
    assert len(callers) == 20
    assert len({c.phone for c in callers}) > 10


def test_global_random_untouched() -> None:
    state = random.getstate()
    make_caller(3, "de_DE")
    make_caller(3, "en_US")
    assert random.getstate() == state


def test_unknown_locale_is_a_config_error_naming_the_choices() -> None:
    with pytest.raises(ConfigError) as err:
        make_caller(1, "fr_FR")
    assert "'fr_FR'" in str(err.value)
    assert "de_DE" in str(err.value) and "en_US" in str(err.value)


@pytest.mark.parametrize("locale", ALLOWED_LOCALES)
def test_all_numbers_fictional_and_emails_on_the_synthetic_domain(locale: str) -> None:
    for seed in SEEDS:
        c = make_caller(seed, locale)
        assert is_fictional_number(c.phone), (seed, c.phone)
        assert is_fictional_number(c.practice_phone), (seed, c.practice_phone)
        assert c.phone != c.practice_phone, seed
        m = _EMAIL.fullmatch(c.email)
        assert m is not None, (seed, c.email)
        assert m.group("domain") == SYNTHETIC_EMAIL_DOMAIN and is_synthetic_email(c.email), (seed, c.email)


@pytest.mark.parametrize(("address", "synthetic"), [
    ("jane.doe@callprobe.invalid", True),
    ("Jane.Doe@CallProbe.INVALID", True),
    ("jane@callprobe.invalid.", True),
    ("jane.doe@example.org", False),
    ("jane@notcallprobe.invalid", False),
    ("jane@callprobe.invalid.example.com", False),
    ("callprobe.invalid", False),
    ("", False),
    ("4915112345678@sms.cal.com", False),
])
def test_synthetic_email_is_the_whole_domain(address: str, synthetic: bool) -> None:
    assert is_synthetic_email(address) is synthetic


def test_locale_specific_fields() -> None:
    us, de = make_caller(5, "en_US"), make_caller(5, "de_DE")
    assert us.phone.startswith("+1") and us.language == "en"
    assert us.time_zone.startswith("America/")
    assert us.practice_name.endswith(" Dental")
    assert de.phone.startswith("+49") and de.language == "de" and de.time_zone == "Europe/Berlin"
    assert de.practice_name.startswith("Zahnarztpraxis Dr. ")
    for c in (us, de):
        assert c.name == f"{c.first_name} {c.last_name}"
        assert re.fullmatch(r"cmp_[0-9a-f]{8}", c.company_id)
        assert c.locale in ALLOWED_LOCALES


def test_german_names_keep_umlauts_but_emails_are_ascii() -> None:
    non_ascii = [make_caller(s, "de_DE") for s in range(100)]
    non_ascii = [c for c in non_ascii if not c.name.isascii()]
    assert non_ascii, "expected some de_DE callers with umlauts or ß in 100 seeds"
    for c in non_ascii:
        assert c.email.isascii()


@pytest.mark.parametrize(
    "number",
    [
        "+14155550100",
        "+12125550199",
        "+493023125000",
        "+496990009999",
        "+494066969123",
        "+492214710555",
        "+498999998001",
    ],
)
def test_fictional_ranges(number: str) -> None:
    assert is_fictional_number(number)


@pytest.mark.parametrize(
    "number",
    [
        "+14155550200",  # 555-0200 is a real assignable line
        "+14155551212",  # directory assistance
        "+11155550100",  # area codes never start with 1
        "+493023126000",
        "+4930231250000",  # one digit too many
        "+49302312500",
        "+4915228817386",  # mobile drama numbers are not used by callprobe
        "14155550100",
        "",
    ],
)
def test_real_or_malformed_numbers_rejected(number: str) -> None:
    assert not is_fictional_number(number)


def test_marker() -> None:
    assert SYNTHETIC_MARKER == "callprobe"
