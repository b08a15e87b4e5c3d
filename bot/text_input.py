"""Text from outside (staff forms and API, the relative's messages), made safe to validate,
scrub and store.

Every free text goes through ``normalise_text`` first, then ``refuse_reason``, then the
caller's own rules (empty, too long) and, for the relative's text, the scrubber:

- ``normalise_text`` applies NFKC (full-width letters, ligatures, compatibility spaces become
  their plain forms, so the scrubber and the length limit see what a reader sees), turns
  ``\\r\\n``, ``\\r`` and the Unicode line and paragraph separators into ``\\n`` (browsers send
  textareas with CRLF), and removes format characters (category Cf: zero-width spaces, bidi
  overrides, the byte-order mark, ...) and the Hangul fillers. A zero-width joiner or
  non-joiner stays only between two visible characters (emoji sequences, Persian and Indic
  spelling need them). A text left with nothing visible, only spaces, separators and
  ignorable characters, becomes ``""``: it is empty.
- ``refuse_reason`` names what cannot be stored: a lone surrogate (not encodable as UTF-8,
  PostgreSQL and the JSON encoder fail on it), NUL (PostgreSQL refuses it in text) and any
  other control character but ``\\n`` and ``\\t``. ``None`` means the text is fine.

Base layer: imports nothing of the project, so every door and the scrubber may use it.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any, Final, Literal

Refusal = Literal["surrogate", "nul", "control"]

_JOINERS: Final = frozenset("\u200c\u200d")  # ZWNJ, ZWJ
_FILLERS: Final = frozenset("\u115f\u1160\u3164\uffa0")  # Hangul fillers: look like nothing
# Default_Ignorable_Code_Point (Unicode DerivedCoreProperties) outside Cf: invisible on their
# own (variation selectors, the combining grapheme joiner, ...); kept in a text, but they do
# not make it non-empty.
_IGNORABLE_RANGES: Final = (
    (0x034F, 0x034F),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)
_LINE_BREAKS: Final = str.maketrans({"\u2028": "\n", "\u2029": "\n"})


def _ignorable(ch: str) -> bool:
    point = ord(ch)
    return any(low <= point <= high for low, high in _IGNORABLE_RANGES)


def _invisible(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch) == "Cf" or _ignorable(ch)


def normalise_text(text: str) -> str:
    """NFKC, line breaks as ``\\n``, format characters removed; ``""`` if nothing is visible.

    Never raises, whatever the string holds (lone surrogates and control characters pass
    through untouched for ``refuse_reason`` to name).
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n").translate(_LINE_BREAKS)
    text = unicodedata.normalize("NFKC", text)
    kept: list[str] = []
    for index, ch in enumerate(text):
        if ch in _FILLERS:
            continue
        if unicodedata.category(ch) == "Cf":
            if ch not in _JOINERS or not kept or _invisible(kept[-1]):
                continue
            following = text[index + 1] if index + 1 < len(text) else ""
            if not following or _invisible(following):
                continue
        kept.append(ch)
    result = "".join(kept)
    if all(_invisible(ch) for ch in result):
        return ""
    return result


def refuse_reason(text: str) -> Refusal | None:
    """Why ``text`` cannot be stored, or ``None``: "surrogate", "nul" or "control"."""
    reason: Refusal | None = None
    for ch in text:
        category = unicodedata.category(ch)
        if category == "Cs":
            return "surrogate"
        if ch == "\x00":
            reason = "nul"
        elif category == "Cc" and ch not in "\n\t" and reason is None:
            reason = "control"
    return reason


def without_unstorable(text: str) -> str:
    """``text`` with what ``refuse_reason`` names removed: for the relative's messages, where
    dropping a stray control character is calmer than refusing the message."""
    if refuse_reason(text) is None:
        return text
    return "".join(
        ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs")
    )


def clean_text(text: str) -> tuple[str, Refusal | None]:
    """``normalise_text`` then ``refuse_reason``: the text to use and why it is refused."""
    normalised = normalise_text(text)
    return normalised, refuse_reason(normalised)


# --- JSON bodies -----------------------------------------------------------------------------

MAX_JSON_DEPTH = 32  # nested arrays/objects; no route's document goes deeper than 4


class JSONRefused(ValueError):
    """A body refused before or while parsing: not UTF-8 JSON, too deep, or a string in it
    that cannot be stored (a lone surrogate or NUL, in a key or a value)."""


# A JSON string (escapes included; an unterminated one runs to the end) or one bracket.
_JSON_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)


class JSONBadString(JSONRefused):
    """A string in the body (a key or a value) holds a lone surrogate or NUL."""


def _depth_within(text: str, max_depth: int) -> bool:
    """Whether brackets outside strings nest at most ``max_depth`` deep (one pass, no stack)."""
    depth = 0
    for match in _JSON_TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > max_depth:
                return False
        elif token in "]}":
            depth -= 1
    return True


def _refuse_constant(name: str) -> Any:
    raise JSONRefused(f"{name} is not JSON")


def _checked(value: Any) -> Any:
    """Every string in the parsed document (keys too) free of lone surrogates and NUL."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item or _SURROGATE.search(item):
                raise JSONBadString("a string holds a character that cannot be stored")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")


def loads_json(raw: bytes, *, max_depth: int = MAX_JSON_DEPTH, check_strings: bool = True) -> Any:
    """``json.loads`` that cannot recurse out of the stack: UTF-8 only, the nesting checked
    over the raw text first, NaN/Infinity refused, strings checked (unless ``check_strings``
    is false: the webhook's texts are the chat's to judge); ``JSONRefused`` else.

    The size limit is the caller's (before reading the body); ``int`` digits are bounded by
    Python's own limit (a ``ValueError``, re-raised as ``JSONRefused``).
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise JSONRefused("the body is not UTF-8") from None
    if not _depth_within(text, max_depth):
        raise JSONRefused(f"the body nests deeper than {max_depth}")
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:  # not reachable after the depth check; never a crash anyway
        raise JSONRefused("the body nests too deep") from None
    except ValueError as exc:
        if isinstance(exc, JSONRefused):
            raise
        raise JSONRefused("the body is not JSON") from None
    return _checked(value) if check_strings else value
