"""Settings from the environment, validated once at start.

Every problem becomes one ``ConfigError`` line the CLI prints before exiting
non-zero, so an operator never has to read a traceback to fix a typo.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DATA = Path(__file__).resolve().parent / "_data"
DEFAULT_API_URL = "https://api.telegram.org/bot"

_TOKEN_RE = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{20,100}$")
_SECRET_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message is one line for the operator."""


IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
LogFormat = Literal["text", "json"]


def shipped_dir(name: str) -> Path:
    """Where ``content`` or ``locales`` is when no *_DIR setting names one.

    In a source tree or an editable install, the repository's own folder; in an
    installed wheel, the copy shipped as package data (``bot/_data/<name>``).
    """
    in_tree = REPO_ROOT / name
    if (REPO_ROOT / "pyproject.toml").is_file() and in_tree.is_dir():
        return in_tree
    return PACKAGE_DATA / name


def default_data_dir() -> Path:
    """Where the SQLite file lives when DATA_DIR is not set.

    In a source tree, its ``data`` folder; in an installed package, ``./data`` in the
    working directory (never inside site-packages).
    """
    if (REPO_ROOT / "pyproject.toml").is_file():
        return REPO_ROOT / "data"
    return Path.cwd() / "data"


@dataclass(frozen=True)
class OidcGroup:
    """One OIDC_GROUP_MAP entry: members of ``group`` get ``role`` in ``teams``."""

    group: str
    role: Literal["staff", "coordinator", "admin"]
    teams: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settings:
    """What the process needs to know about its deployment."""

    telegram_bot_token: str | None = None
    telegram_api_url: str = DEFAULT_API_URL
    database_url: str = ""
    data_dir: Path = field(default_factory=default_data_dir)
    webhook_url: str | None = None
    webhook_secret: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    secret_key: bytes | None = None
    content_dir: Path = field(default_factory=lambda: shipped_dir("content"))
    locales_dir: Path = field(default_factory=lambda: shipped_dir("locales"))
    session_retention_days: int = 30
    log_level: str = "INFO"
    case_link_grace_days: int = 7
    case_text_retention_days: int = 30
    case_auto_release_minutes: int = 30
    # Floods (issue #11): a chat's updates at once and per minute after that; the relative's
    # messages stored per request per hour (more are held back and counted).
    flood_burst: int = 20
    flood_per_minute: int = 60
    case_messages_per_hour: int = 60
    staff_notify_chat_id: int | None = None
    staff_notify_language: str = "sv"
    public_url: str | None = None  # where the public pages are reached (the bot links to them)
    fallback_team: str | None = None  # team whose queue takes other municipalities' requests
    migrate_on_start: bool = True  # false: refuse to start unless `python -m bot migrate` ran
    preview_allow_public: bool = False  # preview on a non-loopback HOST (or `preview --public`)
    # Older keys, newest first, kept only to open what they sealed (SECRET_KEYS rotation);
    # secret_key is always the newest and the only one that seals or pseudonymises.
    old_secret_keys: tuple[bytes, ...] = ()
    # Peers whose X-Forwarded-For / X-Forwarded-Proto are believed (the reverse proxy).
    trusted_proxies: tuple[IpNetwork, ...] = ()
    # Connections per process on PostgreSQL: SQLAlchemy pool + overflow + the direct pool.
    db_pool_size: int = 5
    db_max_overflow: int = 5
    db_direct_pool_size: int = 5
    log_format: LogFormat = "text"
    telegram_proxy: str | None = None  # outbound proxy for Bot API calls
    time_zone: str = "Europe/Stockholm"  # staff pages' times and statistics days
    audit_retention_days: int = 365
    # The accessibility statement (/accessibility): who runs the service and where to
    # report a problem (an e-mail address or an https page); unset, the page says so.
    accessibility_organisation: str | None = None
    accessibility_contact: str | None = None
    # Staff sign-in (issue #11): a second factor for everyone, and OpenID Connect.
    require_2fa: bool = False
    local_passwords: bool = True  # false: only single sign-on (needs OIDC_ISSUER)
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_group_map: tuple[OidcGroup, ...] = ()
    oidc_groups_claim: str = "groups"

    @property
    def all_secret_keys(self) -> tuple[bytes, ...]:
        """The current key first, then the old ones: what may open a sealed value."""
        return ((self.secret_key,) if self.secret_key else ()) + self.old_secret_keys

    @property
    def db_connection_budget(self) -> int:
        """The most PostgreSQL connections one process may hold."""
        return self.db_pool_size + self.db_max_overflow + self.db_direct_pool_size

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


