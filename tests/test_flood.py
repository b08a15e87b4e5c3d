"""Floods (issue #11): a chat's budget for incoming updates, the hourly cap per case, and a
long case's page kept light.

The flood tests send a burst through the emulator and wait for it to be handled (events:
every update confirmed and reported handled, or refused by the budget); the budget's
refill is set so slow that the test's own duration cannot add to it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from bot.emulator.server import BotApiEmulator
from bot.emulator.spec import BotApiSpec
from bot.runtime import Server
from bot.services.flood import IncomingBudget
from bot.storage import cases as db
from tests.conftest import emulator_on_own_port, running_preview
from tests.helpers import Relative, bot_messages
from tests.staff_helpers import PASSWORD, StaffClient, text_of
from tests.webhook_helpers import webhook_serving

CODE_RE = re.compile(r"\b[A-Z0-9]{3}-[A-Z0-9]{3}\b")
SLOW_DOWN_SV = "Du skriver snabbare än jag hinner med"
HELD_FIRST_SV = "Teamet har redan fått många meddelanden från dig"
HELD_AGAIN_SV = "Inte vidareskickat"
SENT_SV = "Skickat till teamet"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_budget_admits_its_burst_then_one_notice_then_nothing_until_refilled() -> None:
    clock = Clock()
    budget = IncomingBudget(3, 6, clock=clock)  # three at once, then one per ten seconds
    assert [budget.admit("a") for _ in range(3)] == ["admit"] * 3
    assert budget.admit("a") == "notify"
    assert [budget.admit("a") for _ in range(100)] == ["drop"] * 100
    assert budget.admit("b") == "admit"  # another chat has its own bucket
    clock.now += 10  # one token back: still muted until the bucket is full again
    assert budget.admit("a") == "drop"
    clock.now += 20  # full: the chat is heard again, from a full bucket
    assert [budget.admit("a") for _ in range(3)] == ["admit"] * 3
    assert budget.admit("a") == "notify"
    assert budget.dropped == 103


def test_a_budget_keeps_its_memory_bounded() -> None:
    clock = Clock()
    budget = IncomingBudget(2, 60, clock=clock, max_keys=100)
    for i in range(100):
        budget.admit(f"chat-{i}")
    clock.now += 5  # every bucket full again: they are forgotten as new chats come
    budget.admit("newcomer")
    assert len(budget._buckets) == 1
    for i in range(300):
        budget.admit(f"busy-{i}")
        budget.admit(f"busy-{i}")
    assert len(budget._buckets) <= 100
    with pytest.raises(ValueError):
        IncomingBudget(0, 10)


def _texts(emulator: BotApiEmulator, chat_id: int) -> list[str]:
    return [str(m.get("text", "")) for m in bot_messages(emulator, chat_id)]


def _sends_to(emulator: BotApiEmulator, chat_id: int) -> int:
    return sum(
        1
        for method, params in emulator.calls
        if method == "sendMessage" and int(params.get("chat_id", 0)) == chat_id
    )


async def _open_a_case(relative: Relative) -> str:
    """Onboard in Swedish, ask for contact, write the request, confirm: the case code."""
    await relative.answers_the_request_questions("young_adult", "worry")
    await relative.says("Jag är orolig för min bror.")
    done = await relative.taps("k:ok")
    match = CODE_RE.search(done["text"])
    assert match, done["text"]
    return match.group()


async def test_a_burst_of_200_gets_one_notice_the_budgets_replies_and_the_cap(
    database_url: str, tmp_path: Path, spec: BotApiSpec
) -> None:
    env = {"FLOOD_BURST": "20", "FLOOD_PER_MINUTE": "1", "CASE_MESSAGES_PER_HOUR": "5"}
    async with running_preview(database_url, tmp_path, spec, **env) as server:
        assert server.core is not None and server.emulator is not None
        emulator = server.emulator
        relative = Relative(emulator)
        code = await _open_a_case(relative)  # 12 updates of the budget's 20
        before = _sends_to(emulator, relative.chat_id)
        for i in range(200):
            await emulator.user_sends_text(relative.chat_id, f"meddelande {i}")
        await emulator.wait_idle()

        sent = _sends_to(emulator, relative.chat_id) - before
        replies = _texts(emulator, relative.chat_id)[-sent:]
        # 8 updates left in the budget: the request's text and 4 more fill the cap of 5,
        # 4 are held back (told once, then briefly), then the one notice, then nothing.
        assert [SENT_SV in t for t in replies].count(True) == 4
        assert [HELD_FIRST_SV in t for t in replies].count(True) == 1
        assert [HELD_AGAIN_SV in t for t in replies].count(True) == 3
        assert [SLOW_DOWN_SV in t for t in replies].count(True) == 1
        assert len(replies) == 9

        # Muted until the bucket refills: a further message gets nothing at all.
        await relative.emulator.user_sends_text(relative.chat_id, "hallå?")
        await emulator.wait_idle()
        assert _sends_to(emulator, relative.chat_id) - before == 9

        # Another chat is not affected.
        other = Relative(emulator)
        assert "l:sv" in str((await other.says("/start")).get("reply_markup"))

        staff = await _staff(server)
        detail = await server.core.cases.detail(staff, code)
        bodies = [m.body for m in detail.messages if m.author == "relative"]
        assert len(bodies) == 5 and "meddelande 3" in bodies and "meddelande 4" not in bodies
        assert detail.held_back == 4 and detail.held_back_at is not None

        async with _signed_in(server) as client:
            page = text_of(await client.get(f"/staff/cases/{code}"))
        assert "4 meddelanden från den anhörige hölls tillbaka" in page
        assert "meddelande 5" not in page


async def _staff(server: Server) -> Any:
    assert server.core is not None
    if await server.core.staff.authenticate("anna", PASSWORD) is None:
        await server.core.staff.create("anna", PASSWORD, "staff", frozenset({"laholm"}))
    user = await server.core.staff.authenticate("anna", PASSWORD)
    assert user is not None
    return user


class _signed_in:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.client = StaffClient(server)

    async def __aenter__(self) -> StaffClient:
        await _staff(self.server)
        await self.client.sign_in("anna")
        assert self.client.status == 200 and "/staff/login" not in self.client.url
        return self.client

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()


async def test_the_cap_counts_the_last_hour_and_a_new_episode_tells_again(
    database_url: str, tmp_path: Path, spec: BotApiSpec
) -> None:
    env = {"CASE_MESSAGES_PER_HOUR": "2"}
    async with running_preview(database_url, tmp_path, spec, **env) as server:
        assert server.core is not None and server.emulator is not None
        relative = Relative(server.emulator)
        code = await _open_a_case(relative)
        assert SENT_SV in (await relative.says("två"))["text"]
        assert HELD_FIRST_SV in (await relative.says("tre"))["text"]
        assert HELD_AGAIN_SV in (await relative.says("fyra"))["text"]
        # An hour and more later (the clock moved on): stored again.
        cases = server.core.cases
        cases.now = lambda: datetime.now(UTC) + timedelta(hours=1, minutes=1)
        assert SENT_SV in (await relative.says("fem"))["text"]
        assert SENT_SV in (await relative.says("sex"))["text"]
        assert HELD_FIRST_SV in (await relative.says("sju"))["text"]  # a new episode
        detail = await cases.detail(await _staff(server), code)
        assert detail.held_back == 3
        bodies = [m.body for m in detail.messages if m.author == "relative"]
        assert bodies == ["Jag är orolig för min bror.", "två", "fem", "sex"]


async def test_a_2000_message_case_page_stays_light(
    database_url: str, tmp_path: Path, spec: BotApiSpec
) -> None:
    async with running_preview(database_url, tmp_path, spec) as server:
        assert server.core is not None and server.emulator is not None
        relative = Relative(server.emulator)
        code = await _open_a_case(relative)
        database = server.core.database
        start = datetime.now(UTC)
        async with database.write_tx() as conn:
            row = await db.case_by_code(conn, code)
            assert row is not None
            rows = [
                {
                    "case_id": row.id,
                    "author": "relative",
                    "body": f"rad {i:04d} " + "x" * 900,
                    "created_at": start + timedelta(seconds=i),
                }
                for i in range(2000)
            ]
            await conn.execute(insert(db.messages), rows)
        async with _signed_in(server) as client:
            page = await client.get(f"/staff/cases/{code}")
            assert len(page.encode()) < 120_000  # 2,000 messages would be about 2 MB
            shown = re.findall(r"rad (\d{4}) ", page)
            assert shown == [f"{i:04d}" for i in range(1950, 2000)]
            older = re.search(r'href="(/staff/cases/[^"?]+\?before=\d+)[^"]*"', page)
            assert older, "no link to older messages"
            second = await client.get(older.group(1))
            assert re.findall(r"rad (\d{4}) ", second) == [f"{i:04d}" for i in range(1900, 1950)]
            assert "Senaste meddelandena" in text_of(second)

            # The live fragment is the same bounded page, and 204 while nothing changed.
            live = await client.http.get(f"{client.origin}/staff/cases/{code}/live")
            fragment = await live.text()
            assert live.status == 200 and len(fragment.encode()) < 100_000
            version = live.headers["X-Messages-Version"]
            again = await client.http.get(
                f"{client.origin}/staff/cases/{code}/live", params={"v": version}
            )
            assert again.status == 204
            # A bad ``before`` is the newest page, never an error.
            odd = await client.get(f"/staff/cases/{code}?before=-1%00")
            assert re.findall(r"rad (\d{4}) ", odd)[-1] == "1999"
            # Past a 32-bit id (PostgreSQL's INTEGER) too: the newest page, not a 500.
            huge = await client.get(f"/staff/cases/{code}?before=99999999999")
            assert re.findall(r"rad (\d{4}) ", huge)[-1] == "1999"


WEBHOOK_TOKEN = "123456789:AAF-flood-webhook-token-abcdefghijklm"
WEBHOOK_SECRET = "flood-webhook-secret_0123456789"


async def test_a_flood_through_the_webhook_gets_one_notice_and_the_budgets_replies(
    pg_database_url: str, tmp_path: Path, spec: BotApiSpec
) -> None:
    """Webhook mode checks the budget on the raw update (before PTB parses it) and the
    processor uses that verdict: each update counts once; every POST is answered 200."""
    async with emulator_on_own_port(spec, WEBHOOK_TOKEN) as telegram:
        async with webhook_serving(
            pg_database_url, tmp_path, telegram, WEBHOOK_SECRET,
            FLOOD_BURST="5", FLOOD_PER_MINUTE="1",
        ):  # fmt: skip
            chat = telegram.new_private_chat(language_code="en")
            for i in range(60):
                await telegram.user_sends_text(chat, f"hello {i}")
            await telegram.wait_idle()
            texts = _texts(telegram, chat)
            assert sum("writing faster than I can keep up" in t for t in texts) == 1
            assert _sends_to(telegram, chat) == 6  # five replies and the one notice
            assert telegram._webhook_last_error is None  # every POST was answered 200
        assert telegram.problems == [], telegram.problems
