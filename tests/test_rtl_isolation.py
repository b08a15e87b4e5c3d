"""Right-to-left screens: every value a placeholder brings in is isolated.

A Latin name or a number dropped into Arabic or Persian text without an isolate can pull
the punctuation around it to the wrong side, or reorder "010-568 70 00" into nonsense.
Property: whatever the municipality is called, on every screen of every enabled RTL
language, each inserted value sits inside LRI/FSI … PDI.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.chat.check import Report, check
from bot.chat.contact_screens import ContactScreens
from bot.content.model import Content
from bot.content.render import Renderer
from bot.domain import RelativeView
from bot.i18n import FSI, LRI, PDI

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def report() -> Report:
    return check(REPO / "content", REPO / "locales")


def _rtl(content: Content) -> list[str]:
    return [lang.code for lang in content.enabled_languages if lang.direction == "rtl"]


def _unisolated(text: str, value: str) -> list[int]:
    """Offsets where ``value`` occurs in ``text`` without an isolate right around it."""
    bad = []
    for match in re.finditer(re.escape(value), text):
        before = text[match.start() - 1] if match.start() else ""
        after = text[match.end()] if match.end() < len(text) else ""
        if before not in (LRI, FSI) or after != PDI:
            bad.append(match.start())
    return bad


def test_arabic_and_persian_are_enabled(report: Report) -> None:
    assert report.content is not None
    assert {"ar", "fa"} <= set(_rtl(report.content))


latin_names = st.text(
    alphabet=st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyzåäö -."),
    min_size=3,
    max_size=30,
).map(lambda s: "Q" + s.strip() + "Z")  # never empty, never a substring of other text


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=latin_names, staff=latin_names, data=st.data())
def test_every_inserted_value_is_isolated(
    report: Report, name: str, staff: str, data: st.DataObject
) -> None:
    content = report.content
    assert content is not None
    team_id = data.draw(st.sampled_from(sorted(content.teams)))
    lang = data.draw(st.sampled_from(_rtl(content)))
    team = replace(
        content.teams[team_id],
        name={**content.teams[team_id].name, lang: name},
        staff_name={**content.teams[team_id].staff_name, lang: staff},
    )
    renamed = replace(content, teams={**content.teams, team_id: team})
    renderer = Renderer(renamed, report.translators, 30)
    node = data.draw(st.sampled_from(sorted(renamed.nodes)))
    pages = len(renderer._pages(lang, team_id, renamed.nodes[node]))
    page = data.draw(st.integers(0, pages - 1))
    screens = [renderer.guide(lang, team_id, node, page, None).text]
    contact = ContactScreens(renderer)
    now = datetime(2026, 1, 5, 20, 0, tzinfo=UTC)
    view = RelativeView("ACD-EFG", "open", now, False, 1)
    screens += [
        contact.created(lang, team_id, "ACD-EFG", "chat", now).text,
        contact.status(lang, team_id, view, now).text,
        contact.relayed(lang, team_id, "…", None).text,
    ]
    values = [name, staff, "ACD-EFG"]
    values += [s.number for s in renamed.national.values() if s.number]
    for text in screens:
        for value in values:
            assert _unisolated(text, value) == [], (lang, node, page, value, text)


def test_numbers_stay_in_latin_digits(report: Report) -> None:
    """Babel's default numbering for ar and fa is Latin digits: 112 is dialled as written."""
    for lang in ("ar", "fa"):
        translator = report.translators[lang]
        assert translator.number(30).strip(LRI + PDI) == "30"
