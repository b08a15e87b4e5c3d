"""Talk to someone, the relative's side: real PTB application, spec-checked emulator, both DBs."""

from __future__ import annotations

import copy
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from bot import callbacks
from bot.chat.check import check
from bot.chat.contact_screens import ContactScreens, next_opening, parse_weekly
from bot.content.loader import load_content
from bot.content.render import Renderer
from bot.domain import CODE_ALPHABET, StaffUser
from bot.privacy import chat_pseudonym
from bot.runtime import Server
from bot.storage.sessions import SessionState
from tests.conftest import REPO, TEST_SECRET
from tests.helpers import Relative, button_data

CODE_RE = re.compile(rf"[{CODE_ALPHABET}]{{3}}-[{CODE_ALPHABET}]{{3}}")


async def _state(server: Server, relative: Relative) -> SessionState:
    assert server.core is not None
    pseudonym = chat_pseudonym(TEST_SECRET.encode(), relative.chat_id)
    state = await server.core.store.load(pseudonym)
    assert state is not None
    return state


async def _staff(server: Server, team: str = "laholm") -> StaffUser:
    assert server.core is not None
    await server.core.staff.create(
        "anna", "a long enough password", "staff", frozenset({team}), display_name="Anna"
    )
    user = await server.core.staff.authenticate("anna", "a long enough password")
    assert user is not None
    return user


async def _answer_up_to_text(relative: Relative, *, urgency: str = "soon") -> dict[str, Any]:
    intro = await relative.taps("g:contact")
    assert "k:new" in button_data(intro)
    screen = await relative.taps("k:new")
    assert "k:c:child" in button_data(screen)
    for code in ("k:c:child", "k:t:online", f"k:u:{urgency}"):
        screen = await relative.taps(code)
    if urgency == "urgent":
        assert "112" in screen["text"]
        screen = await relative.taps("k:go")
    screen = await relative.taps("k:r:chat")
    return await relative.taps("k:l:sv")


async def _send_request(relative: Relative, text: str | None = None) -> str:
    """Answer everything, confirm, and return the case code shown."""
    screen = await _answer_up_to_text(relative)
    screen = await relative.says(text) if text else await relative.taps("k:skip")
    assert "k:ok" in button_data(screen)
    done = await relative.taps("k:ok")
    match = CODE_RE.search(done["text"])
    assert match, done["text"]
    return match.group()


def _assert_ways_out(message: dict[str, Any]) -> None:
    codes = button_data(message)
    assert any(c.startswith("g:emergency") for c in codes), codes
    assert any(c.startswith("g:home") or c.startswith("g:contact") for c in codes), codes


async def test_full_flow_to_a_case_code(preview_server: Server) -> None:
    relative = Relative(preview_server.emulator)
    await relative.onboard("sv", "laholm")
    intro = await relative.taps("g:contact")
    assert "112" in intro["text"]  # not an emergency service
    assert "g:muni_after:0:contact" in button_data(intro)  # what happens next, one tap away
    screen = await relative.taps("k:new")
    for code in ("k:c:child", "k:t:online", "k:u:soon", "k:r:chat", "k:l:sv"):
        _assert_ways_out(screen)
        screen = await relative.taps(code)
    assert "30" in screen["text"]  # retention days, said where the relative writes
    preview = await relative.says(
        "Han är med i en grupp på nätet. Ring mig på 070-123 45 67 eller a.b@example.se"
    )
    assert "070-123 45 67" not in preview["text"] and "a.b@example.se" not in preview["text"]
    assert "Han är med i en grupp på nätet" in preview["text"]
    assert "[telefonnummer borttaget]" in preview["text"]  # the marker staff will see, in Swedish
    assert {"k:ok", "k:e", "k:no"} <= set(button_data(preview))
    _assert_ways_out(preview)
    state = await _state(preview_server, relative)
    assert state.draft is not None and state.case_id is None

    done = await relative.taps("k:ok")
    code = CODE_RE.search(done["text"])
    assert code, done["text"]
    _assert_ways_out(done)
    state = await _state(preview_server, relative)
    assert state.draft is None and state.case_id is not None
    view = await preview_server.core.cases.view_for_relative(state.case_id)
    assert view is not None and view.code == code.group() and view.status == "open"
    assert len(relative.bot_messages()) == 2, "taps edit in place; typed text gets a new one"

    staff = await _staff(preview_server)
    detail = await preview_server.core.cases.detail(staff, view.code)
    assert detail.item.concerns == "child" and detail.item.topic == "online"
    assert detail.item.reply_via == "chat" and detail.phone is None
    bodies = " ".join(m.body or "" for m in detail.messages)
    assert "070-123" not in bodies and "example.se" not in bodies


