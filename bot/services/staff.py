"""Staff accounts, teams and sign-in: argon2 password hashes, roles, team membership.

INTERFACE CONTRACT (shared by the CLI `python -m bot staff`, `preview`'s demo
accounts and the staff web app; keep names and types stable, implement bodies).
Throttling of failed sign-ins is ``bot.services.signin``'s job (the doors hand it the
client's address); this service only says whether a username/password pair is valid.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import ROLES, Role, StaffUser
from bot.services.staff_sessions import purge_expired
from bot.storage import cases as audit_db
from bot.storage import staff as db
from bot.storage import staff_sessions as sessions_db
from bot.storage.database import Database
from bot.text_input import clean_text, normalise_text, refuse_reason

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1000  # argon2 takes any length; a cap keeps a request from costing more
USERNAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")
MAX_DISPLAY_NAME = 64
MAX_USERNAME_INPUT = 100  # what is typed is cut to this much before it is normalised


@dataclass
class StaffError(Exception):
    """reasons: "exists", "not_found", "weak_password", "invalid_role", "unknown_team",
    "invalid_username" (added: a username must be 2-64 of a-z 0-9 . _ -),
    "invalid_display_name" (added: a control character or a broken one in it)."""

    reason: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}" if self.detail else self.reason


@dataclass(frozen=True)
class StaffAccountView:
    id: int
    username: str
    role: Role
    teams: frozenset[str]
    active: bool
    display_name: str | None


@dataclass
class StaffService:
    database: Database
    known_teams: frozenset[str]  # team ids from content/teams
    hasher: PasswordHasher = field(default_factory=PasswordHasher)
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        self._dummy_hash: str | None = None
        self._threads: ThreadPoolExecutor | None = None  # None: asyncio's default pool

    def limit_threads(self, workers: int) -> None:
        """argon2 in a pool of its own, ``workers`` threads (``SignInService`` sizes it)."""
        if self._threads is None:
            self._threads = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")

    async def audit(self, staff: StaffUser, action: str, case_code: str | None = None) -> None:
        """Record that ``staff`` did or read something (which case; never what it says)."""
        async with self.database.write_tx() as conn:
            await audit_db.record(conn, self.now(), staff.username, action, case_code)

    async def audit_case_read(self, staff: StaffUser, code: str, *, phone_shown: bool) -> None:
        """A case opened (page or API), and its call-back number when it was shown with it."""
        async with self.database.write_tx() as conn:
            now = self.now()
            await audit_db.record(conn, now, staff.username, "case_open", code)
            if phone_shown:
                await audit_db.record(conn, now, staff.username, "phone_view", code)

    async def create(
        self,
        username: str,
        password: str,
        role: Role,
        teams: frozenset[str],
        display_name: str | None = None,
    ) -> StaffAccountView:
        name = normalise_username(username)
        if role not in ROLES:
            raise StaffError("invalid_role", str(role))
        self._check_teams(teams, role)
        self._check_password(password)
        shown = _display_name(display_name)
        password_hash = await self._hash(password)
        async with self.database.write_tx() as conn:
            values = db.account_values(name, password_hash, role, shown, self.now())
            staff_id = await db.insert_account(conn, values)
            if staff_id is None:  # taken, perhaps by someone else at the same moment
                raise StaffError("exists", name)
            await db.replace_teams(conn, staff_id, teams)
        return StaffAccountView(staff_id, name, role, frozenset(teams), True, shown)

    async def set_password(self, username: str, password: str) -> None:
        """A new password; every session and token of the account ends with the old one."""
        self._check_password(password)
        password_hash = await self._hash(password)
        async with self.database.write_tx() as conn:
            row = await self._row(conn, username)
            await db.update_account(conn, row.username, password_hash=password_hash)
            await sessions_db.delete_for_account(conn, row.id)
            await audit_db.record(conn, self.now(), row.username, "password_changed", None)

    async def set_role(self, username: str, role: Role) -> None:
        """A new role; the account's sessions and tokens end (rights change at next sign-in)."""
        if role not in ROLES:
            raise StaffError("invalid_role", str(role))
        async with self.database.write_tx() as conn:
            row = await self._row(conn, username)
            self._check_teams(await db.teams_of(conn, row.id), role)
            await db.update_account(conn, row.username, role=role)
            await sessions_db.delete_for_account(conn, row.id)
            await audit_db.record(conn, self.now(), row.username, "role_changed", None)

    async def set_teams(self, username: str, teams: frozenset[str]) -> None:
        async with self.database.write_tx() as conn:
            row = await db.by_username(conn, normalise_username(username))
            if row is None:
                raise StaffError("not_found", username)
            self._check_teams(teams, row.role)
            await db.replace_teams(conn, row.id, teams)
            await sessions_db.delete_for_account(conn, row.id)
            await audit_db.record(conn, self.now(), row.username, "teams_changed", None)

    async def deactivate(self, username: str) -> None:
        """The account can no longer sign in; its sessions and tokens end at once."""
        async with self.database.write_tx() as conn:
            row = await self._row(conn, username)
            await db.update_account(conn, row.username, active=False)
            await sessions_db.delete_for_account(conn, row.id)
            await audit_db.record(conn, self.now(), row.username, "account_deactivated", None)

    async def reactivate(self, username: str) -> None:
        """A deactivated account may sign in again (its old sessions stay ended); audited."""
        async with self.database.write_tx() as conn:
            row = await self._row(conn, username)
            await db.update_account(conn, row.username, active=True)
            await audit_db.record(conn, self.now(), row.username, "account_reactivated", None)

    async def sign_out_everywhere(self, username: str) -> int:
        """Every session and token of the account ends; how many there were. Audited."""
        async with self.database.write_tx() as conn:
            row = await self._row(conn, username)
            ended = await sessions_db.delete_for_account(conn, row.id)
            await audit_db.record(conn, self.now(), row.username, "signed_out_everywhere", None)
        return ended

    async def purge_sessions(self) -> int:
        """Sessions past their idle or absolute limit deleted (the purge job)."""
        return await purge_expired(self.database, self.now())

    async def _row(self, conn: AsyncConnection, username: str) -> db.AccountRow:
        row = await db.by_username(conn, normalise_username(username))
        if row is None:
            raise StaffError("not_found", username)
        return row

    async def list(self) -> list[StaffAccountView]:
        async with self.database.read_tx() as conn:
            rows = await db.all_accounts(conn)
            teams = await db.all_memberships(conn)
        return [_view(row, frozenset(teams.get(row.id, ()))) for row in rows]

    async def authenticate(self, username: str, password: str) -> StaffUser | None:
        """The user for a valid, active account; None otherwise (same time either way)."""
        try:
            name = normalise_username(username)
        except StaffError:
            name = None
        row = None
        if name is not None and len(password) <= MAX_PASSWORD_LENGTH:
            async with self.database.read_tx() as conn:
                row = await db.by_username(conn, name)
        if row is None or not row.active:
            # Unknown or inactive: spend the same work on a dummy hash, then refuse.
            await self._verify(await self._dummy(), password[:MAX_PASSWORD_LENGTH])
            return None
        if not await self._verify(row.password_hash, password):
            return None
        if self.hasher.check_needs_rehash(row.password_hash):
            rehashed = await self._hash(password)
            async with self.database.write_tx() as conn:
                await db.update_account(conn, row.username, password_hash=rehashed)
        return await self.get(row.id)

    async def get(self, staff_id: int) -> StaffUser | None:
        """For a session cookie: the current rights of an active account, else None."""
        async with self.database.read_tx() as conn:
            row = await db.by_id(conn, staff_id)
            if row is None or not row.active:
                return None
            teams = await db.teams_of(conn, staff_id)
        return StaffUser(
            id=row.id,
            username=row.username,
            role=row.role,
            teams=teams,
            display_name=row.display_name,
        )

    def _check_teams(self, teams: frozenset[str], role: str) -> None:
        unknown = sorted(set(teams) - self.known_teams)
        if unknown:
            raise StaffError("unknown_team", ", ".join(unknown))
        if not teams and role != "admin":
            raise StaffError("unknown_team", "staff and coordinators need at least one team")

    @staticmethod
    def _check_password(password: str) -> None:
        if refuse_reason(password) == "surrogate":  # argon2 could not even encode it
            raise StaffError("weak_password", "a broken character (a lone surrogate)")
        if len(password) < MIN_PASSWORD_LENGTH:
            raise StaffError("weak_password", f"at least {MIN_PASSWORD_LENGTH} characters")
        if len(password) > MAX_PASSWORD_LENGTH:
            raise StaffError("weak_password", f"at most {MAX_PASSWORD_LENGTH} characters")

    async def _hash(self, password: str) -> str:
        # argon2 takes tens of milliseconds of CPU by design: keep it off the event loop.
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, self.hasher.hash, password)

    async def _verify(self, password_hash: str, password: str) -> bool:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._threads, self.hasher.verify, password_hash, password
            )
        except (VerificationError, InvalidHashError):
            return False

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await self._hash("not-a-password-of-anyone-" * 2)
        return self._dummy_hash


