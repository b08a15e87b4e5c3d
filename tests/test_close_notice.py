"""When staff close a request the relative is told once, in the chat's language; feedback.

Three layers, both databases each: the rules in ``CaseService`` with a recording relay
(once, a team can switch it off, a failure never undoes the close); the real product in
preview mode, talking to the spec-checking emulator as a relative would (staff reply
frame and close notice in the chat's language, the one-tap "Did the contact help?"
counted once); and the coordinators' report, where the answers get their own table
with the same small-count protection as every other.
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.chat.contact_screens import ContactScreens
from bot.domain import CODE_ALPHABET, RequestDraft, StaffUser
from bot.emulator.spec import BotApiSpec
from bot.runtime import Server
from bot.services.cases import CaseService
from bot.services.stats import SMALL, Period
from bot.storage import cases as cases_db
from bot.storage import stats as stats_db
from bot.storage.database import Database
from bot.storage.engine import read_tx, write_tx
from tests.case_helpers import case_service
from tests.conftest import REPO, running_preview
from tests.helpers import Relative, button_data, buttons
from tests.staff_helpers import PASSWORD, signed_in, text_of
from tests.stats_helpers import report_service

KEY = b"close-notice-tests-secret-key-0123456789"
CHAT = 5550009876543
START = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
ANNA = StaffUser(1, "anna", "staff", frozenset({"laholm"}), display_name="Anna")
CODE_RE = re.compile(rf"[{CODE_ALPHABET}]{{3}}-[{CODE_ALPHABET}]{{3}}")
FEEDBACK_CODES = {"k:fb:yes", "k:fb:partly", "k:fb:no"}


# --- the rules, with a relay that records -------------------------------------------------


@dataclass
class RecordingRelay:
    """Records notices; can refuse or break like the real one."""

    explode: bool = False
    refuse: str | None = None
    notices: list[tuple[int, str, str, str]] = field(default_factory=list)

    async def deliver(
        self, chat_id: int, team_id: str, language: str, text: str, signature: str | None
    ) -> str | None:
        return None

    async def notify_closed(
        self, chat_id: int, team_id: str, language: str, code: str
    ) -> str | None:
        if self.explode:
            raise RuntimeError("network down at 10.0.0.7")
        self.notices.append((chat_id, team_id, language, code))
        return self.refuse


def _draft() -> RequestDraft:
    return RequestDraft(
        team_id="laholm", language="sv", concerns="child", topic="online", urgency="soon"
    )


def _service(
    database: Database, relay: RecordingRelay, **kwargs: Any
) -> contextlib.AbstractAsyncContextManager[CaseService]:
    """The case rules on ``database``, telling ``relay``; disposed on the way out."""
    return case_service(
        database,
        KEY,
        relay=relay,
        now=lambda: START,
        known_teams=frozenset({"laholm", "botkyrka"}),
        **kwargs,
    )


async def _row(engine: AsyncEngine, case_id: int) -> Any:
    async with read_tx(engine) as conn:
        row = await cases_db.case_by_id(conn, case_id)
    return None if row is None else asdict(row)


async def test_close_tells_the_relative_once_even_after_reopen(
    engine: AsyncEngine, database: Database
) -> None:
    relay = RecordingRelay()
    async with _service(database, relay) as service:
        created = await service.create_request(_draft(), CHAT)
        assert (await service.claim(ANNA, created.code)).won
        await service.close(ANNA, created.code, "advice")
        assert relay.notices == [(CHAT, "laholm", "sv", created.code)]
        assert (await _row(engine, created.case_id))["close_notice"] == "sent"

        await service.reopen(ANNA, created.code)
        assert (await service.claim(ANNA, created.code)).won
        await service.close(ANNA, created.code, "social_services")
        assert len(relay.notices) == 1, "a reopened request closed again is not told twice"
        row = await _row(engine, created.case_id)
        assert row["status"] == "closed" and row["outcome"] == "social_services"


async def test_a_team_that_switched_notices_off_tells_nothing(
    engine: AsyncEngine, database: Database
) -> None:
    relay = RecordingRelay()
    async with _service(database, relay, close_notice_teams=frozenset({"botkyrka"})) as service:
        created = await service.create_request(_draft(), CHAT)
        await service.close(ANNA, created.code, "advice")
        assert relay.notices == []
        assert (await _row(engine, created.case_id))["close_notice"] is None
        assert await service.feedback_once(created.case_id) is None, "no notice, no question"


@pytest.mark.parametrize("failure", ["explode", "refuse"])
async def test_a_failed_notice_never_undoes_the_close(
    engine: AsyncEngine, database: Database, caplog: pytest.LogCaptureFixture, failure: str
) -> None:
    relay = RecordingRelay(explode=failure == "explode", refuse="blocked")
    async with _service(database, relay) as service:
        created = await service.create_request(_draft(), CHAT)
        with caplog.at_level(logging.INFO):
            await service.close(ANNA, created.code, "advice")
        row = await _row(engine, created.case_id)
        assert row["status"] == "closed" and row["outcome"] == "advice"
        assert row["close_notice"] == "sent", "tried once; never tried again"
        logged = "\n".join(r.getMessage() for r in caplog.records)
        assert "close notice" in logged
        assert "10.0.0.7" not in logged and created.code not in logged and str(CHAT) not in logged
        if failure == "explode":
            assert "close notice failed: RuntimeError" in logged
        else:
            assert "close notice refused" in logged
        tried = len(relay.notices)
        await service.reopen(ANNA, created.code)
        relay.explode, relay.refuse = False, None
        await service.close(ANNA, created.code, "advice")
        assert len(relay.notices) == tried, "a failed notice is not sent again on a re-close"


async def test_feedback_is_taken_once_and_leaves_no_time(
    engine: AsyncEngine, database: Database
) -> None:
    relay = RecordingRelay()
    async with _service(database, relay) as service:
        created = await service.create_request(_draft(), CHAT)
        assert await service.feedback_once(created.case_id) is None, "not closed, not asked"
        await service.close(ANNA, created.code, "advice")
        before = await _row(engine, created.case_id)
        assert await service.feedback_once(created.case_id) == "laholm"
        assert await service.feedback_once(created.case_id) is None
        after = await _row(engine, created.case_id)
        assert after["close_notice"] == "answered"
        assert (after["updated_at"], after["version"]) == (before["updated_at"], before["version"])


# --- the real product, as a relative and staff see it --------------------------------------


async def _staff(server: Server) -> StaffUser:
    assert server.core is not None
    await server.core.staff.create(
        "anna", "a long enough password", "staff", frozenset({"laholm"}), display_name="Anna"
    )
    user = await server.core.staff.authenticate("anna", "a long enough password")
    assert user is not None
    return user


async def _english_chat_swedish_answer(relative: Relative) -> str:
    """An English chat that asks for the answer in Swedish; returns the case code."""
    await relative.onboard("en", "laholm")
    await relative.taps("g:contact")
    await relative.taps("k:new")
    for code in ("k:c:child", "k:t:online", "k:u:soon", "k:r:chat", "k:l:sv", "k:skip"):
        await relative.taps(code)
    done = await relative.taps("k:ok")
    match = CODE_RE.search(done["text"])
    assert match, done["text"]
    return match.group()


async def _request_from_an_english_chat(server: Server) -> tuple[Relative, str, StaffUser]:
    """The chat, the case code and Anna: a relative in English asked for a Swedish answer."""
    assert server.emulator is not None
    relative = Relative(server.emulator, language_code="en")
    code = await _english_chat_swedish_answer(relative)
    return relative, code, await _staff(server)


def _labels(screen_or_message: Any) -> list[str]:
    if isinstance(screen_or_message, dict):
        return [b["text"] for b in buttons(screen_or_message)]
    return [b.label for b in screen_or_message.buttons()]


async def _feedback_cells_of(server: Server) -> dict[tuple[str, str, str], int]:
    """Today's contact_feedback counters after a flush: (team, language, answer) -> count."""
    assert server.core is not None and server.core.recorder is not None
    await server.core.recorder.flush()
    day = server.core.recorder.today()
    async with read_tx(server.core.engine) as conn:
        rows = await stats_db.counters(conn, day, day, ["", "laholm", "botkyrka"])
    return {(r.team_id, r.language, r.key): r.count for r in rows if r.kind == "contact_feedback"}