async def test_change_from_preview_and_cancel(preview_server: Server) -> None:
    relative = Relative(preview_server.emulator)
    await relative.onboard("sv", "laholm")
    await _answer_up_to_text(relative)
    preview = await relative.taps("k:skip")
    menu = await relative.taps("k:e")
    assert "k:e:topic" in button_data(menu)
    topic = await relative.taps("k:e:topic")
    assert any(b.startswith("k:t:") for b in button_data(topic))
    preview = await relative.taps("k:t:leaving")
    assert "k:ok" in button_data(preview), "after a change the preview comes back"
    assert "lämna" in preview["text"].lower()
    cancelled = await relative.taps("k:no")
    assert "k:new" in button_data(cancelled)
    assert (await _state(preview_server, relative)).draft is None


async def test_phone_call_back_needs_consent_and_a_valid_number(preview_server: Server) -> None:
    relative = Relative(preview_server.emulator)
    await relative.onboard("sv", "laholm")
    await relative.taps("g:contact")
    await relative.taps("k:new")
    for code in ("k:c:adult", "k:t:talk", "k:u:later"):
        await relative.taps(code)
    consent = await relative.taps("k:r:phone")
    assert "inte längre anonym" in consent["text"] and "raderas" in consent["text"]
    assert {"k:pc", "k:r:chat"} <= set(button_data(consent))
    asked = await relative.taps("k:pc")
    assert "telefonnummer" in asked["text"].lower()
    refused = await relative.says("ring mig i morgon")
    assert "ser inte ut som ett telefonnummer" in refused["text"]
    language = await relative.says("070-123 45 67")
    assert "k:l:sv" in button_data(language)
    stored = (await _state(preview_server, relative)).draft
    assert stored is not None and stored.get("phone")
    assert "0701234567" not in repr(stored), "the draft keeps the number sealed"
    await relative.taps("k:l:en")
    preview = await relative.taps("k:skip")
    assert "0701234567" in preview["text"]
    code = CODE_RE.search((await relative.taps("k:ok"))["text"])
    assert code
    staff = await _staff(preview_server)
    detail = await preview_server.core.cases.detail(staff, code.group())
    assert detail.item.reply_via == "phone" and detail.phone == "0701234567"
    assert detail.item.language == "en"


async def test_immediate_danger_shows_112_and_flags_urgent(preview_server: Server) -> None:
    relative = Relative(preview_server.emulator)
    await relative.onboard("sv", "laholm")
    await relative.taps("g:contact")
    await relative.taps("k:new")
    await relative.taps("k:c:unsaid")
    await relative.taps("k:t:worry")
    danger = await relative.taps("k:u:urgent")
    emergency_title = load_content(REPO / "content")[0].text("sv", "emergency").title
    assert "112" in danger["text"] and emergency_title in danger["text"]
    assert "k:go" in button_data(danger)
    _assert_ways_out(danger)
    await relative.taps("k:go")
    await relative.taps("k:r:chat")
    await relative.taps("k:l:sv")
    await relative.taps("k:skip")
    code = CODE_RE.search((await relative.taps("k:ok"))["text"])
    assert code
    staff = await _staff(preview_server)
    queue = await preview_server.core.cases.queue(staff)
    assert [i.urgency for i in queue.items if i.code == code.group()] == ["urgent"]


