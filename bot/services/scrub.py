"""Replace likely identifiers in a relative's free text before any staff member sees it.

The relative is asked not to write names; this catches what can be caught by
shape: links and bare domains, e-mail addresses, @usernames and handles named
after a platform ("instagram: name", "snap = name", "tiktok name_88"), Swedish
personal identity numbers (personnummer and samordningsnummer, with or without
separator or century), phone numbers (Swedish and international), IBANs (check
digits verified) and IP addresses (v4 and v6). The text is normalised first
(``bot.text_input.normalise_text``: NFKC, so full-width digits are digits, and
format characters such as zero-width spaces removed), and digits may be
separated by spaces of every width, dots, slashes, parentheses and dashes of
every kind. The relative is shown the result before sending, so a false
positive costs a word, a miss costs privacy: when in doubt the patterns remove.
Ordinary numbers (ages, years, dates, times, amounts, counts) are left alone: a
phone number starts with 0, + or 00 and has 7-15 digits, a personal identity
number is 10 or 12 digits holding a plausible birth date. Names and street
addresses are not removed (the relative is told so before writing).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from bot.i18n import N_
from bot.text_input import normalise_text

Kind = Literal["link", "email", "username", "personal_number", "phone", "iban", "ip_address"]

# Markers are shown to the relative (in the preview) and to staff, in the relative's language.
MARKERS: dict[str, str] = {
    "link": N_("[link removed]"),
    "email": N_("[e-mail address removed]"),
    "username": N_("[username removed]"),
    "personal_number": N_("[personal identity number removed]"),
    "phone": N_("[phone number removed]"),
    "iban": N_("[IBAN removed]"),
    "ip_address": N_("[IP address removed]"),
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
# A handle named after a platform: "instagram: name", "snap=@name" (any platform below, a
# colon or equals sign), or "tiktok name_88" (a longer platform name, a space, and a word
# that holds a digit, an underscore or an inner dot, which ordinary words do not).
_PLATFORMS_LONG = (
    "instagram|insta|snapchat|snap|tiktok|facebook|twitter|discord|kik|telegram|whatsapp"
    "|youtube|twitch|steam|reddit|threads|roblox|bereal|pinterest|tumblr|linkedin|signal"
)
_PLATFORMS = f"{_PLATFORMS_LONG}|ig|fb|sc|yt|tg|x"
_HANDLE_AFTER_COLON = re.compile(
    rf"(?i)\b(?:{_PLATFORMS})[^\S\n]*[:=][^\S\n]*@?(?=[\w.-]*[^\W\d_])[\w.-]{{2,40}}"
)
_HANDLE_AFTER_SPACE = re.compile(
    rf"(?i)\b(?:{_PLATFORMS_LONG})[^\S\n]+(?=[\w.]*[^\W\d_])"
    r"(?=\w*(?:\d|_|\.\w))[\w.]{3,40}"
)
_IBAN = re.compile(r"(?i)\b[a-z]{2}\d{2}(?:[^\S\n]?[a-z0-9]{4}){2,7}(?:[^\S\n]?[a-z0-9]{1,4})?\b")
_IPV4 = re.compile(
    r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\w]|\.\d)"
)
_IPV6 = re.compile(r"(?i)(?<![\w:])(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}(?![\w:])")

# Digits and what may stand between the digits of one number: spaces (NFKC has made every
# width a plain space), dots, slashes, parentheses, plus and dashes of every kind.
_GROUP = re.compile(r"\d+")
_SEPARATOR = re.compile(r"[^\S\n]{0,2}[-\u2010-\u2015\u2212.+/()]{0,2}[^\S\n]{0,2}")
_DATE_LIKE = re.compile(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}")
_TIME_RANGE = re.compile(r"\d{1,2}[.:]\d{2}[^\S\n]*[-\u2010-\u2015\u2212][^\S\n]*\d{1,2}[.:]\d{2}")
# YYMMDD-NNNN: a dash or plus before the last four digits, as a personnummer is written.
_PNR_DASH = re.compile(r"\d[^\S\n]*[-+\u2010-\u2015\u2212][^\S\n]*\d{4}$")
# normalise_text keeps a zero-width (non-)joiner between visible characters; never in a number.
_JOINER_AT_DIGIT = re.compile(r"(?<=\d)[\u200c\u200d]+|[\u200c\u200d]+(?=\d)")
_INTL_PREFIX = re.compile(r"\+[^\S\n]?$")


def scrub(text: str, translate: Callable[[str], str] = str) -> ScrubResult:
    """Return the (normalised) text with likely identifiers replaced by bracketed markers.

    ``translate`` turns a marker into the relative's language (a Translator's gettext).
    """
    replaced: list[Kind] = []
    markers = {kind: translate(marker) for kind, marker in MARKERS.items()}
    text = _JOINER_AT_DIGIT.sub("", normalise_text(text))
    text = _sub(_URL, "link", text, replaced, markers, trim=True)
    text = _sub(_EMAIL, "email", text, replaced, markers)
    text = _sub(_DOMAIN, "link", text, replaced, markers, trim=True)
    text = _sub(
        _HANDLE_AFTER_COLON,
        "username",
        text,
        replaced,
        markers,
        trim=True,
        keep_name=True,
        accept=_is_handle,
    )
    text = _sub(_HANDLE_AFTER_SPACE, "username", text, replaced, markers, trim=True, keep_name=True)
    text = _sub(_USERNAME, "username", text, replaced, markers)
    text = _ibans(text, replaced, markers)
    text = _sub(_IPV6, "ip_address", text, replaced, markers, accept=_is_ipv6)
    text = _sub(_IPV4, "ip_address", text, replaced, markers, accept=_is_ipv4)
    text = _numbers(text, replaced, markers)
    return ScrubResult(text, replaced)


def _sub(
    pattern: re.Pattern[str],
    kind: Kind,
    text: str,
    replaced: list[Kind],
    markers: dict[str, str],
    *,
    trim: bool = False,
    keep_name: bool = False,
    accept: Callable[[re.Match[str]], bool] | None = None,
) -> str:
    def one(match: re.Match[str]) -> str:
        if accept is not None and not accept(match):
            return match.group(0)
        found = match.group(0)
        head = tail = ""
        if trim:
            kept = found.rstrip(_TRAILING)
            tail = found[len(kept) :]
        if keep_name:  # "instagram: name" keeps "instagram: "
            cut = re.match(r"(?i)[a-z]+[^\S\n]*[:=]?[^\S\n]*", found)
            head = cut.group(0) if cut else ""
        replaced.append(kind)
        return head + markers[kind] + tail

    return pattern.sub(one, text)


def _is_handle(match: re.Match[str]) -> bool:
    """After "platform:": not a capitalised plain word ("Telegram: Settings → Privacy")."""
    handle = re.split(r"[:=]", match.group(0), maxsplit=1)[1].strip().rstrip(_TRAILING)
    return handle.startswith("@") or not (handle[:1].isupper() and handle.isalpha())


def _ibans(text: str, replaced: list[Kind], markers: dict[str, str]) -> str:
    """IBANs with their check digits right (mod 97 == 1); the longest valid run of groups."""

    def one(match: re.Match[str]) -> str:
        found = match.group(0)
        for cut in sorted(
            (m.end() for m in re.finditer(r"[a-z0-9](?=\s|$)", found, re.I)), reverse=True
        ):
            if _iban_ok(found[:cut]):
                replaced.append("iban")
                return markers["iban"] + found[cut:]
        return found

    return _IBAN.sub(one, text)


def _iban_ok(candidate: str) -> bool:
    compact = re.sub(r"\s", "", candidate).upper()
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _is_ipv6(match: re.Match[str]) -> bool:
    try:
        ipaddress.IPv6Address(match.group(0))
    except ValueError:
        return False
    return True


def _is_ipv4(match: re.Match[str]) -> bool:
    # "070.123.45.67" is a phone number written with dots: an octet never starts with 0.
    return not any(len(part) > 1 and part[0] == "0" for part in match.group(0).split("."))


def _numbers(text: str, replaced: list[Kind], markers: dict[str, str]) -> str:
    """Personal identity and phone numbers, their digit groups joined across separators."""
    groups = list(_GROUP.finditer(text))
    out: list[str] = []
    position = 0
    index = 0
    while index < len(groups):
        found = _number_at(text, groups, index)
        if found is None:
            index += 1
            continue
        kind, start, end, last = found
        out.append(text[position:start])
        out.append(markers[kind])
        replaced.append(kind)
        position = end
        index = last + 1
    out.append(text[position:])
    return "".join(out)


def _chain(text: str, groups: list[re.Match[str]], first: int) -> list[tuple[int, str]]:
    """The groups from ``first`` on that one number may span: (index of the last group, digits)."""
    chain = [(first, groups[first].group(0))]
    for index in range(first + 1, len(groups)):
        between = text[groups[index - 1].end() : groups[index].start()]
        if not _SEPARATOR.fullmatch(between) or len(chain[-1][1]) >= 17:
            break
        chain.append((index, chain[-1][1] + groups[index].group(0)))
    return chain


def _number_at(
    text: str, groups: list[re.Match[str]], first: int
) -> tuple[Kind, int, int, int] | None:
    start = groups[first].start()
    if start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
        return None  # inside a word ("abc123")
    chain = _chain(text, groups, first)
    international = bool(_INTL_PREFIX.search(text[:start])) or chain[0][1].startswith("00")
    # A personal identity number: exactly 10 or 12 digits ending at a group's end.
    for last, digits in [] if international else chain:
        end = groups[last].end()
        if end < len(text) and (text[end].isalnum() or text[end] == "_"):
            continue
        found = text[start:end]
        cuts = {len(d) for _, d in chain if len(d) < len(digits)}
        dashed = _PNR_DASH.search(found) is not None
        if cuts and not _dated_groups(cuts, len(digits), dashed or "." in found):
            continue
        if cuts and not dashed and not _luhn_ok(digits[-10:]):
            continue  # "19 12 10 11 12": numbers in a row, unless the check digit is right
        if _is_personal_number(digits, dashed) and not _ordinary(found):
            return "personal_number", start, end, last
    # A phone number: + or 00 or 0 first, 7-15 digits (a Swedish national number at most 10).
    if not (international or (chain[0][1].startswith("0") and len(chain[0][1]) >= 2)):
        return None  # a national number starts with 0 and its area code: "0 10 1900" is not one
    limit = 17 if chain[0][1].startswith("00") else 15 if international else 10
    best: tuple[int, int] | None = None
    for last, digits in chain:
        if len(digits) > limit:
            break
        end = groups[last].end()
        if len(digits) >= 7 and not _ordinary(text[start:end]):
            best = (last, end)
    if best is None:
        return None
    if international and not chain[0][1].startswith("00"):
        start = _INTL_PREFIX.search(text[:start]).start()  # type: ignore[union-attr]
    return "phone", start, best[1], best[0]


def _dated_groups(cuts: set[int], length: int, marked: bool) -> bool:
    """Groups as a personnummer is grouped: [CC]YY MM DD, a break, then NNNN or NN NN.

    The date itself is split only where a dash or dot marks it ("85.03.12-4455"): space-split
    numbers in a row ("2030 10 10 1909") are years and counts.
    """
    serial = length - 4
    if (serial not in cuts and not marked) or not cuts <= {serial, serial + 2} | {2, 4, 6}:
        return False
    in_date = cuts - {serial, serial + 2}
    if in_date and not marked:
        return False
    return in_date in (set(), {2, 4}) if length == 10 else in_date in (set(), {4, 6}, {2, 4, 6})


def _ordinary(found: str) -> bool:
    """A date or a time range, which may look like a number with separators."""
    return bool(_DATE_LIKE.fullmatch(found) or _TIME_RANGE.fullmatch(found))


def _is_personal_number(digits: str, dashed: bool) -> bool:
    """10 or 12 digits with a plausible birth date (day + 60 for samordningsnummer)."""
    if len(digits) == 12:
        if digits[:2] not in ("18", "19", "20"):
            return False
        dashed = True  # the century written out: no phone number looks like that
        digits = digits[2:]
    elif len(digits) != 10:
        return False
    if not _plausible_date(digits[:6]):
        return False
    # Ten digits starting 0 (a mobile number may look like a date): the check digit decides.
    return dashed or _luhn_ok(digits) or not digits.startswith("0")


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
