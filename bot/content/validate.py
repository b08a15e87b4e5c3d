"""Check the whole guide before any relative sees it.

Structure (reachability, one parent, required screens), completeness in every
enabled language, and every rendered screen as Telegram would receive it:
valid HTML, at most 4096 characters, the standard ways out present, callback
codes within 64 bytes. ``python -m bot content check`` prints the result.
"""

from __future__ import annotations

import gettext as _gettext
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

from bot import callbacks
from bot.content.loader import Problem, load_content
from bot.content.model import NO_TEAM, REQUIRED_NODES, Content
from bot.content.render import PLACEHOLDER_RE, Renderer, Screen
from bot.content.translations import LanguageStatus, language_status, read_store
from bot.i18n import I18n, Translator
from bot.tghtml import parse_telegram_html, utf16_length

MAX_MESSAGE = 4096
SOFT_SCREEN = 900  # a phone screen: no relative's screen may be longer
MAX_BUTTON = 40
MAX_BUTTONS = 100  # Telegram refuses bigger inline keyboards (not stated in the Bot API spec)
KNOWN_PLACEHOLDERS = {"team", "staff", "retention_days", "case_text_days", "case_link_days"}
# Digits that look like a phone number or an hour written into a text by hand.
LITERAL_NUMBER_RE = re.compile(r"(?<![\w{])(\d[\d \-]{3,}\d|\d{1,2}[:.]\d{2})(?![\w}])")


@dataclass
class Coverage:
    language: str
    enabled: bool
    reviewed: bool
    nodes_done: int
    nodes_total: int
    ui_done: int  # relative-facing UI strings (the bot, the public pages)
    ui_total: int
    staff_done: int = 0  # staff and coordinator pages (sv and en; others fall back)
    staff_total: int = 0


@dataclass(frozen=True)
class ClaimUse:
    """Where a claim of the register is marked: language, and the node or team screen."""

    claim: str
    language: str
    where: str


@dataclass
class Report:
    content: Content | None
    problems: list[Problem] = field(default_factory=list)
    coverage: list[Coverage] = field(default_factory=list)
    screens_checked: int = 0
    claim_uses: list[ClaimUse] = field(default_factory=list)
    # Per language other than the base: content translated, reviewed, stale, per screen.
    translations: dict[str, LanguageStatus] = field(default_factory=dict)

    def unverified_claims(self, language: str) -> dict[str, list[str]]:
        """Unverified claim id -> where it is marked, for one language."""
        claims = self.content.claims if self.content else {}
        found: dict[str, list[str]] = {}
        for use in self.claim_uses:
            claim = claims.get(use.claim)
            if use.language == language and claim is not None and not claim.verified:
                found.setdefault(use.claim, []).append(use.where)
        return found

    translators: dict[str, Translator] = field(default_factory=dict)
    renderer: Renderer | None = None

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


class RecordingTranslations(_gettext.NullTranslations):
    """Translations that note every msgid the language's own catalog does not have."""

    def __init__(self, inner: _gettext.NullTranslations, own: _gettext.NullTranslations | None):
        super().__init__()
        self.inner = inner
        self.own: dict[object, str] = getattr(own, "_catalog", {}) if own is not None else {}
        self.missing: set[str] = set()

    def gettext(self, message: str) -> str:
        if message not in self.own:
            self.missing.add(message)
        return self.inner.gettext(message)

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        if (msgid1, 0) not in self.own:
            self.missing.add(msgid1)
        return self.inner.ngettext(msgid1, msgid2, n)


def build_translators(content: Content, i18n: I18n) -> dict[str, Translator]:
    """One translator per known language; English msgids end every fallback chain."""
    result = {}
    for language in content.languages.values():
        chain: list[str] = []
        for code in language.fallback:
            if code == language.code:
                continue
            chain.append(code)
            if code == "en":
                break  # the msgids are English: nothing after English can be better
        if language.code == "en":
            chain = []
        result[language.code] = i18n.configure(language.code, language.direction, chain)
    return result


