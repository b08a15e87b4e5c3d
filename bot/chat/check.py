"""``content check`` for the whole bot: the guide's screens and the chat's contact screens.

The guide's checks live in ``bot.content.validate``; the contact screens are built here in
the chat, above content, so the walk that covers both is assembled here and handed down
as a ``ScreenWalk``. Every door (the runtime, the CLI, the staff content page) checks
through this module, so they all see the same report and share its one walk per process.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bot.chat.contact_flow import STEPS, Draft
from bot.chat.contact_screens import ContactScreens
from bot.content import validate
from bot.content.loader import Problem
from bot.content.model import Content
from bot.content.render import Renderer
from bot.content.validate import Report, check_screen
from bot.domain import STATUSES, RelativeView

__all__ = ["Report", "check", "checked_once", "contact_screens"]


def check(content_dir: Path, locales_dir: Path, retention_days: int = 30) -> Report:
    """Check content, UI strings and every screen the bot can show (guide and contact)."""
    return validate.check(content_dir, locales_dir, retention_days, WALKS)


def checked_once(content_dir: Path, locales_dir: Path, retention_days: int = 30) -> Report:
    """``check`` once per set of files in a process, with a fresh renderer per caller."""
    return validate.checked_once(content_dir, locales_dir, retention_days, WALKS)


def contact_screens(content: Content, renderer: Renderer, lang: str, out: list[Problem]) -> int:
    """Every screen of "talk to someone", with sample answers, for every team."""
    screens = ContactScreens(renderer)
    now = datetime(2026, 1, 5, 20, 0, tzinfo=UTC)
    draft: Draft = {
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
    # The same for every team (no team in their making): rendered once, checked per team.
    edit_menu, withdraw = screens.edit_menu(lang), screens.withdraw_question(lang, "ACD-EFG")
    withdrawn, sent = screens.withdrawn(lang), screens.message_sent(lang)
    thanks = screens.feedback_thanks(lang)
    for team_id in content.teams:
        rendered = [(screens.step(lang, team_id, {**draft, "step": s}), s) for s in STEPS]
        for status in STATUSES:
            view = RelativeView("ACD-EFG", status, now, status == "claimed", 1)
            rendered.append((screens.status(lang, team_id, view, now), f"status {status}"))
        rendered += [
            (edit_menu, "edit menu"),
            (screens.created(lang, team_id, "ACD-EFG", "chat", now), "case code"),
            (withdraw, "withdraw"),
            (withdrawn, "withdrawn"),
        ]
        for screen, name in rendered:
            check_screen(screen, f"screen {lang}/{team_id}/contact: {name}", out, need=need)
            checked += 1
        for screen, name in [
            (sent, "message sent"),
            (screens.relayed(lang, team_id, "…", "Anna"), "staff reply"),
            (screens.closed_notice(lang, team_id, "ACD-EFG"), "close notice"),
            (thanks, "feedback thanks"),
        ]:
            where = f"screen {lang}/{team_id}/contact: {name}"
            check_screen(screen, where, out, need={"emergency"})
            checked += 1
    return checked


WALKS = (contact_screens,)
