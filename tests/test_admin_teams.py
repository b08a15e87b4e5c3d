"""Teams' languages served and opening hours, set by an admin in the browser (#12 item 3).

Kept in the database over the team files (``bot.services.teams``): the validation, the
audit, reset, another process seeing a change, the pages and the JSON API (admins only,
CSRF, bad input a 400 as documented), and in Debian's Chromium: an admin changes Laholm's
opening hours and the bot's confirmation then says when the team works. SQLite and
PostgreSQL.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from bot.domain import StaffUser
from bot.runtime import Server
from bot.services.teams import TeamFacts, TeamSettingError, TeamSettings, parse_day, parse_weekly
from bot.storage.database import Database
from bot.storage.models import AuditEvent, table_of
from tests.helpers import Relative
from tests.staff_helpers import signed_in, text_of

ADMIN = StaffUser(1, "root", "admin", frozenset())
STAFF = StaffUser(2, "anna", "staff", frozenset({"laholm"}))
LANGUAGES = ("sv", "en", "ar")
WAIT_MS = 15_000
CODE_RE = re.compile(r"[A-Z0-9]{3}-[A-Z0-9]{3}")


def defaults() -> dict[str, TeamFacts]:
    return {
        "laholm": TeamFacts(("sv",), False, None, False),
        "botkyrka": TeamFacts(("sv",), False, None, False),
    }


# -- validation (no database) ------------------------------------------------------------


def test_hours_are_ranges_on_the_24_hour_clock() -> None:
    problems: list[tuple[str, str]] = []
    assert parse_day("mon", "13:00-16:30, 08:00–12:00", problems) == "08:00-12:00,13:00-16:30"
    assert parse_day("tue", "  ", problems) == ""  # closed
    assert parse_day("wed", "00:00-24:00", problems) == "00:00-24:00"
    assert problems == []
    for text, reason in (
        ("8-16", "format"),
        ("08:00-25:00", "format"),
        ("08:60-09:00", "format"),
        ("16:00-08:00", "order"),
        ("09:00-09:00", "order"),
        ("08:00-12:00,11:00-13:00", "overlap"),
        (",".join(f"{h:02d}:00-{h:02d}:30" for h in range(7)), "too_many"),
    ):
        found: list[tuple[str, str]] = []
        assert parse_day("thu", text, found) is None
        assert found == [("thu", reason)], text
    weekly, problems = parse_weekly({"fri": "08:00-12:00", "sat": "", "xyz": "1"})
    assert weekly == {"fri": "08:00-12:00"} and problems == []
    assert parse_weekly({}) == (None, [])


async def test_check_refuses_unknown_languages_and_verified_without_source(
    database: Database,
) -> None:
    teams = TeamSettings(database, defaults(), LANGUAGES)
    with pytest.raises(TeamSettingError) as caught:
        teams.check_languages(["sv", "xx"], True, " ")
    assert caught.value.problems == [
        ("languages", "unknown_language"),
        ("languages_source", "source_needed"),
    ]
    with pytest.raises(TeamSettingError) as caught:
        teams.check_languages([], False, None)
    assert caught.value.problems == [("languages", "no_language")]
    with pytest.raises(TeamSettingError) as caught:
        teams.check_hours({"mon": "9-5"}, True, "x" * 301)
    assert caught.value.problems == [("mon", "format"), ("hours_source", "too_long")]
    change = teams.check_languages(["ar", "sv", "sv"], True, "  Phoned the unit,\n1 Dec ")
    assert change.codes == ("sv", "ar") and change.source == "Phoned the unit, 1 Dec"


# -- the service on both databases -------------------------------------------------------


async def test_saved_values_overlay_the_file_are_audited_and_reach_other_processes(
    database: Database,
) -> None:
    ticks = [0.0]
    here = TeamSettings(database, defaults(), LANGUAGES)
    there = TeamSettings(database, defaults(), LANGUAGES, clock=lambda: ticks[0])
    await here.load()
    await there.load()
    heard: list[int] = []
    there.subscribe(lambda: heard.append(1))
    assert here.team_changes("laholm") == {}

    with pytest.raises(Exception, match="forbidden"):
        await here.save(STAFF, "laholm", hours=here.check_hours({}, False, None))
    hours = here.check_hours({"mon": "08:00-16:30", "fri": "08:00-12:00"}, True, "Unit head")
    saved = await here.save(ADMIN, "laholm", hours=hours)
    assert saved.hours_overridden and not saved.languages_overridden
    assert saved.changed_by == "root" and saved.changed_at is not None
    assert here.team_changes("laholm") == {
        "opening_hours": {"mon": "08:00-16:30", "fri": "08:00-12:00"},
        "opening_hours_verified": True,
    }
    assert await here.save(ADMIN, "laholm", hours=hours) == here.setting("laholm")  # no change

    # Another process: not before its refresh interval, then at once.
    assert await there.refresh_if_stale() is False
    assert there.team_changes("laholm") == {}
    ticks[0] += there.refresh_seconds
    assert await there.refresh_if_stale() is True
    assert there.team_changes("laholm") == here.team_changes("laholm") and heard == [1]

    await here.save(ADMIN, "laholm", languages=here.check_languages(["sv", "ar"], False, None))
    setting = here.setting("laholm")
    assert setting is not None and setting.hours_overridden and setting.languages_overridden
    assert here.team_changes("laholm")["languages_served"] == ("sv", "ar")

    reset = await here.reset(ADMIN, "laholm")
    assert not reset.hours_overridden and here.team_changes("laholm") == {}
    await here.reset(ADMIN, "laholm")  # nothing left to undo: not audited again
    audit = table_of(AuditEvent)
    async with database.read_tx() as conn:
        rows = (
            await conn.execute(
                select(audit.c.staff, audit.c.action, audit.c.team_id).order_by(audit.c.id)
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("root", "team_hours", "laholm"),
        ("root", "team_languages", "laholm"),
        ("root", "team_reset", "laholm"),
    ]


# -- pages and API -------------------------------------------------------------------------


async def test_pages_and_api_for_admins_only_with_clear_refusals(server: Server) -> None:
    async with signed_in(server, "anna") as anna:
        await anna.get("/staff/admin/teams")
        assert anna.status == 403
        status, body = await anna.api("GET", "/api/v1/admin/teams/laholm")
        assert status == 403 and body["error"] == "forbidden"

    async with signed_in(server, "root", "en") as root:
        page = await root.get("/staff/admin/teams")
        assert root.status == 200 and "Laholm" in text_of(page)
        await root.get("/staff/admin/teams/nowhere")
        assert root.status == 404
        await root.get("/staff/admin/teams/laholm")
        # A form without its CSRF token changes nothing.
        await root.post("/staff/admin/teams/laholm/hours", {"hours_mon": "08:00-16:00"}, csrf=False)
        assert root.status == 403
        # Mistakes are shown beside their fields, the typed text kept.
        await root.get("/staff/admin/teams/laholm")
        page = await root.post(
            "/staff/admin/teams/laholm/hours",
            {"hours_mon": "16:00-08:00", "hours_tue": "8-12", "verified": "1"},
        )
        assert root.status == 400
        words = text_of(page)
        assert "Each range must start before it ends." in words
        assert "Write each range as HH:MM-HH:MM" in words
        assert "Say who confirmed it and where" in words and 'value="8-12"' in page
        page = await root.post(
            "/staff/admin/teams/laholm/languages",
            {"language": "en", "verified": "1", "source": "Phoned the unit"},
        )
        assert root.status == 200 and "The languages served were saved." in text_of(page)

        me = await root.api("GET", "/api/v1/me")
        csrf = {"X-CSRF-Token": me[1]["csrf_token"]}
        status, body = await root.api("GET", "/api/v1/admin/teams/laholm")
        assert status == 200 and body["languages"]["codes"] == ["en"]
        assert body["languages"]["overridden"] and body["changed_by"] == "root"
        for bad in (
            {},
            {"hours": {"weekly": {"mon": "25:00-26:00"}}},
            {"hours": {"weekly": {"monday": "08:00-12:00"}}},
            {"languages": {"codes": "sv"}},
            {"languages": {"codes": ["sv"], "verified": "yes"}},
            {"other": 1},
        ):
            status, body = await root.api(
                "PUT", "/api/v1/admin/teams/laholm", json=bad, headers=csrf
            )
            assert status == 400, (bad, body)
        async with root.http.put(  # a body nested too deep: a 400, never a RecursionError
            root.origin + "/api/v1/admin/teams/laholm",
            data=b"[" * 50_000,
            headers={"Content-Type": "application/json", **csrf},
        ) as response:
            assert response.status == 400 and (await response.json())["error"] == "invalid"
        status, _ = await root.api("PUT", "/api/v1/admin/teams/laholm", json={"hours": {}})
        assert status == 403  # a cookie without the CSRF header
        status, _ = await root.api("PUT", "/api/v1/admin/teams/x", json={}, headers=csrf)
        assert status == 404
        hours = {"weekly": {"mon": "08:00-12:00, 13:00-16:30"}, "verified": True, "source": "Web"}
        status, body = await root.api(
            "PUT", "/api/v1/admin/teams/laholm", json={"hours": hours}, headers=csrf
        )
        assert status == 200 and body["hours"]["weekly"] == {"mon": "08:00-12:00,13:00-16:30"}
        assert server.core is not None
        assert server.core.renderer.team("laholm").opening_hours == body["hours"]["weekly"]
        # The staff pages read the effective team too (the queue's language note).
        assert server.core.renderer.team("laholm").languages_served == ("en",)
        status, body = await root.api("DELETE", "/api/v1/admin/teams/laholm", headers=csrf)
        assert status == 200 and not body["hours"]["overridden"]
        assert server.core.renderer.team("laholm") == server.core.content.teams["laholm"]


# -- in the browser, and the bot's screen after it -----------------------------------------


async def relative_sends_a_request(relative: Relative) -> str:
    await relative.answers_the_request_questions("young_adult", "online")
    await relative.says("Min bror pratar om våld.")
    done = await relative.taps("k:ok")
    return str(done["text"])


async def test_admin_changes_laholms_hours_and_the_bot_says_so(
    server: Server, browser: Any
) -> None:
    from tests.browser import expect, sign_in, watch

    assert server.emulator is not None
    before = await relative_sends_a_request(Relative(server.emulator, language_code="sv"))
    assert "Teamet arbetar nu" not in before

    context = await browser.new_context(locale="sv-SE")
    page = await context.new_page()
    problems = watch(page)
    await sign_in(page, server.origin, "root")
    await page.goto(f"{server.origin}/staff/admin/teams")
    await page.get_by_role("link", name="Laholms kommun").click()
    for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"):
        await page.locator(f"#hours-{day}").fill("00:00-24:00")
    await page.get_by_label("Öppettiderna är bekräftade av kommunen").check()
    await page.get_by_label("Källa för öppettiderna").fill("Enhetschefen i telefon, 1 december")
    await page.get_by_test_id("team-hours").get_by_role("button").click()
    await expect(page.get_by_test_id("flash")).to_contain_text("Öppettiderna sparades.")
    await expect(page.locator("#hours-mon")).to_have_value("00:00-24:00")
    assert problems == []
    await context.close()

    after = await relative_sends_a_request(Relative(server.emulator, language_code="sv"))
    assert "Teamet arbetar nu" in after and "inte bekräftade" not in after
