"""SECRET_KEY rotation (SECRET_KEYS = new first, then old): the real product across restarts.

A relative asks for contact under key A; the process restarts with SECRET_KEYS="B A":
staff still reply (the link opens with A), the relative's state moves to B's pseudonym at
their next update, a staff cookie sealed under A still works (and comes back sealed under
B); `python -m bot rekey` (a real process, while serve runs) re-seals the link under B and
says "0 re-sealed" the second time; then B alone still reaches the relative. B alone
without rekey: the old case's replies are refused with a reason on the case page, not a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, update
from yarl import URL

from bot.__main__ import main
from bot.chat.memory import ChatMemory
from bot.cli_rekey import summary
from bot.domain import CODE_ALPHABET
from bot.emulator.spec import BotApiSpec
from bot.privacy import chat_pseudonym
from bot.runtime import Server
from bot.services.link_crypto import DRAFT_PHONE, LinkCipher, LinkError
from bot.services.rekey import RekeyReport, Tally, rekey
from bot.storage import rekey as rekey_db
from bot.storage.database import Database
from bot.storage.models import CaseContact, ChatSession, table_of
from bot.storage.sessions import SessionState, open_session_store
from bot.web.staff.session import COOKIE_NAME, Session, SessionCodec
from tests.conftest import REPO, TEST_SECRET, _reset_postgres, make_settings
from tests.helpers import Relative, bot_messages, button_data
from tests.staff_helpers import StaffClient, create_accounts, signed_in, text_of
from tests.test_query_counts import PER_UPDATE, counting

KEY_A = TEST_SECRET  # what make_settings gives every test server
KEY_B = "the-new-secret-key-after-rotation-0123456789abcdefgh"
CODE_RE = re.compile(rf"[{CODE_ALPHABET}]{{3}}-[{CODE_ALPHABET}]{{3}}")
contacts = table_of(CaseContact)
sessions = table_of(ChatSession)


@contextlib.asynccontextmanager
async def started(
    database_url: str, tmp_path: Path, spec: BotApiSpec, **env: str
) -> AsyncIterator[Server]:
    """One process's life on the shared database (not reset: it is the same deployment)."""
    server = Server(
        make_settings(database_url, tmp_path, **env),
        preview=True,
        spec_validator=spec.validate_call,
    )
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
    assert server.emulator is not None and server.emulator.problems == []


def rotated(*keys: str) -> dict[str, str]:
    """The environment of a process started with these keys, the newest first."""
    if len(keys) == 1:
        return {"SECRET_KEY": keys[0]}
    return {"SECRET_KEY": "", "SECRET_KEYS": " ".join(keys)}


async def reset(database_url: str) -> None:
    if database_url.startswith("postgresql"):
        await asyncio.to_thread(_reset_postgres, database_url)


async def ask_for_contact(relative: Relative) -> str:
    """The real flow: onboard, answer by buttons, write a text, confirm; the case code."""
    await relative.answers_the_request_questions("child", "online")
    await relative.says("Min son har fått nya vänner på nätet.")
    done = await relative.taps("k:ok")
    found = CODE_RE.search(done["text"])
    assert found, done["text"]
    return found.group()


async def contact_row(server: Server) -> tuple[int, str]:
    assert server.core is not None
    async with server.core.database.read_tx() as conn:
        row = (await conn.execute(select(contacts.c.case_id, contacts.c.chat_ref))).one()
    return row.case_id, row.chat_ref


async def state_under(server: Server, key: str, chat_id: int) -> SessionState | None:
    assert server.core is not None
    return await server.core.store.load(chat_pseudonym(key.encode(), chat_id))


def same_chat(server: Server, relative: Relative) -> Relative:
    """The relative's Telegram chat as the new process's emulator sees it (same chat id)."""
    assert server.emulator is not None
    again = Relative(server.emulator)
    again.chat_id = server.emulator.new_private_chat(language_code="sv", chat_id=relative.chat_id)
    return again


async def reply(client: StaffClient, code: str, text: str) -> str:
    """Claim and reply through the staff pages; the case page's visible text after it."""
    await client.get(f"/staff/cases/{code}")
    await client.post(f"/staff/cases/{code}/claim", {})
    await client.post(f"/staff/cases/{code}/reply", {"text": text})
    assert client.status == 200, (client.status, text_of(client.page))
    return text_of(client.page)


