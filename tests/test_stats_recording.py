"""Anonymous statistics, the recording side: real bot flow and queue, both databases.

What is checked: a scripted session leaves the expected daily counters; no
statistics table holds a pseudonym, chat id, name, username, case code or any text
the relative or staff wrote; no table has a time finer than the day; yesterday's
distinct-relative digests are gone after the first flush of a new day; recording
errors never break an update; a failed flush keeps its counts.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import inspect, select, text

from bot import callbacks
from bot.privacy import chat_pseudonym
from bot.runtime import Server
from bot.services.stats import KINDS, TIME_BUCKETS, Period, StatsRecorder, time_bucket
from bot.storage import stats as stats_db
from bot.storage.database import Database
from bot.storage.engine import read_tx
from bot.storage.migrate import upgrade
from tests.conftest import TEST_SECRET
from tests.helpers import Relative, button_data

CODE_RE = re.compile(r"[A-Z0-9]{3}-[A-Z0-9]{3}")
RELATIVE_TEXT = "Min bror Zlatanowicz pratar om våld i en Discordgrupp"
STAFF_TEXT = "Hej, tack för att du skrev. Vi ringer dig gärna imorgon."
NAME, USERNAME = "Ingegerd", "worried_sibling_4711"
STATS_TABLES = ("stats_counter", "stats_daily_seen")


def _named_relative(server: Server) -> Relative:
    """A relative whose Telegram profile has a name and a username (that must never leak)."""
    relative = Relative(server.emulator)
    relative.chat_id = server.emulator.new_private_chat(
        language_code="sv", first_name=NAME, username=USERNAME
    )
    return relative


async def _article_end(relative: Relative, node: str) -> dict[str, Any]:
    """Open an article and page to its end, where "Was this helpful?" is asked."""
    screen = await relative.taps(callbacks.go(node), from_older_message=True)
    for _ in range(10):
        if any(c.startswith("h:") for c in button_data(screen)):
            return screen
        pager = [c for c in button_data(screen) if c.startswith(f"g:{node}:")]
        screen = await relative.taps(pager[-1])
    raise AssertionError("no helpful buttons at the end of the article")


async def _send_request(relative: Relative, text: str | None) -> str:
    await relative.taps("g:contact", from_older_message=True)
    await relative.taps("k:new")
    for code in ("k:c:child", "k:t:online", "k:u:soon", "k:r:chat", "k:l:sv"):
        await relative.taps(code)
    if text:
        await relative.says(text)
    else:
        await relative.taps("k:skip")
    done = await relative.taps("k:ok")
    match = CODE_RE.search(done["text"])
    assert match, done["text"]
    return match.group()


async def _cells(server: Server, day: date) -> dict[tuple[str, str, str, str], int]:
    assert server.core is not None
    async with read_tx(server.core.engine) as conn:
        rows = await stats_db.counters(conn, day, day, ["", "laholm", "botkyrka"])
    return {(r.team_id, r.language, r.kind, r.key): r.count for r in rows}


async def _dump(server: Server) -> list[tuple[Any, ...]]:
    assert server.core is not None
    async with read_tx(server.core.engine) as conn:
        rows: list[tuple[Any, ...]] = []
        for table in STATS_TABLES:
            rows += [tuple(r) for r in await conn.execute(text(f"SELECT * FROM {table}"))]
    return rows


async def test_scripted_session_counts_and_keeps_nothing_personal(preview_server: Server) -> None:
    core = preview_server.core
    assert core is not None and core.recorder is not None
    today = core.recorder.today()

    relative = _named_relative(preview_server)
    await relative.onboard("sv", "laholm")
    await relative.taps("g:worry")
    end = await _article_end(relative, "worry_changes")
    helpful_yes = next(c for c in button_data(end) if c.startswith("h:y:"))
    thanked = await relative.taps(helpful_yes)
    assert not any(c.startswith("h:") for c in button_data(thanked)), "answered once per view"
    assert "Tack för ditt svar" in thanked["text"]
    toast = preview_server.emulator._chats[relative.chat_id].toast
    assert toast is not None and toast["text"] == "Tack"
    await relative.taps("l:en", from_older_message=True)  # a change of language is counted
    await relative.taps("l:sv", from_older_message=True)
    code = await _send_request(relative, RELATIVE_TEXT)

    other = Relative(preview_server.emulator)
    await other.onboard("sv", "laholm")
    await _send_request(other, None)
    await other.taps("k:w")
    await other.taps("k:wy")

    await core.staff.create("anna", "a long enough password", "staff", frozenset({"laholm"}))
    anna = await core.staff.authenticate("anna", "a long enough password")
    assert anna is not None
    assert (await core.cases.claim(anna, code)).won
    sent = await core.cases.reply(anna, code, STAFF_TEXT)
    assert sent.delivery == "sent"
    preview_server.emulator.user_blocks_bot(relative.chat_id)
    failed = await core.cases.reply(anna, code, "Are you still there?")
    assert failed.delivery is not None and failed.delivery.startswith("failed")
    await core.cases.close(anna, code, "advice")

    await core.recorder.flush()
    cells = await _cells(preview_server, today)
    expect = {
        # Counted at the start under '' and moved to the team chosen that day (no double count)
        ("laholm", "sv", "conversation_started", ""): 2,
        ("", "sv", "conversation_started", ""): 0,
        ("", "sv", "language_chosen", "sv"): 2,
        ("laholm", "sv", "team_chosen", "laholm"): 2,
        ("laholm", "sv", "screen_viewed", "worry"): 1,
        ("laholm", "sv", "screen_move", "home>worry"): 1,
        ("laholm", "sv", "screen_move", "worry>worry_changes"): 1,
        ("laholm", "sv", "helpful", "worry_changes:yes"): 1,
        ("laholm", "en", "language_chosen", "en"): 1,
        ("laholm", "sv", "language_chosen", "sv"): 1,
        ("laholm", "sv", "request_started", ""): 2,
        ("laholm", "sv", "request_created", ""): 2,
        ("laholm", "sv", "request_urgency", "soon"): 2,
        ("laholm", "sv", "request_topic", "online"): 2,
        ("laholm", "sv", "request_concerns", "child"): 2,
        ("laholm", "sv", "request_reply_via", "chat"): 2,
        ("laholm", "sv", "request_withdrawn", ""): 1,
        ("laholm", "sv", "case_outcome", "withdrew"): 1,
        ("laholm", "sv", "time_to_claim", "under_15m"): 1,
        ("laholm", "sv", "time_to_first_reply", "under_15m"): 1,
        ("laholm", "sv", "relay_failed", ""): 1,
        ("laholm", "sv", "case_outcome", "advice"): 1,
    }
    for cell, count in expect.items():
        assert cells.get(cell) == count, (cell, cells.get(cell))
    assert cells[("laholm", "sv", "screen_viewed", "home")] >= 2
    assert ("laholm", "sv", "helpful", "worry_changes:no") not in cells
    assert {cell[2] for cell in cells} <= set(KINDS)

    # Privacy: dump every statistics table; nothing that could point to a relative.
    dump = repr(await _dump(preview_server))
    pseudonyms = [chat_pseudonym(TEST_SECRET.encode(), r.chat_id) for r in (relative, other)]
    forbidden = [
        *pseudonyms,
        *(p[:16] for p in pseudonyms),
        str(relative.chat_id),
        str(other.chat_id),
        NAME,
        USERNAME,
        code,
        "Zlatanowicz",
        "Discord",
        "imorgon",
        "anna",
    ]
    for value in forbidden:
        assert value not in dump, value
    async with core.engine.connect() as conn:
        columns = await conn.run_sync(
            lambda sync: {t: inspect(sync).get_columns(t) for t in STATS_TABLES}
        )
    for table, cols in columns.items():
        for col in cols:
            assert "TIME" not in str(col["type"]).upper(), (table, col["name"])
        assert {c["name"] for c in cols} <= {
            "day", "team_id", "language", "kind", "key", "count", "digest"
        }, table  # fmt: skip

    # The next day: yesterday's digests are counted into "relatives" and deleted.
    tomorrow = today + timedelta(days=1)
    core.recorder.today = lambda: tomorrow
    await other.says("/start")
    await core.recorder.flush()
    async with read_tx(core.engine) as conn:
        seen = (await conn.execute(select(stats_db.seen_table.c.day))).scalars().all()
    assert seen and all(day == tomorrow for day in seen), seen
    cells = await _cells(preview_server, today)
    assert cells.get(("laholm", "", "relatives", "")) == 2, cells
    # Seen before choosing a team, but they chose one that day: counted for it alone, so
    # the all-teams view does not count each new relative twice.
    assert ("", "", "relatives", "") not in cells, cells
    assert cells.get(("laholm", "sv", "conversation_started", "")) == 2, "not moved again"
    assert cells.get(("", "sv", "conversation_started", "")) == 0, cells


async def test_recording_errors_never_break_an_update(
    preview_server: Server, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    core = preview_server.core
    assert core is not None and core.recorder is not None

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("disk on fire " + RELATIVE_TEXT)

    monkeypatch.setattr(core.recorder, "count", broken)
    monkeypatch.setattr(core.recorder, "seen", broken)
    relative = Relative(preview_server.emulator)
    home = await relative.onboard("sv", "laholm")
    assert "g:worry" in button_data(home)
    end = await _article_end(relative, "worry_changes")
    thanked = await relative.taps(next(c for c in button_data(end) if c.startswith("h:n:")))
    assert "Tack för ditt svar" in thanked["text"]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "RuntimeError" in logged
    assert "fire" not in logged and "Zlatanowicz" not in logged


async def test_a_failed_flush_keeps_its_counts(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The database is not there yet (no tables): counts wait in memory for the next flush."""
    caplog.set_level(logging.ERROR)
    if database_url.startswith("postgresql"):
        from tests.conftest import _reset_postgres

        await asyncio.to_thread(_reset_postgres, database_url)
    database = Database.open(database_url)
    engine = database.engine
    day = date(2026, 3, 2)
    recorder = StatsRecorder(database, b"k" * 32, today=lambda: day)
    try:
        recorder.count("screen_viewed", "laholm", "sv", "worry")
        recorder.count("screen_viewed", "laholm", "sv", "worry")
        recorder.seen("pseudonym-a", "laholm")
        await recorder.flush()
        assert recorder.pending == 2
        assert any("flush failed" in r.getMessage() for r in caplog.records)
        await upgrade(engine)
        recorder.count("screen_viewed", "laholm", "sv", "worry")
        await recorder.flush()
        assert recorder.pending == 0
        async with read_tx(engine) as conn:
            rows = await stats_db.counters(conn, day, day, ["laholm"])
        assert [(r.kind, r.key, r.count) for r in rows] == [("screen_viewed", "worry", 3)]
    finally:
        await database.close()


