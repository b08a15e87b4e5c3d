"""The JSON API and its OpenAPI document, against the real product, on SQLite and PostgreSQL."""

from __future__ import annotations

import re

from openapi_spec_validator import validate

from bot.runtime import Server
from bot.services.stats import StatsService
from bot.web.app import create_web_app
from bot.web.staff import StaffWeb
from bot.web.staff.openapi import openapi_document
from tests.staff_helpers import PASSWORD, StaffClient, new_request


async def token_for(client: StaffClient, username: str) -> dict[str, str]:
    status, body = await client.api(
        "POST", "/api/v1/session", json={"username": username, "password": PASSWORD}
    )
    assert status == 200, body
    assert body["token_type"] == "Bearer" and body["user"]["username"] == username
    return {"Authorization": f"Bearer {body['token']}"}


def test_the_openapi_document_is_valid_openapi_3_1() -> None:
    document = openapi_document()
    assert document["openapi"].startswith("3.1")
    validate(document)


async def test_every_api_route_is_documented_and_every_documented_route_exists(
    server: Server, client: StaffClient
) -> None:
    status, served = await client.api("GET", "/api/openapi.json")
    assert status == 200 and served == openapi_document()
    assert server.core is not None
    # The same door the runtime mounts, on an app of the test's own to read its routes.
    stats = StatsService(server.core.database, frozenset(server.core.content.teams))
    app = create_web_app(staff=StaffWeb.from_core(server.core, stats))
    routes = {
        (r.method.lower(), re.sub(r"\{(\w+)\}", r"{\1}", r.resource.canonical))
        for r in app.router.routes()
        if r.resource is not None
        and r.resource.canonical.startswith("/api/v1/")
        and r.method != "HEAD"
    }
    documented = {
        (method, path) for path, item in served["paths"].items() for method in item if method
    }
    assert routes == documented


async def test_sign_in_throttling_and_wrong_password(server: Server, client: StaffClient) -> None:
    for _ in range(5):
        status, body = await client.api(
            "POST", "/api/v1/session", json={"username": "anna", "password": "wrong password!"}
        )
        assert status == 401 and body["error"] == "unauthorized"
    status, body = await client.api(
        "POST", "/api/v1/session", json={"username": "anna", "password": PASSWORD}
    )
    assert status == 429 and body["retry_after"] > 0
    status, body = await client.api("POST", "/api/v1/session", json=["not", "an", "object"])
    assert status == 400


async def test_without_authentication_nothing_is_served(client: StaffClient) -> None:
    for method, path in [
        ("GET", "/api/v1/queue"),
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/cases/ACD-EFG"),
        ("GET", "/api/v1/audit"),
    ]:
        status, body = await client.api(method, path)
        assert status == 401, (path, body)
    status, _ = await client.api("GET", "/api/v1/queue", headers={"Authorization": "Bearer junk"})
    assert status == 401


async def test_the_whole_life_of_a_request_over_the_api(
    server: Server, client: StaffClient
) -> None:
    case = await new_request(server, urgency="urgent")
    anna = await token_for(client, "anna")
    status, queue = await client.api("GET", "/api/v1/queue", headers=anna)
    assert status == 200 and queue["urgent_waiting"] == 1
    assert [i["code"] for i in queue["items"]] == [case.code]
    path = f"/api/v1/cases/{case.code}"
    status, detail = await client.api("GET", path, headers=anna)
    assert status == 200 and detail["item"]["status"] == "open"
    status, canned = await client.api("GET", f"{path}/canned-replies", headers=anna)
    assert status == 200 and isinstance(canned["replies"], list)

    status, won = await client.api("POST", f"{path}/claim", headers=anna)
    assert status == 200 and won == {"won": True, "holder": "anna"}
    other = StaffClient(server)
    try:
        bo = await token_for(other, "bo")
        status, lost = await other.api("POST", f"{path}/claim", headers=bo)
        assert status == 409 and lost == {"won": False, "holder": "anna"}
        status, refused = await other.api("POST", f"{path}/reply", headers=bo, json={"text": "x"})
        assert status == 409 and refused["error"] == "not_claimed_by_you"
    finally:
        await other.close()

    status, sent = await client.api(
        "POST", f"{path}/reply", headers=anna, json={"text": "Hej, vi hörs.", "sign": True}
    )
    assert status == 201 and sent["author"] == "staff" and sent["signature"] == "Anna"
    status, body = await client.api("POST", f"{path}/reply", headers=anna, json={"text": ""})
    assert status == 400 and body["error"] == "invalid"
    status, body = await client.api(
        "POST", f"{path}/reply", headers=anna, json={"text": "x" * 9999}
    )
    assert status == 400 and body["error"] == "too_long"
    status, _ = await client.api("POST", f"{path}/notes", headers=anna, json={"text": "Anteckning"})
    assert status == 204
    status, body = await client.api("POST", f"{path}/close", headers=anna, json={"outcome": "x"})
    assert status == 400
    status, _ = await client.api("POST", f"{path}/close", headers=anna, json={"outcome": "advice"})
    assert status == 204
    status, detail = await client.api("GET", path, headers=anna)
    assert detail["item"]["status"] == "closed" and detail["outcome"] == "advice"
    assert [n["body"] for n in detail["notes"]] == ["Anteckning"]
    status, _ = await client.api("POST", f"{path}/reopen", headers=anna)
    assert status == 204
    status, body = await client.api(
        "POST", f"{path}/transfer", headers=anna, json={"team_id": "atlantis"}
    )
    assert status == 400 and body["error"] == "unknown_team"
    status, _ = await client.api(
        "POST", f"{path}/transfer", headers=anna, json={"team_id": "botkyrka"}
    )
    assert status == 204
    status, _ = await client.api("GET", path, headers=anna)
    assert status in (403, 404), "after the transfer Laholm's staff no longer see it"


async def test_permissions_follow_team_and_role(server: Server, client: StaffClient) -> None:
    botkyrka = await new_request(server, team="botkyrka")
    anna = await token_for(client, "anna")
    status, queue = await client.api("GET", "/api/v1/queue", headers=anna)
    assert botkyrka.code not in [i["code"] for i in queue["items"]]
    for method, suffix in [("GET", ""), ("POST", "/claim"), ("GET", "/canned-replies")]:
        status, body = await client.api(
            method, f"/api/v1/cases/{botkyrka.code}{suffix}", headers=anna
        )
        assert status in (403, 404), (suffix, body)
    status, _ = await client.api("GET", "/api/v1/audit", headers=anna)
    assert status == 403
    root = await token_for(client, "root")
    status, log = await client.api("GET", "/api/v1/audit?limit=10", headers=root)
    assert status == 200 and isinstance(log["entries"], list)
    status, _ = await client.api("GET", "/api/v1/audit?limit=0", headers=root)
    assert status == 400


async def test_cookie_sessions_need_the_csrf_header(server: Server, client: StaffClient) -> None:
    case = await new_request(server)
    status, signed_in = await client.api(
        "POST", "/api/v1/session", json={"username": "anna", "password": PASSWORD}
    )
    assert status == 200
    path = f"/api/v1/cases/{case.code}/claim"
    status, body = await client.api("POST", path)  # the cookie alone is not enough
    assert status == 403 and body["error"] == "csrf"
    status, body = await client.api("POST", path, headers={"X-CSRF-Token": "forged"})
    assert status == 403
    status, me = await client.api("GET", "/api/v1/me")
    assert status == 200 and me["csrf_token"] == signed_in["csrf_token"]
    status, body = await client.api("POST", path, headers={"X-CSRF-Token": me["csrf_token"]})
    assert status == 200 and body["won"] is True
