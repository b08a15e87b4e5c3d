"""The translation round trip in gettext format: export, import, review.

A municipality hires a translator, who works in Poedit, Weblate or a translation
agency's CAT tool, never in YAML:

- ``python -m bot content export --lang fi`` writes every text of content/ that a
  translator into a relatives' language translates (guide screens, team screens and
  names, national places to turn) as a .po catalog: the English source as msgid, a
  stable key as msgctxt (see ``bot.content.translations``), the limits as comments for
  translators, today's translation as msgstr; a translation made from a source that
  has changed since is marked fuzzy.
- ``python -m bot content import FILE.po`` checks every entry (placeholders and claim
  marks, Telegram HTML, button lengths, phone-like digits, every screen within 900
  characters) and refuses the whole file, writing nothing, if anything would break a
  screen. Fuzzy and empty entries are not taken as translations.
- ``python -m bot content review --lang fi --by NAME [--key KEY ...]`` records a
  sign-off for the language or for single texts.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from babel.messages.catalog import Catalog
from babel.messages.pofile import PoFileError, read_po, write_po

from bot.content.loader import load_content
from bot.content.model import NO_TEAM, Content, NodeText
from bot.content.render import PLACEHOLDER_RE, Renderer
from bot.content.translations import (
    BUTTON_KINDS,
    PLAIN_KINDS,
    SCREEN_KINDS,
    Piece,
    Record,
    Store,
    dump_yaml,
    node_uses_body,
    piece_state,
    pieces,
    read_store,
    source_hash,
    source_language,
    store_path,
    write_store,
)
from bot.content.validate import LITERAL_NUMBER_RE, SOFT_SCREEN, build_translators
from bot.i18n import I18n
from bot.tghtml import validate_telegram_html, visible_length

if TYPE_CHECKING:
    from bot.config import Settings

MAX_BUTTON = 32  # a button label a phone shows on one line
LENGTH_FACTOR = 1.1  # a translated screen should stay within 110 % of its source
ALLOWED_TAGS = frozenset({"b", "i", "u", "a"})
TAG_RE = re.compile(r"<\s*(/?)\s*([A-Za-z][\w-]*)([^>]*)>")
HREF_RE = re.compile(r'^\s+href="https://[^"]+"\s*$')


class ExchangeError(Exception):
    """The command cannot run at all (unknown language, content with errors, bad file)."""


# --- export -------------------------------------------------------------------------


def _placeholders(text: str) -> list[str]:
    return sorted({f"{{{n}:{a}}}" if a else f"{{{n}}}" for n, a in PLACEHOLDER_RE.findall(text)})


def _comments(content: Content, piece: Piece) -> list[str]:
    """What a translator must know about one text: where it is shown and its limits."""
    lines: list[str] = []
    if piece.screen in content.nodes:
        node = content.nodes[piece.screen]
        title = content.texts[piece.source_lang].get(node.id)
        name = f'"{title.title}"' if title else node.id
        lines.append(f"Guide screen {name} (node {node.id}, a {node.kind}).")
    elif piece.screen.startswith("team:"):
        team = content.teams[piece.screen.removeprefix("team:")]
        lines.append(f"Municipality team {team.name.get(piece.source_lang, team.id)}.")
    else:
        lines.append(f"National place to turn ({piece.item}), the same in all of Sweden.")
    plain = "Plain text, no HTML, one line."
    described = {
        "button": f"The button that opens this screen. At most {MAX_BUTTON} characters, "
        f"emoji included. {plain}",
        "title": f"The screen's bold heading. {plain}",
        "option": f"An answer button of this question. At most {MAX_BUTTON} characters. {plain}",
        "team_name": f"The municipality's name, also on the municipality picker's button. "
        f"At most {MAX_BUTTON} characters. {plain}",
        "staff_name": "Who reads and answers contact requests, as it fits into a sentence "
        f'(the {{staff}} in "Ask {{staff}} for contact"). {plain}',
        "reply_title": f"The first line of a staff reply in the chat. {plain}",
        "contact": f"The label of a way to reach the team, in its list of contacts. {plain}",
        "national_name": f"The name of the place to turn, in the 'Places to turn' list. {plain}",
        "national_for": f"Who or what it is for, a few words after the name. {plain}",
        "team_page": "The municipality's own screen: who works on this and what it can do.",
    }
    if piece.kind in described:
        lines.append(described[piece.kind])
    if piece.kind in SCREEN_KINDS:
        if piece.pages > 1:
            lines.append(f"Page {piece.page} of {piece.pages}.")
        length = visible_length(piece.source)
        lines.append(
            f"One phone screen: the source has {length} characters; keep within 110 % "
            f"({math.ceil(length * LENGTH_FACTOR)}). The whole screen, heading and notes "
            f"included, may not exceed {SOFT_SCREEN} characters."
        )
        lines.append(
            'Telegram HTML: only <b>, <i>, <u> and <a href="https://...">; '
            "write &amp; &lt; &gt; for & < >. Paragraphs are separated by a blank line."
        )
        lines.append("Never write phone numbers, hours or addresses: the bot fills them in.")
    marks = _placeholders(piece.source)
    if marks:
        lines.append(
            "Keep exactly these marks: " + ", ".join(marks) + ". Words in braces are filled in "
            "by the bot: never translate them."
        )
    if any(mark.startswith("{claim:") for mark in marks):
        lines.append("A {claim:...} mark stays right after the sentence stating that fact.")
    return lines


def export_catalog(content_dir: Path, lang: str) -> Catalog:
    """The catalog a translator into ``lang`` works on."""
    content = _content(content_dir)
    _known_language(content, lang)
    store, problems = read_store(content_dir, lang)
    if problems:
        raise ExchangeError(f"{store_path(content_dir, lang)}: {problems[0]}")
    src = source_language(content, lang)
    catalog = Catalog(
        locale=lang,
        domain="content",
        project="Guide for worried relatives (content)",
        version=date.today().isoformat(),
        header_comment=(
            "# The guide's texts, team screens and national places to turn,\n"
            f"# translated from {content.languages[src].name} ({src}) into "
            f"{content.languages[lang].name} ({lang}).\n"
            "# msgctxt is each text's key: keep it.\n"
            "# Read back with `python -m bot content import FILE.po`.\n"
            "#"
        ),
        language_team=content.languages[lang].name,
        fuzzy=False,
    )
    for piece in pieces(content, lang):
        state = piece_state(piece, store.entries.get(piece.key))
        catalog.add(
            piece.source,
            piece.translation or "",
            flags=("fuzzy",) if state == "stale" else (),
            auto_comments=_comments(content, piece),
            context=piece.key,
        )
    return catalog


def catalog_bytes(catalog: Catalog) -> bytes:
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=76)
    return buffer.getvalue()


# --- checking one translated text -----------------------------------------------------


def check_piece(content: Content, piece: Piece, text: str) -> list[str]:
    """Why ``text`` cannot stand in for ``piece.source`` on a screen (empty: it can)."""
    problems: list[str] = []
    want, got = _placeholders(piece.source), _placeholders(text)
    if want != got:
        missing = [m for m in want if m not in got]
        extra = [m for m in got if m not in want]
        detail = "; ".join(
            part
            for part in (
                f"missing {', '.join(missing)}" if missing else "",
                f"not in the source {', '.join(extra)}" if extra else "",
            )
            if part
        )
        problems.append(f"placeholders and claim marks must be those of the source: {detail}")
    if piece.kind in PLAIN_KINDS:
        if TAG_RE.search(text):
            problems.append("plain text: no HTML tags")
        if "\n" in text:
            problems.append("plain text: one line")
    if piece.kind in BUTTON_KINDS and len(text) > MAX_BUTTON:
        problems.append(f"{len(text)} characters; a button takes {MAX_BUTTON} at most")
    if piece.kind in SCREEN_KINDS:
        for html_problem in validate_telegram_html(text):
            problems.append(f"HTML: {html_problem}")
        for closing, name, attrs in TAG_RE.findall(text):
            if name.lower() not in ALLOWED_TAGS:
                problems.append(f"HTML: only <b>, <i>, <u> and <a href>, not <{name}>")
            elif name.lower() == "a" and not closing and not HREF_RE.match(attrs):
                problems.append('HTML: a link is <a href="https://...">')
            elif name.lower() != "a" and attrs.strip():
                problems.append(f"HTML: <{name}> takes no attributes")
        length = visible_length(text)
        if length > SOFT_SCREEN:
            problems.append(f"{length} characters; a phone screen is {SOFT_SCREEN} at most")
    for literal in LITERAL_NUMBER_RE.findall(text):
        problems.append(f"digits that look like a phone number or an hour: {literal!r}")
    for service in content.national.values():
        number = service.number
        if number and re.search(rf"(?<![\w{{]){re.escape(number)}(?![\w}}])", text):
            problems.append(f"write {{{service.key}}} instead of {number!r}")
    return problems


# --- import ---------------------------------------------------------------------------


@dataclass
class ImportResult:
    language: str = ""
    problems: list[str] = field(default_factory=list)  # any: nothing was written
    notes: list[str] = field(default_factory=list)  # told, but nothing refused
    imported: int = 0  # new or changed translations taken as current
    unchanged: int = 0
    fuzzy: int = 0
    empty: int = 0
    written: list[Path] = field(default_factory=list)


def _read_catalog(path: Path) -> Catalog:
    try:
        with path.open("rb") as handle:
            return read_po(handle, abort_invalid=True)
    except FileNotFoundError as exc:
        raise ExchangeError(f"{path}: no such file") from exc
    except (PoFileError, OSError, UnicodeDecodeError, ValueError) as exc:
        raise ExchangeError(f"{path}: not a readable .po file: {exc}") from exc


def _content(content_dir: Path) -> Content:
    content, problems = load_content(content_dir)
    errors = [p for p in problems if p.severity == "error"]
    if content is None or errors:
        first = f" (first: {errors[0]})" if errors else ""
        raise ExchangeError(f"content/ has errors; run `python -m bot content check`{first}")
    return content


def _known_language(content: Content, lang: str) -> None:
    if lang not in content.languages:
        raise ExchangeError(
            f"{lang!r} is not in content/languages.yaml; add it there first (enabled: false)"
        )
    if lang == content.base_language:
        raise ExchangeError(f"{lang!r} is the base language: the source, not a translation")


def _catalog_language(catalog: Catalog, lang: str | None) -> str:
    declared = (catalog.locale_identifier or "").replace("_", "-") or None
    if lang and declared and declared != lang and declared.split("-")[0] != lang:
        raise ExchangeError(f"the file is in {declared!r}, not {lang!r}")
    chosen = lang or declared
    if not chosen:
        raise ExchangeError("the file names no language (Language header); give --lang")
    return chosen


def import_catalog(
    content_dir: Path,
    locales_dir: Path,
    po_path: Path,
    lang: str | None = None,
    retention_days: int = 30,
) -> ImportResult:
    """Check a translated catalog and, only when every entry is fine, write it into content/."""
    catalog = _read_catalog(po_path)
    lang = _catalog_language(catalog, lang)
    content = _content(content_dir)
    if lang not in content.languages and lang.split("-")[0] in content.languages:
        lang = lang.split("-")[0]  # fi-FI from a tool's Language header: fi
    _known_language(content, lang)
    store, store_problems = read_store(content_dir, lang)
    if store_problems:
        raise ExchangeError(f"{store_path(content_dir, lang)}: {store_problems[0]}")
    result = ImportResult(language=lang)
    known = {piece.key: piece for piece in pieces(content, lang)}
    accepted: dict[str, tuple[str, str]] = {}  # key -> (translation, hash of its msgid)
    for message in catalog:
        if not message.id:
            continue  # the header
        key = message.context
        where = key or f"msgid {str(message.id)[:40]!r}"
        if not key or key not in known:
            result.notes.append(f"{where}: no such text in content/ (left out)")
            continue
        if isinstance(message.string, tuple | list) or isinstance(message.id, tuple | list):
            result.problems.append(f"{key}: plural forms are not used in content/")
            continue
        text = (message.string or "").strip()
        if not text:
            result.empty += 1
            continue
        if message.fuzzy:
            result.fuzzy += 1
            continue
        piece = known[key]
        for problem in check_piece(content, piece, text):
            result.problems.append(f"{key}: {problem}")
        source_length = visible_length(piece.source) if piece.kind in SCREEN_KINDS else 0
        if source_length and visible_length(text) > source_length * LENGTH_FACTOR:
            result.notes.append(
                f"{key}: {visible_length(text)} characters, over 110 % of the source's "
                f"{source_length}; consider shortening"
            )
        accepted[key] = (text, source_hash(str(message.id)))
    if result.problems:
        return result
    texts_data = _node_texts(content, lang, known, accepted, result)
    team_texts = _team_texts(content, lang, known, accepted, store, result)
    for key, (text, digest) in accepted.items():
        piece = known[key]
        record = store.entries.get(key)
        same = record is not None and record.source_hash == digest and (piece.translation == text)
        if same:
            result.unchanged += 1
            continue
        result.imported += 1
        store.entries[key] = Record(source_hash=digest, text=team_texts.get(key))
    _keep_order(store, known)
    result.written = _write_checked(
        content, content_dir, locales_dir, lang, texts_data, store, retention_days, result
    )
    return result


def _node_texts(
    content: Content,
    lang: str,
    known: dict[str, Piece],
    accepted: dict[str, tuple[str, str]],
    result: ImportResult,
) -> dict[str, NodeText] | None:
    """The language's guide texts with the accepted entries in; None when none changed."""
    by_node: dict[str, list[Piece]] = {}
    for piece in known.values():
        if piece.screen in content.nodes:
            by_node.setdefault(piece.screen, []).append(piece)
    touched = {known[key].screen for key in accepted if known[key].screen in content.nodes}
    if not touched:
        return None
    texts = dict(content.texts.get(lang, {}))
    for node_id in touched:
        node_pieces = by_node[node_id]

        def value(piece: Piece) -> str | None:
            return accepted[piece.key][0] if piece.key in accepted else piece.translation

        parts = {p.kind: value(p) for p in node_pieces if p.kind in ("button", "title")}
        pages: list[str] = []
        for piece in (p for p in node_pieces if p.kind in ("body", "page")):
            text = value(piece)
            if text is None:
                later = [p.key for p in node_pieces if p.kind == "page" and p.page > piece.page]
                for key in (k for k in later if k in accepted):
                    result.notes.append(f"{key}: not written while page {piece.page} is missing")
                    del accepted[key]
                break
            pages.append(text)
        own = content.texts.get(lang, {}).get(node_id)
        if (
            own
            and len(own.pages) > len(pages)
            and len(pages) == sum(1 for p in node_pieces if p.kind in ("body", "page"))
        ):
            pages.extend(own.pages[len(pages) :])  # pages the source no longer has: kept
            result.notes.append(f"node:{node_id}: kept the translation's extra page(s)")
        options = {
            p.item: text
            for p in node_pieces
            if p.kind == "option" and (text := value(p)) is not None
        }
        if not parts.get("button") or not parts.get("title") or not pages:
            for key in [p.key for p in node_pieces if p.key in accepted]:
                del accepted[key]
            result.notes.append(
                f"node:{node_id}: not written until its button, title and first page are translated"
            )
            continue
        texts[node_id] = NodeText(
            button=parts["button"] or "",
            title=parts["title"] or "",
            pages=tuple(pages),
            options=options,
        )
    return texts


