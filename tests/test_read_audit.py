"""Reads are audited (case opened, call-back number shown, statistics exported, audit log
read), and another team's case code gets exactly the answer of one that does not exist.

The real product in preview mode on SQLite and PostgreSQL (``server`` and ``client``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from bot.domain import RequestDraft
from bot.runtime import Server
from bot.services.signin import LOOKUP
from tests.staff_helpers import PASSWORD, StaffClient, new_request, signed_in, text_of

PHONE = "070-123 45 67"
TEXT = "My brother has new friends and talks about violence."


async def audit_rows(server: Server) -> list[dict[str, Any]]:
    assert server.core is not None
    async with server.core.database.read_tx() as conn:
        result = await conn.execute(text("SELECT * FROM audit_event ORDER BY id"))
        return [dict(row) for row in result.mappings()]


async def token_for(client: StaffClient, username: str) -> dict[str, str]:
    status, body = await client.api(
        "POST", "/api/v1/session", json={"username": username, "password": PASSWORD}
    )
    assert status == 200, body
    return {"Authorization": f"Bearer {body['token']}"}


async def test_opening_a_case_and_its_number_is_audited_on_both_doors(
    server: Server, client: StaffClient
) -> None:
    assert server.core is not None and server.emulator is not None
    chat = server.emulator.new_private_chat(language_code="sv")
    draft = RequestDraft(
        team_id="laholm",
        language="sv",
        concerns="young_adult",
        topic="worry",
        urgency="soon",
        reply_via="phone",
        phone=PHONE,
        text=TEXT,
    )
    case = await server.core.cases.create_request(draft, chat)
    async with signed_in(server, "anna") as anna:
        page = await anna.get(f"/staff/cases/{case.code}")
        assert anna.status == 200 and "070" in page
        await anna.get(f"/staff/cases/{case.code}/live")  # a refresh is not an opening
    bo = await token_for(client, "bo")
    status, detail = await client.api("GET", f"/api/v1/cases/{case.code}", headers=bo)
    assert status == 200 and detail["phone"]
    reads = [
        (r["staff"], r["action"], r["case_code"])
        for r in await audit_rows(server)
        if r["action"] in ("case_open", "phone_view")
    ]
    assert reads == [
        ("anna", "case_open", case.code),
        ("anna", "phone_view", case.code),
        ("bo", "case_open", case.code),
        ("bo", "phone_view", case.code),
    ]
    dumped = repr(await audit_rows(server))
    assert "123 45" not in dumped and "brother" not in dumped and str(chat) not in dumped


async def test_exports_and_audit_reads_are_audited(server: Server, client: StaffClient) -> None:
    async with signed_in(server, "root") as root:
        await root.get("/staff/stats.csv")
        assert root.status == 200
        await root.get("/staff/stats.json")
        assert root.status == 200
        page = await root.get("/staff/audit")
        assert root.status == 200
        # Every action reads in words on the page, never as its code.
        for words in ("Loggade in med lösenord", "Exporterade statistik (CSV)"):
            assert words in page
        assert "stats_export_csv" not in page and ">signin<" not in page
    headers = await token_for(client, "root")
    assert (await client.api("GET", "/api/v1/stats", headers=headers))[0] == 200
    assert (await client.api("GET", "/api/v1/audit", headers=headers))[0] == 200
    actions = [(r["staff"], r["action"]) for r in await audit_rows(server)]
    for action in (
        "stats_export_csv",
        "stats_export_json",
        "stats_export_api",
    ):
        assert ("root", action) in actions
    assert actions.count(("root", "audit_read")) == 2


async def test_another_teams_code_is_answered_like_an_unknown_one(
    server: Server, client: StaffClient
) -> None:
    botkyrka = await new_request(server, team="botkyrka")
    unknown = "ZZZ-ZZZ" if botkyrka.code != "ZZZ-ZZZ" else "YYY-YYY"
    async with signed_in(server, "anna", lang="en") as anna:
        await anna.get("/staff/queue")
        csrf = anna.csrf
        pages = []
        for code in (botkyrka.code, unknown):
            for suffix in ("", "/live"):
                body = await anna.get(f"/staff/cases/{code}{suffix}")
                pages.append((anna.status, body.replace(code, "<code>")))
            await anna.post(f"/staff/cases/{code}/claim", {"csrf": csrf})
            pages.append((anna.status, anna.page.replace(code, "<code>")))
        half = len(pages) // 2
        assert pages[:half] == pages[half:] and {s for s, _ in pages} == {404}
    headers = await token_for(client, "anna")
    answers = []
    for code in (botkyrka.code, unknown):
        for method, suffix in [("GET", ""), ("POST", "/claim"), ("GET", "/canned-replies")]:
            answers.append(
                await client.api(method, f"/api/v1/cases/{code}{suffix}", headers=headers)
            )
    assert answers[:3] == answers[3:] and {status for status, _ in answers} == {404}
    assert all(body["error"] == "not_found" for _, body in answers)


async def test_case_code_misses_are_braked_per_account(server: Server, client: StaffClient) -> None:
    laholm = await new_request(server, team="laholm")
    anna = await token_for(client, "anna")
    for n in range(LOOKUP.free):
        status, _ = await client.api("GET", f"/api/v1/cases/ZZZ-{n:03d}", headers=anna)
        assert status == 404
    status, body = await client.api("GET", f"/api/v1/cases/{laholm.code}", headers=anna)
    assert status == 429 and body["error"] == "too_many_lookups" and body["retry_after"] > 0
    # Another account is not braked by anna's misses.
    bo = await token_for(client, "bo")
    assert (await client.api("GET", f"/api/v1/cases/{laholm.code}", headers=bo))[0] == 200
    async with signed_in(server, "anna") as page:
        await page.get(f"/staff/cases/{laholm.code}")
        assert page.status == 429 and "För många ärendekoder" in text_of(page.page)
