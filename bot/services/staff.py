"""Staff accounts, teams and sign-in: argon2 password hashes, roles, team membership.

INTERFACE CONTRACT (shared by the CLI `python -m bot staff`, `preview`'s demo
accounts and the staff web app; keep names and types stable, implement bodies).
Throttling of failed sign-ins is the web door's job (it sees the client); this
service only says whether a username/password pair is valid.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.services.cases import Role, StaffUser

MIN_PASSWORD_LENGTH = 12


class StaffError(Exception):
    """reasons: "exists", "not_found", "weak_password", "invalid_role", "unknown_team"."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


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
    engine: AsyncEngine
    known_teams: frozenset[str]  # team ids from content/teams

    async def create(
        self,
        username: str,
        password: str,
        role: Role,
        teams: frozenset[str],
        display_name: str | None = None,
    ) -> StaffAccountView:
        raise NotImplementedError

    async def set_password(self, username: str, password: str) -> None:
        raise NotImplementedError

    async def set_teams(self, username: str, teams: frozenset[str]) -> None:
        raise NotImplementedError

    async def deactivate(self, username: str) -> None:
        raise NotImplementedError

    async def list(self) -> list[StaffAccountView]:
        raise NotImplementedError

    async def authenticate(self, username: str, password: str) -> StaffUser | None:
        """The user for a valid, active account; None otherwise (same time either way)."""
        raise NotImplementedError

    async def get(self, staff_id: int) -> StaffUser | None:
        """For a session cookie: the current rights of an active account, else None."""
        raise NotImplementedError