def _team_texts(
    content: Content,
    lang: str,
    known: dict[str, Piece],
    accepted: dict[str, tuple[str, str]],
    store: Store,
    result: ImportResult,
) -> dict[str, str]:
    """Accepted team and national texts to keep in the store (key -> text)."""
    kept: dict[str, str] = {}
    screens: dict[str, list[Piece]] = {}
    for key in list(accepted):
        piece = known[key]
        if piece.screen in content.nodes:
            continue
        record = store.entries.get(key)
        if piece.translation is not None and (record is None or record.text is None):
            # The team file or national.yaml has its own text in this language: it wins.
            result.notes.append(f"{key}: its own file already has {lang}; kept that text")
            del accepted[key]
            continue
        if piece.kind == "team_page":
            screens.setdefault(piece.screen, []).append(piece)
        kept[key] = accepted[key][0]
    for screen in screens:
        page_pieces = [p for p in known.values() if p.screen == screen and p.kind == "team_page"]
        if all(p.key in kept or p.translation for p in page_pieces):
            continue
        for piece in page_pieces:
            if piece.key in kept:
                del kept[piece.key]
                del accepted[piece.key]
        result.notes.append(f"{screen}: its screen is written once every page is translated")
    return kept


def _keep_order(store: Store, known: dict[str, Piece]) -> None:
    """Entries in reading order (the export's), then any the source no longer has."""
    order = {key: i for i, key in enumerate(known)}
    store.entries = dict(
        sorted(store.entries.items(), key=lambda item: order.get(item[0], len(order)))
    )


