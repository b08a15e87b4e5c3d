"""Read ``content/`` into a Content object, turning every malformed piece into a Problem.

A content editor's typo must produce a clear line naming the file and the key,
never a traceback, so parsing is defensive and collects everything it finds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from bot.content.model import (
    NODE_KINDS,
    Claim,
    Contact,
    Content,
    Language,
    NationalService,
    Node,
    NodeText,
    Option,
    Team,
    TeamGroup,
)
from bot.content.translations import safe_load

NODE_ID_RE = re.compile(r"^[a-z][a-z0-9_]{0,23}$")
TEAM_ID_RE = re.compile(r"^[a-z][a-z0-9_]{0,23}$")


@dataclass(frozen=True)
class Problem:
    severity: str  # "error" | "warning"
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.where}: {self.message}"


class ContentError(Exception):
    """Content has errors; the bot refuses to start on it."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        errors = [p for p in problems if p.severity == "error"]
        super().__init__(f"{len(errors)} content error(s); first: {errors[0] if errors else '-'}")


class _Collector:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def error(self, where: str, message: str) -> None:
        self.problems.append(Problem("error", where, message))

    def warning(self, where: str, message: str) -> None:
        self.problems.append(Problem("warning", where, message))


def _read_yaml(path: Path, out: _Collector) -> Any:
    try:
        return safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        out.error(str(path), "file is missing")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark else ""
        out.error(str(path), f"not valid YAML{line}: {getattr(exc, 'problem', exc)}")
    except (OSError, UnicodeDecodeError) as exc:
        out.error(str(path), f"cannot be read: {exc}")
    return None


def _mapping(value: Any, where: str, out: _Collector) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if value is not None:
        out.error(where, f"must be a mapping, got {type(value).__name__}")
    return {}


def _str(value: Any, where: str, out: _Collector, *, required: bool = True) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if value is not None or required:
        out.error(where, "must be a non-empty text")
    return None


def _date(value: Any, where: str, out: _Collector) -> date | None:
    if value is None:
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        out.error(where, f"must be a date like 2027-03-31, got {value!r}")
        return None


def _str_list(value: Any, where: str, out: _Collector) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        out.error(where, "must be a list of texts")
        return ()
    return tuple(value)


def _load_languages(path: Path, out: _Collector) -> tuple[str, dict[str, Language]]:
    raw = _mapping(_read_yaml(path, out), path.name, out)
    base = _str(raw.get("base"), f"{path.name}: base", out) or "sv"
    languages: dict[str, Language] = {}
    entries = raw.get("languages")
    if not isinstance(entries, list):
        out.error(f"{path.name}: languages", "must be a list")
        entries = []
    for i, entry in enumerate(entries):
        where = f"{path.name}: languages[{i}]"
        item = _mapping(entry, where, out)
        code = _str(item.get("code"), f"{where}.code", out)
        if not code:
            continue
        direction = item.get("direction", "ltr")
        if direction not in ("ltr", "rtl"):
            out.error(f"{where}.direction", "must be ltr or rtl")
            direction = "ltr"
        languages[code] = Language(
            code=code,
            name=_str(item.get("name"), f"{where}.name", out) or code,
            direction=direction,
            enabled=bool(item.get("enabled", False)),
            fallback=_str_list(item.get("fallback"), f"{where}.fallback", out),
            reviewed=bool(item.get("reviewed", False)),
            reviewed_by=item.get("reviewed_by"),
        )
    if base not in languages:
        out.error(f"{path.name}: base", f"base language {base!r} is not in the list")
    return base, languages


def _texts_by_language(value: Any, where: str, out: _Collector) -> dict[str, str]:
    """A {language: text} mapping such as a name or label."""
    return {
        str(k): str(v).strip()
        for k, v in _mapping(value, where, out).items()
        if isinstance(v, str) and v.strip()
    }


def _kind(value: object, kinds: tuple[str, ...], where: str, out: _Collector) -> str | None:
    """One of ``kinds``, else None with an error ("must be phone or web")."""
    if isinstance(value, str) and value in kinds:
        return value
    out.error(where, f"must be {', '.join(kinds[:-1])} or {kinds[-1]}")
    return None


def _text_or_null(value: object, where: str, quote: str, out: _Collector) -> str | None:
    """A text, or None (YAML null, or an error for anything else: ``quote`` says what)."""
    if value is None or isinstance(value, str):
        return value
    out.error(where, f"must be a text or null (quote {quote})")
    return None


