"""The guidance content as immutable objects, built once at start."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

REQUIRED_NODES = ("home", "emergency", "contact", "municipality", "privacy")
NODE_KINDS = ("menu", "article", "question", "team", "contact")
NO_TEAM = "none"


@dataclass(frozen=True)
class Option:
    """One answer of a question node: its id (the text key) and the node it leads to."""

    id: str
    goto: str


@dataclass(frozen=True)
class Node:
    """One screen (or a series of pages) in the guide tree."""

    id: str
    kind: str
    children: tuple[str, ...] = ()
    options: tuple[Option, ...] = ()
    see_also: tuple[str, ...] = ()
    parent: str | None = None
    services: tuple[str, ...] = ()  # national places to turn shown on the last page


@dataclass(frozen=True)
class NodeText:
    """The words of one node in one language."""

    button: str
    title: str
    pages: tuple[str, ...]
    options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Language:
    code: str
    name: str
    direction: str = "ltr"
    enabled: bool = False
    fallback: tuple[str, ...] = ()
    reviewed: bool = False
    reviewed_by: str | None = None


@dataclass(frozen=True)
class Contact:
    """A way to reach a team; ``value`` None means nobody has confirmed it yet."""

    id: str
    label: dict[str, str]
    kind: str
    value: str | None
    source: str
    verified: bool
    review_by: date | None


@dataclass(frozen=True)
class Team:
    """A municipality's helpline team, with facts that each carry a source."""

    id: str
    name: dict[str, str]
    timezone: str
    languages_served: tuple[str, ...]
    languages_served_verified: bool
    opening_hours_verified: bool
    opening_hours: dict[str, str] | None
    contacts: tuple[Contact, ...]
    screen: dict[str, tuple[str, ...]]
    # Who reads and answers requests, as the relative reads it ({staff}); a true, neutral
    # phrase until the municipality names its unit.
    staff_name: dict[str, str] = field(default_factory=dict)
    reply_title: dict[str, str] | None = None  # first line of a staff reply; None: default
    notify_on_close: bool = True  # tell the relative once when staff close the request
    interpreter: bool | None = None  # can staff answer other languages through one? None: unknown
    group: str | None = None  # a group of content/team_groups.yaml (a county), for the picker


@dataclass(frozen=True)
class TeamGroup:
    """Teams listed together in the municipality picker (e.g. a county)."""

    id: str
    name: dict[str, str]


@dataclass(frozen=True)
class NationalService:
    """A place to turn that is the same for everyone in Sweden (national.yaml).

    ``number`` (phone) or ``url`` (web) is None while nobody has confirmed it: such a
    service is never shown. Texts refer to a phone number by its key as a placeholder.
    """

    key: str
    kind: str  # "phone" | "web"
    number: str | None
    url: str | None
    name: dict[str, str]
    for_whom: dict[str, str]
    hours: dict[str, str] | None
    always: bool  # listed in every contacts block
    source: str
    verified: bool
    review_by: date | None

    @property
    def shown(self) -> bool:
        return bool(self.number if self.kind == "phone" else self.url)


@dataclass(frozen=True)
class Claim:
    """A factual statement in the texts that neither seed nor DOMAIN.md carries.

    Texts mark it with ``{claim:id}``; an unverified claim is shown as such.
    """

    id: str
    statement: str
    source: str
    verified: bool
    review_by: date | None


@dataclass(frozen=True)
class Content:
    """Everything of content/ at once; the validator checks it before the bot starts."""

    root: str
    nodes: dict[str, Node]
    texts: dict[str, dict[str, NodeText]]
    languages: dict[str, Language]
    base_language: str
    teams: dict[str, Team]
    national: dict[str, NationalService]
    claims: dict[str, Claim] = field(default_factory=dict)
    team_groups: dict[str, TeamGroup] = field(default_factory=dict)

    @property
    def enabled_languages(self) -> list[Language]:
        return [lang for lang in self.languages.values() if lang.enabled]

    def text(self, lang: str, node_id: str) -> NodeText:
        """The node's text in ``lang``; the validator guarantees enabled languages are complete."""
        return self.texts.get(lang, {}).get(node_id) or self.texts[self.base_language][node_id]

    def page_count(self, lang: str, node_id: str) -> int:
        node = self.nodes[node_id]
        if node.kind == "team":
            return 1  # the team screen's pages are counted per team by the renderer
        return len(self.text(lang, node_id).pages)