async def test_status_withdraw_and_stale_buttons(preview_server: Server) -> None:
    relative = Relative(preview_server.emulator)
    await relative.onboard("sv", "laholm")
    code = await _send_request(relative)
    status = await relative.says("/status")
    assert code in status["text"] and "Väntar" in status["text"]
    again = await relative.taps("g:contact", from_older_message=True)
    assert code in again["text"], "with an open request, talk to someone shows its status"
    stale = await relative.taps("k:c:adult", from_older_message=True)
    assert "redan skickad" in stale["text"]
    stale = await relative.taps("k:ok", from_older_message=True)
    assert "redan skickad" in stale["text"]
    case_id = (await _state(preview_server, relative)).case_id
    ask = await relative.taps("k:w")
    assert code in ask["text"] and "k:wy" in button_data(ask)
    done = await relative.taps("k:wy")
    assert "tillbakadragen" in done["text"].lower()
    view = await preview_server.core.cases.view_for_relative(case_id)
    assert view is not None and view.status == "withdrawn"
    state = await _state(preview_server, relative)
    assert state.case_id is None, "the chat no longer points to a withdrawn request"
    assert state.node == "contact", "the turn's own state was still written"
    twice = await relative.taps("k:wy", from_older_message=True)
    assert "ingen öppen förfrågan" in twice["text"].lower()
    unknown = await relative.taps("k:zz", from_older_message=True)
    assert unknown["reply_markup"], "an unknown code still gets a screen with ways out"


async def test_delete_withdraws_the_open_request(preview_server: Server) -> None:
    relative = Relative(preview_server.emulator)
    await relative.onboard("sv", "laholm")
    await _send_request(relative)
    case_id = (await _state(preview_server, relative)).case_id
    question = await relative.says("/delete")
    assert "dras den tillbaka" in question["text"]
    await relative.taps("d:y")
    view = await preview_server.core.cases.view_for_relative(case_id)
    assert view is not None and view.status == "withdrawn"
    pseudonym = chat_pseudonym(TEST_SECRET.encode(), relative.chat_id)
    assert await preview_server.core.store.load(pseudonym) is None


async def test_messages_both_ways(preview_server: Server) -> None:
    relative = Relative(preview_server.emulator)
    await relative.onboard("sv", "laholm")
    code = await _send_request(relative, "Jag är orolig för min bror.")
    sent = await relative.says("En sak till: skriv till @someone_else")
    assert "Skickat till teamet" in sent["text"]
    photo = await relative.sends("photo")
    assert "Bara skriven text" in photo["text"]
    refused = await relative.says("x" * 1001)
    assert "1 001" in refused["text"].replace("\xa0", " ") and "Inget skickades" in refused["text"]

    staff = await _staff(preview_server)
    detail = await preview_server.core.cases.detail(staff, code)
    relative_bodies = [m.body for m in detail.messages if m.author == "relative"]
    assert any("En sak till" in (b or "") for b in relative_bodies)
    assert not any("@someone_else" in (b or "") for b in relative_bodies)
    assert not any((b or "").startswith("xxx") for b in relative_bodies)

    assert (await preview_server.core.cases.claim(staff, code)).won
    before = len(relative.bot_messages())
    reply = await preview_server.core.cases.reply(staff, code, "Hej! Vi hör av oss.", sign=True)
    await preview_server.emulator.wait_idle(relative.chat_id)
    assert reply.delivery == "sent"
    assert len(relative.bot_messages()) == before + 1
    arrived = relative.last()
    assert "Svar från personal på Laholms kommun" in arrived["text"]
    assert "Hej! Vi hör av oss." in arrived["text"] and "Anna" in arrived["text"]
    answer = await relative.says("Tack!")
    assert "Skickat" in answer["text"]
    status = await relative.says("/status")
    assert "arbetar med den" in status["text"] and "Svar från teamet: 1" in status["text"]


async def test_reply_to_a_chat_that_blocked_the_bot_is_recorded_failed(
    preview_server: Server,
) -> None:
    relative = Relative(preview_server.emulator)
    await relative.onboard("sv", "laholm")
    code = await _send_request(relative)
    staff = await _staff(preview_server)
    await preview_server.core.cases.claim(staff, code)
    preview_server.emulator.user_blocks_bot(relative.chat_id)
    reply = await preview_server.core.cases.reply(staff, code, "Hej, vi finns här.")
    assert reply.delivery is not None and reply.delivery.startswith("failed")
    detail = await preview_server.core.cases.detail(staff, code)
    assert [m.delivery for m in detail.messages if m.author == "staff"] == [reply.delivery]


