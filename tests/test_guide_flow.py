"""The relative's experience end to end: real PTB application, polling the spec-checked emulator."""

from __future__ import annotations

from collections import deque

import pytest

from bot import callbacks
from bot.content.loader import load_content
from bot.runtime import Server
from tests.conftest import REPO
from tests.helpers import Relative, button_data, buttons

CONTENT, _ = load_content(REPO / "content")
assert CONTENT is not None
DESTRUCTIVE = {"c:y", "d:y", "d:yc"}


async def test_first_start_preselects_language_from_telegram(preview_server: Server) -> None:
    relative = Relative(preview_server.emulator, language_code="en-GB")
    welcome = await relative.says("/start")
    assert "Welcome" in welcome["text"]
    assert "l:en" in button_data(welcome), "English should be offered as the confirmed choice"
    picker = await relative.taps("l:en")
    assert "municipality" in picker["text"].lower()
    home = await relative.taps("t:botkyrka")
    assert "g:worry" in button_data(home)
    assert len(relative.bot_messages()) == 1, "onboarding should edit one message in place"


async def test_unknown_telegram_language_falls_back_to_english(preview_server: Server) -> None:
    relative = Relative(preview_server.emulator, language_code="ja")
    welcome = await relative.says("/start")
    assert "l:en" in button_data(welcome)
    picker = await relative.taps("L")
    labels = [b["text"] for b in buttons(picker)]
    assert any("Svenska" in label for label in labels)
    assert any("English" in label for label in labels)


async def test_navigation_edits_in_place_and_back_returns(preview_server: Server) -> None:
    relative = Relative(preview_server.emulator)
    await relative.onboard("sv", "laholm")
    screen = await relative.taps("g:worry")
    assert "g:worry_changes" in button_data(screen)
    article = await relative.taps("g:worry_changes")
    assert "g:worry:0" not in button_data(article)
    back = await relative.taps(callbacks.go("worry"))
    assert "g:worry_changes" in button_data(back)
    assert len(relative.bot_messages()) == 1


OTHER_LANGUAGES = [
    lang.code for lang in CONTENT.enabled_languages if lang.code != CONTENT.base_language
]


async def test_every_screen_reachable_in_the_base_language(preview_server: Server) -> None:
    await _walk_every_screen(preview_server, CONTENT.base_language)


# What differs between languages is the words, not the storage: PostgreSQL walks the base
# language above, SQLite walks every other language.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("language", OTHER_LANGUAGES)
async def test_every_screen_reachable_in_every_other_language(
    preview_server: Server, language: str
) -> None:
    await _walk_every_screen(preview_server, language)


async def _walk_every_screen(preview_server: Server, language: str) -> None:
    """Walk the whole keyboard graph by tapping, in one language, for one municipality."""
    emulator = preview_server.emulator
    for team in sorted(CONTENT.teams)[:1]:
        relative = Relative(emulator, language_code=language)
        home = await relative.onboard(language, team)
        seen_nodes: set[str] = {"home"}
        seen_data: set[str] = set()
        queue = deque(button_data(home))
        while queue:
            data = queue.popleft()
            if data in seen_data or data in DESTRUCTIVE:
                continue
            seen_data.add(data)
            screen = await relative.taps(data, from_older_message=True)
            action = callbacks.parse(data)
            if isinstance(action, callbacks.Go):
                seen_nodes.add(action.node)
                codes = button_data(screen)
                if action.node != "emergency":
                    assert any(c.startswith("g:emergency") for c in codes), (language, data)
                if action.node != "contact":
                    assert any(c.startswith("g:contact") for c in codes), (language, data)
                if action.node != "home":
                    assert any(c.startswith("g:home") for c in codes) or any(
                        c.startswith("g:") for c in codes
                    ), (language, data)
            elif isinstance(action, callbacks.Answer):
                node = CONTENT.nodes[action.node]
                seen_nodes.add(next(o.goto for o in node.options if o.id == action.option))
            if isinstance(action, callbacks.SetLanguage | callbacks.SetTeam):
                # back to the language and team this walk is about
                await relative.taps(f"l:{language}", from_older_message=True)
                await relative.taps(f"t:{team}", from_older_message=True)
                continue
            queue.extend(button_data(screen))
        assert seen_nodes == set(CONTENT.nodes), (
            language,
            team,
            set(CONTENT.nodes) - seen_nodes,
        )


@pytest.mark.parametrize("team", [*sorted(CONTENT.teams), "none"])
async def test_municipality_screens_for_every_choice(preview_server: Server, team: str) -> None:
    for language in [lang.code for lang in CONTENT.enabled_languages]:
        relative = Relative(preview_server.emulator, language_code=language)
        await relative.onboard(language, team)
        pages = [
            await relative.taps(callbacks.go("municipality", page), from_older_message=True)
            for page in range(4)
        ]  # pages past the last show the last one
        text = " ".join(p["text"] for p in pages)
        if team == "none":
            assert "T" in button_data(pages[0]), "offer to choose a municipality"
        else:
            assert CONTENT.teams[team].name[language] in text, (language, team)
        contact = await relative.taps("g:contact", from_older_message=True)
        assert "112" in contact["text"]


