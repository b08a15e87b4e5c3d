"""Inline-keyboard callback codes: short ASCII, never translated text, at most 64 bytes.

Everything a button needs is in its code, so a button left from before a restart
(or from another process) still works, and a code we no longer understand is
recognised as stale instead of crashing anything.

A code parses into one typed action (a frozen dataclass); each action's ``data`` is its
code, so the screens build buttons from the same values the chat matches on, and a
misspelt verb is a type error instead of a button that silently does nothing.
"""

from __future__ import annotations

import re
from dataclasses import astuple, dataclass
from typing import ClassVar, Literal

MAX_BYTES = 64
_ID = r"[a-z][a-z0-9_]{0,23}"
_GO = re.compile(rf"^g:(?P<node>{_ID})(?::(?P<page>\d{{1,2}})?(?::(?P<back>{_ID}))?)?$")
_ANSWER = re.compile(rf"^a:(?P<node>{_ID}):(?P<option>[a-z0-9_]{{1,24}})$")
_LANG = re.compile(r"^l:(?P<code>[a-z]{2,3}(?:-[A-Za-z0-9]{1,8})?)$")
_TEAM = re.compile(rf"^t:(?P<team>{_ID})$")
_GROUP = re.compile(rf"^tg:(?P<group>{_ID})(?::(?P<page>\d{{1,2}}))?$")
_HELPFUL = re.compile(rf"^h:(?P<answer>[yn]):(?P<node>{_ID})(?::(?P<back>{_ID}))?$")
_CONTACT = re.compile(r"^k:(?P<verb>[a-z]{1,8})(?::(?P<value>[A-Za-z0-9_-]{1,24}))?$")


class Fixed:
    """An action without arguments: its class says its code, and all its values are equal."""

    __slots__ = ()
    code: ClassVar[str]

    @property
    def data(self) -> str:
        return self.code

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(self.code)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


# -- the guide ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Go:
    """Show ``node`` at ``page``; ``back`` is where Back returns when it is not the tree parent."""

    node: str
    page: int = 0
    back: str | None = None

    @property
    def data(self) -> str:
        if self.back:
            return f"g:{self.node}:{self.page}:{self.back}"
        return f"g:{self.node}:{self.page}" if self.page else f"g:{self.node}"


@dataclass(frozen=True)
class _Joined:
    """An action whose code is its prefix and its fields, joined with ':'."""

    prefix: ClassVar[str]

    @property
    def data(self) -> str:
        return ":".join((self.prefix, *(str(v) for v in astuple(self))))


@dataclass(frozen=True)
class Answer(_Joined):
    """An option of a question screen: the content says where it leads."""

    prefix = "a"
    node: str
    option: str


@dataclass(frozen=True)
class SetLanguage(_Joined):
    prefix = "l"
    code: str


@dataclass(frozen=True)
class SetTeam(_Joined):
    prefix = "t"
    team: str


@dataclass(frozen=True)
class PickGroup:
    """The municipality picker's list of one group's teams (a county), at ``page``."""

    group: str
    page: int = 0

    @property
    def data(self) -> str:
        return f"tg:{self.group}:{self.page}" if self.page else f"tg:{self.group}"


@dataclass(frozen=True)
class Helpful:
    """ "Was this helpful?" at the end of an article; ``back`` re-renders the same screen."""

    node: str
    yes: bool
    back: str | None = None

    @property
    def data(self) -> str:
        answer = "y" if self.yes else "n"
        return f"h:{answer}:{self.node}:{self.back}" if self.back else f"h:{answer}:{self.node}"


# -- the chat's own actions: pickers, clear and delete (with their confirmations) ------


@dataclass(frozen=True)
class ShowPicker:
    """The language or municipality picker."""

    picker: Literal["language", "team"]

    @property
    def data(self) -> str:
        return "L" if self.picker == "language" else "T"


@dataclass(frozen=True)
class ClearChat:
    """Remove the chat's messages; ``confirmed`` is the second tap."""

    confirmed: bool = False

    @property
    def data(self) -> str:
        return "c:y" if self.confirmed else "c"


@dataclass(frozen=True)
class DeleteData:
    """Forget the chat; ``confirmed`` is the second tap, ``clear`` also removes messages."""

    confirmed: bool = False
    clear: bool = False

    @property
    def data(self) -> str:
        if not self.confirmed:
            return "d"
        return "d:yc" if self.clear else "d:y"


class Cancel(Fixed):
    """Back to where the relative was (from a picker or a question)."""

    code = "x"


# -- "talk to someone" ---------------------------------------------------------------------


def _step_code(verb: str, value: str | None) -> str:
    return f"k:{verb}:{value}" if value else f"k:{verb}"


class RequestStep:
    """Base of the steps of "talk to someone", so the chat can match them as one kind."""

    __slots__ = ()


Field = Literal["concerns", "topic", "urgency", "reply_via", "language"]
_FIELD_VERBS: dict[Field, str] = {
    "concerns": "c",
    "topic": "t",
    "urgency": "u",
    "reply_via": "r",
    "language": "l",
}
_VERB_FIELDS: dict[str, Field] = {verb: field for field, verb in _FIELD_VERBS.items()}


class StartRequest(RequestStep, Fixed):
    """Start a request, or resume the unsent one."""

    code = "k:new"