def _texts_yaml(content: Content, lang: str, texts: dict[str, NodeText], raw: Any) -> str:
    nodes: dict[str, Any] = {}
    for node_id in content.nodes:
        text = texts.get(node_id)
        if text is None:
            continue
        item: dict[str, Any] = {"button": text.button, "title": text.title}
        if node_uses_body(content, node_id) and len(text.pages) == 1:
            item["body"] = text.pages[0] + "\n"
        else:
            item["pages"] = [page + "\n" for page in text.pages]
        if text.options:
            item["options"] = dict(text.options)
        nodes[node_id] = item
    old = raw.get("nodes") if isinstance(raw, dict) else None
    for node_id, item in (old or {}).items():
        if node_id not in nodes:
            nodes[node_id] = item  # not in guide.yaml: kept as it was (content check warns)
    language = content.languages[lang]
    src = content.languages[source_language(content, lang)].name
    header = (
        f"# {language.name} ({lang}), translated from {src}. Written by\n"
        "# `python -m bot content import` from a gettext catalog: change it by exporting,\n"
        "# translating and importing again (the review trail is in translations/).\n"
    )
    return dump_yaml({"nodes": nodes}, header)


def _write_checked(
    current: Content,
    content_dir: Path,
    locales_dir: Path,
    lang: str,
    texts: dict[str, NodeText] | None,
    store: Store,
    retention_days: int,
    result: ImportResult,
) -> list[Path]:
    """Write into a copy of content/, load and render it; only if all is well, into place."""
    texts_path = content_dir / "texts" / f"{lang}.yaml"
    raw = None
    if texts_path.exists():
        raw = yaml.safe_load(texts_path.read_text(encoding="utf-8"))
    files: dict[Path, str] = {}
    if texts is not None:
        files[Path("texts") / f"{lang}.yaml"] = _texts_yaml(current, lang, texts, raw)
    with tempfile.TemporaryDirectory() as tmp:
        trial = Path(tmp) / "content"
        shutil.copytree(content_dir, trial)
        for relative, text in files.items():
            (trial / relative).write_text(text, encoding="utf-8")
        write_store(trial, store)
        store_text = store_path(trial, lang).read_text(encoding="utf-8")
        files[store_path(Path(), lang)] = store_text
        content, problems = load_content(trial)
        for problem in problems:
            if problem.severity == "error":
                result.problems.append(str(problem))
        if content is not None and not result.problems:
            result.problems.extend(_screen_problems(content, locales_dir, lang, retention_days))
    if result.problems:
        return []
    written = []
    for relative, text in files.items():
        target = content_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, target)
        written.append(target)
    return written