def _structure(content: Content, out: list[Problem]) -> None:
    def err(where: str, message: str) -> None:
        out.append(Problem("error", f"guide.yaml: {where}", message))

    nodes = content.nodes
    for required in REQUIRED_NODES:
        if required not in nodes:
            err(required, "this screen is required")
    expected_kind = {"municipality": "team", "contact": "contact", "home": "menu"}
    for node_id, kind in expected_kind.items():
        if node_id in nodes and nodes[node_id].kind != kind:
            err(node_id, f"must be of kind {kind}")
    for node in nodes.values():
        for ref in (*node.children, *node.see_also, *(o.goto for o in node.options)):
            if ref not in nodes:
                err(node.id, f"refers to {ref!r}, which does not exist")
        if node.kind == "menu" and not node.children:
            err(node.id, "a menu needs children")
        if node.kind != "menu" and node.children:
            err(node.id, "only menus have children")
        if node.kind == "question" and len(node.options) < 2:
            err(node.id, "a question needs at least two options")
        if node.kind != "question" and node.options:
            err(node.id, "only questions have options")
        if len({o.id for o in node.options}) != len(node.options):
            err(node.id, "option ids must be unique")
    seen, stack = set(), [content.root]
    while stack:
        current = stack.pop()
        if current in seen or current not in nodes:
            continue
        seen.add(current)
        node = nodes[current]
        stack.extend([*node.children, *node.see_also, *(o.goto for o in node.options)])
    for node_id in nodes:
        if node_id not in seen:
            err(node_id, "cannot be reached from the root")


def _claims_in(text: str) -> set[str]:
    return {arg for name, arg in PLACEHOLDER_RE.findall(text) if name == "claim" and arg}


def _claims(content: Content, out: list[Problem], uses: list[ClaimUse]) -> None:
    """Every claim mark names a register entry, and every language marks the same claims.

    A translation that drops a mark would state an unchecked fact as if it were checked.
    """
    enabled = [lang.code for lang in content.enabled_languages]
    per_place: dict[str, dict[str, set[str]]] = {}
    for code, texts in content.texts.items():
        for node_id, text in texts.items():
            found = set().union(*(_claims_in(p) for p in (*text.pages, text.title)))
            per_place.setdefault(f"texts: {node_id}", {})[code] = found
    for team in content.teams.values():
        for code, pages in team.screen.items():
            found = set().union(*(_claims_in(p) for p in pages)) if pages else set()
            per_place.setdefault(f"teams/{team.id}.yaml", {})[code] = found
    used: set[str] = set()
    for where, by_lang in per_place.items():
        for code, found in by_lang.items():
            for claim in sorted(found):
                uses.append(ClaimUse(claim, code, where.removeprefix("texts: ")))
                used.add(claim)
                if claim not in content.claims:
                    message = f"claim {claim!r} is not in claims.yaml"
                    out.append(Problem("error", f"{where} ({code})", message))
        base = by_lang.get(content.base_language, set())
        for code in enabled:
            if code in by_lang and by_lang[code] != base:
                missing = sorted(base ^ by_lang[code])
                out.append(
                    Problem(
                        "error",
                        f"{where} ({code})",
                        f"marks other claims than {content.base_language}: {', '.join(missing)}",
                    )
                )
    for entry in content.claims.values():
        if entry.id not in used:
            out.append(Problem("warning", f"claims.yaml: {entry.id}", "not marked in any text"))
        if not entry.source:
            out.append(Problem("error", f"claims.yaml: {entry.id}", "every claim needs a source"))


