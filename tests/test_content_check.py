"""The content check: the real guide passes, and each kind of editor mistake is named."""

from __future__ import annotations

import os
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