async def test_reply_frame_and_close_notice_come_in_the_chats_language(
    preview_server: Server,
) -> None:
    core, emulator = preview_server.core, preview_server.emulator
    assert core is not None
    screens = ContactScreens(core.renderer)
    relative, code, staff = await _request_from_an_english_chat(preview_server)
    detail = await core.cases.detail(staff, code)
    assert detail.item.language == "sv", "the request's reply language is Swedish"

    assert (await core.cases.claim(staff, code)).won
    reply = await core.cases.reply(staff, code, "Hej! Vi hör av oss.")
    await emulator.wait_idle(relative.chat_id)
    assert reply.delivery == "sent"
    arrived = relative.last()
    english = screens.relayed("en", "laholm", "Hej! Vi hör av oss.", None)
    swedish = screens.relayed("sv", "laholm", "Hej! Vi hör av oss.", None)
    assert _labels(english) != _labels(swedish), "the frame's buttons are translated"
    assert arrived["html"] == english.text and _labels(arrived) == _labels(english)

    before = len(relative.bot_messages())
    await core.cases.close(staff, code, "advice")
    await emulator.wait_idle(relative.chat_id)
    new = relative.bot_messages()[before:]
    assert len(new) == 1, [m["text"] for m in new]
    notice = new[0]
    expected = screens.closed_notice("en", "laholm", code)
    assert notice["html"] == expected.text and _labels(notice) == _labels(expected)
    assert _labels(expected) != _labels(screens.closed_notice("sv", "laholm", code))
    assert code in notice["text"]
    assert set(button_data(notice)) >= FEEDBACK_CODES
    assert any(c.startswith("g:emergency") for c in button_data(notice))
    assert any(c == f"g:{core.content.root}" for c in button_data(notice))
    # Neutral on a lock screen: neither the municipality nor the staff reply's title.
    assert core.renderer.team_name("en", "laholm") not in notice["text"]