def _texts(content: Content, out: list[Problem]) -> dict[str, int]:
    """Completeness per language; returns how many nodes each language has text for."""
    done: dict[str, int] = {}
    for code, language in content.languages.items():
        texts = content.texts.get(code, {})
        severity = "error" if language.enabled else "warning"
        count = 0
        for node in content.nodes.values():
            where = f"texts/{code}.yaml: {node.id}"
            text = texts.get(node.id)
            if text is None:
                if language.enabled:
                    out.append(Problem(severity, where, "text is missing"))
                continue
            count += 1
            if node.kind not in ("team",) and not text.pages:
                out.append(Problem(severity, where, "needs a body or pages"))
            if len(text.button) > MAX_BUTTON:
                out.append(Problem("error", where, f"button label over {MAX_BUTTON} characters"))
            for option in node.options:
                if option.id not in text.options:
                    out.append(Problem(severity, where, f"option {option.id!r} has no label"))
            for piece in (text.title, text.button, *text.pages, *text.options.values()):
                _check_placeholders(content, piece, where, out)
        for extra in set(texts) - set(content.nodes):
            out.append(
                Problem("warning", f"texts/{code}.yaml: {extra}", "no such node in guide.yaml")
            )
        done[code] = count
        if code not in content.texts and language.enabled:
            out.append(Problem("error", f"texts/{code}.yaml", "enabled language has no texts"))
    for team in content.teams.values():
        where = f"teams/{team.id}.yaml"
        if content.base_language not in team.name:  # a proper noun: other languages fall back
            out.append(Problem("error", where, f"name missing in {content.base_language}"))
        if team.group is not None and team.group not in content.team_groups:
            out.append(Problem("error", where, f"group {team.group!r} is not in team_groups.yaml"))
        for language in content.enabled_languages:
            # A team without a screen of its own gets the default screen (its data).
            if team.screen and language.code not in team.screen:
                out.append(Problem("error", where, f"screen missing in {language.code}"))
            for contact in team.contacts:
                if language.code not in contact.label:
                    out.append(
                        Problem(
                            "error", where, f"contact {contact.id} has no {language.code} label"
                        )
                    )
        for contact in team.contacts:
            if contact.value and not contact.verified and contact.review_by is None:
                out.append(Problem("warning", where, f"{contact.id}: unverified without review_by"))
            if not contact.source:
                out.append(Problem("error", where, f"{contact.id}: every contact needs a source"))
        for pages in team.screen.values():
            for page in pages:
                _check_placeholders(content, page, where, out)
    for group in content.team_groups.values():
        if content.base_language not in group.name:
            message = f"name missing in {content.base_language}"
            out.append(Problem("error", f"team_groups.yaml: {group.id}", message))
    emergency = content.national.get("emergency")
    if emergency is None or not emergency.number:
        out.append(Problem("error", "national.yaml", "the emergency number is required"))
    for node in content.nodes.values():
        for key in node.services:
            if key not in content.national:
                out.append(Problem("error", f"guide.yaml: {node.id}", f"no service {key!r}"))
    for service in content.national.values():
        where = f"national.yaml: {service.key}"
        if not service.source:
            out.append(Problem("error", where, "every service needs a source"))
        if service.shown and not service.verified and service.review_by is None:
            out.append(Problem("warning", where, "unverified without review_by"))
        for language in content.enabled_languages:
            if language.code not in service.name and "en" not in service.name:
                out.append(Problem("error", where, f"name missing in {language.code}"))
    return done


def _translations(
    content: Content, content_dir: Path, out: list[Problem]
) -> dict[str, LanguageStatus]:
    """Each translation against today's source: a stale one (its source changed since it
    was translated) is a warning per text and is never counted as current or reviewed."""
    result = {}
    for code in content.languages:
        if code == content.base_language:
            continue
        store, _problems = read_store(content_dir, code)  # the loader reported those
        status = result[code] = language_status(content, store)
        for key in status.stale:
            out.append(
                Problem(
                    "warning",
                    f"translations/{code}.yaml: {key}",
                    "stale: the source changed since this was translated; re-translate it "
                    "(export marks it fuzzy) or sign it off with `content review --key`",
                )
            )
    return result