async def test_emergency_is_one_tap_from_every_screen(preview_server: Server) -> None:
    relative = Relative(preview_server.emulator, language_code="en")
    await relative.onboard("en", "laholm")
    for node_id in CONTENT.nodes:
        if node_id in ("emergency", "home"):
            continue
        screen = await relative.taps(callbacks.go(node_id), from_older_message=True)
        emergency = [d for d in button_data(screen) if d.startswith("g:emergency")]
        assert emergency, node_id
        page = await relative.taps(emergency[0])
        assert "112" in page["text"]
        assert callbacks.go(node_id) in button_data(page), "back must return to where we were"


@pytest.mark.parametrize("kind", ["sticker", "photo", "voice", "document", "location"])
async def test_media_gets_a_helpful_reply(preview_server: Server, kind: str) -> None:
    relative = Relative(preview_server.emulator)
    await relative.onboard()
    reply = await relative.sends(kind)
    assert "knapptryck" in reply["text"]
    assert button_data(reply), "the reply must offer the way on"


async def test_free_and_huge_text_is_answered_not_stored(preview_server: Server) -> None:
    relative = Relative(preview_server.emulator)
    await relative.onboard()
    reply = await relative.says("Min son heter Kalle och bor på Storgatan 5")
    assert "läses inte" in reply["text"]
    assert "Kalle" not in reply["text"]
    reply = await relative.says("x" * 4096)
    assert "läses inte" in reply["text"]
    assert len(reply["text"]) < 4096


async def test_unknown_command_and_help(preview_server: Server) -> None:
    relative = Relative(preview_server.emulator)
    await relative.onboard()
    reply = await relative.says("/whatever")
    assert "/emergency" in reply["text"]
    reply = await relative.says("/help")
    assert "/delete" in reply["text"]


@pytest.mark.parametrize(
    "command,expect",
    [
        ("/emergency", "112"),
        ("/privacy", "/delete"),
        ("/language", "Svenska"),
        ("/municipality", "Laholm"),
    ],
)
async def test_commands(preview_server: Server, command: str, expect: str) -> None:
    relative = Relative(preview_server.emulator)
    await relative.onboard()
    reply = await relative.says(command)
    shown = reply["text"] + " ".join(b["text"] for b in buttons(reply))
    assert expect in shown


async def test_second_start_mid_flow_goes_home(preview_server: Server) -> None:
    relative = Relative(preview_server.emulator)
    await relative.onboard()
    await relative.taps("g:talk")
    home = await relative.says("/start")
    assert "g:worry" in button_data(home)


async def test_stale_button_gets_a_calm_answer(preview_server: Server) -> None:
    emulator = preview_server.emulator
    relative = Relative(emulator)
    home = await relative.onboard()
    for data in ["g:no_such_screen", "a:worry_check:nope", "zzz", "l:xx", "t:stockholm"]:
        await emulator.deliver(
            {
                "update_id": emulator.next_update_id(),
                "callback_query": {
                    "id": f"stale-{data}",
                    "chat_instance": "1",
                    "data": data,
                    "from": {"id": relative.chat_id, "is_bot": False, "first_name": "Test"},
                    "message": {
                        "message_id": home["message_id"],
                        "date": 0,
                        "chat": {"id": relative.chat_id, "type": "private"},
                        "text": "x",
                    },
                },
            }
        )
        await emulator.wait_idle(relative.chat_id)
        reply = relative.last()
        assert "äldre version" in reply["text"], data
        assert button_data(reply)


async def test_duplicate_update_has_one_effect(preview_server: Server) -> None:
    emulator = preview_server.emulator
    relative = Relative(emulator)
    await relative.onboard()
    update = {
        "update_id": emulator.next_update_id(),
        "message": {
            "message_id": 9000,
            "date": 0,
            "text": "/help",
            "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
            "chat": {"id": relative.chat_id, "type": "private"},
            "from": {"id": relative.chat_id, "is_bot": False, "first_name": "T"},
        },
    }
    before = len(relative.bot_messages())
    await emulator.deliver(update)
    await emulator.wait_idle(relative.chat_id)
    await emulator.deliver(dict(update))
    await emulator.wait_idle(relative.chat_id)
    assert len(relative.bot_messages()) == before + 1


async def test_group_chats_get_nothing(preview_server: Server) -> None:
    emulator = preview_server.emulator
    await emulator.deliver(
        {
            "update_id": emulator.next_update_id(),
            "message": {
                "message_id": 1,
                "date": 0,
                "text": "/start",
                "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
                "chat": {"id": -100123, "type": "group", "title": "g"},
                "from": {"id": 5, "is_bot": False, "first_name": "T"},
            },
        }
    )
    await emulator.wait_idle()
    assert not [
        c for c in emulator.calls if c[0] == "sendMessage" and str(c[1].get("chat_id")) == "-100123"
    ]
