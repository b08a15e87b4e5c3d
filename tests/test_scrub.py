"""Identifier scrubbing: what staff see of a relative's text never carries an identifier."""

from __future__ import annotations

import re
import string
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.services.scrub import MARKERS, scrub
from bot.text_input import normalise_text

# --- examples ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("ring mig på 070-123 45 67 tack", "phone"),
        ("ring mig på 0701234567", "phone"),
        ("nummer +46 70 123 45 67", "phone"),
        ("nummer +46 (0)70-123 45 67", "phone"),
        ("nummer 0046 70 123 45 67", "phone"),
        ("Stockholm 08-123 456 78", "phone"),
        ("Laholm 0430-123 45", "phone"),
        ("London +44 20 7946 0958", "phone"),
        ("US +1 (555) 123-4567", "phone"),
        ("hennes pnr är 080512-1234", "personal_number"),
        ("hans är 20080512-1234", "personal_number"),
        ("hans är 200805121234", "personal_number"),
        ("gammal 190512+1234", "personal_number"),
        ("samordningsnummer 080572-1234", "personal_number"),
        ("pnr 8505121234 här", "personal_number"),
        ("skriv till anna.b+x@example.se", "email"),
        ("skriv till ANNA@Mail.Example.COM.", "email"),
        ("han följer @kalle_88 på nätet", "username"),
        ("kolla https://example.org/a?b=c", "link"),
        ("kolla http://192.168.1.1/x", "link"),
        ("kolla www.example.se", "link"),
        ("gruppen t.me/somegroup", "link"),
        ("gruppen https://t.me/+AbCdEf", "link"),
        ("videon youtube.com/watch?v=abc", "link"),
    ],
)
def test_identifier_is_replaced_with_its_marker(text: str, kind: str) -> None:
    result = scrub(text)
    assert MARKERS[kind] in result.text
    assert kind in result.replaced
    assert not re.search(r"\d{3}", result.text), result.text
    assert "@" not in result.text


@pytest.mark.parametrize(
    "text",
    [
        "He is 16 and has changed since 2019.",
        "Han är 16 år, sedan 2019 har han ändrat sig.",
        "Det började 2023-2024, kanske i mars 2024.",
        "Vi pratade den 2024-05-01 och 01/05/2024.",
        "kl 10.30-11.45 eller 08:30",
        "3 gånger på 2 veckor, 50 % av tiden, rum 101.",
        "Hon är 15 till 17 år gammal.",
        "t.ex. o.s.v. bl.a. etc.",
        "e-post och @ ensamt",
        "Sverige har 290 kommuner och 21 regioner.",
    ],
)
def test_ordinary_text_and_numbers_are_left_alone(text: str) -> None:
    result = scrub(text)
    assert result.text == text
    assert result.replaced == []


def test_punctuation_after_a_link_is_kept() -> None:
    assert scrub("se www.example.se, sen").text == "se [link removed], sen"


def test_every_replacement_is_listed_in_order() -> None:
    result = scrub("@anna 070-123 45 67 a@b.se https://x.se 080512-1234")
    # Links, e-mail and usernames first, then the numbers in the order they are written.
    assert result.replaced == ["link", "email", "username", "phone", "personal_number"]


def test_markers_carry_no_digits_and_survive_a_second_scrub() -> None:
    once = scrub("070-123 45 67 och a@b.se").text
    assert scrub(once).text == once


# --- properties: a generated identifier embedded in text never survives -----------------

words = st.lists(
    st.text(alphabet=string.ascii_letters + "åäöÅÄÖ", min_size=1, max_size=8), max_size=6
).map(" ".join)


def _embed(before: str, identifier: str, after: str) -> str:
    return f"{before} {identifier} {after}".strip()


@st.composite
def personal_numbers(draw: st.DrawFn) -> str:
    born = draw(st.dates(min_value=date(1920, 1, 1), max_value=date(2025, 12, 31)))
    samordning = draw(st.booleans())
    day = born.day + (60 if samordning else 0)
    yymmdd = f"{born.year % 100:02d}{born.month:02d}{day:02d}"
    serial = f"{draw(st.integers(0, 999)):03d}"
    check = _luhn_check_digit(yymmdd + serial)
    century = f"{born.year // 100}"
    separator = "+" if date.today() - born > timedelta(days=365 * 100) else "-"
    style = draw(st.sampled_from(["short-sep", "short", "long-sep", "long", "short-space"]))
    return {
        "short-sep": f"{yymmdd}{separator}{serial}{check}",
        "short": f"{yymmdd}{serial}{check}",
        "long-sep": f"{century}{yymmdd}-{serial}{check}",
        "long": f"{century}{yymmdd}{serial}{check}",
        "short-space": f"{yymmdd} {serial}{check}",
    }[style]


