"""A second factor for staff: TOTP (RFC 6238) with pyotp, and one-time recovery codes.

Enrolment: a random secret is sealed with the app's key (``LinkCipher`` under its own
purpose, so SECRET_KEYS rotation keeps opening it) and shown once as an otpauth:// URI,
a QR code and a text key; the first right code confirms it, and ten recovery codes are
shown once (stored as keyed digests, one per key for rotation).

Sign-in: a code is accepted in its 30-second step or one step either side (clock drift),
and only once: the step is compared-and-set in the database, so a replayed code (even
through another process) is refused. A recovery code works once. An admin's reset
removes both, audited; so is every enrolment and reset.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyotp
import segno
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import StaffUser
from bot.services.link_crypto import LinkCipher, LinkError
from bot.services.signin import keyed_digest
from bot.services.staff import StaffError, normalise_username
from bot.storage import cases as audit_db
from bot.storage import mfa as db
from bot.storage import signin as brake_db
from bot.storage import staff as staff_db
from bot.storage.database import Database
from bot.storage.signin import Brake, Key

ISSUER_NAME = "Helpline staff"
RECOVERY_CODES = 10
_PURPOSE = TOTP_PURPOSE = "staff_totp"  # the sealing purpose; `rekey` re-seals under it too
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
MAX_CODE_INPUT = 40


@dataclass(frozen=True)
class Enrolment:
    """What the enrolment page shows: the key as text and as an otpauth:// URI."""

    secret: str
    uri: str


@dataclass(frozen=True)
class CodeCheck:
    """A code step's answer: right or not, and the seconds to wait when braked."""

    ok: bool
    retry_after: int = 0
    codes: list[str] | None = None  # at enrolment: the recovery codes, shown once


# Wrong codes are braked like passwords, on the sign-in brake's table and statement
# (``bot.storage.signin``): per (client address, account), five free, then growing waits.
CODE_BRAKE = Brake("totp", free=5, delays=(30, 60, 120, 240, 480, 900), forget=3600)


