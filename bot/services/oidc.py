"""Single sign-on for staff with OpenID Connect (authorization code with PKCE).

Authlib makes the PKCE verifier and challenge (RFC 7636, S256) and the random state and
nonce; joserfc (Authlib's JOSE library) checks the ID token: its RS256/ES256 signature
against the provider's JWKS (fetched again once when a key id is unknown: the provider
rotated), the issuer, our client id in the audience, the expiry and the nonce sent.

The provider's groups claim decides everything else: OIDC_GROUP_MAP maps group names to a
role and teams; the highest role among the member's groups wins and the teams add up. A
member of no mapped group is refused (and so is an account an admin deactivated). An
account is made for a new (issuer, subject) the first time and updated at every sign-in,
so a group change at the provider takes effect at the next sign-in. The table keeps the
issuer and subject, never the e-mail address; accounts have no usable password.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from bot.config import ConfigError, OidcGroup, Settings
from bot.domain import ROLES, Role, StaffUser
from bot.storage import cases as audit_db
from bot.storage import mfa as db
from bot.storage import staff as staff_db
from bot.storage.database import Database

log = logging.getLogger(__name__)
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384")
HTTP_TIMEOUT_SECONDS = 10.0
METADATA_SECONDS = 3600  # discovery document and keys kept this long
LEEWAY_SECONDS = 60  # clock skew allowed on exp/iat
USERNAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")
SSO_PASSWORD_HASH = "!sso"  # never an argon2 hash: no password opens an SSO account
MAX_CLAIM = 255


class OidcError(Exception):
    """reasons: "unavailable" (the provider did not answer well), "state" (the callback is
    not the one this browser started), "denied" (the provider said no), "token" (the ID
    token did not validate), "no_group" (no mapped group), "inactive" (deactivated here)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Pending:
    """What the browser keeps (sealed) between the redirect out and the callback."""

    state: str
    nonce: str
    verifier: str


@dataclass(frozen=True)
class Grant:
    role: Role
    teams: frozenset[str]


def grant_for(groups: list[str], group_map: tuple[OidcGroup, ...]) -> Grant | None:
    """The highest mapped role among ``groups`` and the teams of every mapped group."""
    matched = [entry for entry in group_map if entry.group in groups]
    if not matched:
        return None
    role = max((entry.role for entry in matched), key=ROLES.index)
    teams = frozenset(team for entry in matched for team in entry.teams)
    return Grant(role, teams)


