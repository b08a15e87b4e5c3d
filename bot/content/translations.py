"""Translations made through the gettext round trip: their keys, sources and review trail.

Every text a translator of a relatives' language works on has a stable key, the
``msgctxt`` of the exported catalog:

- ``node:<id>:button``, ``node:<id>:title``, ``node:<id>:body`` (one screen) or
  ``node:<id>:page:<n>`` (an article's pages, from 1), ``node:<id>:option:<option>``
- ``team:<id>:name``, ``team:<id>:staff_name``, ``team:<id>:reply_title``,
  ``team:<id>:contact:<contact>``, ``team:<id>:page:<n>`` (the team's own screen)
- ``national:<key>:name``, ``national:<key>:for``

``content/translations/<lang>.yaml`` keeps, per key, the hash of the source text the
translation was made from (``source_hash``) and who signed it off (``reviewed_by``,
``reviewed_on``), plus a sign-off for the whole language. Guide texts themselves live in
``texts/<lang>.yaml``; team and national texts (whose files belong to the municipality
and to whoever checks national.yaml) are stored here under ``text`` and merged in by the
loader for every language the team file or national.yaml does not carry itself.

This module knows the model only (no loader, no validator), so both can use it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from bot.content.model import Content, NationalService, Team

STORE_DIR = "translations"
HASH_LENGTH = 16
# Kinds of text: plain (no HTML, one line) and screens (Telegram HTML).
BUTTON_KINDS = frozenset({"button", "option", "team_name"})
PLAIN_KINDS = frozenset(
    {*BUTTON_KINDS, "title", "staff_name", "reply_title", "contact"}
    | {"national_name", "national_for"}
)
SCREEN_KINDS = frozenset({"body", "page", "team_page"})


def source_hash(text: str) -> str:
    """The first 16 hex digits of the SHA-256 of a source text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_LENGTH]


@dataclass
class Record:
    """What the store knows about one translated text."""

    source_hash: str | None = None
    text: str | None = None  # team and national texts only; guide texts live in texts/
    reviewed_by: str | None = None
    reviewed_on: date | None = None


@dataclass
class Store:
    """``content/translations/<lang>.yaml``."""

    language: str
    reviewed_by: str | None = None
    reviewed_on: date | None = None
    entries: dict[str, Record] = field(default_factory=dict)


def store_path(content_dir: Path, lang: str) -> Path:
    return content_dir / STORE_DIR / f"{lang}.yaml"


def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


def parse_store(raw: Any, lang: str) -> tuple[Store, list[str]]:
    """A store from its YAML; every malformed piece is a problem line, never a traceback."""
    problems: list[str] = []
    store = Store(lang)
    if raw is None:
        return store, problems
    if not isinstance(raw, dict):
        return store, ["must be a mapping"]
    if raw.get("language", lang) != lang:
        problems.append(f"language {raw.get('language')!r} does not match the file name")
    store.reviewed_by = raw.get("reviewed_by") or None
    store.reviewed_on = _as_date(raw.get("reviewed_on"))
    if raw.get("reviewed_on") is not None and store.reviewed_on is None:
        problems.append("reviewed_on must be a date like 2027-03-31")
    entries = raw.get("entries") or {}
    if not isinstance(entries, dict):
        return store, [*problems, "entries must be a mapping"]
    for key, item in entries.items():
        if not isinstance(item, dict):
            problems.append(f"entries.{key}: must be a mapping")
            continue
        text = item.get("text")
        if text is not None and not isinstance(text, str):
            problems.append(f"entries.{key}.text: must be a text")
            text = None
        reviewed_on = _as_date(item.get("reviewed_on"))
        if item.get("reviewed_on") is not None and reviewed_on is None:
            problems.append(f"entries.{key}.reviewed_on: must be a date like 2027-03-31")
        store.entries[str(key)] = Record(
            source_hash=str(item["source_hash"]) if item.get("source_hash") else None,
            text=text.strip() if isinstance(text, str) and text.strip() else None,
            reviewed_by=item.get("reviewed_by") or None,
            reviewed_on=reviewed_on,
        )
    return store, problems


