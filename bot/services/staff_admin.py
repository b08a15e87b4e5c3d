"""Staff accounts run by an admin in the browser or over the API (issue #12).

An admin adds an account without typing anyone's password: the account starts with a
password nobody knows, and the admin is given a one-time set-password link (a random
token shown once; only a keyed digest of it is stored) to pass on. Whoever opens the link
chooses a password under ``StaffService``'s rules, once, before it expires; a newer link
for the same account replaces older unused ones. Every change is audited twice, as the
second factor's reset is: a row for the admin who did it and a row for the account it
was done to (never a password or token). An admin cannot deactivate or demote themself.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.domain import ROLES, Role, StaffUser
from bot.services.staff import StaffError, StaffService, _display_name, normalise_username
from bot.services.totp import TotpError, TotpService
from bot.storage import cases as audit_db
from bot.storage import invites as invites_db
from bot.storage import staff as db
from bot.storage import staff_sessions as sessions_db

LINK_HOURS = 72
_PURPOSE = b"staff-invite-token-digest-v1"
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)


class AdminError(Exception):
    """reasons: "forbidden" (not an admin), "not_found", "exists", "invalid_username",
    "invalid_role", "unknown_team", "weak_password", "self" (an admin's own deactivation
    or demotion), "link_invalid" (used, expired, replaced or never issued)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class AccountSummary:
    """What the admin's list shows of an account: never its password or hash."""

    username: str
    display_name: str | None
    role: Role
    teams: frozenset[str]
    active: bool
    two_factor: bool
    last_sign_in: datetime | None


@dataclass(frozen=True)
class IssuedLink:
    """A set-password link's token, shown to the admin once and never stored."""

    username: str
    token: str
    expires_at: datetime