def _load_national(path: Path, out: _Collector) -> dict[str, NationalService]:
    raw = _mapping(_read_yaml(path, out), path.name, out)
    services = _mapping(raw.get("services"), f"{path.name}: services", out)
    if "numbers" in raw:
        out.error(f"{path.name}: numbers", "the list is now called services (see FORMAT.md)")
    result: dict[str, NationalService] = {}
    for key, entry in services.items():
        where = f"{path.name}: services.{key}"
        item = _mapping(entry, where, out)
        kind = _kind(item.get("kind", "phone"), ("phone", "web"), f"{where}.kind", out)
        if kind is None:
            continue
        number = _text_or_null(item.get("number"), f"{where}.number", "numbers", out)
        url = item.get("url")
        if url is not None and not (isinstance(url, str) and url.startswith("https://")):
            out.error(f"{where}.url", "must be an https:// address or null")
            url = None
        if kind == "phone" and url is not None:
            out.error(f"{where}.url", "a phone service has a number, not a url")
        if kind == "web" and number is not None:
            out.error(f"{where}.number", "a web service has a url; put its phone in its own entry")
        source = _str(item.get("source"), f"{where}.source", out)
        hours = item.get("hours")
        result[str(key)] = NationalService(
            key=str(key),
            kind=kind,
            number=number.strip() if isinstance(number, str) and number.strip() else None,
            url=url,
            name=_texts_by_language(item.get("name"), f"{where}.name", out),
            for_whom=_texts_by_language(item.get("for"), f"{where}.for", out),
            hours=_texts_by_language(hours, f"{where}.hours", out) if hours else None,
            always=bool(item.get("always", False)),
            source=source or "",
            verified=bool(item.get("verified", False)),
            review_by=_date(item.get("review_by"), f"{where}.review_by", out),
        )
    return result


def _load_claims(path: Path, out: _Collector) -> dict[str, Claim]:
    """The claims register; a missing file is an empty register."""
    if not path.exists():
        return {}
    raw = _mapping(_read_yaml(path, out), path.name, out)
    result: dict[str, Claim] = {}
    for key, entry in _mapping(raw.get("claims"), f"{path.name}: claims", out).items():
        where = f"{path.name}: claims.{key}"
        if not NODE_ID_RE.match(str(key)):
            out.error(where, "claim ids are lower-case a-z, 0-9 and _, at most 24 characters")
            continue
        item = _mapping(entry, where, out)
        statement = _str(item.get("statement"), f"{where}.statement", out)
        source = _str(item.get("source"), f"{where}.source", out)
        review_by = _date(item.get("review_by"), f"{where}.review_by", out)
        verified = item.get("verified")
        if not isinstance(verified, bool):
            out.error(f"{where}.verified", "must be true or false")
        if review_by is None:
            out.error(f"{where}.review_by", "every claim needs a review date")
        result[str(key)] = Claim(
            str(key), statement or "", source or "", verified is True, review_by
        )
    return result


def _load_guide(path: Path, out: _Collector) -> tuple[str, dict[str, Node]]:
    raw = _mapping(_read_yaml(path, out), path.name, out)
    root = _str(raw.get("root"), f"{path.name}: root", out) or "home"
    nodes: dict[str, Node] = {}
    for node_id, entry in _mapping(raw.get("nodes"), f"{path.name}: nodes", out).items():
        where = f"{path.name}: nodes.{node_id}"
        node_id = str(node_id)
        if not NODE_ID_RE.match(node_id):
            out.error(where, "node ids are lower-case a-z, 0-9 and _, at most 24 characters")
            continue
        item = _mapping(entry, where, out)
        kind = item.get("kind")
        if kind not in NODE_KINDS:
            out.error(f"{where}.kind", f"must be one of {', '.join(NODE_KINDS)}, got {kind!r}")
            continue
        options = []
        for j, opt in enumerate(item.get("options") or []):
            opt_map = _mapping(opt, f"{where}.options[{j}]", out)
            opt_id = _str(opt_map.get("id"), f"{where}.options[{j}].id", out)
            goto = _str(opt_map.get("goto"), f"{where}.options[{j}].goto", out)
            if opt_id and goto:
                options.append(Option(opt_id, goto))
        nodes[node_id] = Node(
            id=node_id,
            kind=kind,
            children=_str_list(item.get("children"), f"{where}.children", out),
            options=tuple(options),
            see_also=_str_list(item.get("see_also"), f"{where}.see_also", out),
            services=_str_list(item.get("services"), f"{where}.services", out),
        )
    return root, nodes


