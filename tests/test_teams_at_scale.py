"""Teams at scale (#13 item 1): 300 generated team files in 20 groups, loaded by the real
loader and content check, and the municipality picker walked through the spec-checked
emulator by typing and by lists, each way reaching a team in at most three steps."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot import callbacks
from bot.bench.national_teams import national_content, team_id, write_national_teams
from bot.content.model import NO_TEAM
from bot.content.render import GROUP_PAGE, MAX_MATCHES, PICKER_LIST_MAX, Renderer
from bot.content.validate import MAX_BUTTONS, check
from bot.emulator.spec import BotApiSpec
from bot.runtime import Server
from tests.conftest import REPO, running_preview
from tests.helpers import Relative, button_data, buttons

on_module_loop = pytest.mark.asyncio(loop_scope="module")

FALLBACK = "goteborg"


@pytest.fixture(scope="module")
def national(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """content/ with Laholm and Botkyrka as they are, plus 300 teams in 20 groups."""
    return national_content(tmp_path_factory.mktemp("national") / "content")


@pytest.fixture(scope="module")
def renderer(national: Path) -> Renderer:
    report = check(national, REPO / "locales")
    assert [str(p) for p in report.errors] == []
    assert report.content is not None and report.renderer is not None
    return report.renderer


def test_300_teams_load_and_pass_the_content_check(national: Path, renderer: Renderer) -> None:
    teams = renderer.content.teams
    assert len(teams) == 302
    assert len(renderer.content.team_groups) == 20
    assert {"laholm", "botkyrka"} <= set(teams)
    assert teams["laholm"].screen and teams["botkyrka"].screen  # kept as they were
    assert any("ö" in team.name["sv"] for team in teams.values())
    assert renderer.large_picker()


def test_a_broken_group_is_a_clear_content_error(tmp_path: Path) -> None:
    content = tmp_path / "content"
    shutil.copytree(REPO / "content", content)
    write_national_teams(content, count=12, groups=3)
    path = content / "teams" / "goteborg.yaml"
    path.write_text(path.read_text().replace("group: stockholm", "group: atlantis"))
    report = check(content, REPO / "locales")
    assert "teams/goteborg.yaml: group 'atlantis' is not in team_groups.yaml" in [
        f"{p.where}: {p.message}" for p in report.errors
    ]


def test_a_team_without_a_screen_gets_the_marked_default(renderer: Renderer) -> None:
    for lang in ("sv", "en"):
        screen = renderer.guide(lang, "goteborg", "municipality", 0, None)
        assert renderer.page_count(lang, "goteborg", renderer.content.nodes["municipality"]) == 1
        marked = {
            "sv": "Allmän information för",
            "en": "General information for",
        }[lang]
        assert marked in screen.text and "Göteborg" in screen.text
        assert renderer.services_block(lang, ("relatives_line",)) in screen.text
        assert "112" in screen.text  # the national numbers of the contacts block
    for lang in ("ar", "fa", "fi", "so", "ti", "tr"):
        text = renderer.guide(lang, "goteborg", "municipality", 0, None).text
        assert "General information" not in text, f"{lang} shows English"
    own = renderer.guide("sv", "laholm", "municipality", 0, None)
    assert "Allmän information för" not in own.text


def test_typed_names_match_without_case_or_diacritics(renderer: Renderer) -> None:
    assert renderer.find_teams("goteborg") == ["goteborg"]
    assert renderer.find_teams("GÖTEBORGS KOMMUN") == ["goteborg"]
    assert renderer.find_teams("orebro")[:1] == ["orebro"]
    assert "malmo" in renderer.find_teams("Malmö")
    assert renderer.find_teams("x") == []  # one letter finds nothing yet
    assert renderer.find_teams("Botkyrka kommun") == ["botkyrka"]


def test_every_picker_screen_stays_within_telegrams_limits(renderer: Renderer) -> None:
    screens = [renderer.team_picker(lang, "goteborg", back=True) for lang in ("sv", "ar")]
    for group in renderer.group_members():
        for page in range(renderer.group_pages(group)):
            listed = renderer.group_picker("sv", group, page, None)
            assert listed is not None
            screens.append(listed)
    for screen in screens:
        assert len(screen.buttons()) <= min(MAX_BUTTONS, GROUP_PAGE + 4)
        for button in screen.buttons():
            assert 1 <= len(button.data.encode()) <= callbacks.MAX_BYTES
            assert callbacks.parse(button.data) is not None
    assert len(renderer.team_matches("sv", "a", None, back=False).buttons()) > MAX_MATCHES


def test_two_teams_keep_the_one_list(tmp_path: Path) -> None:
    report = check(REPO / "content", REPO / "locales")
    assert report.renderer is not None
    assert len(report.content.teams if report.content else ()) <= PICKER_LIST_MAX
    picker = report.renderer.team_picker("sv", None)
    assert [b.data for b in picker.buttons()][:3] == ["t:botkyrka", "t:laholm", "t:none"]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def live(
    module_database_url: str,
    national: Path,
    tmp_path_factory: pytest.TempPathFactory,
    spec: BotApiSpec,
) -> AsyncIterator[Server]:
    tmp = tmp_path_factory.mktemp("teams-at-scale")
    async with running_preview(
        module_database_url,
        tmp,
        spec,
        CONTENT_DIR=str(national),
        FALLBACK_TEAM=FALLBACK,
        FLOOD_BURST="1000",
        FLOOD_PER_MINUTE="1000",
    ) as server:
        yield server  # running_preview asserts no Bot API call broke the spec


async def _to_picker(relative: Relative) -> dict[str, object]:
    await relative.says("/start")
    return await relative.taps("l:sv")


@on_module_loop
async def test_typing_a_name_reaches_the_team_in_two_steps(live: Server) -> None:
    relative = Relative(live.emulator, language_code="sv")
    picker = await _to_picker(relative)
    assert "Skriv en del av kommunens namn" in str(picker["text"])
    assert len(buttons(picker)) <= 30  # groups, not 302 teams
    found = await relative.says("goteborg")  # step 1: type
    assert button_data(found)[:1] == ["t:goteborg"]
    assert len(buttons(found)) <= MAX_MATCHES + 2
    home = await relative.taps("t:goteborg")  # step 2: tap
    assert "g:worry" in button_data(home)
    screen = await relative.taps("g:municipality", from_older_message=True)
    assert "Allmän information för" in str(screen["text"])


@on_module_loop
async def test_typing_too_little_or_nothing_known_says_so(live: Server) -> None:
    relative = Relative(live.emulator, language_code="sv")
    await _to_picker(relative)
    many = await relative.says("berg")
    assert "Skriv mer av namnet" in str(many["text"]) or len(buttons(many)) <= MAX_MATCHES + 2
    none = await relative.says("qqqxyz")
    assert "Ingen kommun passar in" in str(none["text"])
    assert callbacks.set_team(NO_TEAM) in button_data(none)


@on_module_loop
async def test_the_lists_reach_a_team_in_two_steps(live: Server) -> None:
    relative = Relative(live.emulator, language_code="sv")
    picker = await _to_picker(relative)
    group = callbacks.PickGroup("halland").data
    assert group in button_data(picker)
    listed = await relative.taps(group)  # step 1: the county
    assert "Hallands län" in str(listed["text"])
    first = button_data(listed)[0]
    assert first.startswith("t:")
    home = await relative.taps(first)  # step 2: the municipality
    assert "g:worry" in button_data(home)


@on_module_loop
async def test_the_last_choice_is_offered_first(live: Server) -> None:
    relative = Relative(live.emulator, language_code="sv")
    await _to_picker(relative)
    await relative.says("Växjö")
    await relative.taps(f"t:{team_id('Växjö')}")
    picker = await relative.says("/municipality")
    first = buttons(picker)[0]
    assert first["callback_data"] == "t:vaxjo" and first["text"].startswith("✓ ")
    # Typing text that names a municipality changes it, once onboarded too.
    found = await relative.says("Umeå")
    assert "t:umea" in button_data(found)


@on_module_loop
async def test_no_team_reaches_the_fallback_team(live: Server) -> None:
    relative = Relative(live.emulator, language_code="sv")
    await _to_picker(relative)
    await relative.taps(callbacks.set_team(NO_TEAM))
    intro = await relative.taps("g:contact", from_older_message=True)
    assert "Förfrågningar från andra kommuner besvaras av" in str(intro["text"])
    assert callbacks.StartRequest().data in button_data(intro)
    assert live.core is not None and live.core.renderer.request_team(NO_TEAM) == FALLBACK


@on_module_loop
async def test_text_that_names_no_team_gets_the_usual_hint_once_onboarded(live: Server) -> None:
    relative = Relative(live.emulator, language_code="en")
    await relative.says("/start")
    await relative.taps("l:en")
    await relative.says("laholm")
    await relative.taps("t:laholm")
    hint = await relative.says("I am worried about my son")
    assert "I can only guide you with the buttons" in str(hint["text"])