@dataclass
class AdminService:
    staff: StaffService
    totp: TotpService
    secret_key: bytes
    old_keys: Sequence[bytes] = ()
    link_hours: int = LINK_HOURS

    def __post_init__(self) -> None:
        self._keys = [
            HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE).derive(key)
            for key in (self.secret_key, *self.old_keys)
        ]

    def digests(self, token: str) -> list[str]:
        """The token's digest under each key, newest first (only digests reach the table)."""
        data = token.encode("ascii", "replace")
        return [hmac.new(key, data, hashlib.sha256).hexdigest() for key in self._keys]

    # -- reading ---------------------------------------------------------------------------

    async def accounts(self, admin: StaffUser) -> list[AccountSummary]:
        _only_admins(admin)
        async with self.staff.database.read_tx() as conn:
            rows = await db.all_accounts(conn)
            teams = await db.all_memberships(conn)
            factors = await invites_db.with_second_factor(conn)
            seen = await invites_db.last_sign_ins(conn)
        return [
            AccountSummary(
                row.username,
                row.display_name,
                row.role,
                frozenset(teams.get(row.id, ())),
                row.active,
                row.id in factors,
                seen.get(row.username),
            )
            for row in rows
        ]

    async def account(self, admin: StaffUser, username: str) -> AccountSummary:
        name = _name(username)
        for summary in await self.accounts(admin):
            if summary.username == name:
                return summary
        raise AdminError("not_found")

    # -- changing --------------------------------------------------------------------------

    async def create(
        self,
        admin: StaffUser,
        username: str,
        role: str,
        teams: frozenset[str],
        display_name: str | None = None,
    ) -> IssuedLink:
        """A new active account that nobody can sign in to until its link is used."""
        _only_admins(admin)
        if not username.strip():
            raise AdminError("invalid_username")
        name = _name(username)
        checked = _role(role)
        self._check_teams(teams, checked)
        # A real argon2 hash of a secret nobody keeps: signing in to it costs what any
        # wrong password costs, so a waiting account cannot be told from others.
        unusable = await self.staff._hash(secrets.token_urlsafe(32))
        token, now = secrets.token_urlsafe(32), self.staff.now()
        expires_at = now + timedelta(hours=self.link_hours)
        async with self.staff.database.write_tx() as conn:
            values = db.account_values(name, unusable, checked, _display_name(display_name), now)
            staff_id = await db.insert_account(conn, values)
            if staff_id is None:
                raise AdminError("exists")
            await db.replace_teams(conn, staff_id, teams)
            await invites_db.insert_invite(
                conn,
                digest=self.digests(token)[0],
                staff_id=staff_id,
                created_by=admin.username,
                now=now,
                expires_at=expires_at,
            )
            await audit_db.record(conn, now, admin.username, "account_add", None)
            await audit_db.record(conn, now, name, "account_created", None)
        return IssuedLink(name, token, expires_at)

    async def new_link(self, admin: StaffUser, username: str) -> IssuedLink:
        """A fresh set-password link (a forgotten password); older unused links stop."""
        _only_admins(admin)
        name = _name(username)
        token, now = secrets.token_urlsafe(32), self.staff.now()
        expires_at = now + timedelta(hours=self.link_hours)
        async with self.staff.database.write_tx() as conn:
            row = await db.by_username(conn, name)
            if row is None:
                raise AdminError("not_found")
            await invites_db.revoke_for_account(conn, row.id)
            await invites_db.insert_invite(
                conn,
                digest=self.digests(token)[0],
                staff_id=row.id,
                created_by=admin.username,
                now=now,
                expires_at=expires_at,
            )
            await audit_db.record(conn, now, admin.username, "account_link", None)
            await audit_db.record(conn, now, row.username, "account_link_made", None)
        return IssuedLink(row.username, token, expires_at)

    async def change(
        self,
        admin: StaffUser,
        username: str,
        *,
        role: str | None = None,
        teams: frozenset[str] | None = None,
    ) -> None:
        """A new role and/or teams (the account's sessions end: rights change at sign-in)."""
        _only_admins(admin)
        name = _name(username)
        current = await self.account(admin, name)
        new_role = current.role if role is None else _role(role)
        new_teams = current.teams if teams is None else teams
        if name == admin.username and new_role != "admin":
            raise AdminError("self")
        self._check_teams(new_teams, new_role)
        try:
            # Teams first while they suit both roles; an admin without teams changes role first.
            if teams is not None and teams != current.teams and new_teams:
                await self.staff.set_teams(name, new_teams)
                await self.staff.audit(admin, "account_teams")
            if new_role != current.role:
                await self.staff.set_role(name, new_role)
                await self.staff.audit(admin, "account_role")
            if teams is not None and teams != current.teams and not new_teams:
                await self.staff.set_teams(name, new_teams)
                await self.staff.audit(admin, "account_teams")
        except StaffError as exc:
            raise AdminError(exc.reason) from None

    async def deactivate(self, admin: StaffUser, username: str) -> None:
        _only_admins(admin)
        name = _name(username)
        if name == admin.username:
            raise AdminError("self")
        try:
            await self.staff.deactivate(name)
        except StaffError as exc:
            raise AdminError(exc.reason) from None
        await self.staff.audit(admin, "account_deactivate")

    async def reactivate(self, admin: StaffUser, username: str) -> None:
        _only_admins(admin)
        try:
            await self.staff.reactivate(_name(username))
        except StaffError as exc:
            raise AdminError(exc.reason) from None
        await self.staff.audit(admin, "account_reactivate")

    async def reset_second_factor(self, admin: StaffUser, username: str) -> bool:
        """The account's second factor goes (lost phone); False: it had none. Audited."""
        _only_admins(admin)
        try:
            return await self.totp.reset(admin.username, _name(username))
        except TotpError:
            raise AdminError("not_found") from None

    # -- the link's own page (no one signed in) --------------------------------------------

    async def link_account(self, token: str) -> str:
        """The username a valid link is for (the page names it); else "link_invalid"."""
        if not TOKEN_RE.fullmatch(token):
            raise AdminError("link_invalid")
        async with self.staff.database.read_tx() as conn:
            staff_id = await invites_db.valid_staff_id(conn, self.digests(token), self.staff.now())
            row = None if staff_id is None else await db.by_id(conn, staff_id)
        if row is None or not row.active:
            raise AdminError("link_invalid")
        return row.username

    async def use_link(self, token: str, password: str) -> str:
        """The password chosen through the link (once); the account's username."""
        await self.link_account(token)  # no argon2 work for a link that cannot be used
        try:
            self.staff._check_password(password)
        except StaffError as exc:
            raise AdminError(exc.reason) from None
        password_hash = await self.staff._hash(password)
        now = self.staff.now()
        async with self.staff.database.write_tx() as conn:
            staff_id = await invites_db.use(conn, self.digests(token), now)
            row = None if staff_id is None else await db.by_id(conn, staff_id)
            if row is None or not row.active:  # used a moment ago by someone else
                raise AdminError("link_invalid")
            await db.update_account(conn, row.username, password_hash=password_hash)
            await invites_db.revoke_for_account(conn, row.id)
            await sessions_db.delete_for_account(conn, row.id)
            await audit_db.record(conn, now, row.username, "password_set", None)
        return row.username

    async def purge_links(self) -> int:
        """Links past their expiry are forgotten."""
        return await purge_expired_links(self.staff)

    def _check_teams(self, teams: frozenset[str], role: Role) -> None:
        try:
            self.staff._check_teams(teams, role)
        except StaffError as exc:
            raise AdminError(exc.reason) from None


async def purge_expired_links(staff: StaffService) -> int:
    """Set-password links past their expiry are forgotten (the purge round); how many."""
    async with staff.database.write_tx() as conn:
        return await invites_db.delete_expired(conn, staff.now())


def _only_admins(user: StaffUser) -> None:
    if not user.is_admin:
        raise AdminError("forbidden")


def _name(username: str) -> str:
    try:
        return normalise_username(username)
    except StaffError as exc:
        raise AdminError("not_found" if exc.reason == "not_found" else exc.reason) from None


def _role(role: str) -> Role:
    for known in ROLES:
        if role == known:
            return known
    raise AdminError("invalid_role")