async def test_same_confirm_update_twice_makes_one_request(preview_server: Server) -> None:
    emulator = preview_server.emulator
    relative = Relative(emulator)
    await relative.onboard("sv", "laholm")
    await _answer_up_to_text(relative)
    preview = await relative.taps("k:skip")
    chat = emulator._chat(relative.chat_id)
    update = {
        "update_id": emulator.next_update_id(),
        "callback_query": {
            "id": "4242",
            "from": dict(chat.user),
            "message": copy.deepcopy(chat.messages[preview["message_id"]].raw),
            "chat_instance": chat.chat_instance,
            "data": callbacks.SendRequest().data,
        },
    }
    await emulator.deliver(update)
    await emulator.wait_idle(relative.chat_id)
    await emulator.deliver(update)
    await emulator.wait_idle(relative.chat_id)
    # and a second tap (a new update) on the same old button
    await relative.taps("k:ok", preview, from_older_message=True)
    staff = await _staff(preview_server)
    queue = await preview_server.core.cases.queue(staff)
    assert len(queue.items) == 1


async def test_draft_survives_in_state_and_resumes(preview_server: Server) -> None:
    relative = Relative(preview_server.emulator, language_code="en")
    await relative.onboard("en", "botkyrka")
    await relative.taps("g:contact")
    await relative.taps("k:new")
    await relative.taps("k:c:young_adult")
    home = await relative.taps("g:home")
    assert "g:worry" in button_data(home)
    await relative.taps("g:contact")
    resumed = await relative.taps("k:new")
    assert any(b.startswith("k:t:") for b in button_data(resumed)), "resumes at the topic"
    back = await relative.taps("k:b")
    labels = [b["text"] for row in back["reply_markup"]["inline_keyboard"] for b in row]
    assert "✓ A young adult" in labels, "back shows the earlier answer, marked"


# -- opening hours (pure rendering; no database) ------------------------------------------


def _renderer() -> Renderer:
    report = check(REPO / "content", REPO / "locales")
    assert report.renderer is not None
    return report.renderer


def test_unknown_opening_hours_are_said_honestly() -> None:
    screens = ContactScreens(_renderer())
    text = screens.expectation("en", "laholm", datetime(2026, 1, 5, 12, tzinfo=UTC))
    assert "not yet confirmed its opening hours" in text
    assert "112" in text and "114 14" in text and "1177" in text


def test_configured_hours_give_the_next_opening_in_the_relatives_language() -> None:
    renderer = _renderer()
    team = renderer.content.teams["laholm"]
    renderer.content.teams["laholm"] = replace(
        team, opening_hours={"mon": "08:00-16:30", "tue": "08:00-16:30"}
    )
    try:
        screens = ContactScreens(renderer)
        # Monday 5 January 2026, 20:00 in Stockholm (19:00 UTC): closed until Tuesday 08:00
        evening = datetime(2026, 1, 5, 19, tzinfo=UTC)
        en = screens.expectation("en", "laholm", evening)
        sv = screens.expectation("sv", "laholm", evening)
        assert "Tuesday" in en and "8:00" in en and "not yet confirmed" in en
        assert "tisdag" in sv and "08:00" in sv
        open_now = screens.expectation("en", "laholm", datetime(2026, 1, 5, 9, tzinfo=UTC))
        assert "working now" in open_now
    finally:
        renderer.content.teams["laholm"] = team


def test_next_opening_rules() -> None:
    weekly = parse_weekly({"fri": "08:00-12:00, 13:00-16:00", "xyz": "1-2", "mon": "bad"})
    assert set(weekly) == {4}
    friday_noon = datetime(2026, 1, 9, 12, 30)
    assert next_opening(weekly, friday_noon) == datetime(2026, 1, 9, 13, 0)
    saturday = datetime(2026, 1, 10, 9, 0)
    assert next_opening(weekly, saturday) == datetime(2026, 1, 16, 8, 0)
    assert next_opening({}, saturday) is None
