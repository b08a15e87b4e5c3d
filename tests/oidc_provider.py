"""A minimal OpenID Connect provider for tests, served on loopback (aiohttp).

What a real provider (Entra ID, Keycloak) does for the authorization code flow with PKCE,
and checks as strictly: discovery, ``/authorize`` (auto-approves the configured user:
client id, redirect URI, ``response_type=code``, S256 challenge required), ``/token``
(client secret by HTTP Basic, the code once, the same redirect URI, the PKCE verifier
against the challenge) answering an RS256 ID token signed with a key made per provider,
and ``/jwks``. Knobs let a test make the ID token wrong in one way at a time.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey


@dataclass
class Tamper:
    """One thing wrong with the next ID tokens (None/0: right)."""

    audience: str | None = None
    nonce: str | None = None
    issuer: str | None = None
    expires_in: int = 300  # negative: already expired
    foreign_key: bool = False  # signed with a key not in /jwks


@dataclass
class OidcProvider:
    client_id: str = "helpline-staff"
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    claims: dict[str, Any] = field(
        default_factory=lambda: {
            "sub": "0b6f-user-1",
            "preferred_username": "eva@kommun.example",
            "given_name": "Eva",
            "groups": ["helpline-laholm"],
        }
    )
    tamper: Tamper = field(default_factory=Tamper)
    issuer: str = ""
    key: RSAKey = field(
        default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
    )
    other_key: RSAKey = field(
        default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
    )
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    token_refusals: list[str] = field(default_factory=list)
    tokens_issued: int = 0
    authorize_queries: list[dict[str, str]] = field(default_factory=list)

    def rotate_key(self) -> None:
        """A new signing key under a new key id, as providers roll theirs."""
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k2"}, private=True)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self.discovery)
        app.router.add_get("/authorize", self.authorize)
        app.router.add_post("/token", self.token)
        app.router.add_get("/jwks", self.jwks)
        return app

    async def discovery(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            }
        )

    async def jwks(self, request: web.Request) -> web.Response:
        return web.json_response(KeySet([self.key]).as_dict(private=False))

    async def authorize(self, request: web.Request) -> web.Response:
        q = dict(request.query)
        self.authorize_queries.append(q)
        if q.get("client_id") != self.client_id or q.get("response_type") != "code":
            return web.Response(status=400, text="bad client or response_type")
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return web.Response(status=400, text="PKCE S256 required")
        if "openid" not in q.get("scope", "").split() or not q.get("nonce"):
            return web.Response(status=400, text="openid scope and nonce required")
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "challenge": q["code_challenge"],
            "nonce": q["nonce"],
            "redirect_uri": q.get("redirect_uri", ""),
        }
        back = urlencode({"code": code, "state": q.get("state", "")})
        raise web.HTTPFound(f"{q.get('redirect_uri', '')}?{back}")

    def _refuse(self, why: str) -> web.Response:
        self.token_refusals.append(why)
        return web.json_response({"error": "invalid_grant", "error_description": why}, status=400)

    async def token(self, request: web.Request) -> web.Response:
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            self.token_refusals.append("client")
            return web.json_response({"error": "invalid_client"}, status=401)
        form = await request.post()
        if form.get("grant_type") != "authorization_code":
            return self._refuse("grant_type")
        grant = self.codes.pop(str(form.get("code", "")), None)  # a code works once
        if grant is None:
            return self._refuse("code")
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return self._refuse("redirect_uri")
        verifier = str(form.get("code_verifier", ""))
        digest = hashlib.sha256(verifier.encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["challenge"]:
            return self._refuse("pkce")
        now, t = int(time.time()), self.tamper
        claims = {
            **self.claims,
            "iss": t.issuer or self.issuer,
            "aud": t.audience or self.client_id,
            "iat": now,
            "exp": now + t.expires_in,
            "nonce": t.nonce or grant["nonce"],
        }
        key = self.other_key if t.foreign_key else self.key
        id_token = jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)
        self.tokens_issued += 1
        return web.json_response(
            {
                "access_token": secrets.token_urlsafe(16),
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": id_token,
            }
        )


@contextlib.asynccontextmanager
async def running_provider(port: int, **options: Any) -> AsyncIterator[OidcProvider]:
    """The provider on 127.0.0.1:``port`` (its issuer URL), stopped on the way out."""
    provider = OidcProvider(**options)
    provider.issuer = f"http://127.0.0.1:{port}"
    runner = web.AppRunner(provider.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield provider
    finally:
        await runner.cleanup()
