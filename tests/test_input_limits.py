"""Input that cannot crash anything (#11): text normalisation and refusal, JSON depth and size
limits on every JSON route, same-site ``next``."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from bot.domain import StaffUser
from bot.emulator.server import BotApiEmulator
from bot.emulator.spec import BotApiSpec
from bot.runtime import Server
from bot.text_input import JSONRefused, clean_text, loads_json, normalise_text, refuse_reason
from bot.web.staff.openapi import openapi_document
from tests.conftest import emulator_on_own_port
from tests.helpers import Relative
from tests.staff_helpers import PASSWORD, StaffClient, check_response, new_request, signed_in
from tests.test_contact_flow import _send_request, _staff
from tests.test_staff_api import token_for
from tests.webhook_helpers import post_update, webhook_serving

TOKEN = "123456789:AAF-limits-test-token-abcdefghijklmnop"
SECRET = "input-limits-secret_0123456789"

# --- the text rules (base layer) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a\u200bb", "ab"),  # zero-width space
        ("\u202eevil", "evil"),  # bidi override
        ("\ufeffhej", "hej"),  # byte-order mark
        ("ｆｕｌｌ", "full"),  # NFKC: full-width letters
        ("a\r\nb\rc", "a\nb\nc"),  # browsers send CRLF
        ("a\u2028b", "a\nb"),
        ("👨\u200d👩", "👨\u200d👩"),  # a joiner between visible characters stays
        ("\u200dx\u200d", "x"),  # ... not at the edges
        ("می\u200cخواهم", "می\u200cخواهم"),  # Persian's non-joiner
        ("ok\t\n", "ok\t\n"),
    ],
)
def test_normalise_text(raw: str, expected: str) -> None:
    assert normalise_text(raw) == expected


@pytest.mark.parametrize(
    "invisible",
    ["\u200b", "\u200b\u200c\u200d", " \u3000\u00a0\u2028\u2029", "\ufe0f", "\u3164", "\u2060\t\n"],
)
def test_invisible_only_text_is_empty(invisible: str) -> None:
    assert normalise_text(invisible) == ""


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("x\ud800", "surrogate"),
        ("\udfffx", "surrogate"),
        ("a\x00b", "nul"),
        ("a\x07b", "control"),
        ("a\x1bb", "control"),
        ("a\x7fb", "control"),
        ("a\x85b", "control"),
        ("a\x0bb", "control"),
        ("fine\ttext\n", None),
        ("", None),
    ],
)
def test_refuse_reason(raw: str, reason: str | None) -> None:
    assert refuse_reason(raw) == reason
    assert clean_text(raw)[1] == reason  # normalising neither hides nor adds a refusal


@pytest.mark.parametrize(
    ("raw", "depth_ok"),
    [
        (b"[" * 50_000, False),
        (b"{" * 33, False),
        (b"[" * 32 + b"]" * 32, True),
        (b'["' + b"[" * 100 + b'"]', True),  # brackets inside a string do not count
        (b'["\\"' + b"[" * 100 + b'"]', True),  # nor after an escaped quote
    ],
)
def test_the_depth_is_checked_before_parsing(raw: bytes, depth_ok: bool) -> None:
    if depth_ok:
        loads_json(raw)
    else:
        with pytest.raises(JSONRefused, match="deeper than 32"):
            loads_json(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": "\\ud800"}',  # a lone surrogate
        b'{"\\u0000": 1}',  # NUL, in a key too
        b"NaN",
        b"[1e99999, Infinity]",
        b"1" * 5000,  # past Python's int digit limit
        b"\xff\xfe[]",  # not UTF-8
        b'["unterminated',
    ],
)
def test_bodies_that_cannot_be_stored_are_refused(raw: bytes) -> None:
    with pytest.raises(JSONRefused):
        loads_json(raw)


def test_the_webhook_leaves_texts_to_the_chat() -> None:
    assert loads_json(b'{"t": "\\u0000"}', check_strings=False) == {"t": "\x00"}


# --- the real product: every JSON route, the texts, ``next`` ------------------------------------

DEEP = b"[" * 50_000


def _documented() -> list[tuple[str, str, bool]]:
    """(method, path template, takes a JSON body) of every /api/v1 operation, the DELETEs
    (sign-outs: they end the token) last."""
    document = openapi_document()
    operations = [
        (method.upper(), path, "requestBody" in operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if path.startswith("/api/v1/") and method in ("get", "post", "delete", "put", "patch")
    ]
    return sorted(operations, key=lambda op: op[0] == "DELETE")


async def _raw(
    client: StaffClient, method: str, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, Any]:
    async with client.http.request(
        method,
        client.origin + path,
        data=body,
        headers={"Content-Type": "application/json", **headers},
    ) as response:
        data = await response.json() if response.content_type == "application/json" else None
        check_response(method, path, response.status, response.content_type, data)
        return response.status, data


async def test_deep_json_and_unstorable_strings_are_400_on_every_api_route(
    server: Server, client: StaffClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    case = await new_request(server)
    bearer = await token_for(client, "root")
    for method, template, takes_body in _documented():
        path = (  # a real case, account and team: the route reads the body, no 404 first
            template.replace("{code}", case.code)
            .replace("{username}", "bo")
            .replace("{team_id}", "laholm")
        )
        for headers in (bearer, {}):
            status, body = await _raw(client, method, path, DEEP, headers)
            if takes_body and (headers or template == "/api/v1/session"):
                assert status == 400, (method, path, status, body)
                assert body["error"] == "invalid", (method, path, body)
            else:  # a route that reads no body, or asks for sign-in first
                assert status < 500, (method, path, status, body)
    # Sign-in with a NUL or a lone surrogate: 400, not the database's error (PostgreSQL).
    for username in ("an\x00na", "an\ud800na"):
        status, body = await _raw(
            client,
            "POST",
            "/api/v1/session",
            json.dumps({"username": username, "password": PASSWORD}).encode(),
            {},
        )
        assert status == 400 and body["error"] == "bad_character", body
    # The page's sign-in with a NUL (a form cannot carry a surrogate) is a refusal too.
    await client.get("/staff/login")
    await client.post("/staff/login", {"username": "an\x00na", "password": PASSWORD})
    assert client.status in (400, 401), client.status
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "RecursionError" not in caplog.text


BAD_TEXTS = ("x\ud800y", "\udfff", "a\x00b", "bell\x07", "esc\x1b[31m", "del\x7f", "\x85next line")
INVISIBLE = ("\u200b", "\u200b\u200d\ufeff", " \u3000\u2028\u2060 ", "\u3164")


async def test_api_texts_that_cannot_be_stored_or_are_invisible_are_400_and_not_stored(
    server: Server, client: StaffClient
) -> None:
    case = await new_request(server)
    anna = await token_for(client, "anna")
    path = f"/api/v1/cases/{case.code}"
    status, _ = await client.api("POST", f"{path}/claim", headers=anna)
    assert status == 200
    _, before = await client.api("GET", path, headers=anna)
    for route in ("reply", "notes"):
        for text in BAD_TEXTS:
            # json.dumps writes a lone surrogate as its \\u escape: valid UTF-8 JSON bytes.
            body_bytes = json.dumps({"text": text}).encode()
            status, body = await _raw(client, "POST", f"{path}/{route}", body_bytes, anna)
            assert status == 400 and body["error"] == "bad_character", (route, text, body)
        for text in INVISIBLE:  # empty once normalised: refused as an empty text
            status, body = await client.api(
                "POST", f"{path}/{route}", headers=anna, json={"text": text}
            )
            assert status == 400 and body["error"] == "invalid", (route, text, body)
    _, after = await client.api("GET", path, headers=anna)
    assert after["messages"] == before["messages"] and after["notes"] == before["notes"] == []
    # A zero-width space goes, full-width letters become plain, CRLF becomes \n.
    text = "Ring\u200b ｔｉｌｌｂａｋａ\r\ni morgon"
    status, _ = await client.api("POST", f"{path}/notes", headers=anna, json={"text": text})
    assert status == 204
    _, detail = await client.api("GET", path, headers=anna)
    assert [n["body"] for n in detail["notes"]] == ["Ring tillbaka\ni morgon"]


async def test_pages_refuse_control_characters_and_show_the_text_again(server: Server) -> None:
    case = await new_request(server)
    async with signed_in(server, "anna") as anna:
        await anna.get(f"/staff/cases/{case.code}")
        await anna.post(f"/staff/cases/{case.code}/claim", {})
        await anna.post(f"/staff/cases/{case.code}/reply", {"text": "Hej\x00 då\x1b"})
        assert anna.status == 400
        assert "tecken som inte kan sparas" in anna.page or "cannot be stored" in anna.page
        assert "Hej\ufffd då\ufffd" in anna.page, "the text is kept, the bad characters marked"
        await anna.post(f"/staff/cases/{case.code}/note", {"text": "Anteckning\x07"})
        assert anna.status == 400 and "Anteckning\ufffd" in anna.page
        await anna.post(f"/staff/cases/{case.code}/reply", {"text": "\u200b\u200b"})
        assert anna.status == 400 and "Skriv ett svar innan du skickar." in anna.page
    async with signed_in(server, "root") as root:
        before = await root.get("/staff/canned")
        await root.post(
            "/staff/canned/add",
            {"team": "laholm", "language": "sv", "title": "Titel\x00", "body": "Text"},
        )
        assert root.status == 200 and "Titel" not in before
        assert "Titel" not in await root.get("/staff/canned")
    assert server.core is not None
    detail = await server.core.cases.detail(_admin(), case.code)
    assert [m for m in detail.messages if m.author == "staff"] == [] and detail.notes == []


UNSAFE_NEXT = (
    "/staff/cases/x\r\nSet-Cookie: evil=1",
    "/staff/\x00",
    "/staff/\x1b[2J",
    "//evil.example/staff/",
    "https://evil.example/staff/",
    "/staff/..\\evil",
    "javascript:alert(1)",
    "/staff/\u00e5",
)


async def test_next_outside_the_staff_pages_goes_to_the_queue_without_a_traceback(
    server: Server, client: StaffClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    for target in UNSAFE_NEXT:
        page = await client.get(f"/staff/login?next={quote(target, safe='')}")
        assert client.status == 200 and 'name="next" value="/staff/queue"' in page, target
        async with client.http.post(
            client.origin + "/staff/login",
            data={"username": "anna", "password": PASSWORD, "next": target, "csrf": client.csrf},
            allow_redirects=False,
        ) as response:
            assert response.status == 303, target
            assert response.headers["Location"] == "/staff/queue", target
        # Signed in, the login page itself redirects: to the queue as well.
        async with client.http.get(
            client.origin + f"/staff/login?next={quote(target, safe='')}", allow_redirects=False
        ) as response:
            assert response.status == 303 and response.headers["Location"] == "/staff/queue"
        client.http.cookie_jar.clear()
    await client.get("/staff/login?next=/staff/audit")  # a staff page: kept
    async with client.http.post(
        client.origin + "/staff/login",
        data={
            "username": "anna",
            "password": PASSWORD,
            "next": "/staff/audit",
            "csrf": client.csrf,
        },
        allow_redirects=False,
    ) as response:
        assert response.headers["Location"] == "/staff/audit"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "Traceback" not in caplog.text


@pytest.fixture
async def telegram(spec: BotApiSpec) -> AsyncIterator[BotApiEmulator]:
    async with emulator_on_own_port(spec, TOKEN) as emu:
        yield emu
    assert emu.problems == [], emu.problems


async def test_the_webhook_acknowledges_deep_json_and_goes_on(
    database_url: str, tmp_path: Path, telegram: BotApiEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with (
        webhook_serving(database_url, tmp_path, telegram, SECRET) as server,
        aiohttp.ClientSession() as session,
    ):
        for body in (DEEP, b'{"update_id": 5, "message": ' + b"[" * 5000 + b"}"):
            status, answer = await post_update(session, server, SECRET, data=body)
            # Permanent: acknowledged (200), or Telegram would redeliver it forever.
            assert status == 200
            assert answer["ignored"] == "not an update"
        relative = Relative(telegram)
        reply = await relative.says("/start")
        assert reply["text"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def _admin() -> StaffUser:
    return StaffUser(id=0, username="test", role="admin", teams=frozenset())


async def test_the_relatives_text_is_normalised_and_stray_control_characters_dropped(
    preview_server: Server,
) -> None:
    assert preview_server.emulator is not None and preview_server.core is not None
    relative = Relative(preview_server.emulator)
    await relative.onboard("sv", "laholm")
    code = await _send_request(relative, "Min bror\u200b\x00 är ｏｒｏｌｉｇ.")
    sent = await relative.says("En sak\x07 till\x1b[0m: han sover dåligt.")
    assert "Skickat till teamet" in sent["text"]
    staff = await _staff(preview_server)
    detail = await preview_server.core.cases.detail(staff, code)
    bodies = [m.body for m in detail.messages if m.author == "relative"]
    assert bodies == ["Min bror är orolig.", "En sak till[0m: han sover dåligt."], bodies
