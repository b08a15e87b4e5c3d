"""Counters of the bot's work for ``/metrics``: updates handled, their latency, Bot API errors.

Why here (services) and not in a door: the Telegram door counts, the web door exports,
and neither imports the other; the runtime makes one ``Telemetry`` per process and gives
it to both. Each has its own registry, so two servers in one process (the tests) count
apart. Every label comes from a fixed vocabulary below: no chat id, no name, no text,
no case code, no method parameter can become a label value.
"""

from __future__ import annotations

from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Histogram

UpdateKind = Literal["message", "callback_query", "other"]
UPDATE_KINDS: tuple[UpdateKind, ...] = ("message", "callback_query", "other")
Outcome = Literal["ok", "error"]
OUTCOMES: tuple[Outcome, ...] = ("ok", "error")
BotApiErrorKind = Literal[
    "network",  # no answer: connection refused or reset, DNS, proxy
    "timeout",  # no answer in time
    "retry_after",  # 429: flood control
    "bad_request",  # 400
    "forbidden",  # 403: the relative blocked the bot, or the bot may not write there
    "unauthorized",  # 401 or 404: the token is wrong or revoked
    "conflict",  # 409: another process polls with the same token, or a webhook is set
    "server",  # 5xx: Telegram's side
    "other",  # any other status that is not a success
]
BOT_API_ERROR_KINDS: tuple[BotApiErrorKind, ...] = (
    "network",
    "timeout",
    "retry_after",
    "bad_request",
    "forbidden",
    "unauthorized",
    "conflict",
    "server",
    "other",
)
OverBudget = Literal["notice", "dropped"]
OVER_BUDGET: tuple[OverBudget, ...] = ("notice", "dropped")
# Handling an update costs about a millisecond of CPU; Bot API round trips add tens.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def bot_api_error_kind(status: int) -> BotApiErrorKind | None:
    """The kind of a Bot API answer by its HTTP status; None for a success."""
    if 200 <= status < 300:
        return None
    match status:
        case 400:
            return "bad_request"
        case 401 | 404:
            return "unauthorized"
        case 403:
            return "forbidden"
        case 409:
            return "conflict"
        case 429:
            return "retry_after"
    return "server" if status >= 500 else "other"


class Telemetry:
    """The process's counters and their registry (the web door adds its gauges to it)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.updates = Counter(
            "helpline_updates_handled",
            "Telegram updates handled, by kind and outcome (error: a handler raised).",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "helpline_update_handling_seconds",
            "Time from taking an update to finishing it, Bot API calls included, by kind.",
            ["kind"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.bot_api_errors = Counter(
            "helpline_bot_api_errors",
            "Bot API calls that failed, by kind (HTTP status class or the transport's error).",
            ["kind"],
            registry=self.registry,
        )
        self.over_budget = Counter(
            "helpline_updates_over_budget",
            "Telegram updates over their chat's incoming budget, not handled (notice: the one"
            " 'please slow down' answered; dropped: nothing done).",
            ["action"],
            registry=self.registry,
        )
        # Every series exists from the start (rate() needs its zero), and the children are
        # looked up once: labels() per update would cost more than the counting itself.
        self._handled = {
            (kind, outcome == "ok"): self.updates.labels(kind, outcome)
            for kind in UPDATE_KINDS
            for outcome in OUTCOMES
        }
        self._latency = {kind: self.latency.labels(kind) for kind in UPDATE_KINDS}
        self._errors = {kind: self.bot_api_errors.labels(kind) for kind in BOT_API_ERROR_KINDS}
        self._over = {action: self.over_budget.labels(action) for action in OVER_BUDGET}

    def update_handled(self, kind: UpdateKind, ok: bool, seconds: float) -> None:
        self._handled[kind, ok].inc()
        self._latency[kind].observe(seconds)

    def bot_api_error(self, kind: BotApiErrorKind) -> None:
        self._errors[kind].inc()

    def update_over_budget(self, action: OverBudget) -> None:
        """An update the flood budget refused: no chat, no pseudonym, only what was done."""
        self._over[action].inc()