def _screen_problems(
    content: Content, locales_dir: Path, lang: str, retention_days: int
) -> list[str]:
    """Every guide screen of ``lang`` as Telegram would get it: valid HTML, within 900."""
    renderer = Renderer(content, build_translators(content, I18n(locales_dir)), retention_days)
    team_choices = [*content.teams, NO_TEAM]
    own = content.texts.get(lang, {})
    problems: list[str] = []
    for node in content.nodes.values():
        everywhere = node.kind in ("team", "contact") or node.id == content.root
        for team_id in team_choices if everywhere else team_choices[:1]:
            team = content.teams.get(team_id)
            team_screen = node.kind == "team" and team is not None and lang in team.screen
            if node.id not in own and not team_screen:
                continue  # shown in the base language: nothing of this import on it
            for page in range(len(renderer._pages(lang, team_id, node))):
                screen = renderer.guide(lang, team_id, node.id, page, None)
                if team_screen:
                    key = f"team:{team_id}:page:{page + 1}"
                elif node_uses_body(content, node.id):
                    key = f"node:{node.id}:body"
                else:
                    key = f"node:{node.id}:page:{page + 1}"
                where = f"{key} (screen {lang}/{team_id}/{node.id}, page {page + 1})"
                for problem in validate_telegram_html(screen.text):
                    problems.append(f"{where}: HTML: {problem}")
                length = visible_length(screen.text)
                if length > SOFT_SCREEN:
                    problems.append(
                        f"{where}: the screen would be {length} characters; "
                        f"a phone screen is {SOFT_SCREEN} at most"
                    )
    return list(dict.fromkeys(problems))