async def test_feedback_counts_once_and_a_second_close_tells_nothing(
    preview_server: Server,
) -> None:
    core, emulator = preview_server.core, preview_server.emulator
    assert core is not None
    screens = ContactScreens(core.renderer)
    relative, code, staff = await _request_from_an_english_chat(preview_server)
    await core.cases.close(staff, code, "advice")
    await emulator.wait_idle(relative.chat_id)
    notice = relative.last()
    assert set(button_data(notice)) >= FEEDBACK_CODES

    thanks = await relative.taps("k:fb:yes", notice)
    assert thanks["message_id"] == notice["message_id"], "the answer replaces the question"
    assert thanks["html"] == screens.feedback_thanks("en").text
    assert not FEEDBACK_CODES & set(button_data(thanks)), "answered: the question is gone"
    again = await relative.taps("k:fb:no", notice, from_older_message=True)
    assert again["html"] == screens.feedback_thanks("en").text
    stale = await relative.taps("k:fb:maybe", notice, from_older_message=True)
    assert "older version" in stale["text"]

    assert await _feedback_cells_of(preview_server) == {("laholm", "en", "yes"): 1}

    before = len(relative.bot_messages())
    await core.cases.reopen(staff, code)
    assert (await core.cases.claim(staff, code)).won
    await core.cases.close(staff, code, "social_services")
    await emulator.wait_idle(relative.chat_id)
    assert len(relative.bot_messages()) == before, "no second notice after a reopen"
    await relative.taps("k:fb:partly", notice, from_older_message=True)
    assert await _feedback_cells_of(preview_server) == {("laholm", "en", "yes"): 1}


@pytest.fixture
async def quiet_team_server(
    database_url: str, tmp_path: Path, spec: BotApiSpec
) -> AsyncIterator[Server]:
    """The product with Laholm's team file saying ``notify_on_close: false``."""
    content = tmp_path / "content"
    shutil.copytree(REPO / "content", content)
    team_file = content / "teams" / "laholm.yaml"
    raw = re.sub(r"(?m)^notify_on_close:.*\n?", "", team_file.read_text(encoding="utf-8"))
    team_file.write_text(raw.rstrip("\n") + "\nnotify_on_close: false\n", encoding="utf-8")
    async with running_preview(
        database_url, tmp_path, spec, CONTENT_DIR=str(content), LOCALES_DIR=str(REPO / "locales")
    ) as server:
        yield server


async def test_a_team_file_with_notify_on_close_false_sends_no_notice(
    quiet_team_server: Server,
) -> None:
    core, emulator = quiet_team_server.core, quiet_team_server.emulator
    assert core is not None
    assert core.content.teams["laholm"].notify_on_close is False
    relative, code, staff = await _request_from_an_english_chat(quiet_team_server)
    before = len(relative.bot_messages())
    await core.cases.close(staff, code, "advice")
    await emulator.wait_idle(relative.chat_id)
    assert len(relative.bot_messages()) == before
    status = await relative.says("/status")
    assert code in status["text"], "the relative can still look: /status says it is closed"


