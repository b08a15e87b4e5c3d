"""Check the whole guide before any relative sees it.

Structure (reachability, one parent, required screens), completeness in every
enabled language, and every rendered screen as Telegram would receive it:
valid HTML, at most 4096 characters, the standard ways out present, callback
codes within 64 bytes. ``python -m bot content check`` prints the result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from bot import callbacks
from bot.content.loader import Problem, load_content
from bot.content.model import NO_TEAM, REQUIRED_NODES, Content
from bot.content.render import PLACEHOLDER_RE, Renderer, Screen
from bot.emulator.spec import validate_telegram_html, visible_length
from bot.i18n import I18n, Translator

MAX_MESSAGE = 4096
SOFT_SCREEN = 900
MAX_BUTTON = 40
KNOWN_PLACEHOLDERS = {"team", "retention_days", "case_text_days", "case_link_days"}
# Digits that look like a phone number or an hour written into a text by hand.
LITERAL_NUMBER_RE = re.compile(r"(?<![\w{])(\d[\d \-]{3,}\d|\d{1,2}[:.]\d{2})(?![\w}])")


@dataclass
class Coverage:
    language: str
    enabled: bool
    reviewed: bool
    nodes_done: int
    nodes_total: int
    ui_done: int
    ui_total: int


@dataclass
class Report:
    content: Content | None
    problems: list[Problem] = field(default_factory=list)
    coverage: list[Coverage] = field(default_factory=list)
    screens_checked: int = 0
    translators: dict[str, Translator] = field(default_factory=dict)
    renderer: Renderer | None = None

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


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
        for language in content.enabled_languages:
            if language.code not in team.name:
                out.append(Problem("error", where, f"name missing in {language.code}"))
            if language.code not in team.screen:
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
    if "emergency" not in content.national:
        out.append(Problem("error", "national.yaml", "the emergency number is required"))
    return done


def _check_placeholders(content: Content, text: str, where: str, out: list[Problem]) -> None:
    for name in PLACEHOLDER_RE.findall(text):
        if name not in KNOWN_PLACEHOLDERS and name not in content.national:
            out.append(Problem("error", where, f"unknown placeholder {{{name}}}"))
    for national in content.national.values():
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


def _check_screen(screen: Screen, where: str, out: list[Problem], *, need: set[str]) -> None:
    for problem in validate_telegram_html(screen.text):
        out.append(Problem("error", where, f"HTML: {problem}"))
    length = visible_length(screen.text)
    if length > MAX_MESSAGE or length == 0:
        out.append(Problem("error", where, f"{length} characters; Telegram takes 1-{MAX_MESSAGE}"))
    elif length > SOFT_SCREEN:
        out.append(Problem("warning", where, f"{length} characters; aim for {SOFT_SCREEN} or less"))
    targets = set()
    for button in screen.buttons():
        if not 1 <= len(button.data.encode()) <= callbacks.MAX_BYTES:
            out.append(Problem("error", where, f"callback code {button.data!r} too long"))
        action = callbacks.parse(button.data)
        if action is None:
            out.append(Problem("error", where, f"button {button.label!r} has an unknown code"))
        elif isinstance(action, callbacks.Go):
            targets.add(action.node)
    for target in need - targets:
        out.append(Problem("error", where, f"no way to {target!r} from this screen"))


def _screens(content: Content, renderer: Renderer, out: list[Problem]) -> int:
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
                page_count = len(renderer._pages(lang, team_id, node))
                for page in range(page_count):
                    screen = renderer.guide(lang, team_id, node.id, page, None)
                    where = f"screen {lang}/{team_id}/{node.id}/page {page + 1}"
                    _check_screen(screen, where, out, need=need)
                    checked += 1
        checked += _contact_screens(content, renderer, lang, out)
        for screen, name in [
            (renderer.welcome(lang), "welcome"),
            (renderer.language_picker(lang), "language picker"),
            (renderer.team_picker(lang, None), "municipality picker"),
        ]:
            _check_screen(screen, f"screen {lang}/{name}", out, need=set())
            checked += 1
    return checked


def _contact_screens(content: Content, renderer: Renderer, lang: str, out: list[Problem]) -> int:
    """Every screen of "talk to someone", with sample answers, for every team."""
    from datetime import UTC, datetime

    from bot.content.contact_screens import ContactScreens
    from bot.services.cases import RelativeView
    from bot.services.contact_flow import STEPS

    screens = ContactScreens(renderer)
    now = datetime(2026, 1, 5, 20, 0, tzinfo=UTC)
    draft = {
        "concerns": "child",
        "topic": "online",
        "urgency": "urgent",
        "urgent_seen": True,
        "reply_via": "phone",
        "consent": True,
        "phone": "0700000000",
        "language": lang,
        "language_set": True,
        "text": "[link removed]",
        "removed": True,
        "text_done": True,
    }
    checked = 0
    need = {"emergency", content.root}
    for team_id in content.teams:
        rendered = [(screens.step(lang, team_id, {**draft, "step": s}), s) for s in STEPS]
        for status in ("open", "claimed", "closed", "withdrawn"):
            view = RelativeView("ACD-EFG", status, now, status == "claimed", 1)  # type: ignore[arg-type]
            rendered.append((screens.status(lang, team_id, view, now), f"status {status}"))
        rendered += [
            (screens.edit_menu(lang), "edit menu"),
            (screens.created(lang, team_id, "ACD-EFG", "chat", now), "case code"),
            (screens.withdraw_question(lang, "ACD-EFG"), "withdraw"),
            (screens.withdrawn(lang), "withdrawn"),
        ]
        for screen, name in rendered:
            _check_screen(screen, f"screen {lang}/{team_id}/contact: {name}", out, need=need)
            checked += 1
        for screen, name in [
            (screens.message_sent(lang), "message sent"),
            (screens.relayed(lang, team_id, "…", "Anna"), "staff reply"),
        ]:
            _check_screen(screen, f"screen {lang}/{team_id}/contact: {name}", out, need=set())
            checked += 1
    return checked


def _ui_coverage(i18n: I18n, locales_dir: Path) -> tuple[int, dict[str, int]]:
    from babel.messages.pofile import read_po

    pot = locales_dir / "messages.pot"
    if not pot.exists():
        return 0, {}
    with pot.open("rb") as handle:
        template = read_po(handle)
    msgids = {m.id for m in template if m.id}
    done = {}
    for code in i18n.catalog_languages:
        with (locales_dir / code / "LC_MESSAGES" / "messages.po").open("rb") as handle:
            catalog = read_po(handle)
        done[code] = sum(1 for m in catalog if m.id in msgids and m.string and not m.fuzzy)
    return len(msgids), done


def check(content_dir: Path, locales_dir: Path, retention_days: int = 30) -> Report:
    """Load and check everything; the report lists every problem and the coverage."""
    content, problems = load_content(content_dir)
    report = Report(content, list(problems))
    if content is None:
        return report
    _structure(content, report.problems)
    nodes_done = _texts(content, report.problems)
    if any(p.severity == "error" for p in report.problems):
        return report  # rendering half-broken content would only repeat the same errors
    i18n = I18n(locales_dir)
    report.translators = build_translators(content, i18n)
    renderer = report.renderer = Renderer(content, report.translators, retention_days)
    report.screens_checked = _screens(content, renderer, report.problems)
    ui_total, ui_done = _ui_coverage(i18n, locales_dir)
    for language in content.languages.values():
        code = language.code
        # English is the msgid language: its UI strings are complete by construction.
        ui = ui_total if code == "en" else ui_done.get(code, 0)
        report.coverage.append(
            Coverage(
                code,
                language.enabled,
                language.reviewed,
                nodes_done.get(code, 0),
                len(content.nodes),
                ui,
                ui_total,
            )
        )
        if language.enabled and ui < ui_total:
            report.problems.append(
                Problem("error", f"locales/{code}", f"{ui_total - ui} UI string(s) not translated")
            )
    return report