# libyaml's loader where PyYAML was built with it: the same documents, about ten times
# faster (300 team files at start-up); a file it refuses is read again by the pure-Python
# loader, whose message and line the check reports.
_FAST_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> Any:
    """``yaml.safe_load`` of ``text``, with libyaml where it is available."""
    try:
        return yaml.load(text, Loader=_FAST_LOADER)
    except yaml.YAMLError:
        return yaml.safe_load(text)  # the same refusal, in the pure-Python loader's words


def read_store(content_dir: Path, lang: str) -> tuple[Store, list[str]]:
    path = store_path(content_dir, lang)
    if not path.exists():
        return Store(lang), []
    try:
        raw = safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        return Store(lang), [f"cannot be read: {exc}"]
    return parse_store(raw, lang)


class _Dumper(yaml.SafeDumper):
    pass


def _str_presenter(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_presenter)


def dump_yaml(data: Any, header: str) -> str:
    """YAML as people read it: order kept, Unicode as is, multi-line texts as blocks."""
    body = yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100)
    return header + body


def write_store(content_dir: Path, store: Store) -> Path:
    path = store_path(content_dir, store.language)
    path.parent.mkdir(parents=True, exist_ok=True)
    entries: dict[str, dict[str, Any]] = {}
    for key, record in store.entries.items():
        item: dict[str, Any] = {"source_hash": record.source_hash}
        if record.text is not None:
            item["text"] = record.text
        if record.reviewed_by:
            item["reviewed_by"] = record.reviewed_by
            item["reviewed_on"] = record.reviewed_on
        entries[key] = item
    data = {
        "language": store.language,
        "reviewed_by": store.reviewed_by,
        "reviewed_on": store.reviewed_on,
        "entries": entries,
    }
    header = (
        f"# Translations into {store.language} made through the gettext round trip.\n"
        "# Written by `python -m bot content import` and `content review`; edit through them.\n"
        "# source_hash: the source text the translation was made from (stale when it differs\n"
        "# from today's source). text: team and national texts, merged in by the loader.\n"
    )
    path.write_text(dump_yaml(data, header), encoding="utf-8")
    return path


# --- merging team and national texts in (the loader) ----------------------------------


def _page_number(part: str) -> int | None:
    return int(part) if part.isdigit() and int(part) > 0 else None


def merge_store(
    store: Store, teams: dict[str, Team], national: dict[str, NationalService]
) -> tuple[dict[str, Team], dict[str, NationalService]]:
    """Team and national texts of ``store.language`` wherever their own files lack them."""
    lang = store.language
    team_fields: dict[str, dict[str, Any]] = {}
    national_fields: dict[str, dict[str, str]] = {}
    for key, record in store.entries.items():
        if record.text is None:
            continue
        parts = key.split(":")
        if parts[0] == "team" and len(parts) >= 3:
            fields = team_fields.setdefault(parts[1], {})
            if len(parts) == 3 and parts[2] in ("name", "staff_name", "reply_title"):
                fields[parts[2]] = record.text
            elif len(parts) == 4 and parts[2] == "contact":
                fields.setdefault("contacts", {})[parts[3]] = record.text
            elif len(parts) == 4 and parts[2] == "page" and _page_number(parts[3]):
                fields.setdefault("pages", {})[_page_number(parts[3])] = record.text
        elif parts[0] == "national" and len(parts) == 3 and parts[2] in ("name", "for"):
            national_fields.setdefault(parts[1], {})[parts[2]] = record.text
    teams = dict(teams)
    for team_id, fields in team_fields.items():
        team = teams.get(team_id)
        if team is None:
            continue
        changes: dict[str, Any] = {}
        if "name" in fields and lang not in team.name:
            changes["name"] = {**team.name, lang: fields["name"]}
        if "staff_name" in fields and lang not in team.staff_name:
            changes["staff_name"] = {**team.staff_name, lang: fields["staff_name"]}
        if "reply_title" in fields and team.reply_title and lang not in team.reply_title:
            changes["reply_title"] = {**team.reply_title, lang: fields["reply_title"]}
        labels = fields.get("contacts", {})
        if any(c.id in labels and lang not in c.label for c in team.contacts):
            changes["contacts"] = tuple(
                replace(c, label={**c.label, lang: labels[c.id]})
                if c.id in labels and lang not in c.label
                else c
                for c in team.contacts
            )
        pages = fields.get("pages", {})
        # A screen is merged whole or not at all: pages 1..n with none missing.
        if pages and lang not in team.screen and sorted(pages) == list(range(1, len(pages) + 1)):
            changes["screen"] = {**team.screen, lang: tuple(pages[n] for n in sorted(pages))}
        if changes:
            teams[team_id] = replace(team, **changes)
    national = dict(national)
    for key, fields in national_fields.items():
        service = national.get(key)
        if service is None:
            continue
        changes = {}
        if "name" in fields and lang not in service.name:
            changes["name"] = {**service.name, lang: fields["name"]}
        if "for" in fields and lang not in service.for_whom:
            changes["for_whom"] = {**service.for_whom, lang: fields["for"]}
        if changes:
            national[key] = replace(service, **changes)
    return teams, national


