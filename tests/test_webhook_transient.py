"""At least once, for real: a transient failure answers the webhook 503, so Telegram redelivers.

The outage is real (tests/test_health.py's ``database_gone``: the SQLite file moved away, or
PostgreSQL refusing connections with its backends terminated; a full tmpfs for the disk).
The emulator plays Telegram: it posts the update, gets 503 and gives up after its retries
(reported as a webhook delivery problem); after the recovery the same update (same
update_id) is delivered again, as Telegram would, and the relative gets exactly one answer
and the team exactly one message. A third delivery of it gets nothing (the dedup).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot.emulator.server import BotApiEmulator
from bot.emulator.spec import BotApiSpec
from bot.runtime import Server
from bot.storage.faults import ChatWrittenMeanwhile, is_transient
from tests.conftest import emulator_on_own_port
from tests.helpers import Relative
from tests.test_health import database_gone
from tests.webhook_helpers import webhook_serving

TOKEN = "123456789:AAF-transient-test-token-abcdefghijk"
SECRET = "transient-secret_0123456789"
SENT = "Skickat till teamet"  # "✓ Sent to the team." in Swedish


@pytest.fixture
async def telegram(spec: BotApiSpec) -> AsyncIterator[BotApiEmulator]:
    async with emulator_on_own_port(spec, TOKEN) as emulator:
        yield emulator
    # Only the deliveries refused during the outage, nothing else.
    unexpected = [p for p in emulator.problems if "webhook delivery" not in p]
    assert unexpected == [], unexpected


@pytest.fixture
async def webhook_server(
    database_url: str, tmp_path: Path, telegram: BotApiEmulator
) -> AsyncIterator[Server]:
    """A fresh server: the test takes its database away."""
    async with webhook_serving(database_url, tmp_path, telegram, SECRET) as server:
        yield server


async def _open_case(relative: Relative) -> None:
    await relative.answers_the_request_questions("child", "worry")
    await relative.taps("k:skip")
    await relative.taps("k:ok")


async def _stored(server: Server, body: str) -> int:
    assert server.core is not None
    async with server.core.database.read_tx() as conn:
        found = await conn.execute(
            text("SELECT count(*) FROM case_message WHERE author = 'relative' AND body = :b"),
            {"b": body},
        )
        return int(found.scalar_one())


async def _outage_then_redelivery(
    server: Server,
    telegram: BotApiEmulator,
    relative: Relative,
    outage: contextlib.AbstractAsyncContextManager[Any],
) -> None:
    body = "Ett meddelande under avbrottet"
    before = len(relative.bot_messages())
    async with outage:
        update = await telegram.user_sends_text(relative.chat_id, body)
        await telegram.wait_idle(relative.chat_id)  # the emulator's retries, all refused
        refused = [p for p in telegram.problems if f"update {update['update_id']} " in p]
        assert refused and "503" in refused[-1], telegram.problems
        assert len(relative.bot_messages()) == before  # nothing said while it failed
    assert await _stored(server, body) == 0

    await telegram.deliver(update)  # Telegram's redelivery, same update_id
    await telegram.wait_idle(relative.chat_id)
    answers = relative.bot_messages()[before:]
    assert len(answers) == 1 and SENT in answers[0]["text"], answers
    assert await _stored(server, body) == 1

    await telegram.deliver(update)  # once more: already handled, nothing new
    await telegram.wait_idle(relative.chat_id)
    assert len(relative.bot_messages()) == before + 1
    assert await _stored(server, body) == 1


async def test_database_outage_answers_503_and_the_redelivery_is_answered_once(
    webhook_server: Server, telegram: BotApiEmulator, database_url: str
) -> None:
    relative = Relative(telegram, language_code="sv")
    await _open_case(relative)
    outage = database_gone(webhook_server, database_url)
    await _outage_then_redelivery(webhook_server, telegram, relative, outage)


@contextlib.asynccontextmanager
async def _disk_full(directory: Path) -> AsyncIterator[None]:
    """Fill the filesystem holding ``directory`` to the last byte; free it on the way out."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 1):  # down to the last byte
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    try:
        yield
    finally:
        filler.unlink()


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Any:
    mount = tmp_path / "tiny"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4M", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode(errors='replace')[:200]}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


