"""Telegram's HTML parse mode: one parser for the bot, the content check and the emulator.

The renderer measures screens with it, the content check and the translation round trip
validate with it, and the development emulator turns the bot's messages into visible text
and entities with it, so the preview can never disagree with what the bot validates. It is
modelled on tdlib's ``parse_html``; lengths are UTF-16 code units, as Telegram counts them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ParsedHtml",
    "html_to_plain_text",
    "parse_telegram_html",
    "utf16_length",
    "validate_telegram_html",
    "visible_length",
]


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units, which is how Telegram counts characters."""
    # Two bytes a unit; a lone surrogate (one unit) passes through as its two bytes.
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


_HTML_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "tg-emoji",
        "tg-time",
        "code",
        "pre",
        "blockquote",
    }
)
# Tags whose entity is just a type (span is checked to be class="tg-spoiler" above).
_SIMPLE_ENTITIES = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
    "ins": "underline", "s": "strikethrough", "strike": "strikethrough",
    "del": "strikethrough", "span": "spoiler", "tg-spoiler": "spoiler", "code": "code",
    "pre": "pre",
}  # fmt: skip
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_TIME_FORMAT_RE = re.compile(r"r|w?[dD]?[tT]?")
_HTML_SPACE = " \t\n\r\f\v"
_MARKUP_RE = re.compile("[&<]")


def _decode_entity(text: str, pos: int) -> tuple[str | None, int, str]:
    """Decode the entity at text[pos] == '&' as Telegram does.

    Returns (character or None, end position, problem). Telegram keeps an
    undecodable '&' literally; we still report it since the user would see raw markup.
    """
    end = pos + 1
    n = len(text)
    if end < n and text[end] == "#":
        end += 1
        hexa = end < n and text[end] == "x"
        if hexa:
            end += 1
        digits = "0123456789abcdefABCDEF" if hexa else "0123456789"
        start = end
        while end < n and text[end] in digits:
            end += 1
        code = int(text[start:end], 16 if hexa else 10) if end > start else 0
        ref = text[pos : end + 1] if text[end : end + 1] == ";" else text[pos:end]
        if code == 0 or code >= 0x10FFFF or end - pos >= 10:
            return None, pos + 1, f"invalid numeric entity {ref!r}"
        if 0xD800 <= code <= 0xDFFF:
            return None, pos + 1, f"numeric entity {ref!r} is a lone UTF-16 surrogate"
        char = chr(code)
    else:
        start = end
        while end < n and text[end].isascii() and text[end].isalpha():
            end += 1
        name = text[start:end]
        if name not in _NAMED_ENTITIES:
            if name and end < n and text[end] == ";":
                return (
                    None,
                    pos + 1,
                    (
                        f"unsupported entity &{name}; (only &lt; &gt; &amp; &quot; and numeric "
                        "entities work; Telegram would show it literally)"
                    ),
                )
            return None, pos + 1, "bare '&' must be escaped as &amp;"
        char = _NAMED_ENTITIES[name]
    if end < n and text[end] == ";":
        end += 1
    return char, end, ""


