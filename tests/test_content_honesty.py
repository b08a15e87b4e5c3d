"""Issue 7: content that says only what is known, fits a phone, and is translated for real.

The validator walks every screen; these tests hold it to that, and break copies of the
content to prove each rule can fail.
"""

from __future__ import annotations

import shutil
from collections import deque
from pathlib import Path
from typing import Any

import pytest

from bot import callbacks
from bot.chat.check import Report, check
from bot.config import ConfigError
from bot.content.model import NO_TEAM
from bot.content.validate import SOFT_SCREEN
from bot.runtime import Server, build_core
from bot.services.scrub import scrub
from tests.conftest import REPO, make_settings, running_preview
from tests.content_helpers import edit_yaml
from tests.helpers import Relative, button_data

NEW_SCREENS = (
    "reflect_violence",
    "reflect_change",
    "reflect_since",
    "reflect_next_violence",
    "reflect_next_recent",
    "reflect_next_long",
    "reflect_next_one",
    "situations",
    "sit_safety",
    "sit_trusted",
    "sit_gangs",
    "sit_travel",
    "sit_arrest",
    "sit_conspiracy",
    "stories",
    "story_mother",
    "story_brother",
    "story_grandma",
    "muni_lvu",
    "muni_anonymity",
    "muni_after",
    "about_guide",
    "discretion",
)


@pytest.fixture(scope="module")
def report() -> Report:
    return check(REPO / "content", REPO / "locales")


def _messages(report: Report, fragment: str) -> list[str]:
    return [str(p) for p in report.errors if fragment in p.message]


# --- the real content ------------------------------------------------------------------


def test_real_content_passes_with_every_screen_on_a_phone(report: Report) -> None:
    assert report.errors == []
    assert report.screens_checked > 300
    assert not [p for p in report.problems if "characters" in p.message]


def test_claims_register_lists_unverified_claims_per_language(report: Report) -> None:
    assert report.content is not None and report.content.claims
    for code in ("sv", "en"):
        found = report.unverified_claims(code)
        assert found, code
        assert set(found) <= set(report.content.claims)
    assert report.unverified_claims("sv").keys() == report.unverified_claims("en").keys()


def test_new_screens_exist_in_both_languages_within_three_taps(report: Report) -> None:
    content = report.content
    assert content is not None
    for node_id in NEW_SCREENS:
        assert node_id in content.nodes, node_id
        for code in ("sv", "en"):
            assert node_id in content.texts[code], (code, node_id)
    taps = {content.root: 0}
    queue = deque([content.root])
    while queue:
        node = content.nodes[queue.popleft()]
        for nxt in (*node.children, *node.see_also, *(o.goto for o in node.options)):
            if nxt not in taps:
                taps[nxt] = taps[node.id] + 1
                queue.append(nxt)
    too_deep = {n: t for n, t in taps.items() if t > 3 and not n.startswith("reflect_")}
    assert too_deep == {}
    assert set(taps) == set(content.nodes)


def test_no_team_screen_names_the_invented_stodteamet(report: Report) -> None:
    content = report.content
    assert content is not None and report.renderer is not None
    for code in ("sv", "en"):
        for team in (*content.teams, NO_TEAM):
            screen = report.renderer.guide(code, team, "contact", 0, None)
            assert "stödteamet" not in screen.text
            assert "helpline team" not in screen.text.lower()


def test_another_municipality_gets_a_real_place_to_turn(report: Report) -> None:
    assert report.renderer is not None
    for code in ("sv", "en"):
        screen = report.renderer.guide(code, NO_TEAM, "contact", 0, None)
        assert "exit.fryshuset.se" in screen.text
        assert "90101" in screen.text
        assert "020-100 200" not in screen.text, "Orostelefonen is not confirmed to run today"
        assert callbacks.StartRequest().data not in [b.data for b in screen.buttons()]


def test_unconfirmed_national_lines_are_marked(report: Report) -> None:
    assert report.renderer is not None
    selfcare = report.renderer.guide("sv", "laholm", "selfcare", 5, None).text
    assert "90101 <i>(ännu inte bekräftad)</i>" in selfcare or "90101 <i>(" in selfcare
    emergency = report.renderer.guide("en", "laholm", "emergency", 0, None).text
    assert "Always available" not in emergency


def test_preview_of_a_request_is_swedish_in_swedish(report: Report) -> None:
    from bot.chat.contact_screens import ContactScreens

    assert report.renderer is not None
    screens = ContactScreens(report.renderer)
    draft = {
        "step": "preview",
        "concerns": "child",
        "topic": "online",
        "urgency": "soon",
        "reply_via": "chat",
        "language": "sv",
        "language_set": True,
        "text": scrub("ring 0701234567", report.renderer.t("sv").gettext).text,
        "text_done": True,
    }
    text = screens.step("sv", "laholm", draft).text
    for english in ("To:", "About:", "Answer:", "removed]"):
        assert english not in text, english
    assert "Till:" in text


def test_urgent_step_says_112_once_and_links_to_the_rest(report: Report) -> None:
    from bot.chat.contact_screens import ContactScreens

    assert report.renderer is not None
    screens = ContactScreens(report.renderer)
    draft = {"step": "urgent", "concerns": "child", "topic": "other", "urgency": "urgent"}
    screen = screens.step("en", "botkyrka", draft)
    assert len(screen.text) < SOFT_SCREEN
    assert callbacks.go("emergency", 1, "contact") in [b.data for b in screen.buttons()]
    assert "114 14" not in screen.text, "the other emergency pages are one tap away, not here"


