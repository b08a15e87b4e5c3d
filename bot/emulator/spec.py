"""Validate Telegram Bot API calls against the official machine-readable spec.

The emulator answers the bot's HTTP calls itself, so nothing stops the bot from
sending a call real Telegram would reject with "400 Bad Request". This module
reads the official spec (``api.json``, Bot API 10.0) and checks a call's shape:
method and parameter names, required fields, types (recursively into objects
and arrays), documented length/count/range limits, simple enumerations, the
"exactly one action" rule of inline buttons, and Telegram's HTML parse mode.

Only the standard library is used, so the check can run anywhere tests run.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bot.tghtml import html_to_plain_text, utf16_length, validate_telegram_html

__all__ = ["BotApiSpec", "default_spec_path"]

_SCALARS = frozenset({"Integer", "Float", "Boolean", "String", "InputFile"})
_ARRAY_PREFIX = "Array of "
_PARSE_MODES = {"html": "HTML", "markdownv2": "MarkdownV2", "markdown": "Markdown", "": ""}
_INT_RE = re.compile(r"[+-]?\d+")
_FLOAT_RE = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_FORM_BOOLEANS = frozenset({"true", "false", "1", "0", "yes", "no"})
_ATTACH_RE = re.compile(r"attach://([A-Za-z0-9_.\-]+)")
# Telegram trims these (ASCII whitespace and control characters) from parsed text.
_TRIMMED = "".join(chr(c) for c in range(33))

# --- regexes over spec descriptions -------------------------------------------------

_TEXT_LIMIT_RE = re.compile(r"\b(\d+)-(\d+) (characters|bytes)\b", re.IGNORECASE)
_AFTER_PARSING_RE = re.compile(r"after entit(?:y|ies) parsing", re.IGNORECASE)
_LINE_FEEDS_RE = re.compile(r"at most (\d+) line feeds", re.IGNORECASE)
_COUNT_LIMIT_RE = re.compile(r"\b(?:list of|include) (\d+)-(\d+)\b", re.IGNORECASE)
_NUMBER_RANGE_RE = re.compile(r"(?:^|[;,]\s*|between\s+)(\d+)-(\d+)(?=[.\s]|$)")
_PARENTHETICAL_RE = re.compile(r"\([^()]*\)")
_QUOTED_RE = re.compile(r"\"([^\"]*)\"")
_ENUM_LIST_RES = (
    re.compile(r"\bmust be one of (.+?)(?:\.\s|\.$|$)", re.IGNORECASE),
    re.compile(r"(?:^|\.\s)One of (.+?)(?:\.\s|\.$|$)"),
    re.compile(r"\bCurrently, (?:it )?can be (?:one of )?(.+?)(?:\.\s|\.$|$)"),
)
_ENUM_SINGLE_RES = (
    re.compile(r"\balways \"([^\"]+)\""),
    re.compile(r", must be ([a-z][a-z0-9_]*)$"),
)
_ONE_OF_FIELDS_RE = re.compile(
    r"\b(Exactly|At most) one of the fields other than (.+?) must be used", re.IGNORECASE
)
_ONE_OF_OPTIONAL_RE = re.compile(r"\b(exactly|at most) one of the optional fields", re.IGNORECASE)
_STRING_INSTEAD_RE = re.compile(r"String can be used instead of this object")


@dataclass(frozen=True)
class _Field:
    """One parameter/field with the limits its description documents."""

    name: str
    types: tuple[str, ...]
    required: bool
    text_range: tuple[int, int] | None = None
    text_unit: str = "characters"
    after_parsing: bool = False
    max_line_feeds: int | None = None
    count_range: tuple[int, int] | None = None
    number_range: tuple[int, int] | None = None
    enum: tuple[str, ...] | None = None
    parse_mode_field: str | None = None


@dataclass(frozen=True)
class _Container:
    """A method or an object type: its fields and object-level rules."""

    name: str
    fields: dict[str, _Field]
    subtypes: tuple[str, ...] = ()
    exactly_one_of: frozenset[str] | None = None
    at_most_one_of: frozenset[str] | None = None
    accepts_string: bool = False
    discriminator: tuple[str, str] | None = None


@dataclass
class _Ctx:
    """Per-call state: names of multipart attachments referenced as attach://name."""

    attachments: set[str] = field(default_factory=set)


