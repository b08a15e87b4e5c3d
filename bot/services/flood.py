"""A per-chat budget for incoming updates: a token bucket keyed by the chat's pseudonym.

Checked before any work on an update (no state is loaded for an update over budget): a
chat may send ``burst`` updates at once and ``per_minute`` a minute after that. The first
update over the budget is answered with one calm "please slow down"; the chat is then
muted (nothing stored, nothing relayed, no reply) until its bucket has refilled
completely, so a flood costs one notice and a dictionary look-up per update.

The buckets live in process memory (bounded: full buckets are dropped once there are many),
so each process has its own. In polling mode one process takes every update; with the
webhook behind several processes a chat could get up to one budget per process, which a
load balancer keyed on nothing per chat makes unlikely to matter (the hourly cap per case
is in the database and holds across processes). A restart forgives every chat.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Verdict = Literal["admit", "notify", "drop"]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float
    muted: bool = False


class IncomingBudget:
    """``admit(key)``: "admit" (go on), "notify" (over budget: send the one notice), "drop"."""

    def __init__(
        self,
        burst: int,
        per_minute: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        if burst < 1 or per_minute <= 0:
            raise ValueError("a budget needs burst >= 1 and per_minute > 0")
        self.burst = float(burst)
        self.rate = per_minute / 60.0  # tokens per second
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}
        self.dropped = 0  # updates refused since start (notices included), for the bench

    def admit(self, key: str) -> Verdict:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._max_keys:
                self._prune(now)
            bucket = self._buckets[key] = _Bucket(self.burst, now)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
        if bucket.muted:
            if bucket.tokens < self.burst:
                self.dropped += 1
                return "drop"
            bucket.muted = False
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return "admit"
        bucket.muted = True
        self.dropped += 1
        return "notify"

    def _prune(self, now: float) -> None:
        """Forget the chats whose buckets are full again (they would start full anyway)."""
        for key, bucket in list(self._buckets.items()):
            if bucket.tokens + (now - bucket.at) * self.rate >= self.burst:
                del self._buckets[key]
        if len(self._buckets) >= self._max_keys:  # all busy: forget the oldest
            oldest = sorted(self._buckets, key=lambda k: self._buckets[k].at)
            for key in oldest[: len(oldest) // 2]:
                del self._buckets[key]