async def test_digests_are_per_day_and_per_team(database_url: str) -> None:
    """The same chat gets unrelated digests on two days; counts add up across processes."""
    if database_url.startswith("postgresql"):
        from tests.conftest import _reset_postgres

        await asyncio.to_thread(_reset_postgres, database_url)
    database = Database.open(database_url)
    engine = database.engine
    await upgrade(engine)
    days = iter([date(2026, 3, 2)])
    current = {"day": next(days)}
    a = StatsRecorder(database, b"k" * 32, today=lambda: current["day"])
    b = StatsRecorder(database, b"k" * 32, today=lambda: current["day"])  # another process
    try:
        for recorder in (a, b):
            recorder.seen("same-chat", "laholm")
            recorder.seen("same-chat", "laholm")
            recorder.seen("other-chat", "laholm")
            recorder.seen("same-chat", "botkyrka")
            recorder.count("conversation_started", None, None)
            await recorder.flush()
        async with read_tx(engine) as conn:
            first = set((await conn.execute(select(stats_db.seen_table.c.digest))).scalars())
        assert len(first) == 3
        current["day"] = date(2026, 3, 3)
        a.seen("same-chat", "laholm")
        await a.flush()
        async with read_tx(engine) as conn:
            second = set((await conn.execute(select(stats_db.seen_table.c.digest))).scalars())
            rows = await stats_db.counters(
                conn, date(2026, 3, 2), date(2026, 3, 2), ["", "laholm", "botkyrka"]
            )
        assert len(second) == 1 and not second & first
        cells = {(r.team_id, r.kind): r.count for r in rows}
        assert cells == {
            ("laholm", "relatives"): 2,
            ("botkyrka", "relatives"): 1,
            ("", "conversation_started"): 2,
        }
    finally:
        await database.close()


