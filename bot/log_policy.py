"""Logs never carry message text, names or chat ids, whatever LOG_LEVEL says.

python-telegram-bot logs every update and every Bot API call (with names, text
and chat ids) at DEBUG, database drivers log statements with their parameters, and
HTTP clients log URLs that contain the bot token. Those
loggers are held at WARNING, where they only report failures; our own modules
log event kinds and error types, never content.

Errors are logged with where they happened and never with what they say: an exception's
message can hold a statement's parameters (a case text, a phone number), and a traceback
with local variables holds everything. So both formats below print an exception as its
type and its frames ("file:line in function") only, for the exception and each cause,
whatever handler formatted the record before. ``LOG_FORMAT=json`` writes one JSON object
per line (``ts`` in UTC, ``level``, ``logger``, ``message``, ``exception``); ``text``
keeps the line format the product always had. Both are plain ``logging.Formatter``
subclasses: the exception rule is the part that matters, and it is ours either way.
"""

from __future__ import annotations

import json
import logging
import sys
import sysconfig
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

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


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MAX_FRAMES = 60  # the innermost ones; a deep recursion does not flood the log
# Loggers whose message is built from reprs of objects that carry exception messages
# (asyncio's "Task exception was never retrieved" shows the task's repr): first line only.
FIRST_LINE_ONLY = ("asyncio",)


def _path_prefixes() -> tuple[str, ...]:
    """Where frames' files live: shortened to the part below these (longest first)."""
    paths = sysconfig.get_paths()
    found = {str(Path(__file__).resolve().parent.parent)}
    found.update(paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib"))
    return tuple(sorted((p.rstrip("/") + "/" for p in found), key=len, reverse=True))


_PREFIXES = _path_prefixes()


def _short(filename: str) -> str:
    for prefix in _PREFIXES:
        if filename.startswith(prefix):
            return filename[len(prefix) :]
    return filename


def _type_name(exc: BaseException) -> str:
    kind = type(exc)
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def exception_chain(exc: BaseException) -> list[dict[str, Any]]:
    """The exception and its causes, each as its type and frames; never a message or a value."""
    chain: list[dict[str, Any]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        frames = traceback.extract_tb(current.__traceback__)
        lines = [f"{_short(f.filename)}:{f.lineno} in {f.name}" for f in frames[-MAX_FRAMES:]]
        if len(frames) > MAX_FRAMES:
            lines.insert(0, f"({len(frames) - MAX_FRAMES} outer frames left out)")
        chain.append({"type": _type_name(current), "frames": lines})
        cause = current.__cause__
        if cause is None and not current.__suppress_context__:
            cause = current.__context__
        current = cause
    return chain


def _exception_of(record: logging.LogRecord) -> BaseException | None:
    info = record.exc_info
    if not info:
        return None
    return info[1]


def _message(record: logging.LogRecord) -> str:
    message = record.getMessage()
    if record.name.split(".", 1)[0] in FIRST_LINE_ONLY:
        message = message.split("\n", 1)[0]
    return message


class TextFormatter(logging.Formatter):
    """Today's line, then for an exception its type and frames (indented), causes after it."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        record.message = _message(record)
        record.asctime = self.formatTime(record, self.datefmt)
        lines = [self.formatMessage(record)]
        exc = _exception_of(record)
        if exc is not None:
            for i, link in enumerate(exception_chain(exc)):
                lines.append(f"  {'caused by' if i else 'exception'} {link['type']}")
                lines.extend(f"    at {frame}" for frame in link["frames"])
        if record.stack_info:
            lines.append(self.formatStack(record.stack_info))
        return "\n".join(lines)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC, ISO 8601), level, logger, message, exception."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC)
        entry: dict[str, Any] = {
            "ts": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": _message(record),
        }
        exc = _exception_of(record)
        if exc is not None:
            entry["exception"] = exception_chain(exc)  # the logged one first, then its causes
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False)


def formatter(log_format: Literal["text", "json"]) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


def setup_logging(
    level: str, log_format: Literal["text", "json"] = "text", stream: IO[str] | None = None
) -> None:
    """The root handler (stderr) in the chosen format; the chatty loggers held at WARNING.

    Like ``logging.basicConfig`` it leaves a root logger that already has handlers alone
    (an embedding application's, or pytest's).
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(formatter(log_format))
    logging.basicConfig(level=level, handlers=[handler])
    enforce_log_privacy()
    logging.getLogger("alembic").setLevel(logging.WARNING)
