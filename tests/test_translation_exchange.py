"""The translation round trip: export a language as gettext, translate, import, check, review.

Adding a language is content work only: a catalog exported, filled in (here
programmatically, "FI " before each English text) and imported, plus the language's
UI catalog and ``enabled: true``, pass the whole content check with no code change.
Import refuses a file that would break a screen and then writes nothing; a source text
changed after import makes its translation stale in the export, the check and the staff
content-status page.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator, Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from bot.__main__ import main
from bot.chat.check import check
from bot.content.exchange import (
    MAX_BUTTON,
    catalog_bytes,
    export_catalog,
    import_catalog,
    review,
)
from bot.content.loader import load_content
from bot.content.translations import pieces, read_store, source_hash
from bot.emulator.spec import BotApiSpec
from bot.runtime import Server
from tests.conftest import running_preview
from tests.staff_helpers import PASSWORD, signed_in, text_of

REPO = Path(__file__).resolve().parent.parent
LANG = "fi"
CHANGED_KEY = "node:worry_changes:page:2"


# --- helpers --------------------------------------------------------------------------


def fake_translation(key: str, source: str) -> str:
    """"FI " before the English, placeholders kept; buttons cut to what a button takes."""
    text = "FI " + source
    short = key.endswith((":button", ":name")) or ":option:" in key
    return text[:MAX_BUTTON] if short else text


def export_to(root: Path, path: Path, lang: str = LANG) -> Catalog:
    catalog = export_catalog(root / "content", lang)
    path.write_bytes(catalog_bytes(catalog))
    return catalog


def fill(
    source: Path,
    target: Path,
    translate: Callable[[str, str], str | None] = fake_translation,
    *,
    fuzzy: frozenset[str] = frozenset(),
) -> None:
    """Fill every msgstr as a translator would (None: leave it as it is)."""
    with source.open("rb") as handle:
        catalog = read_po(handle)
    for message in catalog:
        if not message.id:
            continue
        text = translate(message.context or "", str(message.id))
        if text is not None:
            message.string = text
            message.flags.discard("fuzzy")
        if message.context in fuzzy:
            message.flags.add("fuzzy")
    with target.open("wb") as handle:
        write_po(handle, catalog)


def edit(path: Path, change: Callable[[Any], None]) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def enable(root: Path, lang: str = LANG) -> None:
    def change(data: Any) -> None:
        for language in data["languages"]:
            if language["code"] == lang:
                language["enabled"] = True

    edit(root / "content" / "languages.yaml", change)


def write_ui_catalog(root: Path, lang: str = LANG) -> None:
    """The language's UI catalog: every msgid of the template as "FI " + msgid."""
    with (root / "locales" / "messages.pot").open("rb") as handle:
        template = read_po(handle)
    catalog = Catalog(locale=lang, fuzzy=False)
    for message in template:
        if not message.id:
            continue
        if isinstance(message.id, tuple | list):
            string: Any = tuple(f"FI {part}" for part in message.id)
        else:
            string = f"FI {message.id}"
        catalog.add(message.id, string, context=message.context)
    folder = root / "locales" / lang / "LC_MESSAGES"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "messages.po").open("wb") as handle:
        write_po(handle, catalog)


def change_english_source(root: Path) -> None:
    def change(data: Any) -> None:
        pages = data["nodes"]["worry_changes"]["pages"]
        pages[1] = pages[1].replace("You know the person best.", "You know this person best.")

    path = root / "content" / "texts" / "en.yaml"
    before = path.read_text(encoding="utf-8")
    edit(path, change)
    assert path.read_text(encoding="utf-8") != before, "the sentence to change is gone"


UNTOUCHED = ("teams/laholm.yaml", "teams/botkyrka.yaml", "national.yaml", "texts/en.yaml")