def _check_placeholders(content: Content, text: str, where: str, out: list[Problem]) -> None:
    for name, arg in PLACEHOLDER_RE.findall(text):
        if name == "claim" and arg:
            continue  # checked against the register in _claims
        service = content.national.get(name)
        if service is not None and not arg:
            if service.kind != "phone" or not service.number:
                out.append(Problem("error", where, f"{{{name}}} has no confirmed number to show"))
            continue
        if name not in KNOWN_PLACEHOLDERS or arg:
            shown = f"{name}:{arg}" if arg else name
            out.append(Problem("error", where, f"unknown placeholder {{{shown}}}"))
    for national in content.national.values():
        if not national.number:
            continue
        if re.search(rf"(?<![\w{{]){re.escape(national.number)}(?![\w}}])", text):
            out.append(
                Problem("error", where, f"write {{{national.key}}} instead of {national.number!r}")
            )
    for literal in LITERAL_NUMBER_RE.findall(text):
        out.append(
            Problem(
                "error",
                where,
                f"write numbers and hours through placeholders or "
                f"team files, not in text: {literal!r}",
            )
        )


def check_screen(screen: Screen, where: str, out: list[Problem], *, need: set[str]) -> None:
    """Telegram would take ``screen``, and it offers the buttons in ``need``."""
    for message in _screen_problems(screen, frozenset(need)):
        out.append(Problem("error", where, message))


@cache
def _screen_problems(screen: Screen, need: frozenset[str]) -> tuple[str, ...]:
    """What ``check_screen`` finds: a function of the screen (its text and buttons) and
    ``need`` alone, so a screen many teams show alike is parsed once per walk (``check``
    clears this cache at its end)."""
    problems: list[str] = []
    parsed = parse_telegram_html(screen.text)  # one parse: its problems and visible text
    problems.extend(f"HTML: {problem}" for problem in parsed.problems)
    length = utf16_length(parsed.text)
    if length > MAX_MESSAGE or length == 0:
        problems.append(f"{length} characters; Telegram takes 1-{MAX_MESSAGE}")
    elif length > SOFT_SCREEN:
        problems.append(f"{length} characters; a phone screen is {SOFT_SCREEN} at most")
    targets = set()
    for button in screen.buttons():
        if not 1 <= len(button.data.encode()) <= callbacks.MAX_BYTES:
            problems.append(f"callback code {button.data!r} too long")
        action = callbacks.parse(button.data)
        if action is None:
            problems.append(f"button {button.label!r} has an unknown code")
        elif isinstance(action, callbacks.Go):
            targets.add(action.node)
    problems.extend(f"no way to {target!r} from this screen" for target in sorted(need - targets))
    return tuple(problems)


# A walk over more screens for one language (the chat's contact screens): how many it checked.
ScreenWalk = Callable[[Content, Renderer, str, list[Problem]], int]


def _screens(
    content: Content, renderer: Renderer, out: list[Problem], walks: Sequence[ScreenWalk]
) -> int:
    checked = 0
    team_choices = [*content.teams, NO_TEAM]
    for language in content.enabled_languages:
        lang = language.code
        for node in content.nodes.values():
            need = {"emergency", "contact", content.root} - {node.id}
            teams = (
                team_choices
                if node.kind in ("team", "contact") or node.id == content.root
                else [team_choices[0]]
            )
            for team_id in teams:
                page_count = renderer.page_count(lang, team_id, node)
                for page in range(page_count):
                    screen = renderer.guide(lang, team_id, node.id, page, None)
                    where = f"screen {lang}/{team_id}/{node.id}/page {page + 1}"
                    check_screen(screen, where, out, need=need)
                    checked += 1
        for walk in walks:
            checked += walk(content, renderer, lang, out)
        for screen, name in [
            (renderer.welcome(lang), "welcome"),
            (renderer.language_picker(lang), "language picker"),
            (renderer.language_picker(lang, back=True), "language picker from a screen"),
            (renderer.team_picker(lang, None), "municipality picker"),
            (renderer.team_picker(lang, NO_TEAM, back=True), "municipality picker from a screen"),
            (renderer.help(lang), "help"),
            (renderer.notice(lang, "…"), "notice"),
            (renderer.confirm(lang, "…", []), "question"),
            (Screen("…", renderer.start_rows(lang)), "deleted"),
        ]:
            check_screen(screen, f"screen {lang}/{name}", out, need={"emergency"})
            checked += 1
        if renderer.large_picker():
            checked += _large_picker_screens(content, renderer, lang, out)
    return checked