def _decode_entities_only(text: str) -> str:
    """Decode entities in an attribute value; a stray '&' stays literal, as in Telegram."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "&":
            char, end, _ = _decode_entity(text, i)
            out.append("&" if char is None else char)
            i = end
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


class _HtmlParser:
    """Telegram's HTML parse mode, modelled on tdlib's parse_html.

    Structural errors (which make Telegram reject the message) stop problem
    collection after the first one, as Telegram does; parsing continues
    leniently so the visible text is still available.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.out: list[str] = []
        self.problems: list[str] = []
        self.failure: str | None = None
        self.stack: list[str] = []
        # Per open tag: its entity (or None) and the index in ``out`` where it began.
        self.marks: list[tuple[dict[str, Any] | None, int]] = []
        self.entities: list[dict[str, Any]] = []

    def error(self, message: str) -> None:
        """Record a structural error (only the first, as Telegram stops there)."""
        if self.failure is None:
            self.problems.append(message)
            self.failure = message

    def parse(self) -> None:
        """Walk the text, decoding entities and matching tags."""
        text, n, i = self.text, len(self.text), 0
        while i < n:
            ch = text[i]
            if ch == "&":
                char, end, problem = _decode_entity(text, i)
                if char is None:
                    self.problems.append(f"{problem} at position {i}")
                    self.out.append("&")
                else:
                    self.out.append(char)
                i = end
                continue
            if ch != "<":  # plain text up to the next '&' or '<': one item per code point
                found = _MARKUP_RE.search(text, i)
                end = found.start() if found else n
                self.out.extend(text[i:end])
                i = end
                continue
            after = self._end_tag(i) if i + 1 < n and text[i + 1] == "/" else self._start_tag(i)
            if after is None:  # not a valid tag: keep the '<' as text and carry on
                self.out.append("<")
                i += 1
            else:
                i = after
        if self.stack:
            self.error(f"unclosed tag <{self.stack[-1]}>")

    def _tag_name(self, start: int) -> tuple[str, int]:
        """The tag name from ``start`` (lower case) and the index just after it."""
        text, n, i = self.text, len(self.text), start
        while i < n and text[i] not in _HTML_SPACE and text[i] != ">":
            i += 1
        return text[start:i].lower(), i

    def _start_tag(self, begin: int) -> int | None:
        """Parse a start tag at text[begin] == '<'; return the index after '>'."""
        text, n = self.text, len(self.text)
        name, i = self._tag_name(begin + 1)
        if name not in _HTML_TAGS:
            if not name:
                self.error(f"bare '<' at position {begin} must be escaped as &lt;")
            else:
                self.error(
                    f"unsupported tag <{name}> at position {begin} (escape a literal '<' as &lt;)"
                )
            return None
        if i >= n:
            self.error(f"unclosed start tag <{name} at position {begin}")
            return None
        attrs: dict[str, str | None] = {}
        while True:
            while i < n and text[i] in _HTML_SPACE:
                i += 1
            if i >= n:
                self.error(f"unclosed start tag <{name} at position {begin}")
                return None
            if text[i] == ">":
                i += 1
                break
            attr_begin = i
            while i < n and text[i] not in _HTML_SPACE and text[i] not in "=>":
                i += 1
            attr = text[attr_begin:i]
            while i < n and text[i] in _HTML_SPACE:
                i += 1
            if i >= n or text[i] != "=":
                attrs[attr] = None  # value-less attribute such as <blockquote expandable>
                continue
            i += 1
            while i < n and text[i] in _HTML_SPACE:
                i += 1
            if i >= n:
                self.error(f"unclosed start tag <{name} at position {begin}")
                return None
            if text[i] in "'\"":
                quote = text[i]
                close = text.find(quote, i + 1)
                if close < 0:
                    self.error(f"unclosed attribute value in <{name}> at position {begin}")
                    return None
                attrs[attr] = _decode_entities_only(text[i + 1 : close])
                i = close + 1
            else:
                token_begin = i
                while i < n and ((text[i].isascii() and text[i].isalnum()) or text[i] in ".-"):
                    i += 1
                if i < n and text[i] not in _HTML_SPACE and text[i] != ">":
                    self.error(
                        f"unquoted attribute value in <{name}> at position {token_begin} "
                        "must be quoted"
                    )
                    return None
                attrs[attr] = text[token_begin:i].lower()
        self._check_attributes(name, attrs, begin)
        self._open(name, attrs)
        return i

    def _open(self, name: str, attrs: dict[str, str | None]) -> None:
        """Push the tag and the entity it starts (character offsets; UTF-16 comes later)."""
        entity: dict[str, Any] | None
        if name in _SIMPLE_ENTITIES:
            entity = {"type": _SIMPLE_ENTITIES[name]}
            if name == "code" and self.stack and self.stack[-1] == "pre":
                pre_entity = self.marks[-1][0]
                css = attrs.get("class") or ""
                language = css.removeprefix("language-")
                if pre_entity is not None and language and language != css:
                    pre_entity["language"] = language
                entity = None  # <pre><code> is one pre entity
        elif name == "a":
            href = attrs.get("href")
            entity = {"type": "text_link", "url": href} if href else None
        elif name == "blockquote":
            expandable = "expandable" in attrs
            entity = {"type": "expandable_blockquote" if expandable else "blockquote"}
        elif name == "tg-emoji":
            entity = {"type": "custom_emoji", "custom_emoji_id": attrs.get("emoji-id") or ""}
        else:  # tg-time: visible text only; the date_time entity is not modelled
            entity = None
        if entity is not None:
            self.entities.append(entity)
        self.stack.append(name)
        self.marks.append((entity, len(self.out)))

    def _close(self) -> str:
        """Pop the innermost tag and end its entity."""
        entity, start = self.marks.pop()
        if entity is not None:
            entity["offset"], entity["length"] = start, len(self.out) - start
        return self.stack.pop()

    def _check_attributes(self, name: str, attrs: dict[str, str | None], begin: int) -> None:
        """Tag-specific attribute rules (unknown attributes are ignored, as Telegram does)."""
        where = f"at position {begin}"
        for attr, value in attrs.items():
            if value is None and not (name == "blockquote" and attr == "expandable"):
                self.error(f"attribute {attr!r} of <{name}> {where} needs a value")
        if name == "a" and not attrs.get("href"):
            self.error(f"<a> {where} needs a non-empty href attribute")
        elif name == "span" and attrs.get("class") != "tg-spoiler":
            self.error(f'<span> {where} must have class="tg-spoiler"')
        elif name == "tg-emoji":
            emoji_id = attrs.get("emoji-id") or ""
            if not (emoji_id.isascii() and emoji_id.isdigit() and int(emoji_id) > 0):
                self.error(f"<tg-emoji> {where} needs a numeric emoji-id attribute")
        elif name == "tg-time":
            unix = attrs.get("unix") or ""
            if not (unix.isascii() and unix.isdigit()):
                self.error(f"<tg-time> {where} needs a numeric unix attribute")
            fmt = attrs.get("format")
            if fmt and not _TIME_FORMAT_RE.fullmatch(fmt):
                self.error(
                    f"<tg-time> {where} has invalid format {fmt!r} (must match r|w?[dD]?[tT]?)"
                )

    def _end_tag(self, begin: int) -> int | None:
        """Parse an end tag at text[begin:begin+2] == '</'; return the index after '>'."""
        text, n = self.text, len(self.text)
        name, i = self._tag_name(begin + 2)
        while i < n and text[i] in _HTML_SPACE:
            i += 1
        if i >= n or text[i] != ">":
            self.error(f"unclosed end tag at position {begin}")
            return None
        if not self.stack:
            self.error(f"unexpected end tag </{name}> at position {begin}")
            return i + 1
        if name and name != self.stack[-1]:
            self.error(
                f"end tag </{name}> at position {begin} does not match open "
                f"<{self.stack[-1]}> (tags must be properly nested)"
            )
            if name in self.stack:  # recover by closing up to the matching tag
                while self._close() != name:
                    pass
            return i + 1
        self._close()
        return i + 1