async def run_rekey(database_url: str, tmp_path: Path, *keys: str) -> str:
    """`python -m bot rekey` as an operator runs it: its own process, its own connections."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DATA_DIR": str(tmp_path / "data"),
        **rotated(*keys),
    }
    env.pop("SECRET_KEY_FILE", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "rekey",
        "--batch",
        "1",
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_rotation_keeps_cases_chats_and_sessions(
    database_url: str, tmp_path: Path, spec: BotApiSpec
) -> None:
    await reset(database_url)
    async with started(database_url, tmp_path, spec) as first:  # key A only
        await create_accounts(first)
        assert first.emulator is not None
        relative = Relative(first.emulator)
        code = await ask_for_contact(relative)
        case_id, sealed_under_a = await contact_row(first)
        assert await state_under(first, KEY_A, relative.chat_id) is not None
        async with signed_in(first, "anna") as anna:
            cookie = anna.http.cookie_jar.filter_cookies(URL(first.origin))[COOKIE_NAME].value
        assert SessionCodec(KEY_A.encode()).load(cookie) is not None

    async with started(database_url, tmp_path, spec, **rotated(KEY_B, KEY_A)) as second:
        # The relative's next message finds their state: moved to B's pseudonym, A's gone.
        again = same_chat(second, relative)
        assert second.core is not None
        with counting(second.core.database) as seen:
            status = await again.says("/status")
        assert code in status["text"], status["text"]
        assert len([s for s in seen if "SET pseudonym" in s]) == 1, seen
        moved = await state_under(second, KEY_B, relative.chat_id)
        assert moved is not None and moved.case_id == case_id and moved.language == "sv"
        assert await state_under(second, KEY_A, relative.chat_id) is None
        # A chat already moved costs what the README promises, old keys or not.
        home = await again.says("/start")
        guide = next(c for c in button_data(home) if c.startswith("g:") and c != "g:contact")
        with counting(second.core.database) as seen:
            await again.taps(guide)
        assert 1 <= len(seen) <= PER_UPDATE, seen

        # A staff cookie sealed under A still signs anna in, and comes back sealed under B.
        anna = StaffClient(second)
        try:
            anna.http.cookie_jar.update_cookies({COOKIE_NAME: cookie}, URL(second.origin))
            queue = await anna.get("/staff/queue")
            assert anna.url.endswith("/staff/queue") and code in queue, anna.url
            renewed = anna.http.cookie_jar.filter_cookies(URL(second.origin))[COOKIE_NAME].value
            assert renewed != cookie
            assert SessionCodec(KEY_B.encode()).load(renewed) is not None  # B alone opens it

            # Staff can reply, and the reply reaches the relative's chat (link sealed under A).
            before = len(again.bot_messages())
            page = await reply(anna, code, "Hej, vi finns här efter bytet av nyckel.")
            assert "Levererat" in page, page
            assert second.emulator is not None
            await second.emulator.wait_idle(relative.chat_id)
            delivered = bot_messages(second.emulator, relative.chat_id)[before:]
            assert any("efter bytet av nyckel" in m["text"] for m in delivered), delivered
        finally:
            await anna.close()

        # rekey while serve runs: the link is sealed anew, and B alone opens it.
        assert LinkCipher(KEY_A.encode()).open_chat(sealed_under_a, case_id) == relative.chat_id
        out = await run_rekey(database_url, tmp_path, KEY_B, KEY_A)
        assert out.startswith("1 re-sealed"), out
        assert "drop the older key" in out and "cannot be re-keyed in bulk" in out, out
        same_case, resealed = await contact_row(second)
        assert same_case == case_id and resealed != sealed_under_a
        assert LinkCipher(KEY_B.encode()).open_chat(resealed, case_id) == relative.chat_id
        with pytest.raises(LinkError):
            LinkCipher(KEY_A.encode()).open_chat(resealed, case_id)
        out = await run_rekey(database_url, tmp_path, KEY_B, KEY_A)
        assert out.startswith("0 re-sealed"), out
        assert (await contact_row(second))[1] == resealed, "a second rekey changes nothing"

    async with started(database_url, tmp_path, spec, **rotated(KEY_B)) as third:  # B alone
        again = same_chat(third, relative)
        async with signed_in(third, "anna") as anna:
            before = len(again.bot_messages())
            page = await reply(anna, code, "Och nu med bara den nya nyckeln.")
            assert "Levererat" in page, page
        assert third.emulator is not None
        await third.emulator.wait_idle(relative.chat_id)
        delivered = bot_messages(third.emulator, relative.chat_id)[before:]
        assert any("bara den nya nyckeln" in m["text"] for m in delivered), delivered
        # ... and A's cookie is now nobody's: back to the sign-in page.
        stale = StaffClient(third)
        try:
            stale.http.cookie_jar.update_cookies({COOKIE_NAME: cookie}, URL(third.origin))
            await stale.get("/staff/queue")
            assert "/staff/login" in stale.url, stale.url
        finally:
            await stale.close()


async def test_a_new_key_alone_without_rekey_refuses_the_old_case_clearly(
    database_url: str, tmp_path: Path, spec: BotApiSpec
) -> None:
    """Today's behaviour, documented: without the old key nothing opens the old link."""
    await reset(database_url)
    async with started(database_url, tmp_path, spec) as first:
        await create_accounts(first)
        assert first.emulator is not None
        relative = Relative(first.emulator)
        code = await ask_for_contact(relative)

    async with started(database_url, tmp_path, spec, **rotated(KEY_B)) as second:
        again = same_chat(second, relative)
        async with signed_in(second, "anna") as anna:
            before = len(again.bot_messages())
            page = await reply(anna, code, "Hej, hör du oss?")
            assert "Inte levererat: contact_unreadable" in page, page
            assert 'data-testid="delivery-failed"' in anna.page
        assert len(again.bot_messages()) == before, "nothing reached the chat"
        # The relative's state is under A's pseudonym, which B cannot find: a new chat.
        home = await again.says("/start")
        assert code not in home["text"]