def default_spec_path() -> Path | None:
    """Locate api.json: $BOT_API_SPEC, else ../shared next to the repo, else the bundled copy.

    The bundled copy (``botapi/``, MIT, see its SOURCE.md) keeps a fresh clone and an
    installed package working where ../shared is not beside the checkout.
    """
    env = os.environ.get("BOT_API_SPEC")
    if env:
        return Path(env)
    candidate = (
        Path(__file__).resolve().parents[2] / ".." / "shared" / "telegram-bot-api-spec" / "api.json"
    ).resolve()
    if candidate.is_file():
        return candidate
    bundled = Path(__file__).resolve().parent / "botapi" / "api.json"
    return bundled if bundled.is_file() else None


# --- description parsing -----------------------------------------------------------


def _parse_enum(description: str) -> tuple[str, ...] | None:
    """Allowed values when a description lists them ('must be one of "a", "b"')."""
    for regex in _ENUM_SINGLE_RES:
        m = regex.search(description)
        if m:
            return (m.group(1),)
    cleaned = _PARENTHETICAL_RE.sub("", description)
    for regex in _ENUM_LIST_RES:
        m = regex.search(cleaned)
        if m:
            values = tuple(_QUOTED_RE.findall(m.group(1)))
            if values:
                return values
    return None


def _parse_field(raw: Mapping[str, Any]) -> _Field:
    """Turn a spec field into a _Field, extracting documented limits from its text."""
    desc: str = raw.get("description", "")
    types = tuple(raw["types"])
    kwargs: dict[str, Any] = {}
    if types == ("String",):
        m = _TEXT_LIMIT_RE.search(desc)
        if m:
            kwargs["text_range"] = (int(m.group(1)), int(m.group(2)))
            kwargs["text_unit"] = m.group(3).lower()
            kwargs["after_parsing"] = bool(_AFTER_PARSING_RE.search(desc))
        m = _LINE_FEEDS_RE.search(desc)
        if m:
            kwargs["max_line_feeds"] = int(m.group(1))
        kwargs["enum"] = _parse_enum(desc)
    elif all(t.startswith(_ARRAY_PREFIX) for t in types):
        m = _COUNT_LIMIT_RE.search(desc)
        if m:
            kwargs["count_range"] = (int(m.group(1)), int(m.group(2)))
    elif set(types) <= {"Integer", "Float"}:
        ranges = _NUMBER_RANGE_RE.findall(desc)
        if len(ranges) == 1:
            kwargs["number_range"] = (int(ranges[0][0]), int(ranges[0][1]))
    return _Field(name=raw["name"], types=types, required=bool(raw.get("required")), **kwargs)


def _link_parse_modes(fields: dict[str, _Field]) -> dict[str, _Field]:
    """Tie each text field to the parse_mode field that governs it.

    ``question_parse_mode`` governs ``question``; a plain ``parse_mode`` governs the
    field whose description says "after entities parsing", else text/caption/message_text.
    A governed field's limits are counted after entity parsing.
    """
    linked = dict(fields)
    for name in fields:
        if name.endswith("_parse_mode") and name[: -len("_parse_mode")] in fields:
            target = name[: -len("_parse_mode")]
            linked[target] = _with_parse_mode(linked[target], name)
    if "parse_mode" in fields:
        targets: list[str] = [
            f.name for f in linked.values() if f.after_parsing and f.parse_mode_field is None
        ]
        if not targets:
            names: tuple[str, ...] = ("text", "caption", "message_text")
            targets = [n for n in names if n in fields][:1]
        for target in targets:
            linked[target] = _with_parse_mode(linked[target], "parse_mode")
    return linked