_EMAIL = re.compile(r"[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+")


def _accessibility_contact(env: Mapping[str, str]) -> str | None:
    """An e-mail address or an https page where people report accessibility problems."""
    raw = env.get("ACCESSIBILITY_CONTACT", "").strip()
    if raw[:7].lower() == "mailto:":
        raw = raw[7:]
    if not raw:
        return None
    parts = urlsplit(raw)
    if (parts.scheme == "https" and parts.netloc) or _EMAIL.fullmatch(raw):
        return raw
    raise ConfigError(
        f"ACCESSIBILITY_CONTACT must be an e-mail address or an https:// URL, got {raw!r}"
    )


def _accessibility_organisation(env: Mapping[str, str]) -> str | None:
    raw = " ".join(env.get("ACCESSIBILITY_ORGANISATION", "").split())
    if len(raw) > 200 or not raw.isprintable():
        raise ConfigError("ACCESSIBILITY_ORGANISATION must be a name of at most 200 characters")
    return raw or None


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _secret_key(raw: str, name: str = "SECRET_KEY") -> bytes:
    """SECRET_KEY keys the chat pseudonyms; a short one would make them guessable."""
    key = raw.strip().encode()
    if len(key) < 32:
        raise ConfigError(
            f"{name} must be at least 32 characters "
            "(make one with: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )
    return key


SECRET_SETTINGS = (
    "TELEGRAM_BOT_TOKEN",
    "SECRET_KEY",
    "SECRET_KEYS",
    "WEBHOOK_SECRET",
    "DATABASE_URL",
    "STAFF_PASSWORD",
)


def read_secret(env: Mapping[str, str], name: str) -> str:
    """A secret from NAME, from the file NAME_FILE names, or from a systemd credential.

    Files keep secrets out of process listings and container inspection. A systemd
    credential is the file ``$CREDENTIALS_DIRECTORY/<name in lower case>``. Setting both
    NAME and NAME_FILE is refused: which one wins would be a guess.
    """
    direct = env.get(name, "").strip()
    file_name = env.get(f"{name}_FILE", "").strip()
    if direct and file_name:
        raise ConfigError(f"{name} and {name}_FILE are both set; keep one")
    if not file_name and not direct and env.get("CREDENTIALS_DIRECTORY", "").strip():
        credential = Path(env["CREDENTIALS_DIRECTORY"].strip()) / name.lower()
        if credential.is_file():
            file_name = str(credential)
    if not file_name:
        return direct
    try:
        return Path(file_name).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{name}_FILE {file_name!r} cannot be read ({type(exc).__name__})"
        ) from None


def _secret_keys(env: Mapping[str, str]) -> tuple[bytes | None, tuple[bytes, ...]]:
    """SECRET_KEY, or SECRET_KEYS = the new key first, then old ones (space or comma apart)."""
    single = read_secret(env, "SECRET_KEY")
    many = read_secret(env, "SECRET_KEYS")
    if single and many:
        raise ConfigError("SECRET_KEY and SECRET_KEYS are both set; keep one")
    if single:
        return _secret_key(single), ()
    parts = [part for part in re.split(r"[\s,]+", many) if part]
    keys = [_secret_key(part, "each key in SECRET_KEYS") for part in parts]
    if len(set(keys)) != len(keys):
        raise ConfigError("SECRET_KEYS lists the same key twice")
    if not keys:
        return None, ()
    return keys[0], tuple(keys[1:])


def _trusted_proxies(env: Mapping[str, str]) -> tuple[IpNetwork, ...]:
    """TRUSTED_PROXIES: addresses or networks (127.0.0.1, 10.0.0.0/8, ::1), comma apart."""
    networks: list[IpNetwork] = []
    for part in re.split(r"[\s,]+", env.get("TRUSTED_PROXIES", "").strip()):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ConfigError(
                f"TRUSTED_PROXIES must list IP addresses or networks, got {part!r}"
            ) from None
    return tuple(networks)


def _time_zone(env: Mapping[str, str]) -> str:
    raw = env.get("TIME_ZONE", "").strip() or "Europe/Stockholm"
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"TIME_ZONE must be an IANA time zone like Europe/Stockholm, got {raw!r}"
        ) from None
    return raw


