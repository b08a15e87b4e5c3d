"""Coordinators manage canned replies; staff pick them when they answer a request."""

from __future__ import annotations

import re

import pytest

from bot.runtime import Server
from tests.staff_helpers import PASSWORD, create_accounts, new_request, signed_in, text_of


@pytest.fixture
async def server(preview_server: Server) -> Server:
    await create_accounts(preview_server)
    assert preview_server.core is not None
    await preview_server.core.staff.create(
        "kim", PASSWORD, "coordinator", frozenset({"laholm"}), display_name="Kim"
    )
    return preview_server


async def test_coordinator_adds_a_reply_that_staff_can_pick(server: Server) -> None:
    async with signed_in(server, "kim", "en") as kim, signed_in(server, "anna", "en") as anna:
        await kim.get("/staff/canned")
        assert kim.status == 200 and "There are no canned replies yet." in text_of(kim.page)
        await kim.post(
            "/staff/canned/add",
            {"team": "laholm", "language": "sv", "title": "Första svar", "body": "Tack för "
             "att du hör av dig. Vi ringer inte upp om du inte ber om det."},
        )  # fmt: skip
        assert "The canned reply was added." in text_of(kim.page)
        assert text_of(kim.page).count("Första svar") == 1

        case = await new_request(server, language="sv")
        await anna.get(f"/staff/cases/{case.code}")
        await anna.post(f"/staff/cases/{case.code}/claim", {})
        assert "Vi ringer inte upp om du inte ber om det." in anna.page  # offered in the form

        english = await new_request(server, language="en")
        await anna.get(f"/staff/cases/{english.code}")
        await anna.post(f"/staff/cases/{english.code}/claim", {})
        assert "Vi ringer inte upp" not in anna.page  # only replies in the case's language


async def test_only_coordinators_of_the_team_manage_replies(server: Server) -> None:
    async with signed_in(server, "anna", "en") as anna, signed_in(server, "kim", "en") as kim:
        await anna.get("/staff/canned")
        assert anna.status == 403 and "Only coordinators" in text_of(anna.page)
        await kim.get("/staff/canned")
        page = await kim.post(
            "/staff/canned/add",
            {"team": "botkyrka", "language": "sv", "title": "X", "body": "Y"},
        )
        assert kim.status == 403, text_of(page)
        await kim.get("/staff/canned")
        await kim.post("/staff/canned/add", {"team": "laholm", "language": "sv", "title": ""})
        assert "Something in the form was missing" in text_of(kim.page)
        assert "There are no canned replies yet." in text_of(kim.page)


async def test_removing_a_reply_needs_csrf_and_is_audited(server: Server) -> None:
    async with signed_in(server, "kim", "en") as kim, signed_in(server, "root", "en") as root:
        await kim.get("/staff/canned")
        await kim.post(
            "/staff/canned/add",
            {"team": "laholm", "language": "en", "title": "Hello", "body": "We are here."},
        )
        reply_id = re.search(r"/staff/canned/(\d+)/remove", kim.page)
        assert reply_id
        path = f"/staff/canned/{reply_id.group(1)}/remove"
        await kim.post(path, {}, csrf=False)
        assert kim.status == 403
        await kim.get("/staff/canned")
        assert "We are here." in kim.page
        await kim.post(path, {})
        assert "The canned reply was removed." in text_of(kim.page)
        assert "We are here." not in kim.page
        await kim.post(path, {})
        assert "does not exist any more" in text_of(kim.page)
        await root.get("/staff/audit")
        assert "Added a canned reply" in text_of(root.page)
        assert "Removed a canned reply" in text_of(root.page)
