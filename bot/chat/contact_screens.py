"""Screens of "talk to someone": the questions, the preview, the case code, status, relay.

Kept apart from ``render`` (the guide) because these depend on a draft or a case,
not only on (language, team, node). Every screen keeps a way back or home and
the 112 button. Labels for the stored vocabularies (``bot.domain``) live
here, marked for translation; the stored values stay short ASCII.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, format_time

from bot import callbacks
from bot.chat.contact_flow import current_step
from bot.content.model import Team
from bot.content.render import Button, Renderer, Screen
from bot.domain import (
    ACTIVE_STATUSES,
    CONCERNS,
    MAX_TEXT,
    REPLY_VIA,
    TOPICS,
    URGENCIES,
    RelativeView,
)
from bot.i18n import N_


def with_notice(notice: str | None, screen: Screen) -> Screen:
    """``screen`` with a short italic note above it (why the relative sees this screen)."""
    if not notice:
        return screen
    return Screen(f"<i>{html.escape(notice)}</i>\n\n{screen.text}", screen.keyboard)


CONCERN_LABELS = {
    "child": N_("A child under 18"),
    "young_adult": N_("A young adult"),
    "adult": N_("An adult"),
    "unsaid": N_("I prefer not to say"),
}
TOPIC_LABELS = {
    "worry": N_("Whether my worry is justified"),
    "talk": N_("How to talk with them"),
    "online": N_("Online life and recruitment"),
    "milieus": N_("Violent milieus"),
    "leaving": N_("Leaving a milieu"),
    "selfcare": N_("How I am coping myself"),
    "municipality": N_("What the municipality can do"),
    "other": N_("Something else"),
}
URGENCY_LABELS = {
    "urgent": N_("Someone is in danger right now"),
    "soon": N_("I would like an answer soon"),
    "later": N_("It can wait a while"),
}
REPLY_LABELS = {
    "chat": N_("In this chat (anonymous)"),
    "phone": N_("Call me back (not anonymous)"),
}
STATUS_LABELS = {
    "open": N_("Sent. Waiting for someone in the team to take it."),
    "claimed": N_("Someone in the team is working on it."),
    "closed": N_("Closed by the team."),
    "withdrawn": N_("Withdrawn by you."),
}
TO_LABEL = N_("To")
FIELD_LABELS = {
    "concerns": N_("Whom it is about"),
    "topic": N_("Topic"),
    "urgency": N_("Urgency"),
    "reply_via": N_("How to answer"),
    "language": N_("Answer language"),
    "text": N_("Your text"),
}
# The questions answered with one tap: vocabulary, labels, title and lines (msgids).
ChoiceField = Literal["concerns", "topic", "urgency"]
CHOICES: dict[ChoiceField, tuple[tuple[str, ...], dict[str, str], str, tuple[str, ...]]] = {
    "concerns": (
        CONCERNS,
        CONCERN_LABELS,
        N_("Whom is your worry about?"),
        (N_("You do not need to say who it is. Choose what fits best."),),
    ),
    "topic": (TOPICS, TOPIC_LABELS, N_("What would you like to talk about?"), ()),
    "urgency": (
        URGENCIES,
        URGENCY_LABELS,
        N_("How urgent is it?"),
        (N_("If someone is in danger right now, call {emergency} first."),),
    ),
}
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOURS_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def _b(text: str) -> str:
    return f"<b>{html.escape(text)}</b>"


class ContactScreens:
    """Renders the flow's screens with the guide's renderer (translations, placeholders)."""

    def __init__(self, renderer: Renderer) -> None:
        self.r = renderer
        self.content = renderer.content

    # -- shared rows -----------------------------------------------------------------------

    def _nav(self, lang: str, back: str | None) -> list[tuple[Button, ...]]:
        """Back (or to the introduction), home, and 112: on every screen of the flow."""
        _ = self.r.t(lang).gettext
        emergency = _("🆘 Emergency {number}").format(number=self.r._emergency_number()).strip()
        return [
            (
                Button(self.r.back_label(lang), back or callbacks.go("contact")),
                Button(_("🏠 Home"), callbacks.go(self.content.root)),
            ),
            (Button(emergency, callbacks.go("emergency", 0, "contact")),),
        ]

    def _choices(
        self,
        lang: str,
        field: callbacks.Field,
        values: tuple[str, ...],
        labels: dict[str, str],
        chosen: Any,
    ) -> list[tuple[Button, ...]]:
        _ = self.r.t(lang).gettext
        return [
            (
                Button(
                    ("✓ " if v == chosen else "") + _(labels[v]),
                    callbacks.AnswerRequest(field, v).data,
                ),
            )
            for v in values
        ]

    # -- the questions ---------------------------------------------------------------------

    def step(
        self, lang: str, team_id: str, draft: dict[str, Any], notice: str | None = None
    ) -> Screen:
        """The screen for the draft's current step."""
        match current_step(draft):
            case "concerns" | "topic" | "urgency" as field:
                screen = self._choice(lang, field, draft)
            case other:  # urgent, reply_via, phone_consent, phone, language, text, preview
                screen = getattr(self, f"_step_{other}")(lang, team_id, draft)
        return with_notice(notice, screen)

    def _question(
        self, lang: str, title: str, lines: list[str], rows: Sequence[tuple[Button, ...]]
    ) -> Screen:
        """A title, a few lines ({emergency} and the like filled in), choices, then the nav."""
        text = "\n\n".join([_b(title), *[html.escape(line) for line in lines]])
        back = callbacks.RequestBack().data
        return Screen(self.r.fill(text, lang, None), (*rows, *self._nav(lang, back)))

    def _choice(self, lang: str, field: ChoiceField, draft: dict[str, Any]) -> Screen:
        """A question answered with one tap from a stored vocabulary."""
        _ = self.r.t(lang).gettext
        values, labels, title, lines = CHOICES[field]
        rows = self._choices(lang, field, values, labels, draft.get(field))
        return self._question(lang, _(title), [_(line) for line in lines], rows)

    def _step_urgent(self, lang: str, team_id: str, draft: dict[str, Any]) -> Screen:
        """Call 112 first, said once; the rest of the danger screen is one tap away."""
        _ = self.r.t(lang).gettext
        emergency = self.content.text(lang, "emergency")
        parts = [
            f"<b>{html.escape(emergency.title)}</b>",
            emergency.pages[0],
            "<b>"
            + html.escape(
                _(
                    "Your request will be marked as urgent. But nobody may read it for some "
                    "time: if someone is in danger, call {emergency} now."
                )
            )
            + "</b>",
        ]
        text = "\n\n".join(self.r.fill(p, lang, team_id) for p in parts)
        rows = [
            (
                Button(
                    self.r.arrow(lang, _("Continue with the request")),
                    callbacks.ContinueAfterUrgent().data,
                ),
            ),
            (
                Button(
                    _("More about danger and the police"), callbacks.go("emergency", 1, "contact")
                ),
            ),
        ]
        return Screen(text, (*rows, *self._nav(lang, callbacks.RequestBack().data)))

    def _step_reply_via(self, lang: str, team_id: str, draft: dict[str, Any]) -> Screen:
        _ = self.r.t(lang).gettext
        rows = self._choices(
            lang, "reply_via", REPLY_VIA, REPLY_LABELS, draft.get("reply_via") or "chat"
        )
        return self._question(
            lang,
            _("How would you like to get an answer?"),
            [
                _(
                    "In this chat the team never sees who you are. A call-back means the team "
                    "gets your phone number."
                )
            ],
            rows,
        )

    def _step_phone_consent(self, lang: str, team_id: str, draft: dict[str, Any]) -> Screen:
        _ = self.r.t(lang).gettext
        rows = [
            (Button(_("✓ I agree, I will type my number"), callbacks.ConsentToCallBack().data),),
            (
                Button(
                    _("No, answer me in this chat"),
                    callbacks.AnswerRequest("reply_via", "chat").data,
                ),
            ),
        ]
        return self._question(
            lang,
            _("A call-back is not anonymous"),
            [
                _(
                    "If you ask to be called, the team sees your phone number, so your request "
                    "is no longer anonymous."
                ),
                _(
                    "The number is kept apart from your request, is only used to call you, and "
                    "is deleted when your request is closed."
                ),
                _("Do you agree to this?"),
            ],
            rows,
        )

    def _step_phone(self, lang: str, team_id: str, draft: dict[str, Any]) -> Screen:
        _ = self.r.t(lang).gettext
        return self._question(
            lang,
            _("Your phone number"),
            [
                _("Type the number the team can call, and send it as a message."),
                _("You can delete your message from the chat afterwards."),
            ],
            [],
        )

    def _step_language(self, lang: str, team_id: str, draft: dict[str, Any]) -> Screen:
        _ = self.r.t(lang).gettext
        chosen = draft.get("language") or lang
        rows = [
            (
                Button(
                    ("✓ " if language.code == chosen else "") + language.name,
                    callbacks.AnswerRequest("language", language.code).data,
                ),
            )
            for language in self.content.enabled_languages
        ]
        return self._question(
            lang,
            _("In which language would you like the answer?"),
            self.languages_served(lang, team_id),
            rows,
        )

    def languages_served(self, lang: str, team_id: str, chosen: str | None = None) -> list[str]:
        """What the team's file (or an admin since) says about its languages, and no more.

        With ``chosen``: only when the team does not list that language, a line saying so.
        """
        _ = self.r.t(lang).gettext
        team = self.r.team(team_id)
        if team is None or (chosen is not None and chosen in team.languages_served):
            return []
        names = [
            self.content.languages[code].name if code in self.content.languages else code
            for code in team.languages_served
        ]
        lines = []
        if names:
            line = _("The team answers in: {languages}.").replace(
                "{languages}", ", ".join(self.r.t(lang).embed(n) for n in names)
            )
            if not team.languages_served_verified:
                line += " " + _("(not yet confirmed by the municipality)")
            lines.append(line)
        if team.interpreter is True:
            lines.append(_("For other languages the team can use an interpreter."))
        elif team.interpreter is None:
            lines.append(
                _(
                    "Whether the team can use an interpreter is not yet confirmed. If you need "
                    "one, you can say so in your text."
                )
            )
        return lines

    def _step_text(self, lang: str, team_id: str, draft: dict[str, Any]) -> Screen:
        _ = self.r.t(lang).gettext
        rows = [(Button(_("Skip: send without a text"), callbacks.SkipText().data),)]
        lines = [
            _(
                "If you like, write a few words about your worry and send them as a message "
                "(at most {max} characters)."
            ).replace("{max}", self.r.t(lang).number(MAX_TEXT)),
            _(
                "Please do not write names, addresses or other details that show who you or "
                "the person are. Phone numbers, e-mail addresses, personal identity numbers, "
                "usernames and links are removed before the team sees the text."
            ),
            _(
                "What you write is deleted from this system {days} days after your request "
                "is closed."
            ).replace("{days}", self.r.t(lang).number(self.r.case_text_days)),
        ]
        return self._question(lang, _("Anything you want to add?"), lines, rows)

    def _step_preview(self, lang: str, team_id: str, draft: dict[str, Any]) -> Screen:
        tr = self.r.t(lang)
        _ = tr.gettext
        via = REPLY_LABELS[draft["reply_via"]]
        reply = _(via)
        if draft["reply_via"] == "phone" and draft.get("phone"):
            reply += ": " + tr.isolate(draft["phone"])
        language = self.content.languages.get(draft["language"])
        fields = [
            (TO_LABEL, self.r.team_name(lang, self.r.request_team(team_id))),
            (FIELD_LABELS["concerns"], _(CONCERN_LABELS[draft["concerns"]])),
            (FIELD_LABELS["topic"], _(TOPIC_LABELS[draft["topic"]])),
            (FIELD_LABELS["urgency"], _(URGENCY_LABELS[draft["urgency"]])),
            (FIELD_LABELS["reply_via"], reply),
            (FIELD_LABELS["language"], language.name if language else draft["language"]),
            (FIELD_LABELS["text"], draft.get("text") or _("(none)")),
        ]
        lines = [
            _("{label}: {value}").replace("{label}", _(label)).replace("{value}", tr.embed(value))
            for label, value in fields
        ]
        parts = [
            _b(_("Check your request")),
            html.escape(_("This is exactly what the team will see:")),
            "<blockquote>" + html.escape("\n".join(lines)) + "</blockquote>",
        ]
        not_served = self.languages_served(lang, team_id, draft["language"])
        if not_served:
            parts.append("<i>" + html.escape(" ".join(not_served)) + "</i>")
        if draft.get("removed"):
            parts.append(
                "<i>"
                + html.escape(
                    _(
                        "ℹ Something that looked like a phone number, an e-mail address, a "
                        "personal identity number, a username or a link was replaced in your text."
                    )
                )
                + "</i>"
            )
        parts.append(html.escape(_("Nothing is sent until you tap “Send”.")))
        rows = [
            (Button(_("✅ Send"), callbacks.SendRequest().data),),
            (Button(_("✏️ Change something"), callbacks.EditRequest().data),),
            (Button(_("✖ Cancel the request"), callbacks.CancelRequest().data),),
        ]
        return Screen("\n\n".join(parts), (*rows, *self._nav(lang, callbacks.RequestBack().data)))

    def edit_menu(self, lang: str) -> Screen:
        _ = self.r.t(lang).gettext
        rows = [
            (Button(_(label), callbacks.EditRequest(field).data),)
            for field, label in FIELD_LABELS.items()
        ]
        rows.append(
            (
                Button(
                    self.r.arrow(lang, _("Back to the preview"), back=True),
                    callbacks.EditRequest("preview").data,
                ),
            )
        )
        text = _b(_("What would you like to change?"))
        return Screen(text, (*rows, *self._nav(lang, callbacks.EditRequest("preview").data)))

    # -- after sending -----------------------------------------------------------------------

    def created(self, lang: str, team_id: str, code: str, reply_via: str, now: datetime) -> Screen:
        """The case code, shown only after the request was committed."""
        tr = self.r.t(lang)
        _ = tr.gettext
        if reply_via == "phone":
            how = _("The team will call you on the number you gave.")
        else:
            how = _("The answer comes here in this chat, from {staff}.")
        parts = [
            _b(_("Your request has been sent")),
            html.escape(_("Your case code:")) + f" <code>{tr.isolate(html.escape(code))}</code>",
            html.escape(_("Write it down if you want to refer to it later.")),
            html.escape(how.replace("{staff}", tr.embed(self.r.staff_name(lang, team_id)))),
            html.escape(
                _(
                    "You can write more here; it goes to the team. Please do not write names. "
                    "/status shows where your request is."
                )
            ),
            self.expectation(lang, team_id, now),
        ]
        return Screen("\n\n".join(parts), self._case_rows(lang, open_case=True))

    def _case_rows(self, lang: str, *, open_case: bool) -> tuple[tuple[Button, ...], ...]:
        _ = self.r.t(lang).gettext
        rows: list[tuple[Button, ...]] = []
        if open_case:
            rows.append(
                (
                    Button(_("📨 My request"), callbacks.RequestStatus().data),
                    Button(_("Withdraw"), callbacks.Withdraw().data),
                )
            )
        else:
            rows.append((Button(_("📝 Ask for contact"), callbacks.StartRequest().data),))
        return (*rows, *self._nav(lang, callbacks.go(self.content.root)))

    def status(self, lang: str, team_id: str, view: RelativeView, now: datetime) -> Screen:
        tr = self.r.t(lang)
        _ = tr.gettext
        team = self.content.teams.get(team_id)
        zone = _zone(team)
        sent = format_datetime(view.created_at, "medium", tzinfo=zone, locale=tr.locale)
        status_label = STATUS_LABELS[view.status]
        parts = [
            _b(_("Your request")),
            html.escape(_("Case code:")) + f" <code>{tr.isolate(html.escape(view.code))}</code>",
            html.escape(_("Sent: {when}").replace("{when}", sent)),
            html.escape(_(status_label)),
            html.escape(
                _("Answers from the team: {count}").replace(
                    "{count}", tr.number(view.staff_replies)
                )
            ),
        ]
        open_case = view.status in ACTIVE_STATUSES
        if view.status == "open":
            parts.append(self.expectation(lang, team_id, now))
        return Screen("\n\n".join(parts), self._case_rows(lang, open_case=open_case))

    def withdraw_question(self, lang: str, code: str) -> Screen:
        tr = self.r.t(lang)
        _ = tr.gettext
        text = "\n\n".join(
            [
                _b(_("Withdraw your request?")),
                html.escape(
                    _(
                        "The team will see that you withdrew request {code}, and what you wrote "
                        "is deleted. This cannot be undone."
                    ).replace("{code}", code)
                ),
            ]
        )
        rows = [
            (Button(_("Yes, withdraw it"), callbacks.Withdraw(confirmed=True).data),),
            (Button(_("No, keep it"), callbacks.RequestStatus().data),),
        ]
        return Screen(text, (*rows, *self._nav(lang, callbacks.RequestStatus().data)))

    def withdrawn(self, lang: str) -> Screen:
        _ = self.r.t(lang).gettext
        text = html.escape(_("Your request has been withdrawn. You are welcome to ask again."))
        return Screen(text, self._case_rows(lang, open_case=False))

    def message_sent(self, lang: str) -> Screen:
        _ = self.r.t(lang).gettext
        return Screen(
            html.escape(_("✓ Sent to the team.")),
            (
                (
                    Button(_("📨 My request"), callbacks.RequestStatus().data),
                    Button(_("🏠 Home"), callbacks.go(self.content.root)),
                ),
                (self.r.emergency_button(lang),),
            ),
        )

    def reply_title(self, lang: str, team_id: str) -> str:
        """A staff reply's first line: the team's own (say, a neutral one), else who answers."""
        team = self.content.teams.get(team_id)
        if team is not None and team.reply_title:
            own = team.reply_title.get(lang) or team.reply_title.get(self.content.base_language)
            if own:
                return own
        _ = self.r.t(lang).gettext
        staff = self.r.t(lang).embed(self.r.staff_name(lang, team_id))
        return _("💬 A reply from {staff}").replace("{staff}", staff)

    def relayed(self, lang: str, team_id: str, text: str, signature: str | None) -> Screen:
        """A staff reply, from the team; a first name only if staff chose to sign."""
        _ = self.r.t(lang).gettext
        parts = [_b(self.reply_title(lang, team_id)), html.escape(text)]
        if signature:
            parts.append("– " + html.escape(signature))
        parts.append(
            "<i>" + html.escape(_("To answer, write here. Please do not write names.")) + "</i>"
        )
        rows = (
            (
                Button(_("📨 My request"), callbacks.RequestStatus().data),
                Button(_("🏠 Home"), callbacks.go(self.content.root)),
            ),
            (self.r.emergency_button(lang),),
        )
        return Screen("\n\n".join(parts), rows)

    # -- opening hours ---------------------------------------------------------------------

    def expectation(self, lang: str, team_id: str, now: datetime) -> str:
        """When to expect an answer, honestly, plus the lines that are always open."""
        tr = self.r.t(lang)
        _ = tr.gettext
        team = self.r.team(team_id)
        weekly = parse_weekly(team.opening_hours if team else None)
        if team is None or not weekly:
            when = _(
                "The team has not yet confirmed its opening hours, so we cannot say when you "
                "will get an answer. It may take some days."
            )
        else:
            zone = _zone(team)
            local = now.astimezone(zone)
            opening = next_opening(weekly, local)
            if opening is None or opening <= local:
                when = _("The team is working now. Someone will answer when they can.")
            else:
                day = format_date(opening, "EEEE", locale=tr.locale)
                hour = tr.isolate(format_time(opening, "short", tzinfo=zone, locale=tr.locale))
                when = (
                    _(
                        "The team is not working right now. Expect an answer at the earliest "
                        "on {day} at {time}."
                    )
                    .replace("{day}", day)
                    .replace("{time}", hour)
                )
            if not team.opening_hours_verified:
                when += " " + _("(The opening hours are not yet confirmed.)")
        alternatives = _(
            "If someone is in danger: {emergency}. Tips to the police: {police}. "
            "Health care advice: {healthcare}."
        )
        return self.r.fill(html.escape(when) + "\n\n" + html.escape(alternatives), lang, team_id)

    # -- after the team closed the request ---------------------------------------------------

    def _home_rows(self, lang: str) -> tuple[tuple[Button, ...], ...]:
        _ = self.r.t(lang).gettext
        return (
            (Button(_("🏠 Home"), callbacks.go(self.content.root)),),
            (self.r.emergency_button(lang),),
        )

    def closed_notice(self, lang: str, team_id: str, code: str) -> Screen:
        """Sent once when staff close the request: neutral on a lock screen (no municipality,
        no topic), with an optional one-tap "Did the contact help?" and no free text."""
        tr = self.r.t(lang)
        _ = tr.gettext
        closed = _(
            "Your request {code} has been closed by the team. You are welcome to ask again "
            "at any time."
        )
        before, _sep, after = closed.partition("{code}")
        parts = [
            html.escape(before)
            + f"<code>{tr.isolate(html.escape(code))}</code>"
            + html.escape(after),
            _b(_("Did the contact help you?")),
            html.escape(_("Answering is optional. Only the number of answers is kept.")),
        ]
        rows = (
            (
                Button(_("Yes"), callbacks.Feedback("yes").data),
                Button(_("Partly"), callbacks.Feedback("partly").data),
                Button(_("No"), callbacks.Feedback("no").data),
            ),
            *self._home_rows(lang),
        )
        return Screen("\n\n".join(parts), rows)

    def feedback_thanks(self, lang: str) -> Screen:
        """After the one tap (and for any later tap on the same old buttons)."""
        _ = self.r.t(lang).gettext
        text = "\n\n".join(
            [
                _b(_("Thank you for your answer.")),
                html.escape(
                    _("If you want to talk to someone again, tap “Talk to someone” at home.")
                ),
            ]
        )
        return Screen(text, self._home_rows(lang))