class TotpError(Exception):
    """reasons: "enrolled" (a confirmed factor exists), "not_found" (no such account)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class TotpService:
    database: Database
    secret_key: bytes
    old_keys: Sequence[bytes] = ()
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        self._cipher = LinkCipher(self.secret_key, self.old_keys)
        self._digest_keys = [
            hmac.new(key, b"staff recovery codes v1", hashlib.sha256).digest()
            for key in (self.secret_key, *self.old_keys)
        ]

    async def enrolled(self, staff_id: int) -> bool:
        """Whether the account has a confirmed second factor."""
        async with self.database.read_tx() as conn:
            row = await db.mfa_of(conn, staff_id)
        return row is not None and row.confirmed

    async def start(self, user: StaffUser) -> Enrolment:
        """A new secret (unconfirmed until the first code); TotpError("enrolled") if set up."""
        secret = pyotp.random_base32()
        sealed = self._cipher.seal(secret, user.id, _PURPOSE)
        async with self.database.write_tx() as conn:
            if not await db.start_enrolment(conn, user.id, sealed, self.now()):
                raise TotpError("enrolled")
        return self.enrolment(user, secret)

    async def pending(self, user: StaffUser) -> Enrolment | None:
        """The unconfirmed secret again (the page reloaded), else None."""
        async with self.database.read_tx() as conn:
            row = await db.mfa_of(conn, user.id)
        if row is None or row.confirmed:
            return None
        secret = self._open(row)
        return self.enrolment(user, secret) if secret else None

    def enrolment(self, user: StaffUser, secret: str) -> Enrolment:
        uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER_NAME)
        return Enrolment(secret, uri)

    async def confirm(self, user: StaffUser, code: str) -> list[str] | None:
        """The recovery codes (shown once) when ``code`` is right for the pending secret."""
        async with self.database.write_tx() as conn:
            row = await db.mfa_of(conn, user.id)
            if row is None or row.confirmed:
                return None
            step = self._matching_step(row, code)
            if step is None or not await db.confirm(conn, user.id, step, self.now()):
                return None
            codes = [_recovery_code() for _ in range(RECOVERY_CODES)]
            digests = [self._digests(_normalise_recovery(c))[0] for c in codes]
            await db.replace_recovery_codes(conn, user.id, digests)
            await audit_db.record(conn, self.now(), user.username, "2fa_enrolled", None)
        return codes

    async def verify(self, user: StaffUser, code: str) -> bool:
        """A right code not used before, or an unused recovery code (spent now)."""
        code = code.strip()[:MAX_CODE_INPUT]
        async with self.database.write_tx() as conn:
            row = await db.mfa_of(conn, user.id)
            if row is None or not row.confirmed:
                return False
            step = self._matching_step(row, code)
            if step is not None:
                used = await db.use_step(conn, user.id, step)
                if used:
                    await self._reseal(conn, row)
                return used
            normalised = _normalise_recovery(code)
            if len(normalised) != 10:
                return False
            used = await db.use_recovery_code(conn, user.id, self._digests(normalised), self.now())
            if used:
                await audit_db.record(conn, self.now(), user.username, "2fa_recovery_used", None)
            return used

    async def check(self, user: StaffUser, code: str, address: str | None) -> CodeCheck:
        """``verify`` behind the brake: the attempt is counted first, cleared when right."""
        return await self._braked(user, address, lambda: self._verified(user, code))

    async def check_enrolment(self, user: StaffUser, code: str, address: str | None) -> CodeCheck:
        """``confirm`` behind the same brake; ``codes`` holds the recovery codes when right."""
        return await self._braked(user, address, lambda: self._confirmed(user, code))

    async def _verified(self, user: StaffUser, code: str) -> CodeCheck:
        return CodeCheck(await self.verify(user, code))

    async def _confirmed(self, user: StaffUser, code: str) -> CodeCheck:
        codes = await self.confirm(user, code)
        return CodeCheck(codes is not None, codes=codes)

    async def _braked(
        self,
        user: StaffUser,
        address: str | None,
        attempt: Callable[[], Awaitable[CodeCheck]],
    ) -> CodeCheck:
        where = keyed_digest(self.secret_key, "address", address or "?")
        key = Key(CODE_BRAKE.scope, where, keyed_digest(self.secret_key, "staff", str(user.id)))
        now = self.now()
        async with self.database.write_tx() as conn:
            if key not in await brake_db.reserve(conn, (CODE_BRAKE,), (key,), now):
                until = await brake_db.blocked_until(conn, (key,))
                wait = max(1, math.ceil((until - now).total_seconds())) if until else 1
                await audit_db.record(conn, now, user.username, "2fa_throttled", None, where)
                return CodeCheck(False, wait)
        result = await attempt()
        async with self.database.write_tx() as conn:
            if result.ok:
                await brake_db.clear(conn, key)
                await audit_db.record(conn, self.now(), user.username, "2fa_signin", None, where)
            else:
                await audit_db.record(conn, self.now(), user.username, "2fa_failed", None, where)
        return result

    async def recovery_codes_left(self, staff_id: int) -> int:
        async with self.database.read_tx() as conn:
            return await db.unused_recovery_codes(conn, staff_id)

    async def reset(self, by: str, username: str) -> bool:
        """Remove an account's second factor (admin or CLI; audited). False: it had none."""
        try:
            name = normalise_username(username)
        except StaffError:
            raise TotpError("not_found") from None
        async with self.database.write_tx() as conn:
            account = await staff_db.by_username(conn, name)
            if account is None:
                raise TotpError("not_found")
            removed = await db.delete_second_factor(conn, account.id)
            # Who reset, and (a row of its own, same time) whose factor went.
            await audit_db.record(conn, self.now(), by[:64], "2fa_reset", None)
            await audit_db.record(conn, self.now(), account.username, "2fa_removed", None)
        return removed

    async def _reseal(self, conn: AsyncConnection, row: db.MfaRow) -> None:
        """A secret an older key of SECRET_KEYS sealed moves to the newest at its next use."""
        try:
            resealed = self._cipher.reseal(row.secret_sealed, row.staff_id, _PURPOSE)
        except LinkError:
            return
        if resealed is not None:
            await db.reseal(conn, row.staff_id, row.secret_sealed, resealed)

    def _open(self, row: db.MfaRow) -> str | None:
        try:
            return self._cipher.open(row.secret_sealed, row.staff_id, _PURPOSE)
        except LinkError:
            return None  # sealed under a key no longer configured: an admin resets it

    def _matching_step(self, row: db.MfaRow, code: str) -> int | None:
        """The time step (now, or one either side) whose code this is, after the last used."""
        code = "".join(code.split())
        if not (code.isascii() and code.isdigit() and len(code) == 6):
            return None
        secret = self._open(row)
        if secret is None:
            return None
        totp = pyotp.TOTP(secret)
        current = totp.timecode(self.now())
        for step in (current - 1, current, current + 1):
            if step > row.last_step and hmac.compare_digest(totp.generate_otp(step), code):
                return step
        return None

    def _digests(self, code: str) -> list[str]:
        """The code's keyed digest under each key (newest first): rotation keeps codes valid."""
        raw = code.encode()
        return [hmac.new(key, raw, hashlib.sha256).hexdigest() for key in self._digest_keys]


def _recovery_code() -> str:
    """Ten characters (about 49 bits), shown as xxxxx-xxxxx."""
    text = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
    return f"{text[:5]}-{text[5:]}"


def _normalise_recovery(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def qr_svg(uri: str) -> str:
    """The otpauth:// URI as inline SVG markup (segno): no image request, and the staff
    pages' Content-Security-Policy (img-src 'self') allows it as it stands."""
    return str(segno.make(uri, error="m").svg_inline(scale=4, title="QR"))
