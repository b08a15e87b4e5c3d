"""Logs: LOG_FORMAT=json and text, exceptions as type and frames only, and nothing private.

The privacy test runs the product in webhook mode (the emulator plays Telegram and posts
to our route) with every logger at DEBUG, through the same formatter a deployment uses:
a relative's whole contact request, a staff reply, and forced failures whose exceptions
carry the texts (a statement's parameters) — and no line may hold an identifier or a text.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Literal

import aiohttp
import pytest

from bot.domain import CODE_ALPHABET
from bot.emulator.server import BotApiEmulator
from bot.emulator.spec import BotApiSpec
from bot.log_policy import JsonFormatter, TextFormatter, exception_chain, formatter
from bot.runtime import Server
from tests.conftest import REPO, TEST_SECRET, emulator_on_own_port
from tests.helpers import Relative
from tests.staff_helpers import PASSWORD, StaffClient, create_accounts
from tests.webhook_helpers import post_update, webhook_serving

TOKEN = "123456789:AAF-logging-test-token-abcdefghijklmn"
WEBHOOK_SECRET = "webhook-secret_logging_0123456789"
NAME = "Eudoxia"
USERNAME = "eudox_logs_31"
REQUEST_TEXT = "Min son Theobald umgås med en grupp på Lindgatan 7, ring 0701112233"
SAID_IN_CASE = "Theobald kom inte hem i natt"
STAFF_TEXT = "Hej, vi ringer dig i morgon om Theobald"
STAFF_TEXT_FAILING = "Vi har pratat med skolan om Theobalds klass 9B"
CODE_RE = re.compile(rf"[{CODE_ALPHABET}]{{3}}-[{CODE_ALPHABET}]{{3}}")
FRAME_RE = re.compile(r"^\S+:\d+ in \S+$")
SECRET_MESSAGE = "parameter 'Kvarngatan 12, 0701234567'"


def _raise_chained() -> None:
    try:
        {}["x"]
    except KeyError as exc:
        raise RuntimeError(SECRET_MESSAGE) from exc


def _record() -> logging.LogRecord:
    try:
        _raise_chained()
    except RuntimeError:
        return logging.LogRecord(
            "bot.test", logging.ERROR, __file__, 1, "job failed: %s", ("RuntimeError",),
            sys.exc_info(),
        )  # fmt: skip
    raise AssertionError("unreachable")


def test_text_shows_type_and_frames_of_the_exception_and_its_cause_never_the_message() -> None:
    record = _record()
    logging.Formatter().format(record)  # another handler formatted it first: exc_text is set
    assert record.exc_text and SECRET_MESSAGE in record.exc_text
    out = TextFormatter().format(record)
    lines = out.splitlines()
    assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ERROR bot.test: job failed: Runt", out)
    assert lines[1] == "  exception RuntimeError"
    assert any(line.startswith("    at tests/test_logging.py:") for line in lines)
    assert "  caused by KeyError" in lines
    assert "in _raise_chained" in out
    assert SECRET_MESSAGE not in out and "Kvarngatan" not in out and "'x'" not in out


def test_json_is_one_object_per_line_in_utc_with_the_exception_chain() -> None:
    out = JsonFormatter().format(_record())
    assert "\n" not in out
    entry = json.loads(out)
    assert set(entry) == {"ts", "level", "logger", "message", "exception"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["ts"])
    assert (entry["level"], entry["logger"]) == ("ERROR", "bot.test")
    assert entry["message"] == "job failed: RuntimeError"
    assert [link["type"] for link in entry["exception"]] == ["RuntimeError", "KeyError"]
    for link in entry["exception"]:
        assert link["frames"] and all(FRAME_RE.match(frame) for frame in link["frames"])
    assert "Kvarngatan" not in out


def test_a_deep_traceback_keeps_the_innermost_frames() -> None:
    def down(n: int) -> None:
        if n == 0:
            raise ValueError("secret")
        down(n - 1)

    with pytest.raises(ValueError) as caught:
        down(200)
    frames = exception_chain(caught.value)[0]["frames"]
    assert len(frames) == 61 and frames[0].startswith("(")
    assert frames[-1].endswith("in down")


def test_asyncio_keeps_only_its_first_line() -> None:
    """asyncio's "never retrieved" message holds the task's repr, and with it str(exc)."""
    record = logging.LogRecord(
        "asyncio", logging.ERROR, __file__, 1,
        "Task exception was never retrieved\nfuture: <Task exception=ValueError('Theobald')>",
        (), None,
    )  # fmt: skip
    for fmt in (TextFormatter(), JsonFormatter()):
        out = fmt.format(record)
        assert "Task exception was never retrieved" in out and "Theobald" not in out


def test_log_format_json_from_the_command_line(tmp_path: Path) -> None:
    """`python -m bot` sets up the root handler from LOG_FORMAT and LOG_LEVEL: JSON lines."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "DATA_DIR": str(tmp_path / "data"),
        "SECRET_KEY": TEST_SECRET,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "DEBUG",
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot", "purge"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines, "purge logs what it removed"
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert any(e["message"] == "purged 0 idle conversation(s)" for e in entries), entries


# -- the whole product, every line checked -------------------------------------------------


class _Capture(logging.Handler):
    """Formats every record like the deployment's handler, and keeps the records too."""

    def __init__(self, log_format: Literal["text", "json"]) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(formatter(log_format))
        self.stream = io.StringIO()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.stream.write(self.format(record) + "\n")