def _with_parse_mode(f: _Field, mode_field: str) -> _Field:
    """Copy of f governed by mode_field (so its limits count after entity parsing)."""
    return replace(f, after_parsing=f.text_unit == "characters", parse_mode_field=mode_field)


def _split_names(text: str) -> frozenset[str]:
    """'text, icon_custom_emoji_id, and style' -> {'text', 'icon_custom_emoji_id', 'style'}."""
    parts = re.split(r",\s*(?:and\s+|or\s+)?|\s+and\s+|\s+or\s+", text)
    return frozenset(p.strip() for p in parts if p.strip())


def _parse_container(name: str, raw: Mapping[str, Any]) -> _Container:
    """Build a method/type description including object-level rules."""
    fields = {f.name: f for f in (_parse_field(r) for r in raw.get("fields", []))}
    fields = _link_parse_modes(fields)
    description = " ".join(raw.get("description", []))
    exactly: frozenset[str] | None = None
    at_most: frozenset[str] | None = None
    m = _ONE_OF_FIELDS_RE.search(description)
    group: frozenset[str] | None = None
    kind = ""
    if m:
        kind = m.group(1).lower()
        group = frozenset(fields) - _split_names(m.group(2))
    else:
        m2 = _ONE_OF_OPTIONAL_RE.search(description)
        if m2:
            kind = m2.group(1).lower()
            group = frozenset(n for n, f in fields.items() if not f.required)
    if group is not None:
        if kind == "exactly":
            exactly = group
        else:
            at_most = group
    discriminator = None
    for f in fields.values():
        if f.required and f.enum is not None and len(f.enum) == 1:
            discriminator = (f.name, f.enum[0])
            break
    return _Container(
        name=name,
        fields=fields,
        subtypes=tuple(raw.get("subtypes", ())),
        exactly_one_of=exactly,
        at_most_one_of=at_most,
        accepts_string=bool(_STRING_INSTEAD_RE.search(description)),
        discriminator=discriminator,
    )


# --- the validator -----------------------------------------------------------------