def _zone(team: Team | None) -> ZoneInfo:
    try:
        return ZoneInfo(team.timezone if team else "Europe/Stockholm")
    except (KeyError, ValueError):
        return ZoneInfo("Europe/Stockholm")


def parse_weekly(weekly: dict[str, str] | None) -> dict[int, list[tuple[int, int]]]:
    """{mon: "08:00-16:30", ...} as weekday -> [(start minute, end minute)]; bad entries skipped."""
    result: dict[int, list[tuple[int, int]]] = {}
    for key, value in (weekly or {}).items():
        day = str(key)[:3].lower()
        if day not in DAYS or not isinstance(value, str):
            continue
        for piece in value.split(","):
            m = HOURS_RE.match(piece)
            if m:
                start = int(m[1]) * 60 + int(m[2])
                end = int(m[3]) * 60 + int(m[4])
                if 0 <= start < end <= 24 * 60:
                    result.setdefault(DAYS.index(day), []).append((start, end))
    return result


def next_opening(weekly: dict[int, list[tuple[int, int]]], local: datetime) -> datetime | None:
    """``local`` itself if the team is open now, else the next start; None if never open."""
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    minute = local.hour * 60 + local.minute
    for offset in range(8):
        day = midnight + timedelta(days=offset)
        for start, end in sorted(weekly.get(day.weekday(), [])):
            if offset == 0 and start <= minute < end:
                return local
            if offset > 0 or start > minute:
                return day.replace(hour=start // 60, minute=start % 60)
    return None