# --- the coordinators' report -------------------------------------------------------------

NOV = Period(date(2026, 11, 1), date(2026, 11, 30), "month")
TEAMS = frozenset({"laholm", "botkyrka"})
KIM = StaffUser(2, "kim", "coordinator", frozenset({"laholm"}))


def _feedback_cells(yes: int, partly: int, no: int, team: str = "laholm") -> dict:
    day = date(2026, 11, 10)
    cells = {}
    for key, n in (("yes", yes), ("partly", partly), ("no", no)):
        if n:
            cells[(day, team, "sv", "contact_feedback", key)] = n
    return cells


async def test_the_report_has_the_feedback_table_with_small_counts_hidden(
    database_url: str,
) -> None:
    cells = _feedback_cells(7, 2, 6)
    cells.update(_feedback_cells(40, 40, 40, team="botkyrka"))  # never Laholm's figures
    async with report_service(database_url, cells, TEAMS) as service:
        report = await service.report(KIM, NOV, None)
        table = next(t for t in report.tables if t.id == "contact_feedback")
        assert table.title == "Did the contact help?"
        shown = {key: cells_[0].shown for key, cells_ in table.rows}
        assert list(shown) == ["yes", "partly", "no"], "a fixed order, never by the counts"
        assert shown == {"yes": "7", "partly": "<5", "no": "hidden"}
        assert table.totals is not None and table.totals[0].value == 15
        assert table.note and "hidden" in table.note
        exported = service.to_json(report)
        as_json = next(t for t in exported["tables"] if t["id"] == "contact_feedback")
        assert as_json["rows"][1] == {"key": "partly", "cells": [{"value": None, "shown": "<5"}]}
        csv_rows = [r for r in service.to_csv(report).splitlines() if ",contact_feedback," in r]
        assert any(r.endswith(",partly,Answers,<5") for r in csv_rows), csv_rows
        assert not any(r.endswith(",2") or r.endswith(",40") for r in csv_rows), csv_rows


async def test_fewer_than_five_answers_are_not_broken_down(database_url: str) -> None:
    async with report_service(database_url, _feedback_cells(2, 0, 1), TEAMS) as service:
        report = await service.report(KIM, NOV, "laholm")
        table = next(t for t in report.tables if t.id == "contact_feedback")
        assert table.rows == [] and table.note and f"fewer than {SMALL}" in table.note


async def test_the_stats_page_and_the_api_show_the_feedback_table(
    preview_server: Server,
) -> None:
    core = preview_server.core
    assert core is not None
    async with write_tx(core.engine) as conn:
        await stats_db.add_counts(conn, _feedback_cells(7, 2, 6))
    await core.staff.create("kim", PASSWORD, "coordinator", frozenset({"laholm"}))
    async with signed_in(preview_server, "kim", "en") as client:
        page = await client.get("/staff/stats?period=month&date=2026-11-15")
        assert client.status == 200, text_of(page)
        section = page.split('id="stat-contact_feedback"', 1)[1].split("</section>", 1)[0]
        shown = text_of(section)
        assert "Did the contact help?" in shown and "<5" in shown and "Yes, it helped" in shown
        assert not re.search(r"<td[^>]*>\s*2\s*</td>", section)
        status, body = await client.api("GET", "/api/v1/stats?period=month&date=2026-11-15")
        assert status == 200
        table = next(t for t in body["tables"] if t["id"] == "contact_feedback")
        assert [r["cells"][0]["shown"] for r in table["rows"]] == ["7", "<5", "hidden"]


async def test_the_case_row_never_holds_the_answer(engine: AsyncEngine, database: Database) -> None:
    """The only trace on the case is that an answer came: no answer, no time."""
    relay = RecordingRelay()
    async with _service(database, relay) as service:
        created = await service.create_request(_draft(), CHAT)
        await service.close(ANNA, created.code, "advice")
        await service.feedback_once(created.case_id)
        async with read_tx(engine) as conn:
            row = (await conn.execute(select(cases_db.requests))).mappings().one()
        assert not {"yes", "partly", "no"} & {v for v in row.values() if isinstance(v, str)}
