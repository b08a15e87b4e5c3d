"""Turn content into screens: Telegram HTML text plus an inline keyboard.

Screens are pure functions of (language, team, node, page, back), cached, so the
per-update path does no formatting work after the first time a screen is shown.
Every guide screen gets the same standard rows: back and home, 112, and
"talk to someone", so no editor can forget them.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from bot import callbacks
from bot.content.model import NO_TEAM, Contact, Content, Node, Team
from bot.i18n import Translator
from bot.tghtml import visible_length

PLACEHOLDER_RE = re.compile(r"\{([a-z_]+)(?::([a-z0-9_]+))?\}")
UTILITY_NODES = ("emergency", "contact", "privacy")
NO_RATING = ("emergency",)  # "Was this helpful?" jars on the danger screen
# Places to turn offered to a relative whose municipality has no team here.
OTHER_MUNICIPALITY_SERVICES = ("relatives_line", "exit_fryshuset", "suicide_line")
# The municipality picker: up to PICKER_LIST_MAX teams are one list (as for two teams);
# more are found by typing part of a name or through their group's list.
PICKER_LIST_MAX = 8
MAX_MATCHES = 8  # teams shown as buttons for a typed name
GROUP_PAGE = 40  # teams per screen of a group's list (Telegram takes 100 buttons)
OTHER_GROUP = "none"  # the list of teams that name no group
_FOLD = str.maketrans({"ø": "o", "æ": "ae", "đ": "d", "ł": "l", "ı": "i"})


_SWEDISH_ORDER = str.maketrans({"å": "{", "ä": "|", "ö": "}", "æ": "|", "ø": "}"})


def sort_key(name: str) -> str:
    """Swedish alphabetical order for names (å, ä, ö after z), case ignored."""
    return name.casefold().translate(_SWEDISH_ORDER)


def fold_name(text: str) -> str:
    """A name for matching: case, diacritics, spaces and punctuation ignored
    ("Göteborgs kommun" -> "goteborgskommun")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_FOLD))
    return "".join(c for c in decomposed if c.isalnum() and not unicodedata.combining(c))


def split_html(text: str, limit: int = 4096) -> list[str]:
    """Split at paragraph boundaries so no message passes Telegram's limit.

    Tags never span paragraphs in our screens, so each piece stays valid HTML.
    A single paragraph longer than the limit is cut at line breaks, then hard.
    """
    if visible_length(text) <= limit:
        return [text]
    pieces: list[str] = []
    current = ""
    for paragraph in text.split("\n\n"):
        candidate = f"{current}\n\n{paragraph}" if current else paragraph
        if visible_length(candidate) <= limit:
            current = candidate
            continue
        if current:
            pieces.append(current)
        while visible_length(paragraph) > limit:
            cut = paragraph.rfind("\n", 0, limit) if "\n" in paragraph[:limit] else limit
            pieces.append(paragraph[:cut])
            paragraph = paragraph[cut:].lstrip("\n")
        current = paragraph
    if current:
        pieces.append(current)
    return pieces


@dataclass(frozen=True)
class Button:
    """An inline button: the label shown and its callback code (``bot.callbacks``)."""

    label: str
    data: str


@dataclass(frozen=True)
class Screen:
    """One message: HTML text and rows of buttons."""

    text: str
    keyboard: tuple[tuple[Button, ...], ...] = ()

    def buttons(self) -> list[Button]:
        return [button for row in self.keyboard for button in row]


