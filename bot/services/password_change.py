"""A staff member changes their own password: the current one first, through the sign-in brake.

The current password is checked by ``SignInService`` exactly as a sign-in is: the attempt is
reserved on the brake's counters before argon2 (so a stolen session cannot guess it faster
than the sign-in page allows), argon2 waits for its capped pool, and the check is audited
like a sign-in ("signin" / "signin_failed" / "signin_throttled", the address as a keyed
digest). The new password follows ``StaffService.set_password``'s rules, is checked before
the current one costs an attempt, and its change ends every session and token of the
account ("password_changed" in the audit); the door then starts a new one for the person
who asked. An account that signs in through single sign-on has no password here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.domain import CaseError, StaffUser
from bot.services.oidc import SSO_PASSWORD_HASH
from bot.services.signin import SignInService
from bot.services.staff import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, StaffService
from bot.storage import staff as staff_db
from bot.text_input import refuse_reason

Refused = Literal["sso_account", "mismatch", "too_short", "too_long", "wrong_password", "throttled"]


@dataclass(frozen=True)
class PasswordChange:
    """Done (``refused`` None), or why not; ``retry_after`` seconds when braked."""

    refused: Refused | None
    retry_after: int = 0


class PasswordChanges:
    def __init__(self, signin: SignInService) -> None:
        self.signin = signin

    @property
    def staff(self) -> StaffService:
        return self.signin.staff

    async def is_sso_account(self, user: StaffUser) -> bool:
        """Whether the account signs in only through single sign-on (no usable password)."""
        async with self.staff.database.read_tx() as conn:
            row = await staff_db.by_id(conn, user.id)
        return row is None or row.password_hash == SSO_PASSWORD_HASH

    async def change(
        self, user: StaffUser, current: str, new: str, repeated: str, address: str | None
    ) -> PasswordChange:
        """Check the new password's rules, then the current password (braked), then change."""
        if await self.is_sso_account(user):
            return PasswordChange("sso_account")
        if new != repeated:
            return PasswordChange("mismatch")
        if len(new) < MIN_PASSWORD_LENGTH:  # set_password's rules, before an attempt is spent
            return PasswordChange("too_short")
        if len(new) > MAX_PASSWORD_LENGTH:
            return PasswordChange("too_long")
        if refuse_reason(new) == "surrogate":
            raise CaseError("bad_character", "password")
        result = await self.signin.sign_in(user.username, current, address)
        if result.retry_after:
            return PasswordChange("throttled", result.retry_after)
        if result.user is None or result.user.id != user.id:
            return PasswordChange("wrong_password")
        await self.staff.set_password(user.username, new)  # every session and token ends
        return PasswordChange(None)
