"""Replace likely identifiers in a relative's free text before any staff member sees it.

The relative is asked not to write names; this catches what can be caught by
shape: links, e-mail addresses, @usernames, Swedish personal identity numbers
(personnummer and samordningsnummer, with or without separator or century) and
phone numbers (Swedish and international). The relative is shown the result
before sending, so a false positive costs a word, a miss costs privacy: when in
doubt the patterns remove. Ordinary numbers (ages, years, dates, times, counts)
are left alone: phone numbers must start with 0, + or 00 and have 7-15 digits.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from bot.i18n import N_

Kind = Literal["link", "email", "username", "personal_number", "phone"]

# Markers are shown to the relative (in the preview) and to staff, in the relative's language.
MARKERS: dict[str, str] = {
    "link": N_("[link removed]"),
    "email": N_("[e-mail address removed]"),
    "username": N_("[username removed]"),
    "personal_number": N_("[personal identity number removed]"),
    "phone": N_("[phone number removed]"),
}


@dataclass(frozen=True)
class ScrubResult:
    text: str
    replaced: list[Kind] = field(default_factory=list)  # one entry per replacement, in order

    @property
    def changed(self) -> bool:
        return bool(self.replaced)


_TRAILING = ".,;:!?)]}'\"»”’"
_URL = re.compile(r"(?i)(?:\bhttps?://|\bwww\.|\b(?:t|telegram)\.me/|\btelegram\.dog/)[^\s<>\"]*")
_EMAIL = re.compile(r"[\w!#$%&'*+/=?^`{|}~.-]+@[\w-]+(?:\.[\w-]+)+")
_TLDS = "se|com|net|org|nu|io|me|info|eu|tv|gg|app|xyz|ru|de|uk|co|fi|no|dk|ly|link|site|online"
_DOMAIN = re.compile(
    rf"(?i)(?<![\w@.])(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+(?:{_TLDS})\b(?:/[^\s<>\"]*)?"
)
_USERNAME = re.compile(r"(?<![\w@])@[A-Za-z0-9_]{2,32}(?![\w@])")
# Personal identity numbers: [CC]YYMMDD[-+ ]NNNN or [CC]YYMMDDNNNN.
_PERSONAL = re.compile(r"(?<![\d+])((?:19|20)?\d{6})([-+ ]?)(\d{4})(?![\d])")
_PHONE = re.compile(r"(?<![\w+])(?:(?:\+|00)\s?\d|\(?0\d)[\d \-/()]{3,22}\d(?!\w)")
_DATE_LIKE = re.compile(r"\d{1,4}[-/]\d{1,2}[-/]\d{1,4}")


def scrub(text: str, translate: Callable[[str], str] = str) -> ScrubResult:
    """Return the text with likely identifiers replaced by bracketed markers.

    ``translate`` turns a marker into the relative's language (a Translator's gettext).
    """
    replaced: list[Kind] = []
    markers = {kind: translate(marker) for kind, marker in MARKERS.items()}
    text = _sub(_URL, "link", text, replaced, markers, trim=True)
    text = _sub(_EMAIL, "email", text, replaced, markers)
    text = _sub(_DOMAIN, "link", text, replaced, markers, trim=True)
    text = _sub(_USERNAME, "username", text, replaced, markers)
    text = _sub(_PERSONAL, "personal_number", text, replaced, markers, accept=_is_personal_number)
    text = _sub(_PHONE, "phone", text, replaced, markers, accept=_is_phone)
    return ScrubResult(text, replaced)


def _sub(
    pattern: re.Pattern[str],
    kind: Kind,
    text: str,
    replaced: list[Kind],
    markers: dict[str, str],
    *,
    trim: bool = False,
    accept: Callable[[re.Match[str]], bool] | None = None,
) -> str:
    def one(match: re.Match[str]) -> str:
        if accept is not None and not accept(match):
            return match.group(0)
        found = match.group(0)
        tail = ""
        if trim:
            kept = found.rstrip(_TRAILING)
            tail = found[len(kept) :]
        replaced.append(kind)
        return markers[kind] + tail

    return pattern.sub(one, text)


def _is_personal_number(match: re.Match[str]) -> bool:
    """A plausible birth date (day + 60 for samordningsnummer); a check digit is not required."""
    head, separator, tail = match.groups()
    if not _plausible_date(head[-6:]):
        return False
    if separator or len(head) == 8:
        return True
    # Bare ten digits: a mobile number (07...) may look like a date; let the phone rule have it.
    return _luhn_ok(head + tail) or not head.startswith("0")


def _plausible_date(yymmdd: str) -> bool:
    month, day = int(yymmdd[2:4]), int(yymmdd[4:6])
    if day > 60:
        day -= 60  # samordningsnummer
    try:
        date(2000 + int(yymmdd[:2]), month, day)
    except ValueError:
        return False
    return True


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(digits):
        value = int(char) * (2 if index % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _is_phone(match: re.Match[str]) -> bool:
    found = match.group(0)
    digits = sum(c.isdigit() for c in found)
    if not 7 <= digits <= 15:
        return False
    return not _DATE_LIKE.fullmatch(found)
