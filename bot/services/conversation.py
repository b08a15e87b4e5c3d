"""The relative's conversation: what each tap, command or message leads to.

The Telegram adapter turns an update into an ``Event`` and hands over a
``ChatPort`` (send, edit, delete). This service owns the rules and the one
read and one write of state per update. It never sees a name or username, and
message text never reaches it: only the fact that text arrived.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from bot import callbacks
from bot.content.model import NO_TEAM, Content
from bot.content.render import UTILITY_NODES, Renderer, Screen
from bot.privacy import chat_pseudonym
from bot.storage.sessions import SessionState, SessionStore

log = logging.getLogger(__name__)

COMMANDS = ("start", "help", "language", "municipality", "emergency", "privacy", "delete", "clear")


class ChatPort(Protocol):
    """The door back to the chat. Implementations swallow nothing: they report failure."""

    async def send(self, screen: Screen) -> list[int]: ...
    async def edit(self, message_id: int, screen: Screen) -> bool: ...
    async def delete(self, message_ids: list[int]) -> None: ...


@dataclass(frozen=True)
class Event:
    """One thing the relative did, stripped of anything personal."""

    update_id: int
    kind: str  # "command" | "button" | "text" | "other"
    language_code: str | None = None
    command: str | None = None
    data: str | None = None
    message_id: int | None = None  # the relative's message, or the message carrying the button


@dataclass(frozen=True)
class Outcome:
    """What the adapter still has to do: answer the button press, maybe with a short toast."""

    toast: str | None = None
    duplicate: bool = False


@dataclass
class _Reply:
    screen: Screen
    edit: bool = True
    toast: str | None = None
    save: bool = True


def _today() -> date:
    return datetime.now(UTC).date()


class ConversationService:
    def __init__(
        self,
        store: SessionStore,
        content: Content,
        renderer: Renderer,
        secret_key: bytes,
        retention_days: int,
        today: Callable[[], date] = _today,
    ) -> None:
        self.store = store
        self.content = content
        self.renderer = renderer
        self.secret_key = secret_key
        self.retention_days = retention_days
        self.today = today
        self.enabled = {lang.code for lang in content.enabled_languages}

    def pick_language(self, language_code: str | None) -> str:
        """Telegram's language_code pre-selects a language; the relative confirms or changes it."""
        if language_code:
            primary = language_code.lower().replace("_", "-").split("-")[0]
            if primary in self.enabled:
                return primary
        return "en" if "en" in self.enabled else self.content.base_language

    async def handle(self, chat_id: int, event: Event, port: ChatPort) -> Outcome:
        """Apply one event: at most one read and one write of state."""
        pseudonym = chat_pseudonym(self.secret_key, chat_id)
        stored = await self.store.load(pseudonym)
        if stored is not None and stored.seen(event.update_id):
            return Outcome(duplicate=True)
        state = stored or SessionState()
        if state.language not in self.enabled:
            state.language = None
        lang = state.language or self.pick_language(event.language_code)
        if event.kind != "button":
            state.track(event.message_id)

        if event.kind == "command":
            reply = await self._command(event.command or "", state, lang, port, pseudonym)
        elif event.kind == "button":
            reply = await self._button(event, state, lang, port, pseudonym)
        elif event.kind == "text":
            _ = self.renderer.t(lang).gettext
            reply = self._with_notice(
                state,
                lang,
                _(
                    "I can only guide you with the buttons. What you write here is not read by "
                    "anyone and not saved. To reach a person, tap “Talk to someone”."
                ),
            )
        else:
            _ = self.renderer.t(lang).gettext
            reply = self._with_notice(
                state,
                lang,
                _(
                    "I can only read taps on the buttons. Pictures, voice messages and stickers "
                    "are not saved or looked at."
                ),
            )

        message_id = None
        can_edit = reply.edit and event.kind == "button" and event.message_id is not None
        if can_edit and await port.edit(event.message_id, reply.screen):
            message_id = event.message_id
        sent: list[int] = []
        if message_id is None:
            sent = await port.send(reply.screen)
            message_id = sent[-1] if sent else None
        if reply.save:
            state.menu_message_id = message_id
            state.track(*sent)
            if not await self.store.save(pseudonym, state, event.update_id, self.today()):
                log.info("state not saved: another process wrote this chat meanwhile")
        log.debug("handled a %s update", event.kind)
        return Outcome(toast=reply.toast)

    # -- screens for the current state ---------------------------------------------------

    def current_screen(self, state: SessionState, lang: str) -> Screen:
        if state.language is None:
            return self.renderer.welcome(lang)
        if state.team_id is None:
            return self.renderer.team_picker(lang, None, back=False)
        node = state.node if state.node in self.content.nodes else self.content.root
        return self.renderer.guide(lang, state.team_id, node, state.page, None)

    def _with_notice(self, state: SessionState, lang: str, notice: str) -> _Reply:
        screen = self.current_screen(state, lang)
        text = f"<i>{html.escape(notice)}</i>\n\n{screen.text}"
        return _Reply(Screen(text, screen.keyboard), edit=False)

    def _go(
        self, state: SessionState, lang: str, node: str, page: int = 0, back: str | None = None
    ) -> _Reply:
        state.node, state.page = node, page
        return _Reply(self.renderer.guide(lang, state.team_id, node, page, back))

    # -- commands ------------------------------------------------------------------------

    async def _command(
        self, command: str, state: SessionState, lang: str, port: ChatPort, pseudonym: str
    ) -> _Reply:
        _ = self.renderer.t(lang).gettext
        root = self.content.root
        if command == "start":
            if state.onboarded:
                return _Reply(self._go(state, lang, root).screen, edit=False)
            return _Reply(self.renderer.welcome(lang), edit=False)
        if not state.onboarded and command not in ("emergency", "privacy", "delete", "clear"):
            state.language = state.language or lang
            if command == "language":
                return _Reply(self.renderer.language_picker(lang), edit=False)
            return _Reply(self.renderer.team_picker(lang, state.team_id, back=False), edit=False)
        if command == "help":
            return _Reply(self.renderer.help(lang), edit=False)
        if command == "language":
            return _Reply(self.renderer.language_picker(lang, back=True), edit=False)
        if command == "municipality":
            return _Reply(self.renderer.team_picker(lang, state.team_id, back=True), edit=False)
        if command in ("emergency", "privacy"):
            return _Reply(self._go(state, lang, command).screen, edit=False)
        if command == "delete":
            return _Reply(self._delete_question(lang), edit=False)
        if command == "clear":
            return _Reply(self._clear_question(lang), edit=False)
        reply = _Reply(self.renderer.help(lang), edit=False)
        notice = _("I do not know that command. This is what I can do:")
        reply.screen = Screen(
            f"<i>{html.escape(notice)}</i>\n\n{reply.screen.text}", reply.screen.keyboard
        )
        return reply

    def _delete_question(self, lang: str) -> Screen:
        _ = self.renderer.t(lang).gettext
        text = html.escape(
            _(
                "Delete everything this guide stores about this chat: your language, your "
                "municipality and where you are in the guide? This cannot be undone."
            )
        )
        return self.renderer.confirm(
            lang,
            text,
            [
                (_("🗑 Delete my data"), callbacks.simple("delete_do")),
                (_("🗑 Delete my data and clear the chat"), callbacks.simple("delete_and_clear")),
            ],
        )

    def _clear_question(self, lang: str) -> Screen:
        _ = self.renderer.t(lang).gettext
        text = html.escape(
            _(
                "Remove the messages in this chat, so that someone else using this phone does not "
                "see them? Telegram only lets bots remove messages from the last 48 hours; to "
                "remove everything, also delete the chat in Telegram."
            )
        )
        return self.renderer.confirm(
            lang, text, [(_("🧹 Clear this chat"), callbacks.simple("clear_do"))]
        )

    # -- buttons -------------------------------------------------------------------------

    async def _button(
        self, event: Event, state: SessionState, lang: str, port: ChatPort, pseudonym: str
    ) -> _Reply:
        _ = self.renderer.t(lang).gettext
        action = callbacks.parse(event.data)
        stale = _("This button is from an older version of the guide. Here is where you are now.")
        if isinstance(action, callbacks.SetLanguage):
            if action.code not in self.enabled:
                return self._stale(state, lang, stale)
            first_time = state.language is None
            state.language = action.code
            if state.team_id is None:
                return _Reply(self.renderer.team_picker(action.code, None, back=False))
            screen = self._go(state, action.code, self.content.root).screen
            return _Reply(
                screen,
                toast=None
                if first_time
                else self.renderer.t(action.code).gettext("Language changed"),
            )
        if state.language is None:
            state.language = lang
        if isinstance(action, callbacks.SetTeam):
            if action.team not in self.content.teams and action.team != NO_TEAM:
                return self._stale(state, lang, stale)
            state.team_id = action.team
            return self._go(state, lang, self.content.root)
        needs_team = isinstance(action, callbacks.Answer) or (
            isinstance(action, callbacks.Go) and action.node not in UTILITY_NODES
        )
        if state.team_id is None and needs_team:
            return _Reply(self.renderer.team_picker(lang, None, back=False))
        if isinstance(action, callbacks.Go):
            if action.node not in self.content.nodes or (
                action.back is not None and action.back not in self.content.nodes
            ):
                return self._stale(state, lang, stale)
            return self._go(state, lang, action.node, action.page, action.back)
        if isinstance(action, callbacks.Answer):
            node = self.content.nodes.get(action.node)
            option = (
                next((o for o in node.options if o.id == action.option), None) if node else None
            )
            if option is None:
                return self._stale(state, lang, stale)
            return self._go(state, lang, option.goto)
        if isinstance(action, callbacks.Simple):
            return await self._simple(action.name, state, lang, port, pseudonym)
        return self._stale(state, lang, stale)

    def _stale(self, state: SessionState, lang: str, message: str) -> _Reply:
        reply = self._with_notice(state, lang, message)
        reply.edit = True
        return reply

    async def _simple(
        self, name: str, state: SessionState, lang: str, port: ChatPort, pseudonym: str
    ) -> _Reply:
        _ = self.renderer.t(lang).gettext
        if name == "language_picker":
            return _Reply(self.renderer.language_picker(lang, back=state.onboarded))
        if name == "team_picker":
            return _Reply(self.renderer.team_picker(lang, state.team_id, back=state.onboarded))
        if name == "clear_ask":
            return _Reply(self._clear_question(lang))
        if name == "delete_ask":
            return _Reply(self._delete_question(lang))
        if name == "clear_do":
            await self._clear(state, port)
            return _Reply(self.renderer.notice(lang, _("This chat has been cleared.")), edit=False)
        if name in ("delete_do", "delete_and_clear"):
            if name == "delete_and_clear":
                await self._clear(state, port)
            await self.store.delete(pseudonym)
            text = _(
                "Everything this guide stored about this chat has been deleted. "
                "If you write again, the guide starts from the beginning."
            )
            screen = Screen(html.escape(text), ((self.renderer.start_button(lang),),))
            return _Reply(screen, edit=name == "delete_do", save=False)
        # cancel: back to where the relative was
        return _Reply(self.current_screen(state, lang))

    async def _clear(self, state: SessionState, port: ChatPort) -> None:
        """Delete our own and the relative's messages that we know of (Telegram: last 48 h)."""
        if state.message_ids:
            await port.delete(list(state.message_ids))
        state.message_ids = []
        state.menu_message_id = None

    # -- retention -------------------------------------------------------------------------

    async def purge(self) -> int:
        """Delete conversations idle for longer than the retention period."""
        cutoff = self.today() - timedelta(days=self.retention_days)
        removed = await self.store.purge_idle(cutoff)
        log.info("purged %d idle conversation(s)", removed)
        return removed