def _load_texts(path: Path, out: _Collector) -> dict[str, NodeText]:
    raw = _mapping(_read_yaml(path, out), path.name, out)
    texts: dict[str, NodeText] = {}
    for node_id, entry in _mapping(raw.get("nodes"), f"{path.name}: nodes", out).items():
        where = f"{path.parent.name}/{path.name}: {node_id}"
        item = _mapping(entry, where, out)
        pages: list[str] = []
        if "pages" in item:
            if not isinstance(item["pages"], list) or not item["pages"]:
                out.error(f"{where}.pages", "must be a non-empty list of texts")
            else:
                for k, page in enumerate(item["pages"]):
                    text = _str(page, f"{where}.pages[{k}]", out)
                    if text:
                        pages.append(text)
        elif item.get("body") is not None:
            body = _str(item.get("body"), f"{where}.body", out)
            if body:
                pages.append(body)
        options = {
            str(k): str(v).strip()
            for k, v in _mapping(item.get("options"), f"{where}.options", out).items()
            if isinstance(v, str | int)
        }
        texts[str(node_id)] = NodeText(
            button=_str(item.get("button"), f"{where}.button", out) or str(node_id),
            title=_str(item.get("title"), f"{where}.title", out) or str(node_id),
            pages=tuple(pages),
            options=options,
        )
    return texts


def _load_team(path: Path, out: _Collector) -> Team | None:
    raw = _mapping(_read_yaml(path, out), path.name, out)
    where = f"teams/{path.name}"
    team_id = _str(raw.get("id"), f"{where}: id", out)
    if not team_id:
        return None
    if not TEAM_ID_RE.match(team_id) or team_id == "none":
        out.error(f"{where}: id", "team ids are lower-case a-z, 0-9 and _ (and not 'none')")
        return None
    if path.stem != team_id:
        out.error(f"{where}: id", f"id {team_id!r} must match the file name {path.stem!r}")
    contacts = []
    for i, entry in enumerate(raw.get("contacts") or []):
        cw = f"{where}: contacts[{i}]"
        item = _mapping(entry, cw, out)
        kind = _kind(item.get("kind"), ("web", "phone", "email"), f"{cw}.kind", out)
        if kind is None:
            continue
        value = _text_or_null(item.get("value"), f"{cw}.value", "phone numbers", out)
        contacts.append(
            Contact(
                id=_str(item.get("id"), f"{cw}.id", out) or f"contact{i}",
                label={str(k): str(v) for k, v in _mapping(item.get("label"), cw, out).items()},
                kind=kind,
                value=value,
                source=_str(item.get("source"), f"{cw}.source", out) or "",
                verified=bool(item.get("verified", False)),
                review_by=_date(item.get("review_by"), f"{cw}.review_by", out),
            )
        )
    hours = _mapping(raw.get("opening_hours"), f"{where}: opening_hours", out)
    weekly = hours.get("weekly")
    screen: dict[str, tuple[str, ...]] = {}
    for lang, entry in _mapping(raw.get("screen"), f"{where}: screen", out).items():
        item = _mapping(entry, f"{where}: screen.{lang}", out)
        pages = [p.strip() for p in item.get("pages") or [] if isinstance(p, str) and p.strip()]
        if not pages:
            out.error(f"{where}: screen.{lang}.pages", "must be a non-empty list of texts")
        screen[str(lang)] = tuple(pages)
    return Team(
        id=team_id,
        name={str(k): str(v) for k, v in _mapping(raw.get("name"), f"{where}: name", out).items()},
        timezone=_str(raw.get("timezone"), f"{where}: timezone", out, required=False)
        or "Europe/Stockholm",
        languages_served=_str_list(raw.get("languages_served"), f"{where}: languages_served", out),
        languages_served_verified=bool(raw.get("languages_served_verified", False)),
        opening_hours_verified=bool(hours.get("verified", False)),
        opening_hours=weekly if isinstance(weekly, dict) else None,
        contacts=tuple(contacts),
        screen=screen,
        staff_name=_texts_by_language(raw.get("staff_name"), f"{where}: staff_name", out),
        reply_title=(
            _texts_by_language(raw.get("reply_title"), f"{where}: reply_title", out)
            if raw.get("reply_title")
            else None
        ),
        notify_on_close=bool(raw.get("notify_on_close", True)),
        interpreter=raw.get("interpreter") if isinstance(raw.get("interpreter"), bool) else None,
        group=_str(raw.get("group"), f"{where}: group", out, required=False),
    )


