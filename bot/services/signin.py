"""Sign-in with its brake: after a few failures, per username and per client address, wait.

One service for the staff pages and the JSON API, so both doors throttle alike. The
brake is kept in memory per process (a restart forgets it, which is acceptable for a
brute-force brake; several processes each apply their own). Only failures count; a
success clears the username's record. The delay grows with every further failure, so
guessing stays slow without locking anyone out for long.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.domain import StaffUser
from bot.services.staff import MAX_PASSWORD_LENGTH, StaffService

FREE_FAILURES = 5
BASE_DELAY_SECONDS = 30
MAX_DELAY_SECONDS = 15 * 60
FORGET_AFTER_SECONDS = 3600
MAX_KEYS = 50_000
MAX_USERNAME = 100  # longer input is cut before it is looked up or counted


@dataclass
class _Record:
    failures: int = 0
    locked_until: float = 0.0
    last: float = 0.0


class SignInThrottle:
    """Failures per key ("user:<name>", "addr:<address>") and the wait they have earned."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._records: dict[str, _Record] = {}

    @staticmethod
    def keys(username: str, address: str | None) -> list[str]:
        return [f"user:{username.strip().casefold()}", f"addr:{address or '?'}"]

    def wait_seconds(self, keys: list[str]) -> int:
        """Seconds until another attempt is allowed for these keys (0: go ahead)."""
        now = self._clock()
        waits = [r.locked_until - now for k in keys if (r := self._records.get(k)) is not None]
        return max(0, int(max(waits, default=0) + 0.999))

    def failed(self, keys: list[str]) -> None:
        now = self._clock()
        if len(self._records) > MAX_KEYS:
            self._forget_old(now)
        for key in keys:
            record = self._records.setdefault(key, _Record())
            if now - record.last > FORGET_AFTER_SECONDS:
                record.failures = 0
            record.failures += 1
            record.last = now
            if record.failures >= FREE_FAILURES:
                extra = record.failures - FREE_FAILURES
                delay = min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2**extra)
                record.locked_until = now + delay

    def succeeded(self, username: str) -> None:
        self._records.pop(self.keys(username, None)[0], None)

    def _forget_old(self, now: float) -> None:
        for key in [k for k, r in self._records.items() if now - r.last > FORGET_AFTER_SECONDS]:
            del self._records[key]


@dataclass(frozen=True)
class SignInResult:
    """Who signed in (None: refused); ``retry_after`` > 0 when the brake said wait."""

    user: StaffUser | None
    retry_after: int = 0
    username: str = ""  # as checked (trimmed and cut), for the form shown again


class SignInService:
    """Check a username and password through the throttle; the doors only say the result."""

    def __init__(self, staff: StaffService, throttle: SignInThrottle | None = None) -> None:
        self.staff = staff
        self.throttle = throttle or SignInThrottle()

    async def sign_in(self, username: str, password: str, address: str | None) -> SignInResult:
        """Throttled first (a locked key never reaches argon2), then counted if wrong."""
        username = username.strip()[:MAX_USERNAME]
        password = password[:MAX_PASSWORD_LENGTH]
        keys = self.throttle.keys(username, address)
        wait = self.throttle.wait_seconds(keys)
        if wait:
            return SignInResult(None, wait, username)
        user = await self.staff.authenticate(username, password) if username and password else None
        if user is None:
            self.throttle.failed(keys)
            return SignInResult(None, 0, username)
        self.throttle.succeeded(username)
        return SignInResult(user, 0, username)
