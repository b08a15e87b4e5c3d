"""One refusal table: the pages and the JSON API give a service's refusal the same status."""

from __future__ import annotations

from bot.domain import MAX_STAFF_TEXT
from bot.runtime import Server
from bot.web.staff.refusals import REFUSALS, refusal
from tests.staff_helpers import PASSWORD, StaffClient, new_request, signed_in, text_of


def test_bad_input_is_400_unknown_or_another_team_404_and_state_409() -> None:
    assert {r for r, v in REFUSALS.items() if v.status == 400} == {
        "invalid",
        "too_long",
        "unknown_team",
        "bad_character",
    }
    # another team's case is the same 404, in the same words, as one that is not there
    assert refusal("forbidden") == refusal("not_found") and refusal("not_found").status == 404
    assert refusal("too_many_lookups").status == 429
    for reason in ("not_open", "not_claimed_by_you", "already_claimed", "closed", "not_closed"):
        assert refusal(reason).status == 409
    assert refusal("a_reason_added_later").status == 409  # never a KeyError


async def test_page_and_api_answer_a_refusal_with_the_same_status(
    server: Server, client: StaffClient
) -> None:
    case = await new_request(server)
    status, body = await client.api(
        "POST", "/api/v1/session", json={"username": "anna", "password": PASSWORD}
    )
    assert status == 200
    api = {"Authorization": f"Bearer {body['token']}"}
    path = f"/api/v1/cases/{case.code}/reply"
    async with signed_in(server, "anna", lang="en") as anna:
        await anna.get(f"/staff/cases/{case.code}")
        # Not claimed yet: the state does not allow a reply (409 on both doors).
        await anna.post(f"/staff/cases/{case.code}/reply", {"text": "Hello"})
        status, body = await client.api("POST", path, headers=api, json={"text": "Hello"})
        assert anna.status == status == 409 and body["error"] == "not_claimed_by_you"
        assert "Claim the request before you do this." in text_of(anna.page)
        # Too long is bad input (400 on both doors), and the page keeps what was typed.
        await anna.post(f"/staff/cases/{case.code}/claim", {})
        long_text = "x" * (MAX_STAFF_TEXT + 1)
        await anna.post(f"/staff/cases/{case.code}/reply", {"text": long_text})
        status, body = await client.api("POST", path, headers=api, json={"text": long_text})
        assert anna.status == status == 400 and body["error"] == "too_long"
        assert long_text in anna.page


async def test_an_unknown_path_is_a_404_in_each_door_s_own_form(
    server: Server, client: StaffClient
) -> None:
    async with client.http.get(f"{client.origin}/staff/nowhere") as page:
        assert page.status == 404 and "Sidan finns inte." in text_of(await page.text())
    async with client.http.get(f"{client.origin}/api/v1/nowhere") as api:
        assert api.status == 404 and (await api.json())["error"] == "http"
    async with client.http.get(f"{client.origin}/staff/static/staff.css") as static:
        assert static.status == 200 and "staff_session" not in static.cookies