@dataclass(frozen=True)
class ParsedHtml:
    """What Telegram makes of a text: visible text, entities (UTF-16 offsets), problems.

    ``failure`` is why Telegram would refuse the message ("can't parse entities"), or
    None; the other problems (a bare '&') Telegram shows literally.
    """

    text: str
    entities: list[dict[str, Any]]
    problems: list[str]
    failure: str | None


def _parse_html(text: str) -> _HtmlParser:
    """Run the HTML parser over text."""
    parser = _HtmlParser(text)
    parser.parse()
    return parser


def parse_telegram_html(text: str) -> ParsedHtml:
    """Parse ``text`` as Telegram does; entities of length 0 are dropped, as Telegram does."""
    parser = _parse_html(text)
    # ``out`` holds one code point per item: map item indexes to UTF-16 offsets.
    visible = "".join(parser.out)
    if utf16_length(visible) == len(visible):  # nothing outside the BMP: units are indexes
        units: Sequence[int] = range(len(parser.out) + 1)
    else:
        offsets = [0]
        for ch in parser.out:
            offsets.append(offsets[-1] + (2 if ord(ch) > 0xFFFF else 1))
        units = offsets
    entities = []
    for entity in parser.entities:
        if "offset" not in entity:  # never closed: the message fails anyway
            continue
        start, end = entity["offset"], entity["offset"] + entity["length"]
        if end > start:
            entities.append({**entity, "offset": units[start], "length": units[end] - units[start]})
    return ParsedHtml(visible, entities, parser.problems, parser.failure)


def validate_telegram_html(text: str) -> list[str]:
    """Problems with text sent with parse_mode=HTML (empty list = Telegram parses it cleanly)."""
    return _parse_html(text).problems


def html_to_plain_text(html_text: str) -> str:
    """The text a user sees after Telegram parses HTML: tags dropped, entities decoded."""
    return "".join(_parse_html(html_text).out)


def visible_length(html_text: str) -> int:
    """Length of text after entity parsing, in UTF-16 code units as Telegram counts."""
    return utf16_length(html_to_plain_text(html_text))