# -- the parts on their own ------------------------------------------------------------------

A, B, C = b"a" * 32, b"b" * 32, b"c" * 32


def test_the_cipher_seals_with_the_newest_and_opens_with_any() -> None:
    old = LinkCipher(A).seal_chat(4711, 7)
    both = LinkCipher(B, (A,))
    assert both.open_chat(old, 7) == 4711
    fresh = both.reseal(old, 7, "chat")
    assert (
        fresh is not None and fresh.startswith("v1.") and LinkCipher(B).open_chat(fresh, 7) == 4711
    )
    assert both.reseal(fresh, 7, "chat") is None, "already under the newest key"
    new = both.seal_chat(4711, 7)
    with pytest.raises(LinkError):
        LinkCipher(A).open_chat(new, 7)
    with pytest.raises(LinkError):
        both.open_chat(old, 8)  # still bound to its case under every key
    with pytest.raises(LinkError):
        LinkCipher(C, (B,)).reseal(old, 7, "chat")  # A is not listed: nobody opens it


def test_cookies_and_tokens_under_an_old_key() -> None:
    session = Session(staff_id=3)
    cookie = SessionCodec(A).dump(session)
    token, _expires = SessionCodec(A).issue_token(3)
    rotated_codec = SessionCodec(B, (A,))
    loaded = rotated_codec.load(cookie)
    assert loaded is not None and loaded.staff_id == 3 and loaded.csrf == session.csrf
    assert loaded.changed, "an old key's cookie is sealed again in the response"
    renewed = rotated_codec.load(rotated_codec.dump(loaded))
    assert renewed is not None and not renewed.changed
    assert rotated_codec.token_staff_id(token) == 3
    assert SessionCodec(B).load(cookie) is None and SessionCodec(B).token_staff_id(token) is None


async def test_memory_moves_the_state_and_forgets_under_every_key(database: Database) -> None:
    store = await open_session_store(database)
    today = date(2026, 3, 2)
    try:
        assert await store.save(chat_pseudonym(A, 1), SessionState(language="sv"), 10, today)
        assert await store.save(chat_pseudonym(A, 2), SessionState(language="en"), 11, today)
        memory = ChatMemory(store, C, ("sv", "en"), today=lambda: today, old_keys=(B, A))
        # A staff reply's bookkeeping (outside any update) moves the chat as well.
        assert await memory.language(1) == "sv"
        assert await store.load(chat_pseudonym(A, 1)) is None
        await memory.remember_sent(1, [99])
        stored = await store.load(chat_pseudonym(C, 1))
        assert stored is not None and 99 in stored.message_ids
        pseudonym, state = await memory.load(2)
        assert pseudonym == chat_pseudonym(C, 2) and state is not None and state.language == "en"
        assert await memory.load(3) == (chat_pseudonym(C, 3), None), "a miss everywhere is new"
        # A move never lands on a row the new pseudonym has already.
        assert await store.save(chat_pseudonym(B, 4), SessionState(language="sv"), 1, today)
        assert await store.save(chat_pseudonym(C, 4), SessionState(language="en"), 2, today)
        assert await store.move(chat_pseudonym(B, 4), chat_pseudonym(C, 4)) is None
        assert await memory.forget(4) == 2, "the relative's delete reaches every key's row"
    finally:
        await store.close()