async def _conversations(engine: Any, day: date) -> dict[str, int]:
    """conversation_started per team on ``day``: counters plus the digests not folded yet."""
    async with read_tx(engine) as conn:
        rows = await stats_db.counters(conn, day, day, ["", "laholm", "botkyrka"])
        live = await stats_db.derived_counts(conn, day, day)
    out: dict[str, int] = {}
    for team, kind, n in [(r.team_id, r.kind, r.count) for r in rows] + [
        (t, k, n) for _, t, k, n in live
    ]:
        if kind == "conversation_started":
            out[team] = out.get(team, 0) + n
    return out


async def _relatives(engine: Any, day: date) -> dict[str, int]:
    async with read_tx(engine) as conn:
        rows = await stats_db.counters(conn, day, day, ["", "laholm", "botkyrka"], ["relatives"])
        live = await stats_db.derived_counts(conn, day, day)
    out = {r.team_id: r.count for r in rows}
    for _, team, kind, n in live:
        if kind == "relatives":
            out[team] = out.get(team, 0) + n
    return out


async def test_a_conversation_counts_for_the_team_chosen_that_day(database_url: str) -> None:
    """Started under '' and moved to the team chosen the same day, by whichever process
    handled the choice; never chosen: '' ("no municipality chosen yet"); a choice on a
    later day moves nothing (the start was counted on its own day). Nothing counted twice,
    before the fold, after it, or when the fold and the moves meet."""
    if database_url.startswith("postgresql"):
        from tests.conftest import _reset_postgres

        await asyncio.to_thread(_reset_postgres, database_url)
    database = Database.open(database_url)
    engine = database.engine
    await upgrade(engine)
    day, next_day = date(2026, 3, 2), date(2026, 3, 3)
    current = {"day": day}
    a = StatsRecorder(database, b"k" * 32, today=lambda: current["day"])
    b = StatsRecorder(database, b"k" * 32, today=lambda: current["day"])  # another process
    try:
        a.started("chose-laholm", "sv")
        a.seen("chose-laholm", None)
        b.chose_team("chose-laholm", "laholm")  # the next update, in the other process
        b.seen("chose-laholm", "laholm")
        a.started("never-chose", "sv")
        a.seen("never-chose", None)
        a.started("chose-botkyrka", "fi")
        a.chose_team("chose-botkyrka", "botkyrka")
        a.started("chose-none-of-them", "sv")
        a.chose_team("chose-none-of-them", "")  # "my municipality is not listed"
        b.chose_team("started-yesterday", "laholm")
        assert await a.flush() and await b.flush()
        expected = {"laholm": 1, "botkyrka": 1, "": 2}
        assert {t: n for t, n in (await _conversations(engine, day)).items() if n} == expected
        assert await _relatives(engine, day) == {"laholm": 1, "": 1}
        async with read_tx(engine) as conn:
            left = (await conn.execute(select(stats_db.seen_table.c.digest))).scalars().all()
        assert not any(d.startswith("s") and "t" + d[1:] in left for d in left), "moved once"

        # A pair not moved yet (its flush could not take the fold's lock): reports add it.
        async with database.write_tx() as conn:
            await stats_db.add_counts(conn, {(day, "", "sv", "conversation_started", ""): 1})
            await stats_db.add_seen(conn, day, [("s" + "0" * 24, "sv"), ("t" + "0" * 24, "laholm")])
        expected = {"laholm": 2, "botkyrka": 1, "": 2}
        assert {t: n for t, n in (await _conversations(engine, day)).items() if n} == expected

        current["day"] = next_day  # the fold books the day's digests, the pair among them
        a.seen("someone", "laholm")
        assert await a.flush()
        async with read_tx(engine) as conn:
            assert await stats_db.derived_counts(conn, day, day) == []
        assert {t: n for t, n in (await _conversations(engine, day)).items() if n} == expected
        assert await _relatives(engine, day) == {"laholm": 1, "": 1}
        async with read_tx(engine) as conn:
            rows = await stats_db.counters(conn, day, day, ["", "laholm", "botkyrka"])
        assert all(r.count >= 0 for r in rows), rows
    finally:
        await database.close()


