"""The scrubber against what a relative may really type (#11 item 9).

libphonenumber (``phonenumbers``) is the oracle for phone numbers: a Swedish number it
formats, in every format, with separators of every kind and zero-width characters inside,
embedded in Swedish text, is gone after scrubbing, as far as its own matcher can tell.
Personal identity numbers are generated valid (Luhn) and written every common way. The
guide's own sentences pass through as they are.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.i18n import I18n
from bot.services.scrub import MARKERS, scrub
from bot.text_input import normalise_text

REPO = Path(__file__).resolve().parent.parent

# --- the 39 variants of the issue: all removed ------------------------------------------
# 17 of 39 survived the scrubber the issue was written against; 21 of these 39 (any digit
# triple, "@", the handle or domain left, or not replaced as its kind) survived it.

VARIANTS: list[tuple[str, str]] = [
    # personal identity numbers
    ("pnr 850312-4455 tack", "personal_number"),
    ("pnr 8503124455 tack", "personal_number"),
    ("pnr 19850312-4455 tack", "personal_number"),
    ("pnr 198503124455 tack", "personal_number"),
    ("pnr 250312+4455 tack", "personal_number"),
    ("pnr 850312\u20134455 tack", "personal_number"),  # en dash
    ("pnr 850312\u20144455 tack", "personal_number"),  # em dash
    ("pnr 850312\u22124455 tack", "personal_number"),  # minus sign
    ("pnr 19850312 - 4455 tack", "personal_number"),
    ("pnr 85.03.12-4455 tack", "personal_number"),
    ("pnr 850312 4458 tack", "personal_number"),  # spaces only: the check digit must be right
    ("pnr 8503\u200b12-4455 tack", "personal_number"),  # zero-width space
    (
        "pnr \uff18\uff15\uff10\uff13\uff11\uff12\uff0d\uff14\uff14\uff15\uff15 tack",
        "personal_number",
    ),
    ("samordningsnummer 850372-4455 tack", "personal_number"),
    ("pnr 850312 44 58 tack", "personal_number"),
    # phone numbers
    ("ring 070-123 45 67 tack", "phone"),
    ("ring 0701234567 tack", "phone"),
    ("ring +46 70 123 45 67 tack", "phone"),
    ("ring 0046701234567 tack", "phone"),
    ("ring 070.123.45.67 tack", "phone"),
    ("ring 070\u200b1234567 tack", "phone"),
    ("ring 070 \u2013 123 45 67 tack", "phone"),
    ("ring +46 (0)70-123 45 67 tack", "phone"),
    ("ring 08-123 456 78 tack", "phone"),
    ("ring 070\u00a0123\u00a045\u00a067 tack", "phone"),  # non-breaking spaces
    ("ring 070\u2009123\u200945\u200967 tack", "phone"),  # thin spaces
    ("ring \uff10\uff17\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17 tack", "phone"),
    ("ring 07 01 23 45 67 tack", "phone"),
    ("ring +46.70.123.45.67 tack", "phone"),
    ("ring +44 20 7946 0958 tack", "phone"),
    # addresses, accounts, links
    ("skriv anna\uff20example.se tack", "email"),  # full-width @
    ("kolla https://example.org/x tack", "link"),
    ("kolla example.se tack", "link"),
    ("följ @kalle_88 tack", "username"),
    ("swisha SE45 5000 0000 0583 9825 7466 tack", "iban"),
    ("datorn 192.168.1.10 tack", "ip_address"),
    ("datorn 2001:db8::8a2e:370:7334 tack", "ip_address"),
    ("hon heter instagram: kalle.svensson tack", "username"),
    ("hans snap: kalle88 tack", "username"),
]

_RESIDUE = re.compile(r"\d{3}|@|kalle|example", re.IGNORECASE)


def survives(text: str, kind: str) -> bool:
    """Anything of the identifier left, or not replaced as what it is."""
    result = scrub(text)
    return bool(_RESIDUE.search(result.text)) or kind not in result.replaced


def test_there_are_39_variants() -> None:
    assert len(VARIANTS) == 39


@pytest.mark.parametrize(("text", "kind"), VARIANTS)
def test_variant_is_removed(text: str, kind: str) -> None:
    result = scrub(text)
    assert not survives(text, kind), result
    assert result.text.endswith(" tack")
    assert MARKERS[kind] in result.text


def test_markers_are_swedish_for_a_swedish_relative() -> None:
    sv = I18n(REPO / "locales").configure("sv", "ltr", [])
    assert scrub("SE45 5000 0000 0583 9825 7466", sv.gettext).text == "[IBAN borttaget]"
    assert scrub("på 10.0.0.1", sv.gettext).text == "på [IP-adress borttagen]"
    assert scrub("ring 070-123 45 67", sv.gettext).text == "ring [telefonnummer borttaget]"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("IBAN GB82 WEST 1234 5698 7654 32, tack", "IBAN [IBAN removed], tack"),
        ("SE45 5000 0000 0583 9825 7467", "SE45 5000 [phone number removed]"),  # bad check digits
        ("på ::1 och fe80::1ff:fe23:4567:890a", "på [IP address removed] och [IP address removed]"),
        (
            "tiktok kalle_88 och insta: anna.b",
            "tiktok [username removed] och insta: [username removed]",
        ),
        ("ig: @kalle, snap=kalle", "ig: [username removed], snap=[username removed]"),
        # a clear rule, so some look-alikes stay: no colon and a plain word, a capitalised word
        ("jag såg det på insta igår", "jag såg det på insta igår"),
        (
            "öppna Telegram: Inställningar → Integritet",
            "öppna Telegram: Inställningar → Integritet",
        ),
    ],
)
def test_iban_ip_and_platform_handles(text: str, expected: str) -> None:
    assert scrub(text).text == expected


@pytest.mark.parametrize(
    "text",
    [
        "Vi ses 2026-12-01 kl 14.30, eller 08.30-09.15.",
        "Det kostade 1 500 kr, kanske 1 500 000 kr.",
        "Det hände 3-4 gånger, 2023-2024, år 1985 och 01/05/2024.",
        "tid 14:30:00, rum 0 1, ring 112 eller 1177",
        "version 1.2.3 och 10.5 procent",
        "Han är 15 år, hon 17. De bor 200 m bort.",
        "på snap 3 gånger, x: 5 saker",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert scrub(text).text == text


# --- phone numbers, with libphonenumber as the oracle -----------------------------------

SEPARATORS = [" ", "-", ".", "\u2013", "\u2014", "\u2212", "\u00a0", "\u2009", "\u202f", "/", " - "]
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]
FORMATS = [
    phonenumbers.PhoneNumberFormat.E164,
    phonenumbers.PhoneNumberFormat.INTERNATIONAL,
    phonenumbers.PhoneNumberFormat.NATIONAL,
]

swedish_words = st.lists(
    st.sampled_from(
        [
            "ring",
            "mig",
            "på",
            "hon",
            "han",
            "tack",
            "snälla",
            "numret",
            "är",
            "till",
            "min",
            "son",
            "dotter",
            "hem",
            "eller",
            "efter",
            "klockan",
            "i",
            "kväll",
            "imorgon",
            "och",
            "jobbet",
            "mobilen",
        ]
    ),
    max_size=6,
).map(" ".join)


@st.composite
def swedish_numbers(draw: st.DrawFn) -> phonenumbers.PhoneNumber:
    national = draw(
        st.one_of(
            st.from_regex(r"7[02369]\d{7}", fullmatch=True),  # mobile
            st.from_regex(r"8\d{7}", fullmatch=True),  # Stockholm
            st.from_regex(r"(31|40|18|90)\d{6,7}", fullmatch=True),  # two-digit area codes
            st.from_regex(r"(430|470|500|660)\d{5,6}", fullmatch=True),  # three-digit
        )
    )
    number = phonenumbers.parse("+46" + national)
    if not phonenumbers.is_valid_number(number):
        number = phonenumbers.parse("+46701234567")
    return number


@st.composite
def written_numbers(draw: st.DrawFn) -> tuple[str, str]:
    """(as libphonenumber formats it, as the relative may type it)."""
    number = draw(swedish_numbers())
    plain = phonenumbers.format_number(number, draw(st.sampled_from(FORMATS)))
    typed: list[str] = []
    for char in plain:
        if char in " -":
            char = draw(st.sampled_from(SEPARATORS))
        elif char.isdigit() and draw(st.integers(0, 5)) == 0:
            char = char + draw(st.sampled_from(INVISIBLE))
        typed.append(char)
    if draw(st.booleans()):  # full-width digits, as some keyboards send
        typed = [chr(ord(c) - ord("0") + 0xFF10) if c.isdigit() else c for c in typed]
    return plain, "".join(typed)


def found_numbers(text: str) -> list[str]:
    return [m.raw_string for m in phonenumbers.PhoneNumberMatcher(text, "SE")]


@settings(max_examples=300, deadline=None)
@given(before=swedish_words, written=written_numbers(), after=swedish_words)
def test_libphonenumber_finds_no_number_after_scrubbing(
    before: str, written: tuple[str, str], after: str
) -> None:
    plain, typed = written
    assert found_numbers(f"{before} {plain} {after}")  # the oracle sees the plain number
    result = scrub(f"{before} {typed} {after}")
    assert found_numbers(result.text) == [], (typed, result.text)
    assert not any(c.isdigit() for c in result.text), (typed, result.text)
    assert "phone" in result.replaced


# --- personal identity numbers, valid and written every common way -----------------------


def _check_digit(nine: str) -> int:
    total = 0
    for index, char in enumerate(nine):
        value = int(char) * (2 if index % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return (10 - total % 10) % 10


@st.composite
def written_personal_numbers(draw: st.DrawFn) -> str:
    born = draw(st.dates(min_value=date(1920, 1, 1), max_value=date(2025, 12, 31)))
    day = born.day + (60 if draw(st.booleans()) else 0)  # samordningsnummer
    yy, mm, dd = f"{born.year % 100:02d}", f"{born.month:02d}", f"{day:02d}"
    serial = f"{draw(st.integers(0, 999)):03d}"
    last4 = serial + str(_check_digit(yy + mm + dd + serial))
    century = str(born.year // 100) if draw(st.booleans()) else ""
    dash = draw(
        st.sampled_from(["-", "+", "\u2010", "\u2011", "\u2013", "\u2014", "\u2212", "", " "])
    )
    around = draw(st.sampled_from(["", " "])) if dash.strip() else ""
    date_sep = draw(st.sampled_from(["", "", ".", " ", "-"]))
    head = date_sep.join([century + yy, mm, dd]) if date_sep != "-" else century + yy + mm + dd
    if date_sep == " " and not dash.strip():
        dash = "-"  # "85 03 12-4458": a date split by spaces needs its dash
    written = f"{head}{around}{dash}{around}{last4}"
    if draw(st.booleans()):
        at = draw(st.integers(1, len(written) - 1))
        written = written[:at] + draw(st.sampled_from(INVISIBLE)) + written[at:]
    return written


@settings(max_examples=300, deadline=None)
@given(before=swedish_words, written=written_personal_numbers(), after=swedish_words)
def test_a_personal_identity_number_is_gone_however_written(
    before: str, written: str, after: str
) -> None:
    result = scrub(f"{before} {written} {after}")
    assert not any(c.isdigit() for c in result.text), (written, result.text)
    assert result.replaced


# --- the guide's own sentences pass through ---------------------------------------------


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for value in node.values() for s in _strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in _strings(value)]
    return []


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_guide_content_passes_unchanged(lang: str) -> None:
    texts = _strings(yaml.safe_load((REPO / "content" / "texts" / f"{lang}.yaml").read_text()))
    assert len(texts) > 100
    changed = [text for text in texts if scrub(text).text != normalise_text(text)]
    assert changed == [], changed
