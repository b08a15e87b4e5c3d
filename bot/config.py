"""Settings from the environment, validated once at start.

Every problem becomes one ``ConfigError`` line the CLI prints before exiting
non-zero, so an operator never has to read a traceback to fix a typo.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_API_URL = "https://api.telegram.org/bot"

_TOKEN_RE = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{20,100}$")
_SECRET_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message is one line for the operator."""


@dataclass(frozen=True)
class Settings:
    """What the process needs to know about its deployment."""

    telegram_bot_token: str | None = None
    telegram_api_url: str = DEFAULT_API_URL
    database_url: str = ""
    data_dir: Path = field(default_factory=lambda: REPO_ROOT / "data")
    webhook_url: str | None = None
    webhook_secret: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    secret_key: bytes | None = None
    content_dir: Path = field(default_factory=lambda: REPO_ROOT / "content")
    locales_dir: Path = field(default_factory=lambda: REPO_ROOT / "locales")
    session_retention_days: int = 30
    log_level: str = "INFO"
    case_link_grace_days: int = 7
    case_text_retention_days: int = 30
    case_auto_release_minutes: int = 30
    staff_notify_chat_id: int | None = None
    staff_notify_language: str = "sv"
    public_url: str | None = None  # where the public pages are reached (the bot links to them)
    fallback_team: str | None = None  # team whose queue takes other municipalities' requests
    migrate_on_start: bool = True  # false: refuse to start unless `python -m bot migrate` ran

    @property
    def webhook_path(self) -> str:
        """The local route Telegram posts to: the path part of WEBHOOK_URL."""
        if not self.webhook_url:
            return "/telegram/webhook"
        return urlsplit(self.webhook_url).path or "/telegram/webhook"

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with some values replaced (preview and tests use it)."""
        # mypy cannot match **changes to the fields; replace() refuses unknown names at run time.
        return replace(self, **changes)  # type: ignore[arg-type]


def _int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _url(env: Mapping[str, str], name: str, *, schemes: tuple[str, ...]) -> str | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in schemes or not parts.netloc:
        raise ConfigError(f"{name} must be a {' or '.join(schemes)} URL, got {raw!r}")
    return raw


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _secret_key(raw: str) -> bytes:
    """SECRET_KEY keys the chat pseudonyms; a short one would make them guessable."""
    key = raw.strip().encode()
    if len(key) < 32:
        raise ConfigError(
            "SECRET_KEY must be at least 32 characters "
            "(make one with: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )
    return key


def _fallback_team(env: Mapping[str, str]) -> str | None:
    """FALLBACK_TEAM: a team id (checked against content/teams at start), or unset."""
    raw = env.get("FALLBACK_TEAM", "").strip()
    if not raw:
        return None
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,23}", raw) or raw == "none":
        raise ConfigError(f"FALLBACK_TEAM must be a team id like laholm, got {raw!r}")
    return raw


def load_settings(env: Mapping[str, str] | None = None, *, require_telegram: bool) -> Settings:
    """Read and check every setting; raise ConfigError with one clear line on the first problem.

    ``require_telegram`` is False for offline commands (preview, content check),
    which need neither a token nor a secret key.
    """
    env = os.environ if env is None else env
    token = env.get("TELEGRAM_BOT_TOKEN", "").strip() or None
    if token is not None and not _TOKEN_RE.match(token):
        raise ConfigError("TELEGRAM_BOT_TOKEN does not look like a bot token (digits:letters)")
    if require_telegram and token is None:
        raise ConfigError("TELEGRAM_BOT_TOKEN is not set (get one from @BotFather)")

    api_url = _url(env, "TELEGRAM_API_URL", schemes=("http", "https")) or DEFAULT_API_URL
    webhook_url = _url(env, "WEBHOOK_URL", schemes=("https", "http"))
    webhook_secret = env.get("WEBHOOK_SECRET", "").strip() or None
    if webhook_secret is not None and not _SECRET_TOKEN_RE.match(webhook_secret):
        raise ConfigError("WEBHOOK_SECRET may only use A-Z, a-z, 0-9, _ and - (1-256 characters)")
    if webhook_url and webhook_secret is None:
        raise ConfigError("WEBHOOK_SECRET must be set when WEBHOOK_URL is set")

    secret_raw = env.get("SECRET_KEY", "")
    secret_key = _secret_key(secret_raw) if secret_raw.strip() else None
    if require_telegram and secret_key is None:
        raise ConfigError("SECRET_KEY is not set (it keys the anonymous chat pseudonyms)")

    data_dir = Path(env.get("DATA_DIR", "").strip() or REPO_ROOT / "data")
    database_url = (
        env.get("DATABASE_URL", "").strip() or f"sqlite+aiosqlite:///{data_dir / 'bot.db'}"
    )
    database_url = normalise_database_url(database_url)

    notify_raw = env.get("STAFF_NOTIFY_CHAT_ID", "").strip()
    if notify_raw and not re.fullmatch(r"-?\d{1,20}", notify_raw):
        raise ConfigError("STAFF_NOTIFY_CHAT_ID must be a Telegram chat id (an integer)")
    notify_language = env.get("STAFF_NOTIFY_LANGUAGE", "").strip().lower() or "sv"
    if notify_language not in ("sv", "en"):
        raise ConfigError(f"STAFF_NOTIFY_LANGUAGE must be sv or en, got {notify_language!r}")

    level = env.get("LOG_LEVEL", "INFO").strip().upper() or "INFO"
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {level!r}")

    return Settings(
        telegram_bot_token=token,
        telegram_api_url=api_url,
        database_url=database_url,
        data_dir=data_dir,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        host=env.get("HOST", "").strip() or "127.0.0.1",
        port=_int(env, "PORT", 8080, 0, 65535),
        secret_key=secret_key,
        content_dir=Path(env.get("CONTENT_DIR", "").strip() or REPO_ROOT / "content"),
        locales_dir=Path(env.get("LOCALES_DIR", "").strip() or REPO_ROOT / "locales"),
        session_retention_days=_int(env, "SESSION_RETENTION_DAYS", 30, 1, 365),
        log_level=level,
        case_link_grace_days=_int(env, "CASE_LINK_GRACE_DAYS", 7, 0, 90),
        case_text_retention_days=_int(env, "CASE_TEXT_RETENTION_DAYS", 30, 1, 365),
        case_auto_release_minutes=_int(env, "CASE_AUTO_RELEASE_MINUTES", 30, 1, 24 * 60),
        staff_notify_chat_id=int(notify_raw) if notify_raw else None,
        staff_notify_language=notify_language,
        public_url=_url(env, "PUBLIC_URL", schemes=("https", "http")),
        fallback_team=_fallback_team(env),
        migrate_on_start=_bool(env, "MIGRATE_ON_START", True),
    )


def normalise_database_url(url: str) -> str:
    """Accept the URLs people paste (postgres://, sqlite:///) and pick the async drivers."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ConfigError(f"DATABASE_URL is not a URL: {url!r}")
    mapping = {
        "postgres": "postgresql+asyncpg",
        "postgresql": "postgresql+asyncpg",
        "postgresql+asyncpg": "postgresql+asyncpg",
        "sqlite": "sqlite+aiosqlite",
        "sqlite+aiosqlite": "sqlite+aiosqlite",
    }
    if scheme not in mapping:
        raise ConfigError(f"DATABASE_URL must be sqlite:/// or postgresql://, got {scheme}://")
    return f"{mapping[scheme]}://{rest}"
