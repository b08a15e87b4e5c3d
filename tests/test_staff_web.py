"""The staff pages over HTTP against the real product (preview mode), SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from bot.domain import MAX_STAFF_TEXT
from bot.runtime import Server
from tests.helpers import bot_messages
from tests.staff_helpers import StaffClient, check_response, new_request, signed_in, text_of
from tests.test_health import database_gone


async def test_sign_in_shows_the_queue_and_sign_out_ends_the_session(
    server: Server, client: StaffClient
) -> None:
    await client.get("/staff/queue")
    assert client.url.endswith("/staff/login?next=/staff/queue")
    await client.sign_in("anna")
    assert client.status == 200 and client.url.endswith("/staff/queue")
    assert "Kö" in text_of(client.page) and "anna" in client.page
    await client.post("/staff/logout", {})
    assert client.url.endswith("/staff/login") and "Du har loggat ut." in client.page
    await client.get("/staff/queue")
    assert "/staff/login" in client.url


async def test_wrong_password_is_refused_clearly(server: Server, client: StaffClient) -> None:
    await client.sign_in("anna", "not the password at all")
    assert client.status == 401
    assert "Användarnamnet eller lösenordet stämmer inte." in client.page
    await client.sign_in("nobody-here", "whatever password")
    assert client.status == 401
    await client.get("/staff/queue")
    assert "/staff/login" in client.url


async def test_sign_in_is_throttled_after_five_failures(
    server: Server, client: StaffClient
) -> None:
    for _ in range(5):
        await client.sign_in("anna", "wrong password, again")
        assert client.status == 401
    # Now even the right password waits, and the page says how long.
    await client.sign_in("anna")
    assert client.status == 429
    assert "För många misslyckade försök. Vänta 1 minut och försök igen." in client.page
    # Another account from the same address is not held back by anna's brake (the
    # address's own brake, over all usernames, comes later: tests/test_signin_throttle.py).
    await client.sign_in("bo")
    assert client.status == 200


async def test_forms_without_the_csrf_token_change_nothing(
    server: Server, client: StaffClient
) -> None:
    case = await new_request(server)
    await client.sign_in("anna")
    await client.post(f"/staff/cases/{case.code}/claim", {}, csrf=False)
    assert client.status == 403 and "Formuläret är inaktuellt" in client.page
    await client.post(f"/staff/cases/{case.code}/claim", {"csrf": "forged"}, csrf=False)
    assert client.status == 403
    page = await client.get(f"/staff/cases/{case.code}")
    assert 'data-testid="claim"' in page, "the case must still be unclaimed"
    # Signing in needs the token as well (no login CSRF).
    other = StaffClient(server)
    try:
        await other.post("/staff/login", {"username": "anna", "password": "x"}, csrf=False)
        assert other.status == 403
    finally:
        await other.close()


async def test_staff_do_not_see_another_teams_request(server: Server) -> None:
    botkyrka = await new_request(server, team="botkyrka")
    laholm = await new_request(server, team="laholm")
    async with signed_in(server, "anna") as anna:
        queue = await anna.get("/staff/queue")
        assert laholm.code in queue and botkyrka.code not in queue
        await anna.get(f"/staff/cases/{botkyrka.code}")
        assert anna.status in (403, 404)
        assert "My brother" not in anna.page
        assert "Förfrågan tillhör ett team" in anna.page or "Det finns ingen" in anna.page
        await anna.get("/staff/cases/XXX-XXX")
        assert anna.status == 404
        await anna.get("/staff/cases/not-a-code")
        assert anna.status == 404
        await anna.get("/staff/audit")
        assert anna.status == 403
    async with signed_in(server, "root") as root:
        queue = await root.get("/staff/queue")
        assert laholm.code in queue and botkyrka.code in queue


async def test_claim_race_the_second_claimer_sees_who_has_it(server: Server) -> None:
    case = await new_request(server)
    async with signed_in(server, "anna") as anna, signed_in(server, "bo") as bo:
        await anna.get(f"/staff/cases/{case.code}")
        await bo.get(f"/staff/cases/{case.code}")
        path = f"/staff/cases/{case.code}/claim"
        await asyncio.gather(anna.post(path, {}), bo.post(path, {}))
        pages = {"anna": text_of(anna.page), "bo": text_of(bo.page)}
        winners = [n for n, p in pages.items() if "Du har tagit förfrågan." in p]
        assert len(winners) == 1, pages
        loser = "bo" if winners == ["anna"] else "anna"
        assert f"{winners[0]} har redan tagit den här förfrågan." in pages[loser]
        assert f"Tagen av {winners[0]}" in pages[loser]


async def test_reply_note_close_and_reopen_through_the_pages(server: Server) -> None:
    assert server.emulator is not None
    chat_id = server.emulator.new_private_chat(language_code="sv")
    case = await new_request(server, chat_id=chat_id)
    before = len(bot_messages(server.emulator, chat_id))
    async with signed_in(server, "anna") as anna:
        await anna.get(f"/staff/cases/{case.code}")
        await anna.post(f"/staff/cases/{case.code}/claim", {})
        assert 'data-testid="reply-form"' in anna.page
        await anna.post(
            f"/staff/cases/{case.code}/reply",
            {"text": "Hej! Tack för att du hör av dig. Vi finns här.", "sign": "1"},
        )
        assert anna.url.endswith(f"/staff/cases/{case.code}"), anna.url
        assert "Ditt svar skickades." in anna.page, text_of(anna.page)
        assert "undertecknat Anna" in text_of(anna.page) and "Levererat" in anna.page
        await server.emulator.wait_idle(chat_id)
        delivered = bot_messages(server.emulator, chat_id)[before:]
        assert any("Vi finns här." in m["text"] for m in delivered), delivered

        await anna.post(f"/staff/cases/{case.code}/note", {"text": "Ring tillbaka i morgon."})
        assert "Anteckningen sparades." in anna.page and "Ring tillbaka i morgon." in anna.page

        await anna.post(f"/staff/cases/{case.code}/close", {"outcome": ""})
        assert "Välj ett utfall innan du avslutar." in anna.page
        await anna.post(f"/staff/cases/{case.code}/close", {"outcome": "advice"})
        assert "Förfrågan avslutades." in anna.page and "Råd givna" in anna.page
        assert case.code not in await anna.get("/staff/queue")

        await anna.get(f"/staff/cases/{case.code}")
        await anna.post(f"/staff/cases/{case.code}/reopen", {})
        assert "Förfrågan öppnades igen." in anna.page
        assert case.code in await anna.get("/staff/queue")


async def test_bad_input_gets_a_clear_answer_and_keeps_the_text(server: Server) -> None:
    case = await new_request(server)
    async with signed_in(server, "anna") as anna:
        await anna.get(f"/staff/cases/{case.code}")
        await anna.post(f"/staff/cases/{case.code}/claim", {})
        long_text = "a" * (MAX_STAFF_TEXT + 1)
        await anna.post(f"/staff/cases/{case.code}/reply", {"text": long_text})
        assert anna.status == 400
        assert f"högst {MAX_STAFF_TEXT} tecken" in anna.page
        assert long_text in anna.page, "the typed text must be kept"
        await anna.post(f"/staff/cases/{case.code}/reply", {"text": "   "})
        assert anna.status == 400 and "Skriv ett svar innan du skickar." in anna.page
        await anna.post(f"/staff/cases/{case.code}/transfer", {"team": "atlantis"})
        assert "Det teamet finns inte." in anna.page
        await anna.post("/staff/cases/ZZZ-ZZZ/claim", {})
        assert anna.status == 404
        # Bo did not claim it: his reply is refused with a clear message, his text kept.
        async with signed_in(server, "bo") as bo:
            await bo.get(f"/staff/cases/{case.code}")
            await bo.post(f"/staff/cases/{case.code}/reply", {"text": "Hej från Bo"})
            assert bo.status == 409 and "Hej från Bo" in bo.page


async def test_the_queue_fragment_changes_only_when_the_queue_does(server: Server) -> None:
    async with signed_in(server, "anna") as anna:
        await anna.get("/staff/queue")
        version = anna.page.split('data-version="')[1].split('"')[0]
        async with anna.http.get(f"{anna.origin}/staff/queue/live?v={version}") as response:
            assert response.status == 204
        urgent = await new_request(server, urgency="urgent")
        async with anna.http.get(f"{anna.origin}/staff/queue/live?v={version}") as response:
            assert response.status == 200
            assert response.headers["X-Queue-Version"] != version
            fragment = await response.text()
        assert urgent.code in fragment and "Brådskande: akut fara" in fragment
        assert "1 brådskande" in text_of(fragment)


async def test_pages_follow_the_language_and_the_switch(server: Server) -> None:
    await new_request(server, urgency="urgent")
    async with signed_in(server, "anna", lang="en") as anna:
        page = text_of(await anna.get("/staff/queue"))
        assert (
            "Queue" in page and "1 request waiting" in page and "Urgent: immediate danger" in page
        )
        assert 'lang="en"' in anna.page
        await anna.post("/staff/language", {"lang": "sv", "next": "/staff/queue"})
        assert anna.url.endswith("/staff/queue") and 'lang="sv"' in anna.page
        assert "1 förfrågan väntar" in text_of(anna.page)


async def test_admin_reads_the_audit_log_without_content(server: Server) -> None:
    case = await new_request(server)
    async with signed_in(server, "anna") as anna:
        await anna.get(f"/staff/cases/{case.code}")
        await anna.post(f"/staff/cases/{case.code}/claim", {})
        await anna.post(f"/staff/cases/{case.code}/note", {"text": "Hemlig anteckning"})
    async with signed_in(server, "root") as root:
        page = await root.get("/staff/audit")
        assert root.status == 200
        assert case.code in page and "anna" in page and "Lade till en anteckning" in page
        assert "Hemlig anteckning" not in page


async def test_no_chat_id_or_relative_identity_in_any_page(server: Server) -> None:
    assert server.emulator is not None
    chat_id = server.emulator.new_private_chat(
        language_code="sv", first_name="Gunilla", username="gunilla_private"
    )
    case = await new_request(server, chat_id=chat_id)
    async with signed_in(server, "anna") as anna:
        pages = [await anna.get("/staff/queue"), await anna.get(f"/staff/cases/{case.code}")]
        await anna.post(f"/staff/cases/{case.code}/claim", {})
        pages.append(anna.page)
        pages.append(await anna.get(f"/staff/cases/{case.code}/live"))
        _, api_queue = await anna.api("GET", "/api/v1/queue")
        _, api_case = await anna.api("GET", f"/api/v1/cases/{case.code}")
        everything = "\n".join([*pages, str(api_queue), str(api_case)])
        for secret in (str(chat_id), "Gunilla", "gunilla_private"):
            assert secret not in everything


async def test_session_cookie_is_httponly_and_strict(server: Server, client: StaffClient) -> None:
    async with client.http.get(f"{client.origin}/staff/login") as response:
        cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # the preview runs over plain http on loopback


async def test_a_reply_in_flight_and_one_of_unknown_delivery_say_so(server: Server) -> None:
    """'sending' (relay under way) and the sweeper's 'delivery unknown' are not 'not delivered'."""
    from sqlalchemy import text

    case = await new_request(server)
    async with signed_in(server, "anna") as anna:
        await anna.post(f"/staff/cases/{case.code}/claim", {})
        await anna.post(f"/staff/cases/{case.code}/reply", {"text": "Hej, vi hör av oss."})
        assert "Levererat" in anna.page
        for delivery, shown, testid in [
            ("sending", "Skickas …", "delivery-sending"),
            ("failed: delivery_unknown", "Okänt om det kom fram", "delivery-unknown"),
        ]:
            assert server.core is not None
            async with server.core.database.write_tx() as conn:
                await conn.execute(
                    text("UPDATE case_message SET delivery = :d WHERE author = 'staff'"),
                    {"d": delivery},
                )
            await anna.get(f"/staff/cases/{case.code}")
            assert shown in text_of(anna.page), text_of(anna.page)
            assert f'data-testid="{testid}"' in anna.page
            assert "Inte levererat" not in anna.page


async def test_pages_and_the_api_answer_503_while_the_database_is_away(
    server: Server, database_url: str
) -> None:
    """A failure that may pass is no 500: the page and the API say so and when to retry,
    and the same session goes on once the database is back."""
    async with signed_in(server, "anna") as client:
        status, _ = await client.api("GET", "/api/v1/me")
        assert status == 200
        async with database_gone(server, database_url):
            async with client.http.get(client.origin + "/staff/queue") as response:
                page = await response.text()
                assert response.status == 503, page
                assert response.headers["Retry-After"] == "30"
            assert "Tillfälligt otillgänglig" in text_of(page)
            async with client.http.get(client.origin + "/api/v1/queue") as response:
                assert response.status == 503
                assert response.headers["Retry-After"] == "30"
                body = await response.json()
            check_response("GET", "/api/v1/queue", 503, "application/json", body)
            assert body["error"] == "unavailable"
        await client.get("/staff/queue")
        assert client.status == 200 and "/staff/queue" in client.url