def _large_picker_screens(
    content: Content, renderer: Renderer, lang: str, out: list[Problem]
) -> int:
    """The picker for many teams: every group's list, a typed name's answers (found, too
    many, none), each within Telegram's limits (at most 100 buttons on a screen)."""
    some_team = next(iter(sorted(content.teams)))
    screens = [
        (renderer.team_matches(lang, some_team, some_team, back=True), "typed name"),
        (renderer.team_matches(lang, "a", None, back=False), "typed name, too short"),
        (renderer.team_matches(lang, "zzzzqqq", None, back=False), "typed name, none found"),
        (renderer.team_picker(lang, some_team, back=True), "municipality picker, a choice"),
    ]
    for group in renderer.group_members():
        for page in range(renderer.group_pages(group)):
            listed = renderer.group_picker(lang, group, page, some_team)
            if listed is not None:
                screens.append((listed, f"municipality group {group}/page {page + 1}"))
    for screen, name in screens:
        where = f"screen {lang}/{name}"
        check_screen(screen, where, out, need={"emergency"})
        if len(screen.buttons()) > MAX_BUTTONS:
            out.append(Problem("error", where, f"over {MAX_BUTTONS} buttons (Telegram's limit)"))
    return len(screens)


# Where relative-facing UI strings are written; everything else is for staff. A language
# for relatives is complete when every string from these sources is translated.
RELATIVE_SOURCES = (
    "bot/content/",
    "bot/chat/",
    "bot/services/scrub.py",
    "bot/telegram/profile.py",
    "bot/web/templates/about_stats.html",
)
STAFF_LANGUAGES = ("sv", "en")  # the staff pages' languages; others fall back per string


@dataclass(frozen=True)
class UiScopes:
    """The template's msgids, split by who reads them."""

    relatives: frozenset[str]
    staff: frozenset[str]


def ui_scopes(locales_dir: Path) -> UiScopes:
    """Split the template by where each msgid is used (its locations in messages.pot)."""
    from babel.messages.pofile import read_po

    pot = locales_dir / "messages.pot"
    if not pot.exists():
        return UiScopes(frozenset(), frozenset())
    with pot.open("rb") as handle:
        template = read_po(handle)
    relatives, staff = set(), set()
    for message in template:
        if not message.id or not isinstance(message.id, str):
            continue
        files = [str(location[0]) for location in message.locations]
        if not files or any(f.startswith(RELATIVE_SOURCES) for f in files):
            relatives.add(message.id)
        else:
            staff.add(message.id)
    return UiScopes(frozenset(relatives), frozenset(staff))


def _ui_coverage(i18n: I18n, locales_dir: Path, scopes: UiScopes) -> dict[str, tuple[int, int]]:
    """Per catalog language: (relatives' strings translated, staff strings translated)."""
    from babel.messages.pofile import read_po

    done = {}
    for code in i18n.catalog_languages:
        with (locales_dir / code / "LC_MESSAGES" / "messages.po").open("rb") as handle:
            catalog = read_po(handle)
        translated = {m.id for m in catalog if m.id and m.string and not m.fuzzy}
        done[code] = (len(translated & scopes.relatives), len(translated & scopes.staff))
    return done