# --- review ---------------------------------------------------------------------------


@dataclass
class ReviewResult:
    language: str
    on: date
    signed: list[str] = field(default_factory=list)  # keys signed off
    stale: list[str] = field(default_factory=list)  # left out of a language sign-off
    path: Path | None = None


def review(
    content_dir: Path,
    lang: str,
    by: str,
    keys: Iterable[str] = (),
    today: date | None = None,
) -> ReviewResult:
    """Record a fluent reviewer's sign-off for a language (no keys) or for single texts.

    Signing off one text says it is right for today's source, so a stale text signed off
    by key is current again. A language sign-off covers every translated text that is
    not stale; stale ones must be checked and signed off one by one.
    """
    by = by.strip()
    if not by:
        raise ExchangeError("say who reviewed (--by)")
    today = today or date.today()
    content = _content(content_dir)
    _known_language(content, lang)
    store, problems = read_store(content_dir, lang)
    if problems:
        raise ExchangeError(f"{store_path(content_dir, lang)}: {problems[0]}")
    known = {piece.key: piece for piece in pieces(content, lang)}
    keys = list(dict.fromkeys(keys))
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise ExchangeError(f"no such text: {', '.join(unknown)}")
    untranslated = [k for k in keys if not known[k].translation]
    if untranslated:
        raise ExchangeError(f"not translated into {lang} yet: {', '.join(untranslated)}")
    result = ReviewResult(lang, today)
    targets = keys or [key for key, piece in known.items() if piece.translation]
    for key in targets:
        piece = known[key]
        record = store.entries.get(key) or Record()
        if not keys and piece_state(piece, record if record.source_hash else None) == "stale":
            result.stale.append(key)
            continue
        store.entries[key] = Record(
            source_hash=piece.hash, text=record.text, reviewed_by=by, reviewed_on=today
        )
        result.signed.append(key)
    if not keys:
        store.reviewed_by, store.reviewed_on = by, today
    _keep_order(store, known)
    result.path = write_store(content_dir, store)
    return result