@dataclass(frozen=True)
class AnswerRequest(RequestStep):
    """Answer one of the request's questions (``value`` None: a malformed, old button)."""

    field: Field
    value: str | None

    @property
    def data(self) -> str:
        return _step_code(_FIELD_VERBS[self.field], self.value)


class ContinueAfterUrgent(RequestStep, Fixed):
    """Go on with the request after the 112 screen."""

    code = "k:go"


class ConsentToCallBack(RequestStep, Fixed):
    code = "k:pc"


class SkipText(RequestStep, Fixed):
    """Send the request without a text of its own."""

    code = "k:skip"


@dataclass(frozen=True)
class _WithValue(RequestStep):
    """A step whose code is its verb and an optional value (``k:<verb>[:<value>]``)."""

    verb: ClassVar[str]
    value: str | None = None

    @property
    def data(self) -> str:
        return _step_code(self.verb, self.value)


@dataclass(frozen=True)
class EditRequest(_WithValue):
    """The edit menu (no value), a field to answer again, or "preview" to go back to it."""

    verb = "e"


class RequestBack(RequestStep, Fixed):
    code = "k:b"


class SendRequest(RequestStep, Fixed):
    code = "k:ok"


class CancelRequest(RequestStep, Fixed):
    code = "k:no"


class RequestStatus(RequestStep, Fixed):
    code = "k:st"


@dataclass(frozen=True)
class Withdraw(RequestStep):
    """Withdraw the open request; ``confirmed`` is the second tap."""

    confirmed: bool = False

    @property
    def data(self) -> str:
        return "k:wy" if self.confirmed else "k:w"


@dataclass(frozen=True)
class Feedback(_WithValue):
    """The one-tap answer under the close notice: yes, partly or no (checked by the chat)."""

    verb = "fb"


@dataclass(frozen=True)
class OutdatedRequestStep(RequestStep):
    """A well-formed step of the request this version no longer has: "out of date" there."""

    verb: str
    value: str | None = None

    @property
    def data(self) -> str:
        return _step_code(self.verb, self.value)


RequestAction = (
    StartRequest
    | AnswerRequest
    | ContinueAfterUrgent
    | ConsentToCallBack
    | SkipText
    | EditRequest
    | RequestBack
    | SendRequest
    | CancelRequest
    | RequestStatus
    | Withdraw
    | Feedback
    | OutdatedRequestStep
)
Action = (
    Go
    | Answer
    | SetLanguage
    | SetTeam
    | PickGroup
    | Helpful
    | ShowPicker
    | ClearChat
    | DeleteData
    | Cancel
    | RequestAction
)

# Codes without arguments, and the verbs of request steps whose value is not read.
_FIXED: dict[str, Action] = {
    action.data: action
    for action in (
        ShowPicker("language"),
        ShowPicker("team"),
        ClearChat(),
        ClearChat(confirmed=True),
        DeleteData(),
        DeleteData(confirmed=True),
        DeleteData(confirmed=True, clear=True),
        Cancel(),
    )
}
_PLAIN_STEPS: dict[str, RequestAction] = {
    "new": StartRequest(),
    "go": ContinueAfterUrgent(),
    "pc": ConsentToCallBack(),
    "skip": SkipText(),
    "b": RequestBack(),
    "ok": SendRequest(),
    "no": CancelRequest(),
    "st": RequestStatus(),
    "w": Withdraw(),
    "wy": Withdraw(confirmed=True),
}


def _request_step(verb: str, value: str | None) -> RequestAction:
    if verb in _PLAIN_STEPS:
        return _PLAIN_STEPS[verb]
    if verb in _VERB_FIELDS:
        return AnswerRequest(_VERB_FIELDS[verb], value)
    if verb == "e":
        return EditRequest(value)
    if verb == "fb":
        return Feedback(value)
    return OutdatedRequestStep(verb, value)


def parse(data: str | None) -> Action | None:
    """Decode a callback code; None for anything we do not (or no longer) understand."""
    if not data or len(data.encode()) > MAX_BYTES:
        return None
    if data in _FIXED:
        return _FIXED[data]
    if m := _GO.match(data):
        return Go(m["node"], int(m["page"] or 0), m["back"])
    if m := _ANSWER.match(data):
        return Answer(m["node"], m["option"])
    if m := _LANG.match(data):
        return SetLanguage(m["code"])
    if m := _TEAM.match(data):
        return SetTeam(m["team"])
    if m := _GROUP.match(data):
        return PickGroup(m["group"], int(m["page"] or 0))
    if m := _HELPFUL.match(data):
        return Helpful(m["node"], m["answer"] == "y", m["back"])
    if m := _CONTACT.match(data):
        return _request_step(m["verb"], m["value"])
    return None


# Every action without arguments, for tests and for the keyboard-graph walk.
FIXED_ACTIONS: tuple[Action, ...] = (*_FIXED.values(), *_PLAIN_STEPS.values())


def go(node: str, page: int = 0, back: str | None = None) -> str:
    """The code of ``Go`` (the guide's most common button, so it keeps a short helper)."""
    return Go(node, page, back).data


def answer(node: str, option: str) -> str:
    return Answer(node, option).data


def set_language(code: str) -> str:
    return SetLanguage(code).data


def set_team(team: str) -> str:
    return SetTeam(team).data


def helpful(node: str, yes: bool, back: str | None = None) -> str:
    return Helpful(node, yes, back).data