def check(
    content_dir: Path,
    locales_dir: Path,
    retention_days: int = 30,
    walks: Sequence[ScreenWalk] = (),
) -> Report:
    """Load and check everything; the report lists every problem and the coverage.

    ``walks`` add screens built above content (the chat's contact screens) to the walk,
    so their HTML, lengths and untranslated strings are checked with the guide's.
    """
    content, problems = load_content(content_dir)
    report = Report(content, list(problems))
    if content is None:
        return report
    _structure(content, report.problems)
    nodes_done = _texts(content, report.problems)
    _claims(content, report.problems, report.claim_uses)
    report.translations = _translations(content, content_dir, report.problems)
    if any(p.severity == "error" for p in report.problems):
        return report  # rendering half-broken content would only repeat the same errors
    i18n = I18n(locales_dir)
    report.translators = build_translators(content, i18n)
    # Walk every screen with translators that note each UI string a language lacks, so
    # the check cannot call a catalog complete while a screen shows English.
    recording = {
        code: RecordingTranslations(tr.translations, i18n.catalog(code))
        for code, tr in report.translators.items()
    }
    walking = {
        code: replace(tr, translations=recording[code]) for code, tr in report.translators.items()
    }
    renderer = report.renderer = Renderer(content, walking, retention_days)
    try:
        report.screens_checked = _screens(content, renderer, report.problems, walks)
    finally:
        _screen_problems.cache_clear()  # the walk's screens are not kept after it
    renderer.translators = report.translators
    renderer.guide.cache_clear()
    for language in content.enabled_languages:
        if language.code == "en":
            continue  # the msgids are English
        for msgid in sorted(recording[language.code].missing):
            report.problems.append(
                Problem("error", f"locales/{language.code}", f"shown untranslated: {msgid!r}")
            )
    scopes = ui_scopes(locales_dir)
    ui_done = _ui_coverage(i18n, locales_dir, scopes)
    relatives_total, staff_total = len(scopes.relatives), len(scopes.staff)
    for language in content.languages.values():
        code = language.code
        # English is the msgid language: its UI strings are complete by construction.
        relatives, staff = (
            (relatives_total, staff_total) if code == "en" else ui_done.get(code, (0, 0))
        )
        report.coverage.append(
            Coverage(
                code,
                language.enabled,
                language.reviewed,
                nodes_done.get(code, 0),
                len(content.nodes),
                relatives,
                relatives_total,
                staff,
                staff_total,
            )
        )
        if language.enabled and relatives < relatives_total:
            missing = f"{relatives_total - relatives} relatives' UI string(s) not translated"
            report.problems.append(Problem("error", f"locales/{code}", missing))
        if code in STAFF_LANGUAGES and staff < staff_total:
            missing = f"{staff_total - staff} staff string(s) not translated"
            report.problems.append(Problem("error", f"locales/{code}", missing))
    return report


_CHECKED: dict[tuple[object, ...], Report] = {}


def _fingerprint(*folders: Path) -> tuple[tuple[str, int, int], ...]:
    files = []
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                stat = path.stat()
                files.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(files)


def checked_once(
    content_dir: Path,
    locales_dir: Path,
    retention_days: int = 30,
    walks: Sequence[ScreenWalk] = (),
) -> Report:
    """``check`` for a process start: the walk of every screen in every language runs once
    per set of files, and each caller gets a renderer of its own (renderers carry settings).

    Why: a process may start several servers on the same content (the tests start
    hundreds); content and translators are immutable, so sharing them is safe.
    """
    key = (
        content_dir.resolve(),
        locales_dir.resolve(),
        retention_days,
        tuple(walks),
        _fingerprint(content_dir, locales_dir),
    )
    report = _CHECKED.get(key)
    if report is None:
        report = _CHECKED[key] = check(content_dir, locales_dir, retention_days, walks)
    if report.content is None or report.renderer is None:
        return report
    fresh = Renderer(report.content, report.translators, retention_days)
    return replace(report, renderer=fresh, problems=list(report.problems))
