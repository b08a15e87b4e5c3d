"""Demo staff accounts for `preview`: every role for every team, random passwords.

The preview database is thrown away at every start, so these accounts live only
as long as the preview; the passwords are printed once, on the operator's terminal.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from bot.domain import Role
from bot.services.staff import StaffError, StaffService

DEMO_NAMES = {"staff": "Alex", "coordinator": "Kim", "admin": None}


@dataclass(frozen=True)
class DemoAccount:
    username: str
    password: str
    role: str
    teams: tuple[str, ...]


async def create_demo_accounts(staff: StaffService, teams: list[str]) -> list[DemoAccount]:
    made: list[DemoAccount] = []
    lead_roles: tuple[Role, ...] = ("staff", "coordinator")
    wanted: list[tuple[str, Role, tuple[str, ...]]] = [
        (f"{team}-{role}", role, (team,)) for team in teams for role in lead_roles
    ]
    wanted.append(("admin", "admin", tuple(teams)))
    for username, role, member_of in wanted:
        password = secrets.token_urlsafe(12)
        try:
            await staff.create(
                username,
                password,
                role,
                frozenset(member_of),
                display_name=DEMO_NAMES[role],
            )
        except StaffError as exc:
            if exc.reason != "exists":  # a restart on the same database: new password
                raise
            await staff.set_password(username, password)
        made.append(DemoAccount(username, password, role, member_of))
    return made
