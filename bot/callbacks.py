"""Inline-keyboard callback codes: short ASCII, never translated text, at most 64 bytes.

Everything a button needs is in its code, so a button left from before a restart
(or from another process) still works, and a code we no longer understand is
recognised as stale instead of crashing anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_BYTES = 64
_ID = r"[a-z][a-z0-9_]{0,23}"
_GO = re.compile(rf"^g:(?P<node>{_ID})(?::(?P<page>\d{{1,2}})?(?::(?P<back>{_ID}))?)?$")
_ANSWER = re.compile(rf"^a:(?P<node>{_ID}):(?P<option>[a-z0-9_]{{1,24}})$")
_LANG = re.compile(r"^l:(?P<code>[a-z]{2,3}(?:-[A-Za-z0-9]{1,8})?)$")
_TEAM = re.compile(rf"^t:(?P<team>{_ID})$")
_HELPFUL = re.compile(rf"^h:(?P<answer>[yn]):(?P<node>{_ID})(?::(?P<back>{_ID}))?$")
_CONTACT = re.compile(r"^k:(?P<verb>[a-z]{1,8})(?::(?P<value>[A-Za-z0-9_-]{1,24}))?$")


@dataclass(frozen=True)
class Go:
    """Show ``node`` at ``page``; ``back`` is where Back returns when it is not the tree parent."""

    node: str
    page: int = 0
    back: str | None = None


@dataclass(frozen=True)
class Answer:
    node: str
    option: str


@dataclass(frozen=True)
class SetLanguage:
    code: str


@dataclass(frozen=True)
class SetTeam:
    team: str


@dataclass(frozen=True)
class Simple:
    """Actions without arguments: pickers, clear chat and delete data (with confirmations)."""

    name: str


@dataclass(frozen=True)
class ContactStep:
    """A step of the "talk to someone" flow: ``verb`` says what, ``value`` the answer.

    verbs: new (start or resume), c/t/u/r/l (answer concerns, topic, urgency, reply via,
    language), go (continue after the 112 screen), pc (consent to a call-back), skip (no
    text), e (edit a field), b (back), ok (send), no (cancel), st (status), w / wy (withdraw:
    ask, do), fb (the one-tap answer under the close notice: yes, partly or no).
    """

    verb: str
    value: str | None = None


@dataclass(frozen=True)
class Helpful:
    """ "Was this helpful?" at the end of an article; ``back`` re-renders the same screen."""

    node: str
    yes: bool
    back: str | None = None


SIMPLE = {
    "L": "language_picker",
    "T": "team_picker",
    "c": "clear_ask",
    "c:y": "clear_do",
    "d": "delete_ask",
    "d:y": "delete_do",
    "d:yc": "delete_and_clear",
    "x": "cancel",
}
_SIMPLE_CODES = {name: code for code, name in SIMPLE.items()}

Action = Go | Answer | SetLanguage | SetTeam | Simple | ContactStep | Helpful


def go(node: str, page: int = 0, back: str | None = None) -> str:
    if back:
        return f"g:{node}:{page}:{back}"
    return f"g:{node}:{page}" if page else f"g:{node}"


def answer(node: str, option: str) -> str:
    return f"a:{node}:{option}"


def set_language(code: str) -> str:
    return f"l:{code}"


def set_team(team: str) -> str:
    return f"t:{team}"


def contact(verb: str, value: str | None = None) -> str:
    return f"k:{verb}:{value}" if value else f"k:{verb}"


def helpful(node: str, yes: bool, back: str | None = None) -> str:
    answer = "y" if yes else "n"
    return f"h:{answer}:{node}:{back}" if back else f"h:{answer}:{node}"


def simple(name: str) -> str:
    return _SIMPLE_CODES[name]


def parse(data: str | None) -> Action | None:
    """Decode a callback code; None for anything we do not (or no longer) understand."""
    if not data or len(data.encode()) > MAX_BYTES:
        return None
    if data in SIMPLE:
        return Simple(SIMPLE[data])
    if m := _GO.match(data):
        return Go(m["node"], int(m["page"] or 0), m["back"])
    if m := _ANSWER.match(data):
        return Answer(m["node"], m["option"])
    if m := _LANG.match(data):
        return SetLanguage(m["code"])
    if m := _TEAM.match(data):
        return SetTeam(m["team"])
    if m := _HELPFUL.match(data):
        return Helpful(m["node"], m["answer"] == "y", m["back"])
    if m := _CONTACT.match(data):
        return ContactStep(m["verb"], m["value"])
    return None