def test_unknown_kind_is_a_programming_error() -> None:
    recorder = StatsRecorder(None, b"k" * 32)  # type: ignore[arg-type]  # never flushed
    with pytest.raises(ValueError):
        recorder.count("chat_id", None, None)
    recorder.count("screen_viewed", None, None, "x" * 500)
    assert recorder.pending == 1


@pytest.mark.parametrize(
    ("seconds", "bucket"),
    [
        (0, "under_15m"),
        (899, "under_15m"),
        (900, "15m_1h"),
        (3599, "15m_1h"),
        (3600, "1h_4h"),
        (4 * 3600, "4h_24h"),
        (86400, "1d_3d"),
        (3 * 86400, "over_3d"),
        (400 * 86400, "over_3d"),
    ],
)
def test_time_buckets(seconds: float, bucket: str) -> None:
    assert time_bucket(seconds) == bucket
    assert bucket in TIME_BUCKETS


def test_periods_are_calendar_aligned() -> None:
    d = date(2026, 5, 14)  # a Thursday
    assert Period.ending("week", d) == Period(date(2026, 5, 11), date(2026, 5, 17), "week")
    assert Period.ending("month", d) == Period(date(2026, 5, 1), date(2026, 5, 31), "month")
    assert Period.ending("quarter", d) == Period(date(2026, 4, 1), date(2026, 6, 30), "quarter")
    assert Period.ending("year", d) == Period(date(2026, 1, 1), date(2026, 12, 31), "year")
    assert Period.ending("quarter", date(2026, 12, 31)).start == date(2026, 10, 1)
    with pytest.raises(ValueError):
        Period.ending("fortnight", d)  # type: ignore[arg-type]  # an unknown kind on purpose