# --- what a translator of one language works on ----------------------------------------


@dataclass(frozen=True)
class Piece:
    """One text to translate: its key, where it is shown, its source and today's translation."""

    key: str
    screen: str  # node id, "team:<id>" or "national"
    kind: str  # button, title, body, page, option, team_name, staff_name, reply_title,
    #            contact, team_page, national_name, national_for
    source: str  # the text translators work from (English, else the base language)
    source_lang: str
    translation: str | None  # today's text in the target language, if any
    page: int = 0  # pages: 1-based number and how many the source has
    pages: int = 0
    item: str = ""  # option id, contact id

    @property
    def hash(self) -> str:
        return source_hash(self.source)


def source_language(content: Content, lang: str) -> str:
    """Translators work from English; English itself is translated from the base."""
    if lang != "en" and "en" in content.texts:
        return "en"
    return content.base_language


def node_uses_body(content: Content, node_id: str) -> bool:
    """A menu, question, team or contact node has one ``body``; an article has ``pages``."""
    base = content.texts[content.base_language].get(node_id)
    return content.nodes[node_id].kind != "article" and base is not None and len(base.pages) == 1


def _pick(values: dict[str, str], preferred: str, base: str) -> tuple[str, str] | None:
    for code in (preferred, base):
        if values.get(code):
            return values[code], code
    return None


