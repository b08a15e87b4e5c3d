"""The content check: the real guide passes, and each kind of editor mistake is named."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.chat.check import Report, check
from bot.content.loader import Problem
from tests.content_helpers import edit_yaml

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def real_report() -> Report:
    return check(REPO / "content", REPO / "locales")


def run_check(root: Path) -> Report:
    return check(root / "content", root / "locales")


def has(problems: list[Problem], where: str, message: str, severity: str = "error") -> bool:
    return any(
        p.severity == severity and where in p.where and message in p.message for p in problems
    )


# --- the real content ----------------------------------------------------------------


def test_real_content_has_no_errors(real_report: Report) -> None:
    assert real_report.errors == []


def test_real_content_renders_screens(real_report: Report) -> None:
    assert real_report.screens_checked > 0


@pytest.mark.parametrize("code", ["sv", "en"])
def test_real_content_is_complete_but_unreviewed(real_report: Report, code: str) -> None:
    coverage = {c.language: c for c in real_report.coverage}[code]
    assert coverage.enabled
    assert coverage.nodes_done == coverage.nodes_total > 0
    assert coverage.ui_done == coverage.ui_total > 0
    assert coverage.reviewed is False


# --- one mistake per test ------------------------------------------------------------


def test_yaml_syntax_error_is_a_problem_with_file_and_line(copy: Path) -> None:
    path = copy / "content" / "national.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    at = lines.index("services:") + 1
    lines.insert(at, "  bad: key: value")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = run_check(copy)
    assert has(report.problems, "national.yaml", f"not valid YAML (line {at + 1})")


def test_node_no_menu_lists_is_reported_without_parent_and_unreachable(copy: Path) -> None:
    edit_yaml(
        copy / "content" / "guide.yaml", lambda g: g["nodes"].update(orphan={"kind": "article"})
    )
    for code in ("sv", "en"):
        edit_yaml(
            copy / "content" / "texts" / f"{code}.yaml",
            lambda t: t["nodes"].update(
                orphan={"button": "Orphan", "title": "Orphan", "pages": ["Alone."]}
            ),
        )
    problems = run_check(copy).problems
    assert has(problems, "guide.yaml: orphan", "exactly one menu (no menu lists it)")
    assert has(problems, "guide.yaml: orphan", "cannot be reached from the root")


def test_node_listed_by_two_menus_is_reported(copy: Path) -> None:
    edit_yaml(
        copy / "content" / "guide.yaml", lambda g: g["nodes"]["talk"]["children"].append("selfcare")
    )
    assert has(run_check(copy).problems, "guide.yaml: selfcare", "listed by home, talk")


def test_removing_a_required_node_is_reported(copy: Path) -> None:
    def drop_privacy(guide: dict[str, Any]) -> None:
        del guide["nodes"]["privacy"]
        for node in guide["nodes"].values():
            for key in ("children", "see_also"):
                if "privacy" in node.get(key, []):
                    node[key].remove("privacy")

    edit_yaml(copy / "content" / "guide.yaml", drop_privacy)
    assert has(run_check(copy).problems, "guide.yaml: privacy", "this screen is required")


def test_missing_swedish_text_for_a_node_is_reported(copy: Path) -> None:
    edit_yaml(copy / "content" / "texts" / "sv.yaml", lambda t: t["nodes"].pop("selfcare"))
    assert has(run_check(copy).problems, "texts/sv.yaml: selfcare", "text is missing")


def type_into_first_page(root: Path, lang: str, text: str) -> None:
    """What an editor types as the first page of the self-care article in ``lang``."""
    edit_yaml(
        root / "content" / "texts" / f"{lang}.yaml",
        lambda t: t["nodes"]["selfcare"]["pages"].__setitem__(0, text),
    )


@pytest.mark.parametrize(
    ("lang", "text", "where", "message"),
    [
        pytest.param(
            "sv",
            "Hej {foo}.",
            "texts/sv.yaml: selfcare",
            "unknown placeholder {foo}",
            id="unknown-placeholder",
        ),
        pytest.param(
            "sv", "Ring 08-123 45 67.", "texts/sv.yaml: selfcare", "'08-123 45 67'", id="phone"
        ),
        # FORMAT.md: texts refer to national numbers by placeholder, never by digits.
        pytest.param("sv", "Ring 112.", "texts/sv.yaml: selfcare", "", id="national-112"),
        pytest.param("sv", "Ring 1177.", "texts/sv.yaml: selfcare", "", id="national-1177"),
        pytest.param("en", "Open from 8:30.", "texts/en.yaml: selfcare", "'8:30'", id="hour"),
        pytest.param(
            "sv",
            "Hej <script>alert(1)</script>",
            "screen sv/",
            "HTML: unsupported tag <script>",
            id="unsupported-html-tag",
        ),
    ],
)
def test_a_mistake_typed_into_a_page_is_reported(
    copy: Path, lang: str, text: str, where: str, message: str
) -> None:
    type_into_first_page(copy, lang, text)
    assert has(run_check(copy).problems, where, message)


def test_page_longer_than_telegram_allows_is_reported(copy: Path) -> None:
    type_into_first_page(copy, "en", "word " * 1000)
    problems = run_check(copy).problems
    assert has(problems, "/selfcare/page 1", "characters; Telegram takes 1-4096")
    assert all(p.where.startswith("screen en/") for p in problems if "4096" in p.message)


def test_question_option_without_label_is_reported(copy: Path) -> None:
    edit_yaml(
        copy / "content" / "texts" / "sv.yaml",
        lambda t: t["nodes"]["worry_check"]["options"].pop("safe"),
    )
    assert has(run_check(copy).problems, "texts/sv.yaml: worry_check", "option 'safe' has no label")


def test_team_contact_without_source_is_reported(copy: Path) -> None:
    edit_yaml(
        copy / "content" / "teams" / "laholm.yaml", lambda team: team["contacts"][0].pop("source")
    )
    assert has(run_check(copy).problems, "teams/laholm.yaml", "every contact needs a source")


# --- the command line ----------------------------------------------------------------


def run_cli(tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "DATA_DIR": str(tmp_path / "data"),
        **extra,
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", "content", "check"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_passes_on_real_content_and_prints_coverage(tmp_path: Path) -> None:
    result = run_cli(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "language  enabled  reviewed" in result.stdout
    assert any(line.startswith("sv ") and "yes" in line for line in result.stdout.splitlines())
    assert "0 error(s)" in result.stdout


def test_cli_fails_on_broken_content_and_names_the_problem(copy: Path, tmp_path: Path) -> None:
    type_into_first_page(copy, "en", "word " * 1000)
    result = run_cli(tmp_path, CONTENT_DIR=str(copy / "content"))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "/selfcare/page 1: " in result.stdout
    assert "Telegram takes 1-4096" in result.stdout
    assert "language  enabled  reviewed" in result.stdout
    assert "Traceback" not in result.stderr


# --- the staff pages' strings (#12: the Swedish statistics page was mostly English) -------


def _extracted() -> dict[str, set[str]]:
    """Every msgid pybabel extracts from bot/ with the README's command, with its files."""
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir

    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    found: dict[str, set[str]] = {}
    for filename, _line, message, _comments, _context in extract_from_dir(
        REPO / "bot", method_map, keywords={**DEFAULT_KEYWORDS, "N_": None}
    ):
        for msgid in message if isinstance(message, tuple) else (message,):
            if msgid:
                found.setdefault(msgid, set()).add(f"bot/{filename}")
    return found