@dataclass
class OidcService:
    database: Database
    issuer: str
    client_id: str
    client_secret: str
    group_map: tuple[OidcGroup, ...]
    groups_claim: str = "groups"
    scope: str = "openid profile"
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _metadata: dict[str, Any] | None = None
    _keys: KeySet | None = None
    _fetched: float = 0.0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    def from_settings(
        cls, database: Database, settings: Settings, known_teams: frozenset[str]
    ) -> OidcService | None:
        """None without OIDC_ISSUER; ConfigError when OIDC_GROUP_MAP names an unknown team."""
        if not settings.oidc_issuer:
            return None
        unknown = sorted(
            {t for entry in settings.oidc_group_map for t in entry.teams} - known_teams
        )
        if unknown:
            raise ConfigError(f"OIDC_GROUP_MAP names unknown teams: {', '.join(unknown)}")
        return cls(
            database,
            settings.oidc_issuer,
            settings.oidc_client_id or "",
            settings.oidc_client_secret or "",
            settings.oidc_group_map,
            settings.oidc_groups_claim,
        )

    # -- the redirect out --------------------------------------------------------------

    async def begin(self, redirect_uri: str) -> tuple[str, Pending]:
        """The provider's authorization URL, and what the browser must bring back."""
        metadata = await self._discovery()
        pending = Pending(generate_token(32), generate_token(32), generate_token(64))
        # The stubs leave this one untyped; it is base64url(SHA-256(verifier)), a str.
        challenge: str = create_s256_code_challenge(pending.verifier)  # type: ignore[no-untyped-call]
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
                "scope": self.scope,
                "state": pending.state,
                "nonce": pending.nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        endpoint = str(metadata["authorization_endpoint"])
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}", pending

    # -- the callback ------------------------------------------------------------------

    async def finish(
        self, query: dict[str, str], pending: Pending | None, redirect_uri: str
    ) -> StaffUser:
        """The staff member the provider vouches for; OidcError with a reason otherwise."""
        if pending is None or not hmac.compare_digest(query.get("state", ""), pending.state):
            raise OidcError("state")
        if query.get("error"):
            raise OidcError("denied", query["error"][:64])
        code = query.get("code", "")
        if not code or len(code) > 4096:
            raise OidcError("denied", "no code")
        tokens = await self._token(code, pending.verifier, redirect_uri)
        claims = await self._validated(tokens.get("id_token"), pending.nonce)
        groups = claims.get(self.groups_claim)
        names = [g for g in groups if isinstance(g, str)] if isinstance(groups, list) else []
        grant = grant_for(names, self.group_map)
        if grant is None:
            async with self.database.write_tx() as conn:
                await audit_db.record(conn, self.now(), "sso", "sso_refused", None)
            raise OidcError("no_group")
        return await self._account(claims, grant)

    async def _token(self, code: str, verifier: str, redirect_uri: str) -> dict[str, Any]:
        metadata = await self._discovery()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        methods = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        headers: dict[str, str] = {}
        if "client_secret_basic" in methods:  # RFC 6749 2.3.1: each part form-encoded first
            pair = f"{quote(self.client_id, safe='')}:{quote(self.client_secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        else:
            form |= {"client_id": self.client_id, "client_secret": self.client_secret}
        body = await self._fetch(str(metadata["token_endpoint"]), data=form, headers=headers)
        if not isinstance(body.get("id_token"), str):
            raise OidcError("token", "no id_token in the token response")
        return body

    async def _validated(self, id_token: object, nonce: str) -> dict[str, Any]:
        if not isinstance(id_token, str) or len(id_token) > 16_000:
            raise OidcError("token", "no id_token")
        registry = jwt.JWTClaimsRegistry(
            now=lambda: int(self.now().timestamp()),
            leeway=LEEWAY_SECONDS,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        for attempt in range(2):
            keys = await self._key_set(refresh=attempt > 0)
            try:
                token = jwt.decode(id_token, keys, algorithms=ALGORITHMS)
            except (JoseError, ValueError) as exc:
                if attempt == 0 and "key" in type(exc).__name__.lower():
                    continue  # an unknown key id: the provider may have rotated its keys
                raise OidcError("token", type(exc).__name__) from None
            break
        claims = dict(token.claims)
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise OidcError("token", f"{type(exc).__name__}: {exc.description}"[:200]) from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.client_id:
            raise OidcError("token", "azp is not this client")
        if not 0 < len(str(claims["sub"])) <= MAX_CLAIM or len(self.issuer) > MAX_CLAIM:
            raise OidcError("token", "subject too long")
        return claims

    async def _account(self, claims: dict[str, Any], grant: Grant) -> StaffUser:
        """Make or update the account linked to (issuer, subject); its current rights."""
        subject, now = str(claims["sub"]), self.now()
        shown = _claim_text(claims.get("given_name")) or _claim_text(claims.get("name"))
        async with self.database.write_tx() as conn:
            staff_id = await db.identity_staff_id(conn, self.issuer, subject)
            if staff_id is None:
                name = await self._new_username(conn, claims, subject)
                values = staff_db.account_values(name, SSO_PASSWORD_HASH, grant.role, shown, now)
                new_id = await staff_db.insert_account(conn, values)
                if new_id is None:
                    raise OidcError("unavailable", "the account name was taken meanwhile")
                staff_id = new_id
                await db.link_identity(conn, self.issuer, subject, staff_id, now)
            else:
                row = await staff_db.by_id(conn, staff_id)
                if row is None or not row.active:
                    raise OidcError("inactive")
                changes: dict[str, Any] = {"role": grant.role}
                if shown:
                    changes["display_name"] = shown
                await staff_db.update_account(conn, row.username, **changes)
                await db.touch_identity(conn, self.issuer, subject, now)
            await staff_db.replace_teams(conn, staff_id, grant.teams)
            row = await staff_db.by_id(conn, staff_id)
            assert row is not None
            await audit_db.record(conn, now, row.username, "sso_signin", None)
        return StaffUser(
            id=row.id,
            username=row.username,
            role=row.role,
            teams=grant.teams,
            display_name=row.display_name,
        )

    async def _new_username(self, conn: Any, claims: dict[str, Any], subject: str) -> str:
        """preferred_username's local part when free and valid, else sso-<digest>.

        A name already taken is never reused: an identity is never linked to an existing
        local account by its name (that would let the provider's users take accounts over).
        """
        wanted = _claim_text(claims.get("preferred_username")) or ""
        local = re.sub(r"[^a-z0-9._-]", ".", wanted.split("@")[0].lower())[:64]
        if USERNAME_RE.fullmatch(local) and await staff_db.by_username(conn, local) is None:
            return local
        digest = hashlib.sha256(f"{self.issuer}\n{subject}".encode()).hexdigest()[:16]
        return f"sso-{digest}"

    # -- the provider's documents -----------------------------------------------------

    async def _discovery(self) -> dict[str, Any]:
        async with self._lock:
            if self._metadata is None or time.monotonic() - self._fetched > METADATA_SECONDS:
                url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
                metadata = await self._fetch(url)
                if metadata.get("issuer") != self.issuer:
                    raise OidcError("unavailable", "the discovery document names another issuer")
                for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                    if not isinstance(metadata.get(name), str):
                        raise OidcError("unavailable", f"the discovery document lacks {name}")
                self._metadata, self._keys, self._fetched = metadata, None, time.monotonic()
            return self._metadata

    async def _key_set(self, *, refresh: bool = False) -> KeySet:
        metadata = await self._discovery()
        async with self._lock:
            if self._keys is None or refresh:
                body = await self._fetch(str(metadata["jwks_uri"]))
                try:
                    self._keys = KeySet.import_key_set(body)  # type: ignore[arg-type]
                except (JoseError, ValueError, KeyError, TypeError) as exc:
                    raise OidcError("unavailable", f"JWKS: {type(exc).__name__}") from None
            return self._keys

    async def _fetch(
        self,
        url: str,
        *,
        data: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT_SECONDS)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as http:
                method = http.post(url, data=data, headers=headers) if data else http.get(url)
                async with method as response:
                    body = await response.json(content_type=None)
                    status = response.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("OIDC provider not reached: %s", type(exc).__name__)
            raise OidcError("unavailable", type(exc).__name__) from None
        if status != 200 or not isinstance(body, dict):
            error = body.get("error") if isinstance(body, dict) else None
            raise OidcError("unavailable" if data is None else "denied", f"{status} {error}"[:80])
        return body


def _claim_text(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:64]