def _describe(value: Any) -> str:
    """Short JSON-ish name of a value's type for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return f"string {value[:40]!r}"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def _is_object_type(t: str) -> bool:
    """True for JSON-serialized parameters (arrays and object types)."""
    return t.startswith(_ARRAY_PREFIX) or t not in _SCALARS


class BotApiSpec:
    """The Bot API as described by api.json, able to validate a call's shape."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.version: str = str(raw.get("version", ""))
        self._methods = {n: _parse_container(n, m) for n, m in raw["methods"].items()}
        self._types = {n: _parse_container(n, t) for n, t in raw["types"].items()}
        self._method_by_lower = {n.lower(): n for n in self._methods}

    @classmethod
    def load(cls, path: str | Path) -> BotApiSpec:
        """Read api.json from disk."""
        with open(path, encoding="utf-8") as fh:
            return cls(json.load(fh))

    @property
    def method_names(self) -> list[str]:
        """Canonical method names, for emulators that route by name."""
        return sorted(self._methods)

    def canonical_method(self, method: str) -> str | None:
        """Telegram matches method names case-insensitively; return the spec spelling."""
        return self._method_by_lower.get(method.lower())

    def validate_call(self, method: str, params: Mapping[str, Any]) -> list[str]:
        """Return human-readable problems (empty list = Telegram would accept the call's shape).

        ``params`` may be PTB's form values (str -> str, JSON-encoded objects, "true"/"false")
        or an already-decoded JSON body; ``None`` values count as absent.
        """
        name = self.canonical_method(method)
        if name is None:
            hint = difflib.get_close_matches(method, self._methods, n=1)
            suggestion = f" (did you mean {hint[0]}?)" if hint else ""
            return [f"unknown method {method!r}{suggestion}"]
        ctx = _Ctx()
        for value in params.values():
            _collect_attachments(value, ctx.attachments)
        return self._check_fields(self._methods[name], params, name, top=True, ctx=ctx)

    # --- objects ---------------------------------------------------------------

    def _check_fields(
        self, container: _Container, values: Mapping[str, Any], path: str, *, top: bool, ctx: _Ctx
    ) -> list[str]:
        """Check names, required fields, each field's value and object-level rules."""
        problems: list[str] = []
        for key in values:
            if key in container.fields or values[key] is None:
                continue
            if top and key in ctx.attachments:
                continue  # a multipart upload referenced as attach://key
            hint = difflib.get_close_matches(str(key), container.fields, n=1)
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            problems.append(f"{path}: unknown parameter {key!r}{suggestion}")
        for f in container.fields.values():
            value = values.get(f.name)
            fpath = f"{path}.{f.name}"
            if value is None:
                if f.required:
                    problems.append(f"{fpath}: required parameter is missing")
                continue
            if top and isinstance(value, str) and all(_is_object_type(t) for t in f.types):
                try:
                    value = json.loads(value)
                except ValueError:
                    problems.append(f"{fpath}: expected JSON-serialized {' or '.join(f.types)}")
                    continue
                field_top = False
            else:
                field_top = top
            type_problems = self._check_union(value, f.types, fpath, top=field_top, ctx=ctx)
            if type_problems:
                problems.extend(type_problems)
                continue
            problems.extend(_check_limits(f, value, values, fpath))
        problems.extend(_check_exclusive(container, values, path))
        return problems

    # --- types -----------------------------------------------------------------

    def _check_union(
        self, value: Any, alternatives: Iterable[str], path: str, *, top: bool, ctx: _Ctx
    ) -> list[str]:
        """Accept the value if any alternative type matches; else explain the closest."""
        alts = list(alternatives)
        if len(alts) > 1 and all(a.startswith(_ARRAY_PREFIX) for a in alts):
            # "Array of A" | "Array of B": Telegram takes one list mixing A and B (albums).
            if not isinstance(value, list):
                return [f"{path}: expected an array, got {_describe(value)}"]
            inner = [a[len(_ARRAY_PREFIX) :] for a in alts]
            problems: list[str] = []
            for i, item in enumerate(value):
                problems.extend(self._check_union(item, inner, f"{path}[{i}]", top=False, ctx=ctx))
            return problems
        if len(alts) == 1:
            return self._check_one(value, alts[0], path, top=top, ctx=ctx)
        scored: list[tuple[tuple[int, int], str, list[str]]] = []
        for alt in alts:
            problems = self._check_one(value, alt, path, top=top, ctx=ctx)
            if not problems:
                return []
            if not self._kind_matches(value, alt, top=top):
                continue
            scored.append((self._closeness(value, alt, problems), alt, problems))
        if not scored:
            return [f"{path}: expected {' or '.join(alts)}, got {_describe(value)}"]
        scored.sort(key=lambda item: item[0])
        _, best, problems = scored[0]
        return [f"{p} (checked as {best})" for p in problems]

    def _resolve(self, t: str) -> _Container | None:
        """The object type named t, if t names one."""
        return self._types.get(t)

    def _closeness(self, value: Any, alt: str, problems: list[str]) -> tuple[int, int]:
        """Rank union alternatives: matching discriminator, then fewest unknown keys/problems."""
        container = self._resolve(alt)
        if container is not None and isinstance(value, Mapping):
            if container.discriminator:
                key, expected = container.discriminator
                if value.get(key) == expected:
                    return (-1, len(problems))
            unknown = sum(1 for k in value if k not in container.fields)
            return (unknown, len(problems))
        return (0, len(problems))

    def _kind_matches(self, value: Any, t: str, *, top: bool) -> bool:
        """Whether value has the JSON kind (object/array/scalar) type t needs."""
        if t.startswith(_ARRAY_PREFIX):
            return isinstance(value, list)
        if t in _SCALARS:
            return not isinstance(value, Mapping | list)
        container = self._resolve(t)
        if container is not None and container.accepts_string and isinstance(value, str):
            return True
        return isinstance(value, Mapping)

    def _check_one(self, value: Any, t: str, path: str, *, top: bool, ctx: _Ctx) -> list[str]:
        """Check value against one type string (recursing into arrays and objects)."""
        if t.startswith(_ARRAY_PREFIX):
            if not isinstance(value, list):
                return [f"{path}: expected {t}, got {_describe(value)}"]
            inner = t[len(_ARRAY_PREFIX) :]
            problems: list[str] = []
            for i, item in enumerate(value):
                problems.extend(self._check_one(item, inner, f"{path}[{i}]", top=False, ctx=ctx))
            return problems
        if t in _SCALARS:
            return (
                []
                if _scalar_ok(value, t, top=top)
                else [f"{path}: expected {t}, got {_describe(value)}"]
            )
        container = self._resolve(t)
        if container is None:  # not in this spec version: nothing to check against
            return []
        if container.subtypes:
            return self._check_union(value, container.subtypes, path, top=top, ctx=ctx)
        if isinstance(value, str) and container.accepts_string:
            return []
        if not isinstance(value, Mapping):
            return [f"{path}: expected {t} object, got {_describe(value)}"]
        if not container.fields:
            return []  # placeholder types such as CallbackGame carry no fields
        return self._check_fields(container, value, path, top=False, ctx=ctx)