def _log_format(env: Mapping[str, str]) -> LogFormat:
    raw = env.get("LOG_FORMAT", "").strip().lower() or "text"
    if raw == "text":
        return "text"
    if raw == "json":
        return "json"
    raise ConfigError(f"LOG_FORMAT must be text or json, got {raw!r}")


def _telegram_proxy(env: Mapping[str, str]) -> str | None:
    """TELEGRAM_PROXY, else HTTPS_PROXY / https_proxy: where Bot API calls go out."""
    for name in ("TELEGRAM_PROXY", "HTTPS_PROXY", "https_proxy"):
        if env.get(name, "").strip():
            return _url(env, name, schemes=("http", "https", "socks5", "socks5h"))
    return None


def _fallback_team(env: Mapping[str, str]) -> str | None:
    """FALLBACK_TEAM: a team id (checked against content/teams at start), or unset."""
    raw = env.get("FALLBACK_TEAM", "").strip()
    if not raw:
        return None
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,23}", raw) or raw == "none":
        raise ConfigError(f"FALLBACK_TEAM must be a team id like laholm, got {raw!r}")
    return raw


_GROUP_ROLES: tuple[Literal["staff", "coordinator", "admin"], ...] = (
    "staff",
    "coordinator",
    "admin",
)


def _oidc_group_map(raw: str) -> tuple[OidcGroup, ...]:
    """OIDC_GROUP_MAP: "group=role:team,team;group=admin" (admins need no team)."""
    entries: list[OidcGroup] = []
    for part in raw.split(";"):
        if not part.strip():
            continue
        group, sep, grant = part.partition("=")
        role_name, _, team_list = grant.strip().partition(":")
        teams = tuple(t.strip() for t in team_list.split(",") if t.strip())
        role = next((r for r in _GROUP_ROLES if r == role_name.strip()), None)
        if not sep or not group.strip() or role is None:
            raise ConfigError(
                f"OIDC_GROUP_MAP entries are group=role:team,team (role staff, coordinator "
                f"or admin), got {part.strip()[:80]!r}"
            )
        if role != "admin" and not teams:
            raise ConfigError(f"OIDC_GROUP_MAP: group {group.strip()!r} needs at least one team")
        bad = [t for t in teams if not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", t)]
        if bad:
            raise ConfigError(f"OIDC_GROUP_MAP: {bad[0]!r} is not a team id like laholm")
        entries.append(OidcGroup(group.strip(), role, teams))
    return tuple(entries)


def _with_sign_in(settings: Settings, env: Mapping[str, str]) -> Settings:
    """REQUIRE_2FA, LOCAL_PASSWORDS and the OIDC_* settings, checked together."""
    issuer = _url(env, "OIDC_ISSUER", schemes=("https", "http"))
    client_id = env.get("OIDC_CLIENT_ID", "").strip() or None
    client_secret = read_secret(env, "OIDC_CLIENT_SECRET") or None
    group_map = _oidc_group_map(env.get("OIDC_GROUP_MAP", ""))
    local_passwords = _bool(env, "LOCAL_PASSWORDS", True)
    if issuer is not None:
        if client_id is None or client_secret is None:
            raise ConfigError("OIDC_ISSUER is set: OIDC_CLIENT_ID and OIDC_CLIENT_SECRET too")
        if not group_map:
            raise ConfigError("OIDC_ISSUER is set: OIDC_GROUP_MAP must map at least one group")
    elif client_id or client_secret or group_map:
        raise ConfigError("OIDC_CLIENT_ID, OIDC_CLIENT_SECRET and OIDC_GROUP_MAP need OIDC_ISSUER")
    if not local_passwords and issuer is None:
        raise ConfigError("LOCAL_PASSWORDS=false needs single sign-on (OIDC_ISSUER)")
    claim = env.get("OIDC_GROUPS_CLAIM", "").strip() or "groups"
    if not re.fullmatch(r"[A-Za-z0-9_.:/-]{1,100}", claim):
        raise ConfigError(f"OIDC_GROUPS_CLAIM must be a claim name like groups, got {claim!r}")
    return replace(
        settings,
        require_2fa=_bool(env, "REQUIRE_2FA", False),
        local_passwords=local_passwords,
        oidc_issuer=issuer,  # exactly as the provider's discovery document and tokens say it
        oidc_client_id=client_id,
        oidc_client_secret=client_secret,
        oidc_group_map=group_map,
        oidc_groups_claim=claim,
    )


def load_settings(env: Mapping[str, str] | None = None, *, require_telegram: bool) -> Settings:
    """Read and check every setting; raise ConfigError with one clear line on the first problem.

    ``require_telegram`` is False for offline commands (preview, content check),
    which need neither a token nor a secret key.
    """
    env = os.environ if env is None else env
    token = read_secret(env, "TELEGRAM_BOT_TOKEN") or None
    if token is not None and not _TOKEN_RE.match(token):
        raise ConfigError("TELEGRAM_BOT_TOKEN does not look like a bot token (digits:letters)")
    if require_telegram and token is None:
        raise ConfigError("TELEGRAM_BOT_TOKEN is not set (get one from @BotFather)")

    api_url = _url(env, "TELEGRAM_API_URL", schemes=("http", "https")) or DEFAULT_API_URL
    webhook_url = _url(env, "WEBHOOK_URL", schemes=("https", "http"))
    webhook_secret = read_secret(env, "WEBHOOK_SECRET") or None
    if webhook_secret is not None and not _SECRET_TOKEN_RE.match(webhook_secret):
        raise ConfigError("WEBHOOK_SECRET may only use A-Z, a-z, 0-9, _ and - (1-256 characters)")
    if webhook_url and webhook_secret is None:
        raise ConfigError("WEBHOOK_SECRET must be set when WEBHOOK_URL is set")

    secret_key, old_secret_keys = _secret_keys(env)
    if require_telegram and secret_key is None:
        raise ConfigError("SECRET_KEY is not set (it keys the anonymous chat pseudonyms)")

    data_dir = Path(env.get("DATA_DIR", "").strip() or default_data_dir())
    database_url = read_secret(env, "DATABASE_URL") or f"sqlite+aiosqlite:///{data_dir / 'bot.db'}"
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

    settings = Settings(
        telegram_bot_token=token,
        telegram_api_url=api_url,
        database_url=database_url,
        data_dir=data_dir,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        host=env.get("HOST", "").strip() or "127.0.0.1",
        port=_int(env, "PORT", 8080, 0, 65535),
        secret_key=secret_key,
        content_dir=Path(env.get("CONTENT_DIR", "").strip() or shipped_dir("content")),
        locales_dir=Path(env.get("LOCALES_DIR", "").strip() or shipped_dir("locales")),
        session_retention_days=_int(env, "SESSION_RETENTION_DAYS", 30, 1, 365),
        log_level=level,
        case_link_grace_days=_int(env, "CASE_LINK_GRACE_DAYS", 7, 0, 90),
        case_text_retention_days=_int(env, "CASE_TEXT_RETENTION_DAYS", 30, 1, 365),
        case_auto_release_minutes=_int(env, "CASE_AUTO_RELEASE_MINUTES", 30, 1, 24 * 60),
        flood_burst=_int(env, "FLOOD_BURST", 20, 1, 1000),
        flood_per_minute=_int(env, "FLOOD_PER_MINUTE", 60, 1, 1000),
        case_messages_per_hour=_int(env, "CASE_MESSAGES_PER_HOUR", 60, 1, 10_000),
        staff_notify_chat_id=int(notify_raw) if notify_raw else None,
        staff_notify_language=notify_language,
        public_url=_url(env, "PUBLIC_URL", schemes=("https", "http")),
        fallback_team=_fallback_team(env),
        migrate_on_start=_bool(env, "MIGRATE_ON_START", True),
        preview_allow_public=_bool(env, "PREVIEW_ALLOW_PUBLIC", False),
        old_secret_keys=old_secret_keys,
        trusted_proxies=_trusted_proxies(env),
        db_pool_size=_int(env, "DB_POOL_SIZE", 5, 1, 100),
        db_max_overflow=_int(env, "DB_MAX_OVERFLOW", 5, 0, 100),
        db_direct_pool_size=_int(env, "DB_DIRECT_POOL_SIZE", 5, 1, 100),
        log_format=_log_format(env),
        telegram_proxy=_telegram_proxy(env),
        time_zone=_time_zone(env),
        audit_retention_days=_int(env, "AUDIT_RETENTION_DAYS", 365, 1, 3650),
        accessibility_organisation=_accessibility_organisation(env),
        accessibility_contact=_accessibility_contact(env),
    )
    return _with_sign_in(settings, env)


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