def _load_team_groups(path: Path, out: _Collector) -> dict[str, TeamGroup]:
    """The picker's groups of teams; a missing file is no groups."""
    if not path.exists():
        return {}
    raw = _mapping(_read_yaml(path, out), path.name, out)
    result: dict[str, TeamGroup] = {}
    for key, entry in _mapping(raw.get("groups"), f"{path.name}: groups", out).items():
        where = f"{path.name}: groups.{key}"
        if not TEAM_ID_RE.match(str(key)):
            out.error(where, "group ids are lower-case a-z, 0-9 and _, at most 24 characters")
            continue
        item = _mapping(entry, where, out)
        name = _texts_by_language(item.get("name"), f"{where}.name", out)
        if not name:
            out.error(f"{where}.name", "every group needs a name")
        result[str(key)] = TeamGroup(str(key), name)
    return result


def _with_parents(root: str, nodes: dict[str, Node], out: _Collector) -> dict[str, Node]:
    """Give every node its one parent: a menu, else the one question that leads to it.

    A step of a short self-reflection is reached only from the question before it, so
    its "back" goes to that question; any other node must be listed by exactly one menu.
    """
    parents: dict[str, list[str]] = {}
    asked_by: dict[str, list[str]] = {}
    for node in nodes.values():
        for child in node.children:
            parents.setdefault(child, []).append(node.id)
        for option in node.options:
            if node.id not in asked_by.get(option.goto, []):
                asked_by.setdefault(option.goto, []).append(node.id)
    result = {}
    for node_id, node in nodes.items():
        found = parents.get(node_id, [])
        if not found and len(asked_by.get(node_id, [])) == 1:
            found = asked_by[node_id][:1]
        if node_id != root and len(found) != 1:
            detail = "no menu lists it" if not found else f"listed by {', '.join(found)}"
            out.error(f"guide.yaml: {node_id}", f"must be the child of exactly one menu ({detail})")
        result[node_id] = replace(node, parent=found[0] if found else None)
    return result


def _merge_translations(
    content_dir: Path,
    teams: dict[str, Team],
    national: dict[str, NationalService],
    out: _Collector,
) -> tuple[dict[str, Team], dict[str, NationalService]]:
    """Team and national texts imported for a language (translations/<lang>.yaml).

    Only fills a language the team file or national.yaml does not carry itself.
    """
    from bot.content.translations import STORE_DIR, merge_store, parse_store

    for path in sorted((content_dir / STORE_DIR).glob("*.yaml")):
        store, problems = parse_store(_read_yaml(path, out), path.stem)
        for problem in problems:
            out.error(f"{STORE_DIR}/{path.name}", problem)
        teams, national = merge_store(store, teams, national)
    return teams, national


def load_content(content_dir: Path) -> tuple[Content | None, list[Problem]]:
    """Load everything; return (content or None when unusable, problems found while reading)."""
    out = _Collector()
    if not content_dir.is_dir():
        out.error(str(content_dir), "content folder not found")
        return None, out.problems
    base, languages = _load_languages(content_dir / "languages.yaml", out)
    national = _load_national(content_dir / "national.yaml", out)
    claims = _load_claims(content_dir / "claims.yaml", out)
    root, nodes = _load_guide(content_dir / "guide.yaml", out)
    nodes = _with_parents(root, nodes, out)
    texts = {}
    for path in sorted((content_dir / "texts").glob("*.yaml")):
        texts[path.stem] = _load_texts(path, out)
    teams = {}
    for path in sorted((content_dir / "teams").glob("*.yaml")):
        team = _load_team(path, out)
        if team:
            teams[team.id] = team
    teams, national = _merge_translations(content_dir, teams, national, out)
    groups = _load_team_groups(content_dir / "team_groups.yaml", out)
    if base not in texts:
        out.error(f"texts/{base}.yaml", "the base language's texts are missing")
        return None, out.problems
    if root not in nodes:
        out.error("guide.yaml: root", f"root node {root!r} is not defined")
        return None, out.problems
    content = Content(root, nodes, texts, languages, base, teams, national, claims, groups)
    return content, out.problems