@pytest.fixture(params=["text", "json"])
def captured(request: pytest.FixtureRequest) -> Iterator[_Capture]:
    """LOG_LEVEL=DEBUG on the root logger, the chosen LOG_FORMAT; the product's own levels."""
    handler = _Capture(request.param)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.fixture
async def telegram(spec: BotApiSpec) -> AsyncIterator[BotApiEmulator]:
    async with emulator_on_own_port(spec, TOKEN) as emulator:
        yield emulator


@pytest.fixture
async def webhook_server(
    database_url: str, tmp_path: Path, telegram: BotApiEmulator
) -> AsyncIterator[Server]:
    """A fresh server per test: the test counts its updates and creates the accounts."""
    async with webhook_serving(
        database_url, tmp_path, telegram, WEBHOOK_SECRET, LOG_LEVEL="DEBUG"
    ) as server:
        yield server


async def _rename(server: Server, table: str, to: str) -> None:
    assert server.core is not None
    async with server.core.database.write_tx() as conn:
        await conn.exec_driver_sql(f"ALTER TABLE {table} RENAME TO {to}")


async def test_no_line_of_any_logger_holds_an_identifier_a_text_or_a_secret(
    captured: _Capture, webhook_server: Server, telegram: BotApiEmulator
) -> None:
    server = webhook_server
    relative = Relative(telegram)
    relative.chat_id = telegram.new_private_chat(
        language_code="sv", first_name=NAME, username=USERNAME
    )
    await relative.answers_the_request_questions("child", "online")
    await relative.says(REQUEST_TEXT)
    done = await relative.taps("k:ok")
    found = CODE_RE.search(done["text"])
    assert found, done["text"]
    code = found.group()
    await relative.says(SAID_IN_CASE)

    await create_accounts(server)
    staff = StaffClient(server)
    try:
        status, body = await staff.api(
            "POST", "/api/v1/session", json={"username": "anna", "password": PASSWORD}
        )
        assert status == 200, body
        anna = {"Authorization": f"Bearer {body['token']}"}
        path = f"/api/v1/cases/{code}"
        assert (await staff.api("POST", f"{path}/claim", headers=anna))[0] == 200
        status, _ = await staff.api(
            "POST", f"{path}/reply", headers=anna, json={"text": STAFF_TEXT}
        )
        assert status == 201
        await telegram.wait_idle(relative.chat_id)

        # A database error whose message holds the reply's text (the statement's parameters).
        await _rename(server, "case_message", "case_message_away")
        try:
            async with staff.http.post(  # not staff.api: a 500 is in no documented answer
                server.origin + f"{path}/reply", headers=anna, json={"text": STAFF_TEXT_FAILING}
            ) as response:
                assert response.status == 500
        finally:
            await _rename(server, "case_message_away", "case_message")
    finally:
        await staff.close()

    # The webhook fails: the handler's table is gone while the relative writes.
    await _rename(server, "chat_session", "chat_session_away")
    try:
        await relative.says(REQUEST_TEXT)
    finally:
        await _rename(server, "chat_session_away", "chat_session")
    async with aiohttp.ClientSession() as session:  # and a body that is no update
        status, _ = await post_update(
            session, server, WEBHOOK_SECRET, data=f'{{"message": "{REQUEST_TEXT}"}}'
        )
        assert status == 200  # acknowledged: permanently unprocessable
    await relative.says("/start")  # recovered
    registry = server.telemetry.registry  # the webhook's updates are counted like polled ones
    handled = "helpline_updates_handled_total"
    assert registry.get_sample_value(handled, {"kind": "message", "outcome": "error"}) == 1
    assert registry.get_sample_value(handled, {"kind": "callback_query", "outcome": "ok"}) == 10

    # The failures were real and their exceptions did carry the text...
    errors = [r for r in captured.records if r.exc_info and r.exc_info[1] is not None]
    assert {r.getMessage().split(":")[0] for r in errors} >= {"staff API failed", "update failed"}
    messages = "\n".join(str(r.exc_info[1]) for r in errors if r.exc_info)
    assert STAFF_TEXT_FAILING in messages, "the forced error should carry the text"
    # ...and no line says it, nor anything else private.
    logged = captured.stream.getvalue()
    lines = logged.splitlines()
    assert len(lines) > 20, logged
    forbidden = (
        str(relative.chat_id), NAME, USERNAME, REQUEST_TEXT, SAID_IN_CASE, STAFF_TEXT,
        STAFF_TEXT_FAILING, "Theobald", "Lindgatan", "0701112233", code, code.replace("-", ""),
        TOKEN, TOKEN.split(":")[1], TEST_SECRET, WEBHOOK_SECRET,
    )  # fmt: skip
    for line in lines:
        for word in forbidden:
            assert word not in line, (word, line)
    if captured.formatter.__class__ is JsonFormatter:
        entries = [json.loads(line) for line in lines]
        assert all({"ts", "level", "logger", "message"} <= set(e) for e in entries)
        framed = [e for e in entries if "exception" in e]
        assert framed and all(
            FRAME_RE.match(frame) for e in framed for link in e["exception"]
            for frame in link["frames"] if not frame.startswith("(")
        )  # fmt: skip
    else:
        assert any(line.startswith("  exception sqlalchemy.exc.") for line in lines), logged
        assert any(re.match(r"^    at bot/\S+\.py:\d+ in ", line) for line in lines), logged
