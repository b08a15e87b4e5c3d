"""The rules of "talk to someone": which question comes next, what an answer may be.

The draft is a small JSON-able dict kept in the chat's state (so a restart keeps
an unconfirmed request). It holds only coarse answers, the scrubbed text and,
with explicit consent, a call-back number (sealed); nothing here talks to Telegram or
the database. The screens live in ``bot.chat.contact_screens``; the presenter that
applies an event is ``bot.chat.conversation``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from bot.domain import CONCERNS, MAX_TEXT, REPLY_VIA, TOPICS, URGENCIES, RequestDraft

# Screens of the flow, in order. "urgent" (the 112 screen) and the two phone steps
# only apply to some answers.
STEPS = (
    "concerns",
    "topic",
    "urgency",
    "urgent",
    "reply_via",
    "phone_consent",
    "phone",
    "language",
    "text",
    "preview",
)
TEXT_STEPS = ("phone", "text")  # steps that wait for typed input
EDITABLE = ("concerns", "topic", "urgency", "reply_via", "language", "text")
PHONE_RE = re.compile(r"^\+?[0-9]{7,15}$")
PHONE_SEPARATORS = re.compile(r"[\s\-().]")

Draft = dict[str, Any]


def new_draft(language: str) -> Draft:
    """A fresh request; the reply language starts as the chat's language."""
    return {"step": "concerns", "language": language}


def first_missing(draft: Draft) -> str:
    """The first question without an answer, or "preview" when everything is answered."""
    if draft.get("concerns") not in CONCERNS:
        return "concerns"
    if draft.get("topic") not in TOPICS:
        return "topic"
    if draft.get("urgency") not in URGENCIES:
        return "urgency"
    if draft["urgency"] == "urgent" and not draft.get("urgent_seen"):
        return "urgent"
    if draft.get("reply_via") not in REPLY_VIA:
        return "reply_via"
    if draft["reply_via"] == "phone" and not draft.get("consent"):
        return "phone_consent"
    if draft["reply_via"] == "phone" and not draft.get("phone"):
        return "phone"
    if not draft.get("language_set"):
        return "language"
    if not draft.get("text_done"):
        return "text"
    return "preview"


def applicable_steps(draft: Draft) -> list[str]:
    """The steps this draft passes through, given its answers so far."""
    steps = []
    for step in STEPS:
        if step == "urgent" and draft.get("urgency") != "urgent":
            continue
        if step in ("phone_consent", "phone") and draft.get("reply_via") != "phone":
            continue
        steps.append(step)
    return steps


def previous_step(draft: Draft) -> str | None:
    """Where "back" goes from the current step; None means the introduction."""
    steps = applicable_steps(draft)
    step = draft.get("step", "concerns")
    if step not in steps:
        return None
    index = steps.index(step)
    return steps[index - 1] if index > 0 else None


def answer(draft: Draft, field: str, value: str, languages: Iterable[str]) -> bool:
    """Set one button answer and move on; False if the value is not one we offer."""
    allowed: dict[str, Iterable[str]] = {
        "concerns": CONCERNS,
        "topic": TOPICS,
        "urgency": URGENCIES,
        "reply_via": REPLY_VIA,
        "language": tuple(languages),
    }
    if field not in allowed or value not in allowed[field]:
        return False
    draft[field] = value
    if field == "urgency":
        draft["urgent_seen"] = False
    if field == "reply_via":
        # a new choice of call-back asks for consent and the number again
        draft.pop("consent", None)
        draft.pop("phone", None)
    if field == "language":
        draft["language_set"] = True
    draft["step"] = first_missing(draft)
    return True


def acknowledge_urgent(draft: Draft) -> None:
    draft["urgent_seen"] = True
    draft["step"] = first_missing(draft)


def give_consent(draft: Draft) -> bool:
    if draft.get("reply_via") != "phone":
        return False
    draft["consent"] = True
    draft["step"] = first_missing(draft)
    return True


def normalise_phone(raw: str) -> str | None:
    """A plausible phone number with separators removed, or None."""
    compact = PHONE_SEPARATORS.sub("", raw.strip())
    return compact if PHONE_RE.match(compact) else None


def set_phone(draft: Draft, raw: str, seal: Callable[[str], str]) -> bool:
    """Keep a valid number, sealed by ``seal`` (the draft is stored; the number is not plain)."""
    phone = normalise_phone(raw)
    if phone is None:
        return False
    draft["phone"] = seal(phone)
    draft["step"] = first_missing(draft)
    return True


def set_text(draft: Draft, scrubbed: str | None, *, removed: bool = False) -> None:
    """Store the (already scrubbed) text, or None when the relative skipped it."""
    draft["text"] = scrubbed
    draft["removed"] = removed
    draft["text_done"] = True
    draft["step"] = first_missing(draft)


def too_long(text: str) -> bool:
    return len(text) > MAX_TEXT


def edit(draft: Draft, field: str) -> bool:
    """Return to one question from the preview; the old answer stays until replaced."""
    if field not in EDITABLE:
        return False
    draft["step"] = field
    return True


def back(draft: Draft) -> bool:
    """Go one step back; False when that leaves the flow (to the introduction)."""
    previous = previous_step(draft)
    if previous is None:
        return False
    draft["step"] = previous
    return True


def current_step(draft: Draft) -> str:
    step = draft.get("step")
    return step if step in STEPS else first_missing(draft)


def to_request(draft: Draft, team_id: str) -> RequestDraft | None:
    """The request to store, or None if the draft is not complete (a stale confirm)."""
    if first_missing(draft) != "preview":
        return None
    phone = draft.get("phone") if draft["reply_via"] == "phone" else None
    return RequestDraft(
        team_id=team_id,
        language=draft["language"],
        concerns=draft["concerns"],
        topic=draft["topic"],
        urgency=draft["urgency"],
        reply_via=draft["reply_via"],
        phone=phone,
        text=draft.get("text") or None,
    )