def _luhn_check_digit(nine: str) -> int:
    total = 0
    for index, char in enumerate(nine):
        value = int(char) * (2 if index % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return (10 - total % 10) % 10


def _digits(n: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=string.digits, min_size=n, max_size=n)


@st.composite
def phone_numbers(draw: st.DrawFn) -> str:
    sep = draw(st.sampled_from([" ", "-", ""]))
    mobile = f"7{draw(st.sampled_from('02369'))}"
    sub = draw(_digits(7))
    grouped = f"{sub[:3]}{sep}{sub[3:5]}{sep}{sub[5:]}"
    area, local = draw(
        st.sampled_from([("8", 8), ("430", 5), ("8", 7), ("31", 7), ("40", 6), ("19", 6)])
    )
    landline = draw(_digits(local))
    style = draw(st.sampled_from(["mobile", "mobile-intl", "mobile-00", "landline", "foreign"]))
    if style == "mobile":
        return f"0{mobile}{draw(st.sampled_from(['-', ' ', '']))}{grouped}"
    if style == "mobile-intl":
        return f"+46 {mobile} {grouped}"
    if style == "mobile-00":
        return f"0046{sep}{mobile}{sep}{grouped}"
    if style == "landline":
        return f"0{area}-{landline}"
    country = draw(st.sampled_from(["44", "49", "1", "358", "47", "90"]))
    return f"+{country} {draw(_digits(3))} {draw(_digits(3))} {draw(_digits(4))}"


@settings(max_examples=300, deadline=None)
@given(before=words, identifier=personal_numbers(), after=words)
def test_a_personal_identity_number_never_survives(
    before: str, identifier: str, after: str
) -> None:
    result = scrub(_embed(before, identifier, after))
    assert not any(c.isdigit() for c in result.text), (identifier, result.text)
    assert result.replaced


@settings(max_examples=300, deadline=None)
@given(before=words, identifier=phone_numbers(), after=words)
def test_a_phone_number_never_survives(before: str, identifier: str, after: str) -> None:
    result = scrub(_embed(before, identifier, after))
    assert not any(c.isdigit() for c in result.text), (identifier, result.text)
    assert result.replaced


@settings(max_examples=300, deadline=None)
@given(before=words, identifier=st.emails(), after=words)
def test_an_email_address_never_survives(before: str, identifier: str, after: str) -> None:
    result = scrub(_embed(before, identifier, after))
    assert identifier not in result.text
    assert "@" not in result.text, (identifier, result.text)


@settings(max_examples=200, deadline=None)
@given(
    before=words,
    name=st.text(alphabet=string.ascii_letters + string.digits + "_", min_size=5, max_size=32),
    after=words,
)
def test_a_username_never_survives(before: str, name: str, after: str) -> None:
    result = scrub(_embed(before, f"@{name}", after))
    assert result.text == _embed(before, "[username removed]", after)


@settings(max_examples=200, deadline=None)
@given(
    before=words,
    scheme=st.sampled_from(["https://", "http://", "www.", "t.me/", "https://t.me/"]),
    path=st.text(alphabet=string.ascii_letters + string.digits + "/?=&-_.%", min_size=1),
    after=words,
)
def test_a_link_never_survives(before: str, scheme: str, path: str, after: str) -> None:
    link = f"{scheme}{path}"
    result = scrub(_embed(before, link, after))
    assert scheme not in result.text and "[link removed]" in result.text


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(words, st.integers(0, 120).map(str), st.integers(1900, 2100).map(str)),
        max_size=8,
    ).map(" ".join)
)
def test_ages_years_and_words_pass_unchanged(text: str) -> None:
    assert scrub(text).text == normalise_text(text)  # a text of only spaces is empty


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.one_of(
            words,
            personal_numbers(),
            phone_numbers(),
            st.emails(),
            st.text(alphabet=string.printable, max_size=30),
        ),
        max_size=6,
    ).map(" ".join)
)
def test_scrubbing_twice_changes_nothing_more(text: str) -> None:
    """The relative is shown scrub(text); the service scrubs again: both must be the same."""
    once = scrub(text).text
    assert scrub(once).text == once