async def test_rekey_in_batches_with_compare_and_set(database: Database) -> None:
    old, both = LinkCipher(A), LinkCipher(B, (A,))
    rows: list[dict[str, Any]] = [
        {"case_id": i, "chat_ref": old.seal_chat(100 + i, i), "phone_ref": None} for i in (1, 2, 3)
    ]
    rows[1]["phone_ref"] = old.seal("0701234567", 2, "phone")
    rows.append({"case_id": 4, "chat_ref": both.seal_chat(104, 4), "phone_ref": None})
    rows.append({"case_id": 5, "chat_ref": LinkCipher(C).seal_chat(105, 5), "phone_ref": None})
    draft = {"step": "language", "phone": old.seal("0709876543", 0, DRAFT_PHONE)}
    store = await open_session_store(database)
    try:
        assert await store.save("p" * 64, SessionState(draft=draft), 1, date(2026, 3, 2))
    finally:
        await store.close()
    async with database.write_tx() as conn:
        await conn.execute(insert(contacts), rows)
        # A compare-and-set on a stale read changes nothing.
        stale = rekey_db.SealedLink(1, "v1.not-what-is-stored", None)
        assert not await rekey_db.replace_link(conn, stale, "v1.x", None)

    report = await rekey(database, both, batch=2)
    assert (report.links.resealed, report.links.current, report.links.unreadable) == (3, 1, 1)
    assert (report.drafts.resealed, report.drafts.current) == (1, 0)
    async with database.read_tx() as conn:
        stored = {r.case_id: r for r in await conn.execute(select(contacts))}
        raw = (await conn.execute(select(sessions.c.draft))).scalar_one()
    for i in (1, 2, 3, 4):
        assert LinkCipher(B).open_chat(stored[i].chat_ref, i) == 100 + i
    assert LinkCipher(B).open(stored[2].phone_ref, 2, "phone") == "0701234567"
    assert stored[5].chat_ref == rows[4]["chat_ref"], "what no key opens is left alone"
    resealed_draft = json.loads(raw)
    assert resealed_draft["step"] == "language"
    assert LinkCipher(B).open(resealed_draft["phone"], 0, DRAFT_PHONE) == "0709876543"

    again = await rekey(database, both, batch=2)
    assert again.resealed == 0 and again.links.current == 4 and again.drafts.current == 1

    # A row changed between the read and the write (a concurrent serve) is not overwritten.
    async with database.write_tx() as conn:
        [read] = await rekey_db.links_after(conn, 0, 1)
        await conn.execute(
            update(contacts).where(contacts.c.case_id == 1).values(chat_ref="v1.changed")
        )
        assert not await rekey_db.replace_link(conn, read, "v1.lost", None)


# -- the command's refusals and advice -------------------------------------------------------


def test_rekey_refuses_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """One line and exit status 2, never a traceback: no key, a bad batch, an old schema."""
    for name in ("SECRET_KEY", "SECRET_KEYS", "SECRET_KEY_FILE", "SECRET_KEYS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    assert main(["rekey"]) == 2
    assert "SECRET_KEY" in capsys.readouterr().err
    monkeypatch.setenv("SECRET_KEYS", f"{KEY_B} {KEY_A}")
    assert main(["rekey", "--batch", "0"]) == 2
    assert "--batch" in capsys.readouterr().err
    assert main(["rekey"]) == 2  # an empty database: never migrated
    err = capsys.readouterr().err
    assert "python -m bot migrate" in err and "Traceback" not in err


def test_rekey_says_what_no_key_opens_and_when_to_drop_the_old_key(tmp_path: Path) -> None:
    report = RekeyReport(
        Tally(resealed=2, unreadable=1, changed=1),
        Tally(current=3),
        Tally(resealed=1, unreadable=1),
    )
    rotated_settings = make_settings("sqlite:///x.db", tmp_path, **rotated(KEY_B, KEY_A))
    lines = summary(report, rotated_settings)
    assert lines[0].startswith("3 re-sealed") and "1 staff TOTP secret(s)" in lines[0]
    assert "opens 1 TOTP secret(s)" in "\n".join(lines)
    text = "\n".join(lines)
    assert "run rekey again" in text and "no key in SECRET_KEYS opens 1 link(s)" in text
    assert "drop the older key(s)" in text and "SESSION_RETENTION_DAYS (30)" in text
    alone = summary(RekeyReport(Tally(), Tally()), make_settings("sqlite:///x.db", tmp_path))
    assert alone[0].startswith("0 re-sealed") and "nothing to drop" in alone[-1]