async def test_a_full_disk_answers_503_and_the_redelivery_is_answered_once(
    tiny_disk: Path, tmp_path: Path, telegram: BotApiEmulator
) -> None:
    database_url = f"sqlite:///{tiny_disk / 'bot.db'}"
    async with webhook_serving(database_url, tmp_path, telegram, SECRET) as server:
        relative = Relative(telegram, language_code="sv")
        await _open_case(relative)
        assert server.core is not None
        await server.core.jobs.wait_recorded("purge")  # its writes are over before the fill
        await _outage_then_redelivery(server, telegram, relative, _disk_full(tiny_disk))


def test_transient_is_decided_by_the_exception_types() -> None:
    import errno
    import sqlite3

    import asyncpg
    from sqlalchemy.exc import OperationalError, ProgrammingError

    locked = sqlite3.OperationalError("database is locked")
    locked.sqlite_errorcode = 5  # type: ignore[attr-defined]
    missing = sqlite3.OperationalError("no such table: case_message")
    missing.sqlite_errorcode = 1  # type: ignore[attr-defined]
    assert is_transient(OperationalError("x", {}, locked))
    assert not is_transient(OperationalError("x", {}, missing))
    assert is_transient(OSError(errno.ENOSPC, "No space left on device"))
    assert not is_transient(OSError(errno.ENOENT, "missing"))
    assert is_transient(asyncpg.exceptions.CannotConnectNowError("starting up"))
    assert is_transient(asyncpg.exceptions.LockNotAvailableError("lock timeout"))
    assert is_transient(asyncpg.exceptions.DiskFullError("disk full"))
    # asyncpg's client side of a connection an outage cut mid-query (seen in CI).
    assert is_transient(
        asyncpg.exceptions.InternalClientError(
            "cannot switch to state 12; another operation (2) is in progress"
        )
    )
    assert is_transient(asyncpg.exceptions.InterfaceError("connection is closed"))
    assert not is_transient(asyncpg.exceptions.UndefinedTableError("no table"))
    assert not is_transient(ProgrammingError("x", {}, ValueError("bad")))
    assert is_transient(ChatWrittenMeanwhile())
    assert is_transient(TimeoutError())
    assert not is_transient(ValueError("a bug"))
    try:  # a cause further down the chain counts
        try:
            raise ConnectionRefusedError(errno.ECONNREFUSED, "refused")
        except ConnectionRefusedError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert is_transient(outer)


async def test_the_error_reply_is_in_the_relatives_language_else_swedish_and_english(
    preview_server: Server,
) -> None:
    """A permanent failure (the chat's table gone) is answered, in polling mode too: in the
    language Telegram gives when the guide offers it, else in Swedish and English."""
    assert preview_server.emulator is not None and preview_server.core is not None
    emulator = preview_server.emulator
    turkish = Relative(emulator, language_code="tr")
    german = Relative(emulator, language_code="de")
    async with preview_server.core.database.write_tx() as conn:
        await conn.exec_driver_sql("ALTER TABLE chat_session RENAME TO chat_session_away")
    try:
        said_tr = await turkish.says("/start")
        said_de = await german.says("/start")
    finally:
        async with preview_server.core.database.write_tx() as conn:
            await conn.exec_driver_sql("ALTER TABLE chat_session_away RENAME TO chat_session")
    assert "Bizim tarafımızda bir sorun oluştu" in said_tr["text"], said_tr["text"]
    assert "Något gick fel" not in said_tr["text"]
    assert "Något gick fel hos oss" in said_de["text"]
    assert "Something went wrong on our side" in said_de["text"]