class Renderer:
    """Renders every screen of the product for one content set and its translators."""

    def __init__(
        self, content: Content, translators: dict[str, Translator], retention_days: int
    ) -> None:
        self.content = content
        self.translators = translators
        self.retention_days = retention_days
        self.case_text_days = 30  # closed requests' texts; see set_case_retention
        self.case_link_days = 7  # the link back to the chat after closing
        self.guide = lru_cache(maxsize=16384)(self._guide)
        self.public_url: str | None = None  # see set_public_url
        self.fallback_team: str | None = None  # see set_fallback_team
        # What an admin set over a team's file (bot.services.teams), see set_team_changes.
        self._team_changes: Callable[[str], Mapping[str, Any]] | None = None
        self._teams: dict[str, tuple[Team, Team]] = {}  # id -> (the file's, effective)
        self._search_keys: list[tuple[str, set[str]]] | None = None  # see _search

    def set_team_changes(self, changes: Callable[[str], Mapping[str, Any]]) -> None:
        """Teams' fields set in the browser (field name -> value) over the team files."""
        self._team_changes = changes
        self.teams_changed()

    def teams_changed(self) -> None:
        """An admin changed a team's languages or hours: cached screens are rendered again."""
        self._teams.clear()
        self.guide.cache_clear()

    def team(self, team_id: str | None) -> Team | None:
        """The team as relatives see it: its file, with what an admin set over it."""
        key = team_id or ""
        team = self.content.teams.get(key)
        if team is None or self._team_changes is None:
            return team
        cached = self._teams.get(key)
        if cached is not None and cached[0] is team:  # made from this very file's team
            return cached[1]
        changes = self._team_changes(key)
        effective = replace(team, **changes) if changes else team
        self._teams[key] = (team, effective)
        return effective

    def set_fallback_team(self, team_id: str | None) -> None:
        """The team whose queue takes requests from relatives of other municipalities."""
        self.fallback_team = team_id if team_id in self.content.teams else None
        self.guide.cache_clear()

    def request_team(self, team_id: str | None) -> str | None:
        """The team a contact request from this chat goes to: its own, else the fallback."""
        if team_id in self.content.teams:
            return team_id
        return self.fallback_team if team_id == NO_TEAM else None

    def set_public_url(self, url: str | None) -> None:
        """Where the public "what is counted" page lives; cached screens are rendered again."""
        self.public_url = url.rstrip("/") if url else None
        self.guide.cache_clear()

    def _stats_note(self, lang: str) -> str:
        """The privacy screen's line on statistics: a link to the public page, else the gist."""
        _ = self.t(lang).gettext
        if self.public_url:
            href = html.escape(f"{self.public_url}/what-is-counted?lang={lang}", quote=True)
            label = html.escape(_("What is counted for statistics, in plain words"))
            return f'<a href="{href}">{label}</a>'
        return html.escape(
            _(
                "For statistics, only numbers per day are counted: no names, no Telegram ids, "
                "no texts, no times finer than the day, and counts under 5 are hidden."
            )
        )

    def set_case_retention(self, text_days: int, link_days: int) -> None:
        """Use the case service's retention in texts; cached screens are rendered again."""
        self.case_text_days, self.case_link_days = text_days, link_days
        self.guide.cache_clear()

    # -- helpers -------------------------------------------------------------------------

    def t(self, lang: str) -> Translator:
        return self.translators[lang]

    def team_name(self, lang: str, team_id: str | None) -> str:
        team = self.content.teams.get(team_id or "")
        if team is None:
            return self.t(lang).gettext("your municipality")
        return team.name.get(lang) or team.name.get(self.content.base_language) or team.id

    def staff_name(self, lang: str, team_id: str | None) -> str:
        """Who reads and answers requests for this team, as the team file names them."""
        team = self.content.teams.get(self.request_team(team_id) or "")
        if team is not None:
            name = team.staff_name.get(lang) or team.staff_name.get(self.content.base_language)
            if name:
                return name
        return self.t(lang).gettext("the municipality's staff")

    def mark_unverified(self, lang: str, what: str = "contact") -> str:
        """The italic mark after a fact nobody has confirmed yet (a contact or a claim)."""
        _ = self.t(lang).gettext
        label = _("not yet confirmed") if what == "contact" else _("not yet checked")
        return f"<i>({html.escape(label)})</i>"

    def national_number(self, lang: str, key: str) -> str:
        """A national phone number, isolated for RTL, marked when unconfirmed."""
        service = self.content.national[key]
        number = self.t(lang).isolate(html.escape(service.number or ""))
        return number if service.verified else f"{number} {self.mark_unverified(lang)}"

    def fill(self, text: str, lang: str, team_id: str | None) -> str:
        """Replace {placeholders} with escaped, bidi-isolated values; unknown ones stay visible."""
        tr = self.t(lang)

        def value(match: re.Match[str]) -> str:
            key, arg = match[1], match[2]
            if key == "claim" and arg:
                claim = self.content.claims.get(arg)
                if claim is None:
                    return match[0]
                return "" if claim.verified else self.mark_unverified(lang, "claim")
            if arg:
                return match[0]
            service = self.content.national.get(key)
            if service is not None and service.kind == "phone" and service.number:
                return self.national_number(lang, key)
            if key == "staff":
                return tr.embed(html.escape(self.staff_name(lang, team_id)))
            if key == "team":
                return tr.embed(html.escape(self.team_name(lang, team_id)))
            if key == "retention_days":
                return tr.number(self.retention_days)
            if key == "case_text_days":
                return tr.number(self.case_text_days)
            if key == "case_link_days":
                return tr.number(self.case_link_days)
            return match[0]

        return PLACEHOLDER_RE.sub(value, text)

    def _nav_rows(self, lang: str, node: Node, back: str | None) -> list[tuple[Button, ...]]:
        _ = self.t(lang).gettext
        rows: list[tuple[Button, ...]] = []
        if node.id != self.content.root:
            target = back or node.parent or self.content.root
            rows.append(
                (
                    Button(self.back_label(lang), callbacks.go(target)),
                    Button(_("🏠 Home"), callbacks.go(self.content.root)),
                )
            )
        help_row = []
        if node.id != "emergency" and "emergency" not in node.children:
            help_row.append(self.emergency_button(lang, node.id))
        if node.id != "contact" and "contact" not in node.children:
            help_row.append(Button(_("💬 Talk to someone"), callbacks.go("contact", 0, node.id)))
        if help_row:
            rows.append(tuple(help_row))
        return rows

    # -- the guide -----------------------------------------------------------------------

    def _guide(
        self,
        lang: str,
        team_id: str | None,
        node_id: str,
        page: int,
        back: str | None,
        rated: bool = False,
    ) -> Screen:
        """One guide screen; ``rated``: the relative answered "Was this helpful?" here."""
        content = self.content
        node = content.nodes[node_id]
        text = content.text(lang, node_id)
        tr = self.t(lang)
        _ = tr.gettext
        pages = self._pages(lang, team_id, node)
        page = max(0, min(page, len(pages) - 1))
        parts = [f"<b>{html.escape(text.title)}</b>", pages[page]]
        last_page = page == len(pages) - 1
        if node.kind == "contact" and team_id not in content.teams:
            if self.request_team(team_id) is None:
                parts = parts[:1]  # no request can be sent: what a request is would only confuse
            parts.append(self._other_municipality(lang, team_id))
        if node.kind == "contact" or (node.kind == "team" and last_page):
            parts.append(self.contacts_block(lang, team_id))
        if node.kind == "team" and self.has_default_screen(team_id):
            parts.append(self.services_block(lang, OTHER_MUNICIPALITY_SERVICES))
        if last_page and node.services:
            parts.append(self.services_block(lang, node.services))
        if len(pages) > 1:
            parts.append(
                "<i>"
                + html.escape(_("Page {page} of {pages}")).format(
                    page=tr.number(page + 1), pages=tr.number(len(pages))
                )
                + "</i>"
            )
        if node.id == content.root:
            parts.extend(self._home_notes(lang))
        if node.id == "privacy":
            parts.append(self._stats_note(lang))
        ask_helpful = node.kind == "article" and last_page and node.id not in NO_RATING
        if ask_helpful:
            question = _("Thank you for your answer.") if rated else _("Was this helpful?")
            parts.append("<i>" + html.escape(question) + "</i>")
        body = "\n\n".join(self.fill(p, lang, team_id) for p in parts if p)

        rows: list[tuple[Button, ...]] = []
        for child in node.children:
            rows.append((Button(content.text(lang, child).button, callbacks.go(child)),))
        for option in node.options:
            label = text.options.get(option.id) or content.text(
                content.base_language, node_id
            ).options.get(option.id, option.id)
            rows.append((Button(label, callbacks.answer(node_id, option.id)),))
        if len(pages) > 1:
            pager = []
            if page > 0:
                previous = self.arrow(lang, _("Previous"), back=True)
                pager.append(Button(previous, callbacks.go(node_id, page - 1, back)))
            if page < len(pages) - 1:
                pager.append(
                    Button(self.arrow(lang, _("Next")), callbacks.go(node_id, page + 1, back))
                )
            rows.append(tuple(pager))
        if page == len(pages) - 1:
            for other in node.see_also:
                rows.append(
                    (
                        Button(
                            "↪ " + content.text(lang, other).button, callbacks.go(other, 0, node_id)
                        ),
                    )
                )
        if ask_helpful and not rated:
            rows.append(
                (
                    Button(_("👍 Yes"), callbacks.helpful(node_id, True, back)),
                    Button(_("👎 No"), callbacks.helpful(node_id, False, back)),
                )
            )
        if node.kind == "team":
            rows.append((Button(_("🏛 Change municipality"), callbacks.ShowPicker("team").data),))
        if node.kind == "contact":
            if self.request_team(team_id) is not None:
                rows.append((Button(_("📝 Ask for contact"), callbacks.StartRequest().data),))
            if team_id not in content.teams:
                rows.append(
                    (Button(_("🏛 Choose municipality"), callbacks.ShowPicker("team").data),)
                )
        if node.id == content.root and self._machine_translated(lang):
            rows.append(self._switch_row(lang))
        if node.id == content.root:
            rows.append(
                (
                    Button(_("🌐 Language"), callbacks.ShowPicker("language").data),
                    Button(_("🏛 Municipality"), callbacks.ShowPicker("team").data),
                )
            )
            rows.append((Button(_("🧹 Clear this chat"), callbacks.ClearChat().data),))
        if node.id == "privacy":
            rows.append(
                (
                    Button(_("🧹 Clear this chat"), callbacks.ClearChat().data),
                    Button(_("🗑 Delete my data"), callbacks.DeleteData().data),
                )
            )
        rows.extend(self._nav_rows(lang, node, back))
        return Screen(body, tuple(rows))

    def page_count(self, lang: str, team_id: str | None, node: Node) -> int:
        """How many pages ``node`` has for this language and team (the last one is rated)."""
        return len(self._pages(lang, team_id, node))

    def _pages(self, lang: str, team_id: str | None, node: Node) -> tuple[str, ...]:
        text = self.content.text(lang, node.id)
        if node.kind != "team":
            return text.pages
        team = self.content.teams.get(team_id or "")
        if team is None:
            _ = self.t(lang).gettext
            return (
                html.escape(
                    _(
                        "You have not chosen a municipality. Choose yours to see what it can do "
                        "and how to reach it. Wherever you live, social services in your "
                        "municipality can give advice, and you can ask to stay anonymous."
                    )
                ),
            )
        if not team.screen:
            return (self._default_team_page(lang),)
        return team.screen.get(lang) or team.screen[self.content.base_language]

    def _default_team_page(self, lang: str) -> str:
        """A team without a screen of its own: marked as general, from its data only (the
        contacts and the national places to turn follow on the same page)."""
        _ = self.t(lang).gettext
        mark = _(
            "General information for {team}: the municipality has not written its own text here."
        )
        advice = _(
            "Social services in the municipality give advice to relatives who worry about "
            "someone close to them. You can ask to stay anonymous."
        )
        return f"<i>{html.escape(mark)}</i>\n\n{html.escape(advice)}"

    def has_default_screen(self, team_id: str | None) -> bool:
        """The team has no screen of its own, so it is shown the default one."""
        team = self.content.teams.get(team_id or "")
        return team is not None and not team.screen

    def _machine_translated(self, lang: str) -> bool:
        """A relatives' language translated by machine from Swedish and English, unreviewed."""
        language = self.content.languages.get(lang)
        return (
            language is not None
            and not language.reviewed
            and lang not in (self.content.base_language, "en")
        )

    def _home_notes(self, lang: str) -> list[str]:
        language = self.content.languages.get(lang)
        if language is None or language.reviewed:
            return []
        _ = self.t(lang).gettext
        if self._machine_translated(lang):
            note = _(
                "ℹ This translation was made by machine and has not yet been checked by a "
                "fluent person. You can switch to Swedish or English at any time."
            )
        else:
            note = _(
                "ℹ These texts have not yet been reviewed by a professional or a fluent speaker."
            )
        return ["<i>" + html.escape(note) + "</i>"]

    def _switch_row(self, lang: str) -> tuple[Button, ...]:
        """One tap from an unreviewed translation to the reviewed-first languages."""
        return tuple(
            Button(self.content.languages[code].name, callbacks.set_language(code))
            for code in (self.content.base_language, "en")
            if code in self.content.languages and self.content.languages[code].enabled
        )

    def _other_municipality(self, lang: str, team_id: str | None) -> str:
        """For a relative outside this guide's municipalities: a real path to a person."""
        _ = self.t(lang).gettext
        fallback = self.request_team(team_id)
        if fallback is not None:
            line = _(
                "Your municipality has no team in this guide. Requests from other "
                "municipalities are answered by {staff}."
            ).replace("{staff}", self.t(lang).embed(self.staff_name(lang, fallback)))
            return "<i>" + html.escape(line) + "</i>"
        lines = [
            "<i>"
            + html.escape(
                _(
                    "Your municipality has no team in this guide, so requests cannot be sent "
                    "from here. Social services in your own municipality give advice to "
                    "relatives: call the municipality's switchboard or look on its website, "
                    "and ask to stay anonymous if you wish."
                )
            )
            + "</i>",
            self.services_block(lang, OTHER_MUNICIPALITY_SERVICES),
        ]
        return "\n\n".join(line for line in lines if line)

    def _service_text(self, lang: str, key: str, field: str) -> str:
        service = self.content.national[key]
        values = service.name if field == "name" else service.for_whom
        return values.get(lang) or values.get("en") or values.get(self.content.base_language, "")

    def services_block(self, lang: str, keys: tuple[str, ...]) -> str:
        """National places to turn, each with whom it is for; unconfirmed ones are marked.

        A service whose number or address nobody has confirmed is left out entirely.
        """
        _ = self.t(lang).gettext
        lines = []
        for key in keys:
            service = self.content.national.get(key)
            if service is None or not service.shown:
                continue
            name = self.t(lang).embed(html.escape(self._service_text(lang, key, "name")))
            for_whom = html.escape(self._service_text(lang, key, "for"))
            if service.kind == "phone":
                value = self.national_number(lang, key)
            else:
                url = service.url or ""
                shown = html.escape(url.removeprefix("https://").rstrip("/"))
                href = html.escape(url, quote=True)
                value = f'<a href="{href}">{self.t(lang).isolate(shown)}</a>'
                if not service.verified:
                    value += " " + self.mark_unverified(lang)
            lines.append(f"• {name}: {value}" + (f" – {for_whom}" if for_whom else ""))
        if not lines:
            return ""
        return "<b>" + html.escape(_("Places to turn")) + "</b>\n" + "\n".join(lines)

    def contacts_block(self, lang: str, team_id: str | None) -> str:
        """The team's contacts (unconfirmed ones named once), then the national numbers."""
        tr = self.t(lang)
        _ = tr.gettext
        lines: list[str] = []
        team = self.team(team_id)
        if team is not None:
            lines.append(f"<b>{tr.embed(html.escape(self.team_name(lang, team_id)))}</b>")
            lines.extend(self._contact_line(lang, c) for c in team.contacts if c.value)
            pending = [self._contact_label(lang, c) for c in team.contacts if not c.value]
            if not team.opening_hours_verified or not team.opening_hours:
                pending.append(_("opening hours"))
            if pending:
                lines.append(
                    "• "
                    + html.escape(
                        _("Not yet confirmed by the municipality, so not shown: {items}.").replace(
                            "{items}", ", ".join(pending)
                        )
                    )
                )
        always = [s for s in self.content.national.values() if s.always and s.shown]
        if always:
            lines.append("<b>" + html.escape(_("National numbers")) + "</b>")
            for service in always:
                label = tr.embed(html.escape(self._service_text(lang, service.key, "name")))
                lines.append(f"• {label}: {self.national_number(lang, service.key)}")
        return "\n".join(lines)

    def _contact_label(self, lang: str, contact: Contact) -> str:
        return (
            contact.label.get(lang) or contact.label.get(self.content.base_language) or contact.id
        )

    def _contact_line(self, lang: str, contact: Contact) -> str:
        tr = self.t(lang)
        label = self._contact_label(lang, contact)
        value = contact.value or ""
        shown_value = tr.isolate(html.escape(value))
        if contact.kind == "web" and value.startswith(("https://", "http://")):
            shown_value = f'<a href="{html.escape(value, quote=True)}">{shown_value}</a>'
        mark = "" if contact.verified else " " + self.mark_unverified(lang)
        return f"• {html.escape(label)}: {shown_value}{mark}"

    # -- onboarding and settings ---------------------------------------------------------

    def welcome(self, lang: str) -> Screen:
        tr = self.t(lang)
        _ = tr.gettext
        name = self.content.languages[lang].name
        text = "\n\n".join(
            [
                "<b>" + html.escape(_("Welcome")) + "</b>",
                html.escape(
                    _(
                        "This is a calm guide for you who worry that someone close to you is being "
                        "drawn towards violent extremism. You do not need to give your name."
                    )
                ),
                html.escape(
                    _("The guide is not an emergency service. In danger, call {number}.").format(
                        number="{emergency}"
                    )
                ),
                html.escape(_("Language: {language}").format(language=name)),
            ]
        )
        rows = (
            (
                Button(
                    _("✓ Continue in {language}").format(language=name),
                    callbacks.set_language(lang),
                ),
            ),
            (Button(_("🌐 Choose another language"), callbacks.ShowPicker("language").data),),
            (self.emergency_button(lang),),
        )
        return Screen(self.fill(text, lang, None), rows)

    def _back_row(self, lang: str) -> tuple[Button, ...]:
        return (Button(self.back_label(lang), callbacks.Cancel().data),)

    def language_picker(self, lang: str, *, back: bool = False) -> Screen:
        _ = self.t(lang).gettext
        rows: list[tuple[Button, ...]] = [
            (
                Button(
                    ("✓ " if language.code == lang else "") + language.name,
                    callbacks.set_language(language.code),
                ),
            )
            for language in self.content.enabled_languages
        ]
        if back:
            rows.append(self._back_row(lang))
        rows.append((self.emergency_button(lang),))
        return Screen("<b>" + html.escape(_("Choose your language")) + "</b>", tuple(rows))

    def team_picker(self, lang: str, current: str | None, *, back: bool = False) -> Screen:
        if self.large_picker():
            return self._large_picker(lang, current, back=back)
        _ = self.t(lang).gettext
        rows: list[tuple[Button, ...]] = [
            (
                Button(
                    ("✓ " if team_id == current else "") + self.team_name(lang, team_id),
                    callbacks.set_team(team_id),
                ),
            )
            for team_id in sorted(self.content.teams, key=lambda t: self.team_name(lang, t))
        ]
        rows.append(
            (
                Button(
                    ("✓ " if current == NO_TEAM else "") + _("Another municipality"),
                    callbacks.set_team(NO_TEAM),
                ),
            )
        )
        if back:
            rows.append(self._back_row(lang))
        rows.append((self.emergency_button(lang),))
        text = "\n\n".join(
            [
                "<b>" + html.escape(_("Which municipality do you live in?")) + "</b>",
                html.escape(
                    _(
                        "This only decides which local information and contacts you see. "
                        "You can change it at any time."
                    )
                ),
            ]
        )
        return Screen(text, tuple(rows))

    # -- the municipality picker at scale ----------------------------------------------

    def large_picker(self) -> bool:
        """Too many teams for one list: the picker offers typing and grouped lists."""
        return len(self.content.teams) > PICKER_LIST_MAX

    def _team_button(self, lang: str, team_id: str, current: str | None) -> tuple[Button, ...]:
        label = ("✓ " if team_id == current else "") + self.team_name(lang, team_id)
        return (Button(label, callbacks.set_team(team_id)),)

    def group_members(self) -> dict[str, tuple[str, ...]]:
        """Group id -> its teams' ids (OTHER_GROUP: the teams that name no known group)."""
        members: dict[str, list[str]] = {}
        for team in self.content.teams.values():
            group = team.group if team.group in self.content.team_groups else OTHER_GROUP
            members.setdefault(group or OTHER_GROUP, []).append(team.id)
        return {group: tuple(ids) for group, ids in members.items()}

    def group_name(self, lang: str, group_id: str) -> str:
        group = self.content.team_groups.get(group_id)
        if group is None:
            return self.t(lang).gettext("More municipalities")
        return (
            group.name.get(lang)
            or group.name.get("en")
            or group.name.get(self.content.base_language, group_id)
        )

    def _picker_text(self, lang: str, *extra: str) -> str:
        _ = self.t(lang).gettext
        return "\n\n".join(
            [
                "<b>" + html.escape(_("Which municipality do you live in?")) + "</b>",
                *extra,
            ]
        )

    def _large_picker(self, lang: str, current: str | None, *, back: bool) -> Screen:
        """The last choice first, then one button per group, "another municipality"."""
        _ = self.t(lang).gettext
        rows: list[tuple[Button, ...]] = []
        if current in self.content.teams:
            rows.append(self._team_button(lang, current, current))
        members = self.group_members()
        groups = sorted(
            (g for g in members if g != OTHER_GROUP),
            key=lambda g: sort_key(self.group_name(lang, g)),
        )
        if OTHER_GROUP in members:
            groups.append(OTHER_GROUP)
        for group in groups:
            rows.append((Button(self.group_name(lang, group), callbacks.PickGroup(group).data),))
        rows.append(
            (
                Button(
                    ("✓ " if current == NO_TEAM else "") + _("Another municipality"),
                    callbacks.set_team(NO_TEAM),
                ),
            )
        )
        if back:
            rows.append(self._back_row(lang))
        rows.append((self.emergency_button(lang),))
        text = self._picker_text(
            lang,
            html.escape(
                _(
                    "This only decides which local information and contacts you see. "
                    "You can change it at any time."
                )
            ),
            html.escape(
                _(
                    "Type part of your municipality's name and send it, or choose from "
                    "the lists below."
                )
            ),
        )
        return Screen(text, tuple(rows))

    def group_picker(self, lang: str, group: str, page: int, current: str | None) -> Screen | None:
        """One group's teams (a page of them); None for a group that does not exist."""
        tr = self.t(lang)
        _ = tr.gettext
        members = self.group_members().get(group)
        if not members:
            return None
        ordered = sorted(members, key=lambda t: sort_key(self.team_name(lang, t)))
        pages = (len(ordered) + GROUP_PAGE - 1) // GROUP_PAGE
        page = max(0, min(page, pages - 1))
        rows = [
            self._team_button(lang, team_id, current)
            for team_id in ordered[page * GROUP_PAGE : (page + 1) * GROUP_PAGE]
        ]
        extra = ["<b>" + tr.embed(html.escape(self.group_name(lang, group))) + "</b>"]
        if pages > 1:
            pager = []
            if page > 0:
                previous = self.arrow(lang, _("Previous"), back=True)
                pager.append(Button(previous, callbacks.PickGroup(group, page - 1).data))
            if page < pages - 1:
                following = self.arrow(lang, _("Next"))
                pager.append(Button(following, callbacks.PickGroup(group, page + 1).data))
            rows.append(tuple(pager))
            extra.append(
                "<i>"
                + html.escape(_("Page {page} of {pages}")).format(
                    page=tr.number(page + 1), pages=tr.number(pages)
                )
                + "</i>"
            )
        rows.append((Button(self.back_label(lang), callbacks.ShowPicker("team").data),))
        rows.append((self.emergency_button(lang),))
        return Screen(self._picker_text(lang, *extra), tuple(rows))

    def group_pages(self, group: str) -> int:
        members = self.group_members().get(group, ())
        return (len(members) + GROUP_PAGE - 1) // GROUP_PAGE

    def _search(self, query: str) -> tuple[list[str], list[str]]:
        """(teams whose name begins with the text, teams whose name contains it)."""
        wanted = fold_name(query)
        starts: list[str] = []
        contains: list[str] = []
        if not 2 <= len(wanted) <= 40:
            return starts, contains
        if self._search_keys is None:
            self._search_keys = [
                (team.id, {fold_name(name) for name in team.name.values()} | {fold_name(team.id)})
                for team in self.content.teams.values()
            ]
        for team_id, keys in self._search_keys:
            if any(key.startswith(wanted) for key in keys):
                starts.append(team_id)
            elif any(wanted in key for key in keys):
                contains.append(team_id)
        return starts, contains

    def find_teams(self, query: str) -> list[str]:
        """Teams whose name (in any language) or id contains the typed text, names that
        begin with it first; case, diacritics, spaces and punctuation do not matter."""
        starts, contains = self._search(query)
        return starts + contains

    def team_matches(self, lang: str, query: str, current: str | None, *, back: bool) -> Screen:
        """The answer to a typed name: the matching teams as buttons (at most MAX_MATCHES;
        names that begin with the text win when there are more), else a request to type
        more, or that none matched, above the grouped picker."""
        _ = self.t(lang).gettext
        starts, contains = self._search(query)
        matches = starts + contains
        if len(matches) > MAX_MATCHES and 0 < len(starts) <= MAX_MATCHES:
            matches = starts
        if not matches or len(matches) > MAX_MATCHES:
            notice = (
                _(
                    "Many municipalities match what you wrote. Please type more of the name, "
                    "or choose from the lists below."
                )
                if matches
                else _(
                    "No municipality matches what you wrote. Check the spelling, or choose "
                    "from the lists below. If yours is not there, choose “Another "
                    "municipality”."
                )
            )
            picker = self._large_picker(lang, current, back=back)
            return Screen(f"<i>{html.escape(notice)}</i>\n\n{picker.text}", picker.keyboard)
        by_name = {t: sort_key(self.team_name(lang, t)) for t in matches}
        matches = sorted(matches, key=lambda t: (t not in starts, by_name[t]))
        rows = [self._team_button(lang, team_id, current) for team_id in matches]
        rows.append((Button(self.back_label(lang), callbacks.ShowPicker("team").data),))
        rows.append((self.emergency_button(lang),))
        text = self._picker_text(
            lang, html.escape(_("Municipalities whose name matches what you wrote:"))
        )
        return Screen(text, tuple(rows))

    def help(self, lang: str) -> Screen:
        _ = self.t(lang).gettext
        lines = [
            "<b>" + html.escape(_("How this guide works")) + "</b>",
            html.escape(
                _(
                    "Tap the buttons to move around. Every screen has a way back, a way "
                    "to emergency help and a way to talk to someone."
                )
            ),
            "\n".join(
                [
                    "/start – " + html.escape(_("begin, or go to the main menu")),
                    "/language – " + html.escape(_("change language")),
                    "/municipality – " + html.escape(_("change municipality")),
                    "/emergency – " + html.escape(_("when there is danger")),
                    "/privacy – " + html.escape(_("what is stored, and for how long")),
                    "/status – " + html.escape(_("where your request to the team stands")),
                    "/clear – " + html.escape(_("remove the messages in this chat")),
                    "/delete – " + html.escape(_("delete everything stored about this chat")),
                ]
            ),
        ]
        return Screen(
            "\n\n".join(lines),
            (
                (Button(_("🏠 Home"), callbacks.go(self.content.root)),),
                (
                    self.emergency_button(lang),
                    Button(_("💬 Talk to someone"), callbacks.go("contact")),
                ),
            ),
        )

    def arrow(self, lang: str, label: str, *, back: bool = False) -> str:
        """A label with its arrow on the reading side: arrows are never in translations.

        "Back" points against the reading direction, "Next" along it, so in Arabic or
        Persian the arrows swap sides and directions.
        """
        rtl = self.t(lang).rtl
        if back:
            return f"{'▶' if rtl else '◀'} {label}"
        return f"{label} {'◀' if rtl else '▶'}"

    def back_label(self, lang: str) -> str:
        return self.arrow(lang, self.t(lang).gettext("Back"), back=True)

    def emergency_button(self, lang: str, back: str | None = None) -> Button:
        """112 one tap away: on every screen, pickers and staff replies included."""
        label = self.t(lang).gettext("🆘 Emergency {number}")
        return Button(
            label.format(number=self._emergency_number()).strip(),
            callbacks.go("emergency", 0, back),
        )

    def _emergency_number(self) -> str:
        emergency = self.content.national.get("emergency")
        return (emergency.number or "") if emergency else ""

    def start_rows(self, lang: str) -> tuple[tuple[Button, ...], ...]:
        """After everything was deleted: start again, or 112."""
        return ((self.start_button(lang),), (self.emergency_button(lang),))

    def start_button(self, lang: str) -> Button:
        return Button(self.t(lang).gettext("Start again"), callbacks.go(self.content.root))

    def notice(self, lang: str, message: str, *, with_home: bool = True) -> Screen:
        """A short message with a way home, used for stale buttons and unexpected input."""
        _ = self.t(lang).gettext
        rows: tuple[tuple[Button, ...], ...] = ((self.emergency_button(lang),),)
        if with_home:
            rows = (
                (
                    Button(_("🏠 Home"), callbacks.go(self.content.root)),
                    Button(_("💬 Talk to someone"), callbacks.go("contact")),
                ),
                *rows,
            )
        return Screen(html.escape(message), rows)

    def confirm(self, lang: str, question: str, choices: list[tuple[str, str]]) -> Screen:
        _ = self.t(lang).gettext
        rows = [(Button(label, data),) for label, data in choices]
        rows.append((Button(_("Cancel"), callbacks.Cancel().data),))
        rows.append((self.emergency_button(lang),))
        return Screen(question, tuple(rows))