def _po(path: Path) -> dict[str, str]:
    """msgid -> msgstr of a catalog (plural forms by their singular), fuzzy left out."""
    from babel.messages.pofile import read_po

    with path.open("rb") as handle:
        catalog = read_po(handle)
    out: dict[str, str] = {}
    for m in catalog:
        if not m.id or m.fuzzy:
            continue
        ids = m.id if isinstance(m.id, tuple | list) else (m.id,)
        strings = m.string if isinstance(m.string, tuple | list) else (m.string,)
        for msgid in ids:
            out[msgid] = strings[0] if strings and all(strings) else ""
    return out


@pytest.fixture(scope="module")
def extracted() -> dict[str, set[str]]:
    return _extracted()


def test_every_string_in_the_code_is_in_the_template(extracted: dict[str, set[str]]) -> None:
    """The content status counts the template's msgids: one missing there is uncounted, and
    the page would claim 100 % while a page shows English."""
    template = _po(REPO / "locales" / "messages.pot")
    missing = sorted(m for m in extracted if m not in template)
    assert missing == [], f"run the README's pybabel extract and update: {missing}"


STATISTICS_SOURCES = re.compile(r"stats|content_status|content_translations")


def test_every_staff_page_string_is_in_swedish(extracted: dict[str, set[str]]) -> None:
    from bot.content.validate import RELATIVE_SOURCES

    swedish = _po(REPO / "locales" / "sv" / "LC_MESSAGES" / "messages.po")
    english = _po(REPO / "locales" / "en" / "LC_MESSAGES" / "messages.po")
    staff = {
        msgid
        for msgid, files in extracted.items()
        if not any(f.startswith(RELATIVE_SOURCES) for f in files)
    }
    assert sorted(m for m in staff if not swedish.get(m)) == []
    # English is the msgids' language (a missing entry shows the msgid): the statistics
    # pages' strings are listed in its catalog all the same, as the issue asks.
    statistics = {
        msgid for msgid in staff if any(STATISTICS_SOURCES.search(f) for f in extracted[msgid])
    }
    assert "Most viewed screens" in statistics
    assert sorted(m for m in statistics if m not in english) == []