# --- the command line -----------------------------------------------------------------


def add_parsers(content_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = content_sub.add_parser(
        "export", help="write a language's content texts as a gettext catalog (.po)"
    )
    export.add_argument("--lang", required=True, help="language code, e.g. fi")
    export.add_argument("--out", help="file to write (default guide-<lang>.po; - for stdout)")
    imp = content_sub.add_parser(
        "import", help="check a translated catalog and write it into content/"
    )
    imp.add_argument("file", help="the translated .po file")
    imp.add_argument("--lang", help="language code (default: the file's Language header)")
    rev = content_sub.add_parser("review", help="record a reviewer's sign-off")
    rev.add_argument("--lang", required=True)
    rev.add_argument("--by", required=True, help="who reviewed (name, role)")
    rev.add_argument(
        "--key", action="append", default=[], help="one text's key (msgctxt); repeat for more"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        if args.content_command == "export":
            return _run_export(args, settings)
        if args.content_command == "import":
            return _run_import(args, settings)
        if args.content_command == "review":
            return _run_review(args, settings)
    except ExchangeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 2


def _run_export(args: argparse.Namespace, settings: Settings) -> int:
    catalog = export_catalog(settings.content_dir, args.lang)
    data = catalog_bytes(catalog)
    entries = [m for m in catalog if m.id]
    translated = sum(1 for m in entries if m.string)
    fuzzy = sum(1 for m in entries if m.fuzzy)
    summary = (
        f"{len(entries)} texts, {translated} with a translation, "
        f"{fuzzy} of them fuzzy (the source changed since)"
    )
    if args.out == "-":
        sys.stdout.buffer.write(data)
        print(summary, file=sys.stderr)
        return 0
    out = Path(args.out or f"guide-{args.lang}.po")
    out.write_bytes(data)
    print(f"wrote {out}: {summary}")
    return 0


def _run_import(args: argparse.Namespace, settings: Settings) -> int:
    result = import_catalog(
        settings.content_dir,
        settings.locales_dir,
        Path(args.file),
        args.lang,
        settings.session_retention_days,
    )
    for note in result.notes:
        print(f"note: {note}")
    if result.problems:
        for problem in result.problems:
            print(f"error: {problem}", file=sys.stderr)
        print(f"nothing written: {len(result.problems)} problem(s) in {args.file}", file=sys.stderr)
        return 1
    print(
        f"{result.language}: {result.imported} translation(s) new or changed, "
        f"{result.unchanged} unchanged, {result.fuzzy} fuzzy and {result.empty} empty "
        "left out (not current)"
    )
    for path in result.written:
        print(f"wrote {path}")
    print("next: `python -m bot content check`, then a fluent reviewer's `content review`")
    return 0


def _run_review(args: argparse.Namespace, settings: Settings) -> int:
    result = review(settings.content_dir, args.lang, args.by, args.key)
    when = result.on.isoformat()
    scope = "text(s)" if args.key else "text(s) (the whole language)"
    print(f"{result.language}: {len(result.signed)} {scope} signed off by {args.by} on {when}")
    for key in result.stale:
        print(f"not signed off, the source changed since translation: {key}")
    if result.stale:
        print("check each against today's source; sign it off with --key, or re-translate it")
    print(f"wrote {result.path}")
    return 0