def test_staff_reply_has_112_and_a_configurable_title(report: Report) -> None:
    from dataclasses import replace

    from bot.chat.contact_screens import ContactScreens
    from bot.content.render import Renderer

    content = report.content
    assert content is not None and report.renderer is not None
    screen = ContactScreens(report.renderer).relayed("sv", "laholm", "Hej", None)
    assert any(b.data.startswith("g:emergency") for b in screen.buttons())
    assert "Laholm" in screen.text
    neutral = replace(content.teams["laholm"], reply_title={"sv": "💬 Nytt meddelande"})
    renderer = Renderer(
        replace(content, teams={**content.teams, "laholm": neutral}), report.translators, 30
    )
    text = ContactScreens(renderer).relayed("sv", "laholm", "Hej", None).text
    assert text.startswith("<b>💬 Nytt meddelande</b>")
    assert "Laholm" not in text


# --- each rule can fail ----------------------------------------------------------------


def test_an_untranslated_ui_string_is_an_error(copy: Path) -> None:
    po = copy / "locales" / "sv" / "LC_MESSAGES" / "messages.po"
    text = po.read_text(encoding="utf-8")
    start = text.index('msgid "Places to turn"')
    end = text.index("\n\n", start)
    po.write_text(text[:start] + 'msgid "Places to turn"\nmsgstr ""' + text[end:], "utf-8")
    report = check(copy / "content", copy / "locales")
    assert _messages(report, "shown untranslated: 'Places to turn'"), report.errors


def test_a_translation_that_drops_a_claim_mark_is_an_error(copy: Path) -> None:
    def drop(data: dict[str, Any]) -> None:
        pages = data["nodes"]["muni_lvu"]["pages"]
        data["nodes"]["muni_lvu"]["pages"] = [
            __import__("re").sub(r"\{claim:[a-z0-9_]+\}", "", p) for p in pages
        ]

    edit_yaml(copy / "content" / "texts" / "en.yaml", drop)
    report = check(copy / "content", copy / "locales")
    assert _messages(report, "marks other claims than sv"), report.errors


def test_an_unknown_claim_is_an_error_and_a_verified_one_shows_no_mark(copy: Path) -> None:
    texts = copy / "content" / "texts" / "sv.yaml"
    edit_yaml(
        texts,
        lambda d: d["nodes"]["home"].__setitem__(
            "body", d["nodes"]["home"]["body"] + " {claim:no_such_claim}"
        ),
    )
    report = check(copy / "content", copy / "locales")
    assert _messages(report, "claim 'no_such_claim' is not in claims.yaml")

    shutil.copy(REPO / "content" / "texts" / "sv.yaml", texts)
    good = check(copy / "content", copy / "locales")
    assert good.renderer is not None and good.content is not None
    claim = next(iter(good.unverified_claims("sv")))
    where = good.unverified_claims("sv")[claim][0]
    edit_yaml(
        copy / "content" / "claims.yaml", lambda d: d["claims"][claim].__setitem__("verified", True)
    )
    verified = check(copy / "content", copy / "locales")
    assert claim not in verified.unverified_claims("sv")
    assert where  # the claim was marked somewhere before it was verified


def test_a_screen_over_the_phone_target_is_an_error(copy: Path) -> None:
    edit_yaml(
        copy / "content" / "texts" / "en.yaml",
        lambda d: d["nodes"]["talk_start"].__setitem__("pages", ["Calm words. " * 80]),
    )
    report = check(copy / "content", copy / "locales")
    assert _messages(report, f"a phone screen is {SOFT_SCREEN} at most")


def test_a_service_with_no_confirmed_number_cannot_be_a_placeholder(copy: Path) -> None:
    edit_yaml(
        copy / "content" / "texts" / "sv.yaml",
        lambda d: d["nodes"]["home"].__setitem__("body", "Ring {relatives_line}."),
    )
    report = check(copy / "content", copy / "locales")
    assert _messages(report, "{relatives_line} has no confirmed number to show")


# --- another municipality and a fallback team ----------------------------------------


async def test_unknown_fallback_team_stops_the_start(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path}/db.sqlite", tmp_path, FALLBACK_TEAM="vaxjo")
    with pytest.raises(ConfigError, match="FALLBACK_TEAM 'vaxjo'"):
        await build_core(settings)


@pytest.fixture
async def fallback_server(tmp_path: Path, spec: Any) -> Any:
    database = f"sqlite:///{tmp_path}/db.sqlite"
    async with running_preview(database, tmp_path, spec, FALLBACK_TEAM="botkyrka") as server:
        yield server


async def test_another_municipality_reaches_the_fallback_team(fallback_server: Server) -> None:
    relative = Relative(fallback_server.emulator, language_code="en")
    await relative.onboard("en", NO_TEAM)
    intro = await relative.taps("g:contact", from_older_message=True)
    assert "Botkyrka" in intro["text"]
    assert callbacks.StartRequest().data in button_data(intro)
    await relative.taps(callbacks.StartRequest().data)
    for data in ("k:c:adult", "k:t:talk", "k:u:later", "k:r:chat", "k:l:en", "k:skip"):
        await relative.taps(data)
    preview = relative.last()
    assert "Botkyrka" in preview["text"]
    created = await relative.taps("k:ok")
    assert "case code" in created["text"].lower()
    core = fallback_server.core
    assert core is not None
    from bot.domain import StaffUser

    admin = StaffUser(id=1, username="admin", role="admin", teams=frozenset(), display_name=None)
    queue = await core.cases.queue(admin)
    assert [item.team_id for item in queue.items] == ["botkyrka"]