def normalise_username(username: str) -> str:
    """NFKC, format characters gone, trimmed, lower case ("ＡＤＭＩＮ" and "ad\u200bmin" are
    "admin"); a lone surrogate, NUL or control character is refused ("invalid_username")."""
    if refuse_reason(username) is not None:
        raise StaffError("invalid_username", "a character that cannot be stored")
    name = normalise_text(username[: 4 * MAX_USERNAME_INPUT]).strip().lower()
    if not USERNAME_RE.fullmatch(name):
        raise StaffError("not_found" if not name else "invalid_username", name[:64])
    return name


def _display_name(display_name: str | None) -> str | None:
    """Normalised like every text (``bot.text_input``), on one line; invisible-only is none;
    a lone surrogate, NUL or control character is refused ("invalid_display_name")."""
    if display_name is None:
        return None
    shown, refused = clean_text(display_name[: 4 * MAX_DISPLAY_NAME])
    if refused is not None:
        raise StaffError("invalid_display_name", "a character that cannot be stored")
    shown = " ".join(shown.split())
    return shown[:MAX_DISPLAY_NAME] or None


def _view(row: db.AccountRow, teams: frozenset[str]) -> StaffAccountView:
    return StaffAccountView(row.id, row.username, row.role, teams, row.active, row.display_name)