def pieces(content: Content, lang: str) -> list[Piece]:
    """Everything in content/ a translator into ``lang`` translates, in reading order."""
    src = source_language(content, lang)
    base = content.base_language
    found: list[Piece] = []
    target = content.texts.get(lang, {})
    for node_id, node in content.nodes.items():
        source_lang = src if node_id in content.texts.get(src, {}) else base
        source = content.texts[source_lang].get(node_id)
        if source is None:
            continue
        own = target.get(node_id)
        prefix = f"node:{node_id}"
        # (key, kind, source text, today's translation, extra fields)
        texts: list[tuple[str, str, str, str | None, dict[str, Any]]] = [
            (f"{prefix}:button", "button", source.button, own.button if own else None, {}),
            (f"{prefix}:title", "title", source.title, own.title if own else None, {}),
        ]
        if node_uses_body(content, node_id):
            mine = own.pages[0] if own and own.pages else None
            texts.append((f"{prefix}:body", "body", source.pages[0], mine, {"page": 1, "pages": 1}))
        else:
            for n, page in enumerate(source.pages, start=1):
                mine = own.pages[n - 1] if own and len(own.pages) >= n else None
                numbers = {"page": n, "pages": len(source.pages)}
                texts.append((f"{prefix}:page:{n}", "page", page, mine, numbers))
        for option in node.options:
            text = source.options.get(option.id)
            if text:
                mine = own.options.get(option.id) if own else None
                key = f"{prefix}:option:{option.id}"
                texts.append((key, "option", text, mine, {"item": option.id}))
        for key, kind, text, mine, extra in texts:
            found.append(Piece(key, node_id, kind, text, source_lang, mine or None, **extra))
    for team in content.teams.values():
        screen = f"team:{team.id}"
        named: list[tuple[str, str, dict[str, str]]] = [
            ("name", "team_name", team.name),
            ("staff_name", "staff_name", team.staff_name),
        ]
        if team.reply_title:
            named.append(("reply_title", "reply_title", team.reply_title))
        for field_name, kind, values in named:
            picked = _pick(values, src, base)
            if picked:
                key = f"{screen}:{field_name}"
                found.append(Piece(key, screen, kind, picked[0], picked[1], values.get(lang)))
        for contact in team.contacts:
            picked = _pick(contact.label, src, base)
            if picked:
                found.append(
                    Piece(
                        f"{screen}:contact:{contact.id}",
                        screen,
                        "contact",
                        picked[0],
                        picked[1],
                        contact.label.get(lang),
                        item=contact.id,
                    )
                )
        source_lang = src if team.screen.get(src) else base
        source_pages = team.screen.get(source_lang, ())
        own_pages = team.screen.get(lang, ())
        for n, page in enumerate(source_pages, start=1):
            mine = own_pages[n - 1] if len(own_pages) >= n else None
            found.append(
                Piece(
                    f"{screen}:page:{n}",
                    screen,
                    "team_page",
                    page,
                    source_lang,
                    mine,
                    page=n,
                    pages=len(source_pages),
                )
            )
    for service in content.national.values():
        for field_name, kind, values in (
            ("name", "national_name", service.name),
            ("for", "national_for", service.for_whom),
        ):
            picked = _pick(values, src, base)
            if picked:
                found.append(
                    Piece(
                        f"national:{service.key}:{field_name}",
                        "national",
                        kind,
                        picked[0],
                        picked[1],
                        values.get(lang),
                        item=service.key,
                    )
                )
    return found


# --- status: translated, reviewed, stale ------------------------------------------------


@dataclass
class ScreenStatus:
    screen: str
    total: int = 0
    translated: int = 0
    reviewed: int = 0
    stale: list[str] = field(default_factory=list)  # keys
    untracked: int = 0  # translated outside the round trip: no record of its source


@dataclass
class LanguageStatus:
    """How far one language's content translation is, per screen."""

    language: str
    reviewed_by: str | None
    reviewed_on: date | None
    screens: dict[str, ScreenStatus] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(s.total for s in self.screens.values())

    @property
    def translated(self) -> int:
        return sum(s.translated for s in self.screens.values())

    @property
    def reviewed(self) -> int:
        return sum(s.reviewed for s in self.screens.values())

    @property
    def stale(self) -> list[str]:
        return [key for s in self.screens.values() for key in s.stale]

    @property
    def untracked(self) -> int:
        return sum(s.untracked for s in self.screens.values())


def piece_state(piece: Piece, record: Record | None) -> str:
    """missing | stale | reviewed | current | untracked."""
    if not piece.translation:
        return "missing"
    if record is None or record.source_hash is None:
        return "untracked"
    if record.source_hash != piece.hash:
        return "stale"
    return "reviewed" if record.reviewed_by else "current"


def language_status(content: Content, store: Store) -> LanguageStatus:
    status = LanguageStatus(store.language, store.reviewed_by, store.reviewed_on)
    for piece in pieces(content, store.language):
        screen = status.screens.setdefault(piece.screen, ScreenStatus(piece.screen))
        screen.total += 1
        state = piece_state(piece, store.entries.get(piece.key))
        if state == "missing":
            continue
        screen.translated += 1
        if state == "stale":
            screen.stale.append(piece.key)
        elif state == "reviewed":
            screen.reviewed += 1
        elif state == "untracked":
            screen.untracked += 1
    return status