def _collect_attachments(value: Any, names: set[str]) -> None:
    """Find attach://name references so the uploaded parts aren't flagged as unknown."""
    if isinstance(value, str):
        names.update(_ATTACH_RE.findall(value))
    elif isinstance(value, Mapping):
        for item in value.values():
            _collect_attachments(item, names)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect_attachments(item, names)


def _scalar_ok(value: Any, t: str, *, top: bool) -> bool:
    """Scalar check; top-level form values arrive as strings, nested JSON must be typed."""
    if t == "String":
        if isinstance(value, str):
            return True
        # Telegram stringifies top-level numbers of a JSON body.
        return top and isinstance(value, int | float) and not isinstance(value, bool)
    if t == "Integer":
        if isinstance(value, bool):
            return False
        if isinstance(value, int):
            return True
        return top and isinstance(value, str) and bool(_INT_RE.fullmatch(value.strip()))
    if t == "Float":
        if isinstance(value, bool):
            return False
        if isinstance(value, int | float):
            return True
        return top and isinstance(value, str) and bool(_FLOAT_RE.fullmatch(value.strip()))
    if t == "Boolean":
        if isinstance(value, bool):
            return True
        return top and isinstance(value, str) and value.strip().lower() in _FORM_BOOLEANS
    if t == "InputFile":
        # A file_id/URL/attach:// string, or an uploaded file object of any kind.
        return not isinstance(value, bool | int | float | Mapping | list)
    return False


def _as_number(value: Any) -> float:
    """Number from a typed or form value that already passed the type check."""
    return float(value) if isinstance(value, str) else value


def _check_limits(f: _Field, value: Any, siblings: Mapping[str, Any], path: str) -> list[str]:
    """Documented limits: text length, list size, numeric range, enumerations, parse modes."""
    problems: list[str] = []
    is_mode = f.name == "parse_mode" or f.name.endswith("_parse_mode")
    if is_mode and isinstance(value, str) and value.strip().lower() not in _PARSE_MODES:
        problems.append(f"{path}: unsupported parse mode {value!r} (use HTML or MarkdownV2)")
    if f.enum is not None and isinstance(value, str) and value not in f.enum:
        allowed = ", ".join(repr(v) for v in f.enum[:12]) + (", ..." if len(f.enum) > 12 else "")
        problems.append(f"{path}: {value!r} is not allowed; must be one of {allowed}")
    if f.count_range is not None and isinstance(value, list):
        lo, hi = f.count_range
        if not lo <= len(value) <= hi:
            problems.append(f"{path}: must have {lo}-{hi} items, got {len(value)}")
    if f.number_range is not None:
        lo, hi = f.number_range
        number = _as_number(value)
        if not lo <= number <= hi:
            problems.append(f"{path}: must be in {lo}-{hi}, got {value}")
    if isinstance(value, str):
        problems.extend(_check_text(f, value, siblings, path))
    return problems