DAY = re.compile(r"\d{4}-\d{2}(-\d{2})?")


def test_every_word_of_every_statistics_table_is_in_swedish() -> None:
    """The service's tables carry English msgids the page translates: build every table the
    service builds (shown, with hidden cells, refused as too small) and look each word up."""
    from datetime import date
    from types import SimpleNamespace

    from bot.content.loader import load_content
    from bot.services import stats_report
    from bot.services.stats import Period
    from bot.web.staff import stats_labels, stats_views

    swedish = _po(REPO / "locales" / "sv" / "LC_MESSAGES" / "messages.po")
    looked_up: set[str] = set()

    def say(msgid: str) -> str:
        looked_up.add(msgid)
        return swedish.get(msgid) or msgid

    content, _ = load_content(REPO / "content")
    assert content is not None
    ctx = SimpleNamespace(lang="sv", say=say)
    door = SimpleNamespace(
        content=content, pages=SimpleNamespace(team_name=lambda team, lang: team)
    )
    label = stats_views.labeller(ctx, door)  # type: ignore[arg-type]
    periods = [
        Period(date(2026, 11, 1), date(2026, 11, 30), "month"),
        Period(date(2026, 10, 1), date(2026, 12, 31), "quarter"),
        Period(date(2026, 1, 1), date(2026, 12, 31), "year"),
    ]
    keyed_kinds = stats_report.KEYED_KINDS
    for period, size in [(p, n) for p in periods for n in (100, 3, 0)]:
        # shown (with hidden cells beside small ones); refused as too small; nothing yet
        keyed = [(kind, "x", size) for kind in keyed_kinds]
        keyed += [("screen_viewed", "privacy", size), ("helpful", "privacy:yes", size)]
        keyed += [("helpful", "privacy:no", 1), ("request_urgency", "urgent", 2)]
        series = [(date(2026, 11, 2), kind, size) for kind in stats_report.SERIES_KINDS]
        by_team = [("laholm", "conversation_started", size), ("", "request_created", 2)]
        for table in stats_report.build_tables(period, series, keyed, by_team):
            for msgid in (table.title, table.row_label, *table.columns):
                say(msgid)
            if table.note:
                stats_labels.note_words(table.note, say)
            for key, _cells in table.rows:
                if key in content.nodes or key == "x" or ">" in key or DAY.fullmatch(key):
                    continue  # a screen's own title, a stand-in, a move, a day or a month
                label(key)
    untranslated = sorted(m for m in looked_up if not swedish.get(m))
    assert untranslated == [], untranslated
    assert "Most viewed screens" in looked_up and stats_labels.REFUSED_NOTE in looked_up


def test_an_untranslated_statistics_label_fails_the_content_check(copy: Path) -> None:
    po = copy / "locales" / "sv" / "LC_MESSAGES" / "messages.po"
    text = po.read_text(encoding="utf-8")
    start = text.index('msgid "Most viewed screens"')
    end = text.index("\n\n", start)
    po.write_text(text[:start] + 'msgid "Most viewed screens"\nmsgstr ""' + text[end:], "utf-8")
    report = run_check(copy)
    assert has(report.problems, "locales/sv", "1 staff string(s) not translated"), report.errors
    sv = next(c for c in report.coverage if c.language == "sv")
    assert sv.staff_done == sv.staff_total - 1