def without_the_language(root: Path, lang: str = LANG) -> Path:
    """A copy of the repository's content/ and locales/ with no trace of ``lang``.

    Others may be writing that language (and others) into the repository at the same
    time; the round trip is tested from scratch, with the language planned but not
    enabled, and with only the base language and English offered besides.
    """
    shutil.copytree(REPO / "content", root / "content")
    shutil.copytree(REPO / "locales", root / "locales")
    content = root / "content"
    (content / "texts" / f"{lang}.yaml").unlink(missing_ok=True)
    shutil.rmtree(content / "translations", ignore_errors=True)
    shutil.rmtree(root / "locales" / lang, ignore_errors=True)

    def drop(values: Any) -> None:
        if isinstance(values, dict):
            values.pop(lang, None)

    def team(data: Any) -> None:
        for name in ("name", "staff_name", "reply_title", "screen"):
            drop(data.get(name))
        for contact in data.get("contacts") or []:
            drop(contact.get("label"))

    def national(data: Any) -> None:
        for service in data["services"].values():
            for name in ("name", "for", "hours"):
                drop(service.get(name))

    def planned(data: Any) -> None:
        for language in data["languages"]:
            if language["code"] not in (data["base"], "en"):
                language["enabled"] = False

    for path in sorted((content / "teams").glob("*.yaml")):
        if lang in path.read_text(encoding="utf-8"):
            edit(path, team)
    if f"{lang}:" in (content / "national.yaml").read_text(encoding="utf-8"):
        edit(content / "national.yaml", national)
    edit(content / "languages.yaml", planned)
    for name in UNTOUCHED:
        (root / "before" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(content / name, root / "before" / name)
    return root


def written(root: Path) -> set[Path]:
    paths = {root / "content" / "texts" / f"{LANG}.yaml"}
    paths |= set((root / "content" / "translations").glob("*"))
    return {p for p in paths if p.exists()}


# --- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def translated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of content/ and locales/ with Finnish exported, filled in and imported."""
    root = without_the_language(tmp_path_factory.mktemp("translated"))
    export_to(root, root / "fi.po")
    fill(root / "fi.po", root / "fi-done.po")
    result = import_catalog(root / "content", root / "locales", root / "fi-done.po")
    assert result.problems == [], result.problems
    return root


@pytest.fixture
def copy(tmp_path: Path, translated: Path) -> Path:
    """A private copy of the translated tree."""
    for name in ("content", "locales", "before"):
        shutil.copytree(translated / name, tmp_path / name)
    shutil.copy(translated / "fi.po", tmp_path / "fi.po")
    return tmp_path


@pytest.fixture
def fresh(tmp_path: Path) -> Path:
    """A copy of the repository's content/ and locales/ with no Finnish at all, exported."""
    without_the_language(tmp_path)
    export_to(tmp_path, tmp_path / "fi.po")
    return tmp_path


# --- the round trip -------------------------------------------------------------------


def test_export_has_every_text_with_its_key_limits_and_the_english_source(fresh: Path) -> None:
    with (fresh / "fi.po").open("rb") as handle:
        catalog = read_po(handle)
    assert str(catalog.locale) == LANG
    by_key = {m.context: m for m in catalog if m.id}
    content, _ = load_content(fresh / "content")
    assert content is not None
    english = content.texts["en"]
    assert by_key["node:home:body"].id == english["home"].pages[0]
    assert by_key[CHANGED_KEY].id == english["worry_changes"].pages[1]
    assert by_key["node:worry_check:option:safe"].id == english["worry_check"].options["safe"]
    assert by_key["team:laholm:page:1"].id == content.teams["laholm"].screen["en"][0]
    assert by_key["team:laholm:name"].id == "Laholm Municipality"
    assert by_key["team:laholm:staff_name"].id == content.teams["laholm"].staff_name["en"]
    assert by_key["team:laholm:contact:website"].id == "The municipality's website"
    assert by_key["national:bris:name"].id == content.national["bris"].name["en"]
    assert "national:bris:for" in by_key
    # Every node's button, title, pages and option labels, every team and national text.
    nodes = {key.split(":")[1] for key in by_key if key.startswith("node:")}
    assert nodes == set(content.nodes)
    comments = " ".join(by_key["node:home:button"].auto_comments)
    assert f"At most {MAX_BUTTON} characters" in comments
    comments = " ".join(by_key["node:home:body"].auto_comments)
    assert "110 %" in comments and "{emergency}" in comments and "<b>, <i>, <u>" in comments
    assert all(not m.string and not m.fuzzy for m in by_key.values())


def test_a_new_language_from_an_imported_catalog_passes_the_check_with_no_code_change(
    copy: Path,
) -> None:
    enable(copy)
    write_ui_catalog(copy)
    report = check(copy / "content", copy / "locales")
    assert report.errors == [], "\n".join(map(str, report.errors[:20]))
    coverage = {c.language: c for c in report.coverage}[LANG]
    assert coverage.enabled and coverage.nodes_done == coverage.nodes_total
    assert coverage.ui_done == coverage.ui_total
    status = report.translations[LANG]
    assert status.translated == status.total > 0 and status.stale == [] and status.untracked == 0
    # Team screens, names and staff names come from translations/fi.yaml, merged at load.
    assert report.renderer is not None and report.content is not None
    team = report.content.teams["laholm"]
    assert team.name[LANG].startswith("FI ") and team.screen[LANG][0].startswith("FI ")
    screen = report.renderer.guide(LANG, "laholm", "municipality", 0, None).text
    assert "FI " in screen and "FI Laholm" in screen
    assert "Laholm" in report.renderer.guide(LANG, "laholm", "contact", 0, None).text
    # Team files and national.yaml are untouched: the texts live in translations/.
    for name in UNTOUCHED:
        assert (copy / "content" / name).read_bytes() == (copy / "before" / name).read_bytes()


def test_the_export_after_import_carries_the_translations_none_fuzzy(copy: Path) -> None:
    catalog = export_to(copy, copy / "again.po")
    entries = [m for m in catalog if m.id]
    assert all(m.string for m in entries) and not any(m.fuzzy for m in entries)
    home = next(m for m in entries if m.context == "node:home:title")
    assert home.string == "FI " + str(home.id)


def test_importing_the_same_file_again_changes_nothing(copy: Path, translated: Path) -> None:
    before = {p: p.read_bytes() for p in written(copy)}
    result = import_catalog(copy / "content", copy / "locales", translated / "fi-done.po")
    assert result.problems == [] and result.imported == 0 and result.unchanged > 0
    assert {p: p.read_bytes() for p in written(copy)} == before


# --- refusals: nothing written ---------------------------------------------------------


def _broken(bad_key: str, change: Callable[[str], str]) -> Callable[[str, str], str]:
    def translate(key: str, source: str) -> str:
        text = fake_translation(key, source)
        return change(text) if key == bad_key else text

    return translate


@pytest.mark.parametrize(
    ("bad_key", "change", "expected"),
    [
        (
            "node:home:body",
            lambda t: t.replace("{emergency}", "the emergency number"),
            "missing {emergency}",
        ),
        ("node:worry_not_signs:page:2", lambda t: t.replace("</b>", "", 1), "HTML"),
        ("node:worry:button", lambda t: t + " with many more words", "a button takes 32"),
        ("node:worry_check:option:safe", lambda t: t + " and more words here", "a button takes"),
        ("node:contact:body", lambda t: t.replace("{claim:duty_to_report}", ""), "{claim:"),
        ("team:laholm:page:1", lambda t: t + "\n\nRing 070-123 45 67.", "phone number"),
        ("team:laholm:name", lambda t: "<b>Laholm</b>", "no HTML"),
        ("node:worry_changes:page:1", lambda t: t + "\n\n" + "word " * 120, "at most"),
        ("national:bris:for", lambda t: t + " {team}", "not in the source {team}"),
        ("node:home:body", lambda t: t + " <s>struck</s>", "not <s>"),
    ],
)
def test_import_refuses_a_file_that_would_break_a_screen_and_writes_nothing(
    fresh: Path, bad_key: str, change: Callable[[str], str], expected: str
) -> None:
    fill(fresh / "fi.po", fresh / "bad.po", _broken(bad_key, change))
    result = import_catalog(fresh / "content", fresh / "locales", fresh / "bad.po")
    assert result.problems, "the file should have been refused"
    assert all(p.startswith(bad_key) for p in result.problems), result.problems
    assert any(expected in p for p in result.problems), result.problems
    assert written(fresh) == set()


def test_a_screen_over_the_limit_with_heading_and_notes_is_refused(fresh: Path) -> None:
    """Each piece within 900 characters, but the rendered screen over it."""
    content, _ = load_content(fresh / "content")
    assert content is not None
    source = content.texts["en"]["worry_changes"].pages[1]
    padding = " " + "longer words here" * ((880 - len(source)) // 17)

    fill(fresh / "fi.po", fresh / "long.po", _broken(CHANGED_KEY, lambda t: t + padding))
    result = import_catalog(fresh / "content", fresh / "locales", fresh / "long.po")
    assert any(
        p.startswith(CHANGED_KEY) and "the screen would be" in p for p in result.problems
    ), result.problems
    assert written(fresh) == set()


def test_the_command_line_refuses_with_one_line_per_problem_and_exit_1(
    fresh: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def translate(key: str, source: str) -> str:
        text = fake_translation(key, source)
        if key == "node:home:body":
            return text.replace("{emergency}", "")
        if key == "node:worry:button":
            return text + " far too long for a button"
        return text

    fill(fresh / "fi.po", fresh / "bad.po", translate)
    monkeypatch.setenv("CONTENT_DIR", str(fresh / "content"))
    monkeypatch.setenv("LOCALES_DIR", str(fresh / "locales"))
    assert main(["content", "import", str(fresh / "bad.po")]) == 1
    err = capsys.readouterr().err.splitlines()
    problems = [line for line in err if line.startswith("error: ")]
    assert len(problems) == 2, err
    assert problems[0].startswith("error: node:home:body: ")
    assert problems[1].startswith("error: node:worry:button: ")
    assert "nothing written" in err[-1]
    assert written(fresh) == set()
    # The same file without its two problems goes in.
    fill(fresh / "fi.po", fresh / "good.po")
    assert main(["content", "import", str(fresh / "good.po"), "--lang", "fi"]) == 0
    assert len(written(fresh)) == 2


def test_a_file_in_another_language_is_refused(fresh: Path) -> None:
    from bot.content.exchange import ExchangeError

    fill(fresh / "fi.po", fresh / "fi-done.po")
    with pytest.raises(ExchangeError, match="not 'tr'"):
        import_catalog(fresh / "content", fresh / "locales", fresh / "fi-done.po", "tr")


def test_fuzzy_and_empty_entries_are_not_imported_as_current(fresh: Path) -> None:
    empty = "node:worry_changes:title"

    def translate(key: str, source: str) -> str | None:
        return None if key == empty else fake_translation(key, source)

    fill(fresh / "fi.po", fresh / "partial.po", translate, fuzzy=frozenset({"node:home:title"}))
    result = import_catalog(fresh / "content", fresh / "locales", fresh / "partial.po")
    assert result.problems == []
    assert result.fuzzy == 1 and result.empty == 1
    store, _ = read_store(fresh / "content", LANG)
    # Neither node can be written without its title: no half node, no record.
    assert not any(k.startswith(("node:home:", "node:worry_changes:")) for k in store.entries)
    assert any("node:home" in note for note in result.notes)
    content, problems = load_content(fresh / "content")
    assert content is not None and not [p for p in problems if p.severity == "error"]
    assert "home" not in content.texts[LANG] and "worry" in content.texts[LANG]


# --- stale translations ---------------------------------------------------------------


def test_a_changed_source_makes_its_translation_stale_in_export_and_check(copy: Path) -> None:
    change_english_source(copy)
    catalog = export_to(copy, copy / "after.po")
    fuzzy = [m.context for m in catalog if m.id and m.fuzzy]
    assert fuzzy == [CHANGED_KEY]
    entry = next(m for m in catalog if m.context == CHANGED_KEY)
    assert "You know this person best." in str(entry.id)
    assert "FI " in str(entry.string) and "You know the person best." in str(entry.string)

    report = check(copy / "content", copy / "locales")
    assert report.errors == []
    stale = [p for p in report.problems if "stale" in p.message]
    assert [(p.severity, p.where) for p in stale] == [
        ("warning", f"translations/{LANG}.yaml: {CHANGED_KEY}")
    ]
    status = report.translations[LANG]
    assert status.stale == [CHANGED_KEY]
    assert status.screens["worry_changes"].stale == [CHANGED_KEY]

    # Importing the stale entry again while still fuzzy changes nothing: it stays stale.
    result = import_catalog(copy / "content", copy / "locales", copy / "after.po")
    assert result.problems == [] and result.fuzzy == 1
    assert check(copy / "content", copy / "locales").translations[LANG].stale == [CHANGED_KEY]

    # A translator updates it: current again.
    fill(copy / "after.po", copy / "updated.po")
    result = import_catalog(copy / "content", copy / "locales", copy / "updated.po")
    assert result.problems == [] and result.imported == 1
    assert check(copy / "content", copy / "locales").translations[LANG].stale == []


def test_review_signs_off_the_language_and_single_texts(copy: Path) -> None:
    change_english_source(copy)
    signed = review(copy / "content", LANG, "Aino Virtanen", today=date(2027, 1, 15))
    assert signed.stale == [CHANGED_KEY] and CHANGED_KEY not in signed.signed
    store, _ = read_store(copy / "content", LANG)
    assert (store.reviewed_by, store.reviewed_on) == ("Aino Virtanen", date(2027, 1, 15))
    assert store.entries["node:home:body"].reviewed_by == "Aino Virtanen"
    assert store.entries[CHANGED_KEY].reviewed_by is None
    status = check(copy / "content", copy / "locales").translations[LANG]
    assert status.reviewed == status.translated - 1 and status.stale == [CHANGED_KEY]

    # Signing off the stale text itself says it fits today's source.
    review(copy / "content", LANG, "Aino Virtanen", [CHANGED_KEY], today=date(2027, 1, 16))
    store, _ = read_store(copy / "content", LANG)
    content, _ = load_content(copy / "content")
    assert content is not None
    assert store.entries[CHANGED_KEY].source_hash == source_hash(
        content.texts["en"]["worry_changes"].pages[1]
    )
    status = check(copy / "content", copy / "locales").translations[LANG]
    assert status.stale == [] and status.reviewed == status.translated

    # A changed translation is no longer the one that was reviewed.
    def retranslate(key: str, source: str) -> str | None:
        if key == CHANGED_KEY:
            return None  # signed off as it is
        text = fake_translation(key, source)
        return text + " Uusi." if key == "node:home:body" else text

    export_to(copy, copy / "now.po")
    fill(copy / "now.po", copy / "changed.po", retranslate)
    assert import_catalog(copy / "content", copy / "locales", copy / "changed.po").imported == 1
    store, _ = read_store(copy / "content", LANG)
    assert store.entries["node:home:body"].reviewed_by is None
    assert store.entries["node:home:title"].reviewed_by == "Aino Virtanen"


def test_review_refuses_unknown_and_untranslated_keys(fresh: Path) -> None:
    from bot.content.exchange import ExchangeError

    with pytest.raises(ExchangeError, match="no such text"):
        review(fresh / "content", LANG, "Aino", ["node:nowhere:title"])
    with pytest.raises(ExchangeError, match="not translated"):
        review(fresh / "content", LANG, "Aino", ["node:home:title"])
    assert written(fresh) == set()


def test_the_loader_merges_imported_team_texts_only_where_the_team_file_has_none(
    copy: Path,
) -> None:
    store_file = copy / "content" / "translations" / "en.yaml"
    store_file.write_text(
        "language: en\nentries:\n"
        "  team:laholm:name: {source_hash: abc, text: Not the team file's name}\n"
        "  national:bris:for: {source_hash: abc, text: Not national.yaml's words}\n",
        encoding="utf-8",
    )
    content, problems = load_content(copy / "content")
    assert content is not None and not [p for p in problems if p.severity == "error"]
    assert content.teams["laholm"].name["en"] == "Laholm Municipality"
    assert content.national["bris"].for_whom["en"] != "Not national.yaml's words"
    assert content.teams["laholm"].name[LANG].startswith("FI ")
    assert content.national["bris"].for_whom[LANG].startswith("FI ")
    assert len(content.teams["botkyrka"].screen[LANG]) == len(
        content.teams["botkyrka"].screen["en"]
    )


# --- the staff content-status page ----------------------------------------------------


@pytest.fixture
async def stale_server(
    copy: Path, database_url: str, tmp_path: Path, spec: BotApiSpec
) -> AsyncIterator[Server]:
    change_english_source(copy)
    async with running_preview(
        database_url,
        tmp_path,
        spec,
        CONTENT_DIR=str(copy / "content"),
        LOCALES_DIR=str(copy / "locales"),
    ) as server:
        assert server.core is not None
        await server.core.staff.create("kim", PASSWORD, "coordinator", frozenset({"laholm"}))
        yield server


async def test_the_content_status_page_shows_the_stale_translation(stale_server: Server) -> None:
    async with signed_in(stale_server, "kim", "en") as client:
        page = await client.get("/staff/content")
        assert client.status == 200, text_of(page)
    row = re.search(r'data-testid="translation-fi".*?</tr>', page, re.S)
    assert row, text_of(page)
    assert re.search(r'data-testid="stale"[^>]*>\s*1\s*<', row.group(0)), row.group(0)
    assert re.search(r'data-testid="reviewed"[^>]*>\s*0\s*<', row.group(0))
    content, _ = load_content(Path(stale_server.settings.content_dir))
    assert content is not None
    total = len(pieces(content, LANG))
    assert f"{total - 1} / {total}" in row.group(0)  # the stale one is not counted as current
    screen = re.search(r'data-testid="screen-fi-worry_changes".*?</tr>', page, re.S)
    assert screen and CHANGED_KEY in screen.group(0) and "Stale" in text_of(screen.group(0))
    assert 'data-testid="stale-texts"' in screen.group(0)
    other = re.search(r'data-testid="screen-fi-home".*?</tr>', page, re.S)
    assert other and "stale-texts" not in other.group(0)