def _check_text(f: _Field, value: str, siblings: Mapping[str, Any], path: str) -> list[str]:
    """Length limits of a text field, counted the way Telegram counts them."""
    problems: list[str] = []
    mode = ""
    if f.parse_mode_field is not None:
        raw_mode = siblings.get(f.parse_mode_field)
        if isinstance(raw_mode, str):
            mode = _PARSE_MODES.get(raw_mode.strip().lower(), "")
    if mode == "HTML":
        problems.extend(f"{path}: {p}" for p in validate_telegram_html(value))
    if f.text_range is None and f.max_line_feeds is None:
        return problems
    if f.text_unit == "bytes":
        size = len(value.encode("utf-8", "surrogatepass"))
        lo, hi = f.text_range or (0, 0)
        if not lo <= size <= hi:
            problems.append(f"{path}: must be {lo}-{hi} bytes in UTF-8, got {size}")
        return problems
    if f.after_parsing and mode == "HTML":
        text = html_to_plain_text(value)
        shortest = longest = text
        how = " after entity parsing"
    elif f.after_parsing and mode in ("MarkdownV2", "Markdown"):
        # No full Markdown parser here: bound the visible text from both sides.
        text = value
        shortest, longest = _markdown_lower_bound(value), value
        how = " after entity parsing (approximate)"
    else:
        text = shortest = longest = value
        how = ""
    if f.text_range is not None:
        lo, hi = f.text_range
        short_len = utf16_length(shortest)
        if short_len > hi:
            problems.append(
                f"{path}: must be {lo}-{hi} characters{how}, got {short_len} (UTF-16 code units)"
            )
        if lo > 0:
            trimmed = longest.strip(_TRIMMED) if f.after_parsing else longest
            long_len = utf16_length(trimmed)
            if long_len < lo:
                what = "is empty" if long_len == 0 else f"has {long_len} characters"
                problems.append(f"{path}: {what}{how}; must be {lo}-{hi} characters")
    if f.max_line_feeds is not None and text.count("\n") > f.max_line_feeds:
        problems.append(f"{path}: at most {f.max_line_feeds} line feeds allowed")
    return problems


_MARKDOWN_LINK_TARGET_RE = re.compile(r"\]\((?:\\.|[^)\\])*\)")
_MARKDOWN_MARKUP = set("_*[]()~`>#+-=|{}.!")


def _markdown_lower_bound(text: str) -> str:
    """Text with every possible Markdown markup character removed (never longer than visible)."""
    text = _MARKDOWN_LINK_TARGET_RE.sub("]", text)
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if ch not in _MARKDOWN_MARKUP:
            out.append(ch)
        i += 1
    return "".join(out)


def _check_exclusive(container: _Container, values: Mapping[str, Any], path: str) -> list[str]:
    """'Exactly one of the fields other than ...' and 'at most one' object rules."""
    if container.exactly_one_of is None and container.at_most_one_of is None:
        return []
    group = container.exactly_one_of or container.at_most_one_of or frozenset()
    used = sorted(n for n in group if values.get(n) is not None)
    options = ", ".join(sorted(group))
    if container.exactly_one_of is not None and len(used) != 1:
        if not used:
            return [f"{path}: {container.name} needs exactly one of: {options}"]
        return [
            f"{path}: {container.name} must use exactly one of its action fields, "
            f"got {', '.join(used)}"
        ]
    if container.at_most_one_of is not None and len(used) > 1:
        return [f"{path}: {container.name} may use at most one of {options}, got {', '.join(used)}"]
    return []
