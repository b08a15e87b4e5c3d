"""Logs never carry message text, names or chat ids, whatever LOG_LEVEL says.

python-telegram-bot logs every update and every Bot API call (with names, text
and chat ids) at DEBUG, database drivers log statements with their parameters, and
HTTP clients log URLs that contain the bot token. Those
loggers are held at WARNING, where they only report failures; our own modules
log event kinds and error types, never content.
"""

from __future__ import annotations

import logging

QUIET_LOGGERS = (
    "telegram",
    "httpx",
    "httpcore",
    "aiohttp.access",
    "aiohttp.client",
    "hpack",
    # Database drivers log statements with their parameters (case texts) at DEBUG.
    "aiosqlite",
    "asyncpg",
    "sqlalchemy",
)


def enforce_log_privacy() -> None:
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)
