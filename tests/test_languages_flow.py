"""Issue 8: the relatives' languages end to end: onboarding, the contact flow, staff side."""

from __future__ import annotations

import re

import pytest

from bot import callbacks
from bot.content.loader import load_content
from bot.domain import StaffUser
from bot.runtime import Server
from tests.conftest import REPO
from tests.helpers import Relative, button_data
from tests.staff_helpers import StaffClient, create_accounts, new_request

CONTENT, _ = load_content(REPO / "content")
assert CONTENT is not None
RELATIVES_LANGUAGES = ("sv", "en", "fi", "ar", "tr", "so", "ti", "fa")


def test_all_eight_languages_are_offered_and_marked_unreviewed() -> None:
    enabled = {lang.code: lang for lang in CONTENT.enabled_languages}
    assert set(RELATIVES_LANGUAGES) <= set(enabled)
    assert all(not lang.reviewed for lang in enabled.values())
    assert {enabled["ar"].direction, enabled["fa"].direction} == {"rtl"}


@pytest.mark.parametrize("code", [c for c in RELATIVES_LANGUAGES if c not in ("sv", "en")])
async def test_a_machine_translated_home_says_so_and_switches_in_one_tap(
    preview_server: Server, code: str
) -> None:
    relative = Relative(preview_server.emulator, language_code=code)
    welcome = await relative.says("/start")
    assert callbacks.set_language(code) in button_data(welcome), "Telegram's language first"
    home = await relative.onboard(code, "botkyrka")
    note = preview_server.core.renderer.t(code).gettext(
        "ℹ This translation was made by machine and has not yet been checked by a fluent "
        "person. You can switch to Swedish or English at any time."
    )
    assert note in home["text"] and not note.startswith("ℹ This translation")
    assert {callbacks.set_language("sv"), callbacks.set_language("en")} <= set(button_data(home))
    swedish = await relative.taps(callbacks.set_language("sv"))
    assert "Stöd när du oroar dig för någon" in swedish["text"]


async def test_an_arabic_request_is_answered_honestly_about_language(
    preview_server: Server,
) -> None:
    relative = Relative(preview_server.emulator, language_code="ar")
    await relative.onboard("ar", "laholm")
    await relative.taps("g:contact", from_older_message=True)
    await relative.taps(callbacks.StartRequest().data)
    for code in ("k:c:adult", "k:t:talk", "k:u:later", "k:r:chat"):
        screen = await relative.taps(code)
    labels = [b["text"] for row in screen["reply_markup"]["inline_keyboard"] for b in row]
    assert "✓ العربية" in labels, "the reply language starts as the chat's language"
    tr = preview_server.core.renderer.t("ar")
    served = tr.gettext("The team answers in: {languages}.").split("{languages}")[0]
    assert served.strip() and served.strip() in screen["text"], "what the team file says"
    await relative.taps(callbacks.AnswerRequest("language", "ar").data)
    preview = await relative.taps("k:skip")
    assert served.strip() in preview["text"], "the preview repeats that Arabic is not listed"
    done = await relative.taps("k:ok")
    assert re.search(r"[A-Z0-9]{3}-[A-Z0-9]{3}", done["text"]), "the case code, once stored"
    admin = StaffUser(id=1, username="root", role="admin", teams=frozenset(), display_name=None)
    queue = await preview_server.core.cases.queue(admin)
    assert [item.language for item in queue.items] == ["ar"]


async def test_staff_see_the_language_and_that_the_team_does_not_list_it(
    preview_server: Server,
) -> None:
    await create_accounts(preview_server)
    created = await new_request(preview_server, language="ar", text="أخي تغيّر كثيرًا")
    client = StaffClient(preview_server)
    try:
        await client.sign_in("anna")
        page = await client.get(f"/staff/cases/{created.code}")
        assert 'data-testid="case-language"' in page and "العربية" in page
        assert 'data-testid="language-not-served"' in page
        swedish = await new_request(preview_server, language="sv")
        page = await client.get(f"/staff/cases/{swedish.code}")
        assert 'data-testid="language-not-served"' not in page
    finally:
        await client.close()


async def test_canned_replies_work_for_a_new_language(preview_server: Server) -> None:
    core = preview_server.core
    assert core is not None
    coordinator = StaffUser(id=9, username="kim", role="coordinator", teams=frozenset({"botkyrka"}))
    await core.cases.add_canned_reply(
        coordinator, "botkyrka", "so", "Mahadsanid", "Waan ku maqlay."
    )
    assert await core.cases.canned_replies(coordinator, "botkyrka", "so") == ["Waan ku maqlay."]
    assert await core.cases.canned_replies(coordinator, "botkyrka", "sv") == []


@pytest.mark.parametrize("code", ["ar", "fi"])
async def test_the_public_what_is_counted_page_speaks_the_relatives_language(
    preview_server: Server, code: str
) -> None:
    import aiohttp

    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{preview_server.origin}/what-is-counted?lang={code}") as response,
    ):
        assert response.status == 200
        page = await response.text()
    assert f'<html lang="{code}" dir="{"rtl" if code == "ar" else "ltr"}">' in page
    source = "What is counted, and what is never counted"
    title = preview_server.core.renderer.t(code).gettext(source)
    assert title != source and title in page
