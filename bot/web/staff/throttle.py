"""Sign-in throttling: after a few failures, per username and per client address, wait.

Kept in memory per process (a restart forgets it, which is acceptable for a
brute-force brake; several processes each apply their own brake). Only failures
count, a success clears the username's record. The delay grows with every
further failure, so guessing stays slow without locking anyone out for long.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

FREE_FAILURES = 5
BASE_DELAY_SECONDS = 30
MAX_DELAY_SECONDS = 15 * 60
FORGET_AFTER_SECONDS = 3600
MAX_KEYS = 50_000


@dataclass
class _Record:
    failures: int = 0
    locked_until: float = 0.0
    last: float = 0.0


class SignInThrottle:
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
