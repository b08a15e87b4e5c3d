"""The relative's conversation: what each tap, command or message leads to.

The Telegram adapter turns an update into an ``Event`` and hands over a
``ChatPort`` (send, edit, delete). This presenter chooses the screens; it owns the chat's
rules and the one read and one write of state per update. It never sees a name or username.
Message text is used only where the relative is asked for it ("talk to
someone": the call-back number, the request's text, messages to an open
case); it is scrubbed before it is stored and never logged.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from bot import callbacks
from bot.chat import contact_flow as flow
from bot.chat.contact_screens import ContactScreens, with_notice
from bot.chat.flood_screens import held_back_again, held_back_first
from bot.chat.memory import ChatMemory
from bot.content.model import NO_TEAM, Content
from bot.content.render import UTILITY_NODES, Renderer, Screen
from bot.domain import ACTIVE_STATUSES, FEEDBACK, MAX_TEXT, CaseError, RelativeView
from bot.services.cases import CaseService, ChatMark, MessageFate
from bot.services.link_crypto import DRAFT_PHONE, LinkCipher, LinkError
from bot.services.scrub import scrub
from bot.services.stats import StatsRecorder
from bot.storage.sessions import SessionState
from bot.text_input import normalise_text, without_unstorable

log = logging.getLogger(__name__)

# The language of the update being handled in this task, once known: the door's error
# handler answers in it (the state may be what could not be read).
turn_language: ContextVar[str | None] = ContextVar("turn_language", default=None)

COMMANDS = (
    "start",
    "help",
    "language",
    "municipality",
    "emergency",
    "privacy",
    "delete",
    "clear",
    "status",
)


class ChatPort(Protocol):
    """The door back to the chat. Implementations swallow nothing: they report failure."""

    async def send(self, screen: Screen) -> list[int]: ...
    async def edit(self, message_id: int, screen: Screen) -> bool: ...
    async def delete(self, message_ids: list[int]) -> None: ...


EventKind = Literal["command", "button", "text", "other"]


@dataclass(frozen=True)
class Event:
    """One thing the relative did, stripped of anything personal."""

    update_id: int
    kind: EventKind
    language_code: str | None = None
    command: str | None = None
    data: str | None = None
    message_id: int | None = None  # the relative's message, or the message carrying the button
    text: str | None = None  # kind "text" only; used by the contact flow, never stored raw


@dataclass(frozen=True)
class Outcome:
    """What the adapter still has to do: answer the button press, maybe with a short toast."""

    toast: str | None = None
    duplicate: bool = False


@dataclass(frozen=True)
class _Turn:
    """Who and which update, for the few steps that need them (creating a request)."""

    chat_id: int
    pseudonym: str
    update_id: int


@dataclass
class _Reply:
    screen: Screen
    edit: bool = True
    toast: str | None = None
    save: bool = True


class ConversationService:
    """The relative's chat: one event in, one screen out, with the state it implies."""

    def __init__(
        self,
        memory: ChatMemory,
        content: Content,
        renderer: Renderer,
        retention_days: int,
        *,
        cases: CaseService | None = None,
        stats: StatsRecorder | None = None,
    ) -> None:
        self.memory = memory  # the session store by chat id, shared with the relay
        self.store = memory.store
        self.content = content
        self.renderer = renderer
        self.retention_days = retention_days
        self.today = memory.today
        self.cases = cases  # without it "talk to someone" only informs
        self.stats = stats  # anonymous daily counts; None records nothing
        self.contact = ContactScreens(renderer)
        # A draft's call-back number is sealed (under the newest key; opened with any).
        self.cipher = LinkCipher(memory.secret_key, memory.old_keys)
        self.enabled = {lang.code for lang in content.enabled_languages}

    def pick_language(self, language_code: str | None) -> str:
        """Telegram's language_code pre-selects a language; the relative confirms or changes it."""
        if language_code:
            primary = language_code.lower().replace("_", "-").split("-")[0]
            if primary in self.enabled:
                return primary
        return "en" if "en" in self.enabled else self.content.base_language

    async def handle(self, chat_id: int, event: Event, port: ChatPort) -> Outcome:
        """Apply one event: at most one read and one write of state.

        Order, chosen for a process that can die at any point (kill -9) and a Telegram that
        delivers an unacknowledged update again:

        * An effect someone else sees (a message to the team, a new request) is committed
          in one transaction with the chat's state marking the update *pending*. A
          redelivery stores nothing again; it answers again (the code of the case made).
        * The answer is sent before the state is saved with the update id: dying between
          the two repeats an answer on redelivery, never loses one. A lost answer is worse
          for a relative than a repeated screen; a repeated request is worse than either,
          and the pending mark rules that out.
        """
        turn_language.set(None)
        pseudonym, stored = await self.memory.load(chat_id)  # moved here from an older key's
        if stored is not None and stored.seen(event.update_id):
            return Outcome(duplicate=True)
        state = stored or SessionState()
        if stored is None:  # moved to the team chosen today (StatsRecorder.started)
            self._mark("started", pseudonym, self.pick_language(event.language_code))
        if state.language not in self.enabled:
            state.language = None
        lang = state.language or self.pick_language(event.language_code)
        turn_language.set(lang)
        if event.kind != "button":
            state.track(event.message_id)

        turn = _Turn(chat_id, pseudonym, event.update_id)
        match event.kind:
            case _ if state.pending(event.update_id):
                reply = await self._answer_again(event, state, lang)
            case "command":
                reply = await self._command(event.command or "", state, lang)
            case "button":
                reply = await self._button(event, state, lang, port, turn)
            case "text":
                reply = await self._text(event.text or "", state, lang, turn)
            case _:
                reply = self._not_text(state, lang)

        message_id = None
        tapped = event.message_id if event.kind == "button" else None
        if reply.edit and tapped is not None and await port.edit(tapped, reply.screen):
            message_id = tapped
        sent: list[int] = []
        if message_id is None:
            sent = await port.send(reply.screen)
            message_id = sent[-1] if sent else None
        if reply.save:
            state.menu_message_id = message_id
            state.track(*sent)
            if not await self.store.save(pseudonym, state, event.update_id, self.today()):
                log.info("state not saved: another process wrote this chat meanwhile")
        if reply.save:
            self._seen(pseudonym, state)
        log.debug("handled a %s update", event.kind)
        return Outcome(toast=reply.toast)

    async def _answer_again(self, event: Event, state: SessionState, lang: str) -> _Reply:
        """A redelivered update whose effect was committed: the answer it had, nothing
        stored again (a confirm shows the case it made, with its code)."""
        if event.kind == "text":
            return _Reply(self.contact.message_sent(lang), edit=False)
        return await self._status(state, lang)

    def error_text(self, language_code: str | None) -> str:
        """The calm "something went wrong" in the relative's language (this turn's, else
        Telegram's language_code if enabled), else in Swedish and English."""
        lang = turn_language.get()
        if lang is None and language_code:
            primary = language_code.lower().replace("_", "-").split("-")[0]
            lang = primary if primary in self.enabled else None
        texts = [_error_text(self.renderer.t(code).gettext) for code in ("sv", "en")]
        if lang is not None:
            text = _error_text(self.renderer.t(lang).gettext)
            if lang == "en" or text != texts[1]:  # translated (else: not in its catalog)
                return text
        return "\n".join(dict.fromkeys(texts))

    def _not_text(self, state: SessionState, lang: str) -> _Reply:
        """A picture, voice message, sticker or file: say it was neither read nor kept."""
        _ = self.renderer.t(lang).gettext
        if state.case_id is not None or self._draft_step(state) in flow.TEXT_STEPS:
            notice = _(
                "Only written text can be passed on to the team. Pictures, voice messages, "
                "stickers and files are not sent or saved."
            )
        else:
            notice = _(
                "I can only read taps on the buttons. Pictures, voice messages and stickers "
                "are not saved or looked at."
            )
        return self._with_notice(state, lang, notice)

    # -- anonymous statistics ------------------------------------------------------------

    def _team(self, state: SessionState) -> str:
        """The team a count belongs to: a known team, else '' (none chosen or no team)."""
        team = state.team_id
        return team if team is not None and team in self.content.teams else ""

    def _seen(self, pseudonym: str, state: SessionState) -> None:
        """Distinct relatives per day (a digest for today only); never breaks an update."""
        if self.stats is None:
            return
        try:
            self.stats.seen(pseudonym, self._team(state))
        except Exception as exc:
            log.error("statistics recording failed: %s", type(exc).__name__, exc_info=exc)

    def _mark(self, what: str, pseudonym: str, value: str) -> None:
        """A conversation started (``value``: its language) or chose its first team
        (``value``; NO_TEAM or an unknown one is none of the teams); never breaks an update."""
        if self.stats is None:
            return
        try:
            if what == "started":
                self.stats.started(pseudonym, value)
            else:
                self.stats.chose_team(pseudonym, value if value in self.content.teams else "")
        except Exception as exc:
            log.error("statistics recording failed: %s", type(exc).__name__, exc_info=exc)

    def _count(self, kind: str, state: SessionState, lang: str | None, key: str = "") -> None:
        """Record one count; recording never breaks an update (errors logged by type)."""
        if self.stats is None:
            return
        try:
            self.stats.count(kind, self._team(state), lang, key)
        except Exception as exc:
            log.error("statistics recording failed: %s", type(exc).__name__, exc_info=exc)

    # -- screens for the current state ---------------------------------------------------

    def current_screen(self, state: SessionState, lang: str) -> Screen:
        if state.language is None:
            return self.renderer.welcome(lang)
        if state.team_id is None:
            return self.renderer.team_picker(lang, None, back=False)
        team = self._request_team(state)
        if state.node == "contact" and self._draft_step(state) is not None and team is not None:
            assert state.draft is not None
            return self.contact.step(lang, team, self._opened(state.draft))
        node = state.node if state.node in self.content.nodes else self.content.root
        return self.renderer.guide(lang, state.team_id, node, state.page, None)

    def _with_notice(self, state: SessionState, lang: str, notice: str) -> _Reply:
        return _Reply(with_notice(notice, self.current_screen(state, lang)), edit=False)

    def _go(
        self, state: SessionState, lang: str, node: str, page: int = 0, back: str | None = None
    ) -> _Reply:
        if node != state.node or page == 0:
            self._count("screen_viewed", state, lang, node)
            if node != state.node:
                self._count("screen_move", state, lang, f"{state.node}>{node}")
        state.node, state.page = node, page
        return _Reply(self.renderer.guide(lang, state.team_id, node, page, back))

    # -- commands ------------------------------------------------------------------------

    async def _command(self, command: str, state: SessionState, lang: str) -> _Reply:
        """A /command: always a new message (the old one may be far up the chat)."""
        _ = self.renderer.t(lang).gettext
        if command == "start":
            if state.onboarded:
                return _Reply(self._go(state, lang, self.content.root).screen, edit=False)
            return _Reply(self.renderer.welcome(lang), edit=False)
        if not state.onboarded and command not in ("emergency", "privacy", "delete", "clear"):
            state.language = state.language or lang
            if command == "language":
                return _Reply(self.renderer.language_picker(lang), edit=False)
            return _Reply(self.renderer.team_picker(lang, state.team_id, back=False), edit=False)
        match command:
            case "help":
                screen = self.renderer.help(lang)
            case "language":
                screen = self.renderer.language_picker(lang, back=True)
            case "municipality":
                screen = self.renderer.team_picker(lang, state.team_id, back=True)
            case "emergency" | "privacy":
                screen = self._go(state, lang, command).screen
            case "status":
                screen = (await self._status(state, lang)).screen
            case "delete":
                screen = self._delete_question(lang, state.case_id is not None)
            case "clear":
                screen = self._clear_question(lang)
            case _:
                notice = _("I do not know that command. This is what I can do:")
                screen = with_notice(notice, self.renderer.help(lang))
        return _Reply(screen, edit=False)

    def _delete_question(self, lang: str, has_case: bool = False) -> Screen:
        _ = self.renderer.t(lang).gettext
        text = html.escape(
            _(
                "Delete everything this guide stores about this chat: your language, your "
                "municipality and where you are in the guide? This cannot be undone."
            )
        )
        if has_case:
            text += "\n\n" + html.escape(
                _("If you have an open request to the team, it is withdrawn.")
            )
        return self.renderer.confirm(
            lang,
            text,
            [
                (_("🗑 Delete my data"), callbacks.DeleteData(confirmed=True).data),
                (
                    _("🗑 Delete my data and clear the chat"),
                    callbacks.DeleteData(confirmed=True, clear=True).data,
                ),
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
            lang, text, [(_("🧹 Clear this chat"), callbacks.ClearChat(confirmed=True).data)]
        )

    # -- buttons -------------------------------------------------------------------------

    async def _button(
        self, event: Event, state: SessionState, lang: str, port: ChatPort, turn: _Turn
    ) -> _Reply:
        """A tap: one typed action from the button's code, one match over every action."""
        _ = self.renderer.t(lang).gettext
        action = callbacks.parse(event.data)
        stale = _("This button is from an older version of the guide. Here is where you are now.")
        if not isinstance(action, callbacks.SetLanguage) and state.language is None:
            state.language = lang
        needs_team = isinstance(action, callbacks.Answer | callbacks.RequestStep) or (
            isinstance(action, callbacks.Go) and action.node not in UTILITY_NODES
        )
        if state.team_id is None and needs_team:
            return _Reply(self.renderer.team_picker(lang, None, back=False))
        match action:
            case callbacks.SetLanguage(code):
                return self._set_language(state, code, lang, stale)
            case callbacks.SetTeam(team):
                if team not in self.content.teams and team != NO_TEAM:
                    return self._stale(state, lang, stale)
                if state.team_id is None:  # the conversation's first choice: its team
                    self._mark("chose_team", turn.pseudonym, team)
                state.team_id = team
                self._count("team_chosen", state, lang, team)
                return self._go(state, lang, self.content.root)
            case callbacks.Go(node, page, back):
                nodes = self.content.nodes
                if node not in nodes or (back is not None and back not in nodes):
                    return self._stale(state, lang, stale)
                if node == "contact" and await self._open_case(state) is not None:
                    return await self._status(state, lang)
                return self._go(state, lang, node, page, back)
            case callbacks.Answer(node_id, option_id):
                question = self.content.nodes.get(node_id)
                options = question.options if question is not None else ()
                option = next((o for o in options if o.id == option_id), None)
                if option is None:
                    return self._stale(state, lang, stale)
                return self._go(state, lang, option.goto)
            case callbacks.Helpful():
                return self._helpful(action, state, lang, stale)
            case callbacks.ShowPicker("language"):
                return _Reply(self.renderer.language_picker(lang, back=state.onboarded))
            case callbacks.ShowPicker():
                return _Reply(self.renderer.team_picker(lang, state.team_id, back=state.onboarded))
            case callbacks.PickGroup(group, page):
                listed = self.renderer.group_picker(lang, group, page, state.team_id)
                return _Reply(listed) if listed is not None else self._stale(state, lang, stale)
            case callbacks.ClearChat(confirmed=False):
                return _Reply(self._clear_question(lang))
            case callbacks.ClearChat():
                await self._clear(state, port)
                return _Reply(
                    self.renderer.notice(lang, _("This chat has been cleared.")), edit=False
                )
            case callbacks.DeleteData(confirmed=False):
                return _Reply(self._delete_question(lang, state.case_id is not None))
            case callbacks.DeleteData(clear=clear):
                return await self._delete(state, lang, port, turn.chat_id, clear=clear)
            case callbacks.Cancel():
                return _Reply(self.current_screen(state, lang))
            case callbacks.Feedback(answer):
                return await self._feedback(state, lang, answer)
            case callbacks.RequestStep() if self._request_team(state) is None or self.cases is None:
                return self._intro(state, lang)
            case callbacks.RequestStatus():
                return await self._status(state, lang)
            case callbacks.Withdraw(confirmed):
                return await self._withdraw(state, lang, turn, confirmed=confirmed)
            case callbacks.StartRequest():
                return await self._start_request(state, lang)
            case callbacks.RequestStep():
                return await self._request_step(action, state, lang, turn)
            case _:
                return self._stale(state, lang, stale)

    def _set_language(self, state: SessionState, code: str, lang: str, stale: str) -> _Reply:
        """The language picker: the first choice leads on to the municipality."""
        if code not in self.enabled:
            return self._stale(state, lang, stale)
        first_time = state.language is None
        state.language = code
        self._count("language_chosen", state, code, code)
        if state.team_id is None:
            return _Reply(self.renderer.team_picker(code, None, back=False))
        screen = self._go(state, code, self.content.root).screen
        toast = None if first_time else self.renderer.t(code).gettext("Language changed")
        return _Reply(screen, toast=toast)

    async def _delete(
        self, state: SessionState, lang: str, port: ChatPort, chat_id: int, *, clear: bool
    ) -> _Reply:
        """Forget the chat (an open request is withdrawn); ``clear`` also removes messages."""
        _ = self.renderer.t(lang).gettext
        if clear:
            await self._clear(state, port)
        await self._withdraw_quietly(state)
        await self.memory.forget(chat_id)  # under every key's pseudonym
        text = _(
            "Everything this guide stored about this chat has been deleted. "
            "If you write again, the guide starts from the beginning."
        )
        screen = Screen(html.escape(text), self.renderer.start_rows(lang))
        return _Reply(screen, edit=not clear, save=False)

    def _helpful(
        self, action: callbacks.Helpful, state: SessionState, lang: str, stale: str
    ) -> _Reply:
        """Count the answer and show the same screen with thanks instead of the buttons."""
        node = self.content.nodes.get(action.node)
        if (
            node is None
            or node.kind != "article"
            or (action.back is not None and action.back not in self.content.nodes)
        ):
            return self._stale(state, lang, stale)
        answer = "yes" if action.yes else "no"
        self._count("helpful", state, lang, f"{action.node}:{answer}")
        state.node, state.page = (
            action.node,
            self.renderer.page_count(lang, state.team_id, node) - 1,
        )
        screen = self.renderer.guide(
            lang, state.team_id, action.node, state.page, action.back, rated=True
        )
        return _Reply(screen, toast=self.renderer.t(lang).gettext("Thank you"))

    # -- talk to someone -------------------------------------------------------------------

    def _request_team(self, state: SessionState) -> str | None:
        """Where this chat's requests go: its municipality's team, else the fallback team."""
        return self.renderer.request_team(state.team_id)

    def _draft_step(self, state: SessionState) -> str | None:
        """The step of an unconfirmed request, if the chat has one for a team that takes it."""
        if state.draft is None or self._request_team(state) is None:
            return None
        return flow.current_step(state.draft)

    async def _open_case(self, state: SessionState) -> RelativeView | None:
        """The chat's request while it is open or claimed (None otherwise)."""
        if state.case_id is None or self.cases is None:
            return None
        view = await self.cases.view_for_relative(state.case_id)
        return view if view is not None and view.status in ACTIVE_STATUSES else None

    async def _status(self, state: SessionState, lang: str, notice: str | None = None) -> _Reply:
        _ = self.renderer.t(lang).gettext
        view = None
        if state.case_id is not None and self.cases is not None:
            view = await self.cases.view_for_relative(state.case_id)
        team = self._request_team(state)
        if view is None or team is None:
            message = notice or _(
                "You have no request to the team. To ask for contact, tap “Talk to someone”."
            )
            return self._with_notice(state, lang, message)
        state.node, state.page = "contact", 0
        return _Reply(with_notice(notice, self.contact.status(lang, team, view, self._now())))

    def _now(self) -> datetime:
        return self.cases.now() if self.cases is not None else datetime.now(UTC)

    def _flow_screen(self, state: SessionState, lang: str, notice: str | None = None) -> _Reply:
        team = self._request_team(state)
        assert state.draft is not None and team is not None
        state.node, state.page = "contact", 0
        return _Reply(self.contact.step(lang, team, self._opened(state.draft), notice))

    def _opened(self, draft: flow.Draft) -> flow.Draft:
        """The draft with its sealed call-back number readable (for the preview and sending)."""
        sealed = draft.get("phone")
        if not sealed:
            return draft
        try:
            return {**draft, "phone": self.cipher.open(sealed, 0, DRAFT_PHONE)}
        except LinkError:  # sealed under a key no longer in SECRET_KEYS: ask again
            draft.pop("phone", None)
            draft["step"] = flow.first_missing(draft)
            return draft

    def _intro(self, state: SessionState, lang: str, notice: str | None = None) -> _Reply:
        reply = self._go(state, lang, "contact")
        reply.screen = with_notice(notice, reply.screen)
        return reply

    async def _start_request(self, state: SessionState, lang: str) -> _Reply:
        """Start a request, or resume the unsent one; an open request shows its status."""
        _ = self.renderer.t(lang).gettext
        if await self._open_case(state) is not None:
            return await self._status(
                state, lang, _("You already have an open request. Here is where it stands.")
            )
        if state.draft is None:
            state.draft = flow.new_draft(lang)
            self._count("request_started", state, lang)
        return self._flow_screen(state, lang)

    async def _request_step(
        self, action: callbacks.RequestStep, state: SessionState, lang: str, turn: _Turn
    ) -> _Reply:
        """One tap in the unsent request. Old buttons (already sent or cancelled) are stale."""
        _ = self.renderer.t(lang).gettext
        draft = state.draft
        if draft is None:
            notice = _("This request has already been sent or cancelled.")
            if state.case_id is not None:
                return await self._status(state, lang, notice)
            return self._intro(state, lang, notice)
        ok = True
        match action:
            case callbacks.SendRequest():
                return await self._confirm(state, lang, turn)
            case callbacks.CancelRequest():
                state.draft = None
                return self._intro(state, lang, _("Your request was cancelled. Nothing was sent."))
            case callbacks.EditRequest(None):
                state.node = "contact"
                return _Reply(self.contact.edit_menu(lang))
            case callbacks.EditRequest("preview"):
                draft["step"] = flow.first_missing(draft)
            case callbacks.EditRequest(field):
                ok = flow.edit(draft, field or "")
            case callbacks.RequestBack():
                if not flow.back(draft):
                    return self._intro(state, lang)
            case callbacks.AnswerRequest(field, str(value)):
                ok = flow.answer(draft, field, value, self.enabled)
            case callbacks.ContinueAfterUrgent():
                flow.acknowledge_urgent(draft)
            case callbacks.ConsentToCallBack():
                ok = flow.give_consent(draft)
            case callbacks.SkipText():
                flow.set_text(draft, None)
            case _:  # an answer without its value, or a step this version does not have
                ok = False
        if not ok:
            return self._flow_screen(
                state, lang, _("This button is out of date. Here is where your request is now.")
            )
        return self._flow_screen(state, lang)

    async def _feedback(self, state: SessionState, lang: str, value: str | None) -> _Reply:
        """ "Did the contact help?" under the close notice: one tap, counted once per case.

        Counted for the team that had the case (it may have been transferred, or gone to the
        fallback team). A second tap on the same old buttons, a tap once the chat no longer
        points to the case, or a tap after a newer request only shows the thanks again.
        """
        _ = self.renderer.t(lang).gettext
        if value not in FEEDBACK:
            return self._stale(
                state,
                lang,
                _("This button is from an older version of the guide. Here is where you are now."),
            )
        team: str | None = None
        if state.case_id is not None and self.cases is not None:
            try:
                team = await self.cases.feedback_once(state.case_id)
            except Exception as exc:  # the relative still gets their thanks
                log.error("feedback not recorded: %s", type(exc).__name__, exc_info=exc)
        if team is not None and self.stats is not None:
            try:
                self.stats.count("contact_feedback", team, lang, value)
            except Exception as exc:
                log.error("statistics recording failed: %s", type(exc).__name__, exc_info=exc)
        return _Reply(self.contact.feedback_thanks(lang))

    async def _confirm(self, state: SessionState, lang: str, turn: _Turn) -> _Reply:
        """Commit the request first; only then show its code (and remember it in the state)."""
        _ = self.renderer.t(lang).gettext
        team = self._request_team(state)
        assert state.draft is not None and team is not None and self.cases is not None
        request = flow.to_request(self._opened(state.draft), team)
        if request is None or flow.current_step(state.draft) != "preview":
            state.draft["step"] = flow.first_missing(state.draft)
            return self._flow_screen(
                state, lang, _("Please answer this first; then you can send your request.")
            )
        mark = ChatMark(turn.pseudonym, state, turn.update_id, self.today())
        try:  # the chat's state (case remembered, update pending) commits with the case
            created = await self.cases.create_request(request, turn.chat_id, mark)
        except CaseError as exc:
            log.warning("contact request refused: %s", exc.reason)
            return self._flow_screen(
                state,
                lang,
                _("Sorry, the request could not be sent. Nothing was lost; please try again."),
            )
        state.node, state.page = "contact", 0
        return _Reply(
            self.contact.created(lang, team, created.code, request.reply_via, self._now()),
            edit=True,
        )

    async def _withdraw(
        self, state: SessionState, lang: str, turn: _Turn, *, confirmed: bool
    ) -> _Reply:
        _ = self.renderer.t(lang).gettext
        view = await self._open_case(state)
        if view is None or state.case_id is None:
            return await self._status(state, lang, _("There is no open request to withdraw."))
        if not confirmed:
            return _Reply(self.contact.withdraw_question(lang, view.code))
        try:
            assert self.cases is not None
            await self.cases.withdraw(state.case_id)
        except CaseError as exc:
            log.info("withdraw refused: %s", exc.reason)
            return await self._status(state, lang)
        # Withdrawing forgets which chat pointed to the case (and bumps the state's version):
        # carry on from the stored state so this turn's write is not refused.
        fresh = await self.store.load(turn.pseudonym)
        state.case_id = None
        if fresh is not None:
            state.version = fresh.version
        return _Reply(self.contact.withdrawn(lang))

    async def _text(self, text: str, state: SessionState, lang: str, turn: _Turn) -> _Reply:
        """Typed text: an answer the flow asked for, a message to an open case, or a hint."""
        # NFKC, invisible characters gone, control characters, NUL and lone surrogates
        # dropped (bot.text_input): what is scrubbed, counted and stored is what a reader sees.
        text = without_unstorable(normalise_text(text))
        _ = self.renderer.t(lang).gettext
        step = self._draft_step(state)
        if step is not None and state.node == "contact" and step in flow.TEXT_STEPS:
            assert state.draft is not None
            if step == "phone":
                if not flow.set_phone(state.draft, text, self._seal_phone):
                    return self._flow_screen(
                        state,
                        lang,
                        _(
                            "That does not look like a phone number. Please type only the "
                            "number, for example with the area code first."
                        ),
                    )
                return self._flow_screen(state, lang)
            if flow.too_long(text):
                return self._flow_screen(state, lang, self._too_long(lang, text))
            result = scrub(text.strip(), self.renderer.t(lang).gettext)
            flow.set_text(state.draft, result.text or None, removed=result.changed)
            return self._flow_screen(state, lang)
        if state.case_id is not None and self.cases is not None:
            if flow.too_long(text):
                return self._with_notice(state, lang, self._too_long(lang, text))
            mark = ChatMark(turn.pseudonym, state, turn.update_id, self.today())
            fate = await self.cases.relative_message(
                state.case_id, scrub(text.strip(), self.renderer.t(lang).gettext).text, mark
            )
            if fate in (MessageFate.HELD_FIRST, MessageFate.HELD):  # over the hourly cap
                held = held_back_first if fate == MessageFate.HELD_FIRST else held_back_again
                return self._with_notice(state, lang, held(self.renderer, lang))
            if fate:
                return _Reply(self.contact.message_sent(lang), edit=False)
            return self._with_notice(
                state,
                lang,
                _(
                    "Your request is closed, so what you write here is not passed on. To ask "
                    "again, tap “Talk to someone”."
                ),
            )
        if self.renderer.large_picker() and (
            state.team_id is None or self.renderer.find_teams(text)
        ):  # part of a municipality's name, typed into the picker: the teams it matches
            screen = self.renderer.team_matches(lang, text, state.team_id, back=state.onboarded)
            return _Reply(screen, edit=False)
        return self._with_notice(
            state,
            lang,
            _(
                "I can only guide you with the buttons. What you write here is not read by "
                "anyone and not saved. To reach a person, tap “Talk to someone”."
            ),
        )

    def _seal_phone(self, phone: str) -> str:
        return self.cipher.seal(phone, 0, DRAFT_PHONE)

    def _too_long(self, lang: str, text: str) -> str:
        tr = self.renderer.t(lang)
        return (
            tr.gettext(
                "Your text has {count} characters; at most {max} can be passed on at a time. "
                "Please shorten it and send it again. Nothing was sent."
            )
            .replace("{count}", tr.number(len(text)))
            .replace("{max}", tr.number(MAX_TEXT))
        )

    def _stale(self, state: SessionState, lang: str, message: str) -> _Reply:
        reply = self._with_notice(state, lang, message)
        reply.edit = True
        return reply

    async def _withdraw_quietly(self, state: SessionState) -> None:
        """/delete removes everything: an open request is withdrawn (staff see "withdrawn")."""
        if state.case_id is None or self.cases is None:
            return
        try:
            await self.cases.withdraw(state.case_id)
        except CaseError as exc:
            log.info("withdraw on delete: %s", exc.reason)  # already closed or withdrawn

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


def _error_text(gettext: Callable[[str], str]) -> str:
    return gettext(
        "⚠️ Something went wrong on our side and what you just sent may not have arrived. "
        "Please try again in a few minutes: /start"
    )
