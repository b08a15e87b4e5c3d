"""Single sign-on end to end: the real staff app against a local OpenID Connect provider.

The provider (``tests/oidc_provider.py``) runs on loopback and checks what a real one
checks (client secret, the code once, redirect URI, the PKCE verifier); the product runs
in preview mode on SQLite and PostgreSQL. A browser is an aiohttp client that follows
redirects across both origins and keeps cookies.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
from sqlalchemy import select

from bot.emulator.spec import BotApiSpec
from bot.runtime import Server
from bot.storage.models import AuditEvent, StaffAccount, StaffIdentity, StaffTeam, table_of
from tests.conftest import free_port, running_preview
from tests.oidc_provider import OidcProvider, Tamper, running_provider
from tests.staff_helpers import PASSWORD, create_accounts, text_of

GROUP_MAP = (
    "helpline-laholm=staff:laholm;helpline-coord=coordinator:laholm,botkyrka;helpline-admin=admin"
)


@contextlib.asynccontextmanager
async def product_with_provider(
    database_url: str, tmp_path: Path, spec: BotApiSpec, **env: str
) -> AsyncIterator[tuple[Server, OidcProvider]]:
    async with running_provider(free_port()) as provider:
        settings = {
            "OIDC_ISSUER": provider.issuer,
            "OIDC_CLIENT_ID": provider.client_id,
            "OIDC_CLIENT_SECRET": provider.client_secret,
            "OIDC_GROUP_MAP": GROUP_MAP,
            **env,
        }
        async with running_preview(database_url, tmp_path, spec, **settings) as server:
            yield server, provider


def browser() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def sso_sign_in(server: Server, http: aiohttp.ClientSession) -> tuple[int, str, str]:
    """Follow /staff/sso/start through the provider and back: status, final URL, page."""
    async with http.get(f"{server.origin}/staff/sso/start?next=/staff/queue") as response:
        return response.status, str(response.url), await response.text()


async def rows(server: Server, model: Any) -> list[Any]:
    assert server.core is not None
    async with server.core.database.read_tx() as conn:
        return list((await conn.execute(select(table_of(model)))).mappings().all())


async def test_sso_signs_in_with_pkce_maps_groups_and_follows_group_changes(
    database_url: str, tmp_path: Path, spec: BotApiSpec
) -> None:
    async with product_with_provider(database_url, tmp_path, spec) as (server, provider):
        async with browser() as http:
            # The sign-in page offers single sign-on beside the password form.
            async with http.get(f"{server.origin}/staff/login") as response:
                page = await response.text()
            assert 'data-testid="sso-link"' in page and 'data-testid="login-form"' in page

            status, url, page = await sso_sign_in(server, http)
            assert status == 200 and url.startswith(f"{server.origin}/staff/sso/callback")
            assert 'http-equiv="refresh"' in page and "/staff/queue" in page
            async with http.get(f"{server.origin}/staff/queue") as response:
                assert response.status == 200 and "/staff/queue" in str(response.url)
            async with http.get(f"{server.origin}/api/v1/me") as response:
                me = (await response.json())["user"]
        # Discovery, then the authorization request carried state, nonce and an S256 challenge.
        sent = provider.authorize_queries[0]
        assert sent["code_challenge_method"] == "S256" and len(sent["code_challenge"]) == 43
        assert sent["state"] and sent["nonce"] and sent["scope"].split()[0] == "openid"
        assert sent["redirect_uri"] == f"{server.origin}/staff/sso/callback"
        assert provider.tokens_issued == 1 and provider.token_refusals == []

        assert me["username"] == "eva" and me["role"] == "staff" and me["teams"] == ["laholm"]
        identities = await rows(server, StaffIdentity)
        assert [(i["issuer"], i["subject"]) for i in identities] == [
            (provider.issuer, "0b6f-user-1")
        ]
        account = next(a for a in await rows(server, StaffAccount) if a["username"] == "eva")
        assert account["display_name"] == "Eva" and account["password_hash"] == "!sso"
        assert "kommun.example" not in repr(await rows(server, StaffAccount))  # no e-mail

        # The provider moves Eva into the coordinators' group: the next sign-in follows it.
        # It has also rolled its signing key: the product fetches the new key set once.
        provider.claims["groups"] = ["helpline-laholm", "helpline-coord", "unrelated"]
        provider.rotate_key()
        async with browser() as http:
            status, _url, _page = await sso_sign_in(server, http)
            assert status == 200
            async with http.get(f"{server.origin}/api/v1/me") as response:
                me = (await response.json())["user"]
        assert me["role"] == "coordinator" and me["teams"] == ["botkyrka", "laholm"]
        assert len(await rows(server, StaffIdentity)) == 1  # the same account, updated
        teams = {(t["staff_id"], t["team_id"]) for t in await rows(server, StaffTeam)}
        assert {(account["id"], "laholm"), (account["id"], "botkyrka")} <= teams

        # No password opens an SSO account, not even the one of another account.
        async with (
            browser() as http,
            http.post(
                f"{server.origin}/api/v1/session", json={"username": "eva", "password": PASSWORD}
            ) as response,
        ):
            assert response.status == 401
        actions = [e["action"] for e in await rows(server, AuditEvent)]
        assert actions.count("sso_signin") == 2


async def test_sso_refuses_bad_tokens_unknown_groups_and_password_sign_in_when_off(
    database_url: str, tmp_path: Path, spec: BotApiSpec
) -> None:
    async with product_with_provider(database_url, tmp_path, spec, LOCAL_PASSWORDS="false") as (
        server,
        provider,
    ):
        await create_accounts(server)

        async def refused(reason: str) -> None:
            async with browser() as http:
                status, _url, page = await sso_sign_in(server, http)
                assert status in (400, 403), (status, text_of(page))
                assert f'data-reason="{reason}"' in page, text_of(page)
                async with http.get(f"{server.origin}/api/v1/me") as response:
                    assert response.status == 401  # nobody was signed in

        provider.tamper = Tamper(audience="someone-else")
        await refused("token")
        provider.tamper = Tamper(nonce="not-the-one-sent")
        await refused("token")
        provider.tamper = Tamper(expires_in=-600)  # expired beyond the minute of leeway
        await refused("token")
        provider.tamper = Tamper(issuer="https://evil.example")
        await refused("token")
        provider.tamper = Tamper(foreign_key=True)  # signed, but not with the provider's key
        await refused("token")
        provider.tamper = Tamper()
        provider.claims["groups"] = ["everyone", "helpline-unknown"]
        await refused("no_group")
        assert "unrelated" not in repr(await rows(server, StaffIdentity))
        assert await rows(server, StaffIdentity) == []  # no account for any of them

        # A callback this browser did not start (no state cookie, or another state).
        async with (
            browser() as http,
            http.get(f"{server.origin}/staff/sso/callback?code=x&state=forged") as response,
        ):
            assert response.status == 400
            assert 'data-reason="state"' in await response.text()
        assert provider.tokens_issued == 6  # the forged callback asked for no token

        # LOCAL_PASSWORDS=false: no password form, and a posted password is refused.
        async with browser() as http:
            async with http.get(f"{server.origin}/staff/login") as response:
                page = await response.text()
            assert 'data-testid="login-form"' not in page and 'data-testid="sso-link"' in page
            csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            async with http.post(
                f"{server.origin}/staff/login",
                data={"csrf": csrf, "username": "anna", "password": PASSWORD},
            ) as response:
                assert response.status == 403
            async with http.post(
                f"{server.origin}/api/v1/session", json={"username": "anna", "password": PASSWORD}
            ) as response:
                assert response.status == 403 and (await response.json())["error"] == "sso_only"
            async with http.get(f"{server.origin}/api/v1/me") as response:
                assert response.status == 401

        # The right user still gets in by single sign-on, as an admin by group.
        provider.claims["groups"] = ["helpline-admin"]
        async with browser() as http:
            status, _url, _page = await sso_sign_in(server, http)
            async with http.get(f"{server.origin}/api/v1/me") as response:
                me = (await response.json())["user"]
        assert status == 200 and me["role"] == "admin"
        assert parse_qs(urlsplit(provider.authorize_queries[-1]["redirect_uri"]).query) == {}
        actions = [e["action"] for e in await rows(server, AuditEvent)]
        assert "sso_refused" in actions and actions.count("sso_signin") == 1
