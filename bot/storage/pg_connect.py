"""How this process reaches PostgreSQL: DATABASE_URL read once, for every connection path.

Why one parsing: the SQLAlchemy engine (asyncpg dialect), the one direct asyncpg pool and
the benchmarks' admin connections must agree on where the server is and on TLS. asyncpg
takes TLS as one ``ssl`` argument, not as libpq's query parameters: SQLAlchemy passed
``?sslmode=require`` on as a keyword asyncpg refuses (a crash at start), and the direct
pool read ``?ssl=require`` as a server setting. Here the libpq parameters operators know
(``sslmode``, ``sslrootcert``, ``sslcert``, ``sslkey``, and ``ssl``, which SQLAlchemy users
paste) become ONE ``ssl.SSLContext`` (or asyncpg's own "allow"/"prefer", which may fall
back to plain TCP and so cannot be a context) and leave the URL, so no driver sees them.

What each mode does (as libpq does it):

* ``disable``: no TLS. ``allow`` / ``prefer``: TLS if the server offers it, no checks.
* ``require``: TLS, encrypted but the certificate is not checked; with ``sslrootcert``
  (or ``~/.postgresql/root.crt``) the chain is checked, as libpq does.
* ``verify-ca``: the chain must lead to ``sslrootcert``; any host name is accepted.
* ``verify-full``: the chain AND the host name in the URL must match the certificate.

``sslrootcert=system`` uses the operating system's CAs. Where the URL says nothing, the
``PGSSLMODE``, ``PGSSLROOTCERT``, ``PGSSLCERT`` and ``PGSSLKEY`` environment variables are
read, as libpq reads them. A bad value or an unreadable file is a ``ConfigError`` (one line).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import asyncpg
from sqlalchemy.engine import URL, make_url

from bot.config import ConfigError

SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
_TLS_PARAMS = ("sslmode", "ssl", "sslrootcert", "sslcert", "sslkey")

# What asyncpg's ``ssl=`` receives: a context, False (disable), a fallback mode, or nothing
# (the driver's default, "prefer").
SslArgument = ssl.SSLContext | Literal["allow", "prefer"] | bool | None


@dataclass(frozen=True)
class PgTarget:
    """Where and how to connect: the URL without TLS parameters, and the ``ssl`` argument."""

    url: URL  # postgresql+asyncpg://..., for SQLAlchemy
    ssl: SslArgument
    sslmode: str | None  # the resolved mode; None = the driver's default (prefer)

    @property
    def dsn(self) -> str:
        """The same address as a plain ``postgresql://`` DSN for asyncpg."""
        return self.url.set(drivername="postgresql").render_as_string(hide_password=False)

    def connect_args(self) -> dict[str, Any]:
        """Keyword arguments for ``asyncpg.connect`` (SQLAlchemy's ``connect_args``)."""
        return {} if self.ssl is None else {"ssl": self.ssl}

    def with_database(self, name: str) -> PgTarget:
        """The same server and TLS, another database (the benchmarks' throwaway ones)."""
        return PgTarget(self.url.set(database=name), self.ssl, self.sslmode)


def pg_target(database_url: str | URL, env: Mapping[str, str] | None = None) -> PgTarget:
    """Parse a PostgreSQL URL once; raise ConfigError for a bad TLS parameter or file."""
    env = os.environ if env is None else env
    url = make_url(database_url) if isinstance(database_url, str) else database_url
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+asyncpg")
    query = {k: _one(url.query[k], k) for k in _TLS_PARAMS if k in url.query}
    url = url.difference_update_query(_TLS_PARAMS)

    mode = _mode(query, env)
    root = query.get("sslrootcert") or env.get("PGSSLROOTCERT", "").strip() or None
    cert = query.get("sslcert") or env.get("PGSSLCERT", "").strip() or None
    key = query.get("sslkey") or env.get("PGSSLKEY", "").strip() or None
    if mode is None:
        if cert or key:
            raise ConfigError("DATABASE_URL sslcert/sslkey need sslmode=require or stronger")
        return PgTarget(url, None, None)
    if mode == "disable":
        return PgTarget(url, False, mode)
    if mode in ("allow", "prefer"):
        if cert or key:
            raise ConfigError(
                f"DATABASE_URL sslmode={mode} cannot use a client certificate "
                "(sslcert/sslkey); use sslmode=require or stronger"
            )
        return PgTarget(url, "allow" if mode == "allow" else "prefer", mode)
    return PgTarget(url, _context(mode, root, cert, key), mode)


async def connect(target: PgTarget, **kwargs: Any) -> asyncpg.Connection:
    """One direct connection (administration, benchmarks) with the target's TLS."""
    return await asyncpg.connect(target.dsn, **target.connect_args(), **kwargs)


async def create_pool(target: PgTarget, *, min_size: int, max_size: int) -> asyncpg.Pool:
    """The direct asyncpg pool with the target's TLS."""
    return await asyncpg.create_pool(
        target.dsn, min_size=min_size, max_size=max_size, **target.connect_args()
    )


def _one(value: str | tuple[str, ...], name: str) -> str:
    if isinstance(value, tuple):
        if len(set(value)) != 1:
            raise ConfigError(f"DATABASE_URL gives {name} more than once")
        value = value[0]
    return value.strip()


def _mode(query: Mapping[str, str], env: Mapping[str, str]) -> str | None:
    given = {k: query[k].lower() for k in ("sslmode", "ssl") if query.get(k)}
    if len(set(given.values())) > 1:
        raise ConfigError(
            f"DATABASE_URL says sslmode={given['sslmode']} and ssl={given['ssl']}; keep one"
        )
    mode = next(iter(given.values()), None)
    source = f"DATABASE_URL {next(iter(given), '')}"
    if mode is None and env.get("PGSSLMODE", "").strip():
        mode, source = env["PGSSLMODE"].strip().lower(), "PGSSLMODE"
    if mode is None and any(query.get(k) for k in ("sslrootcert", "sslcert", "sslkey")):
        mode = "prefer"  # libpq's default mode, which the certificate files do not change
    if mode is not None and mode not in SSL_MODES:
        raise ConfigError(f"{source} must be one of {', '.join(SSL_MODES)}, got {mode!r}")
    return mode


def _context(mode: str, root: str | None, cert: str | None, key: str | None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = False
    if root is None:
        root = _default_root_certificate()
    if root == "system":
        context.load_default_certs()
    elif root is not None:
        try:
            context.load_verify_locations(cafile=root)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"DATABASE_URL sslrootcert {root!r} cannot be read as CA certificates "
                f"({type(exc).__name__})"
            ) from None
    elif mode != "require":
        raise ConfigError(
            f"DATABASE_URL sslmode={mode} needs sslrootcert=<the CA's certificate file> "
            "(or sslrootcert=system for the system's CAs)"
        )
    # require without a root certificate encrypts but checks nothing (libpq does the same).
    context.verify_mode = ssl.CERT_NONE if root is None else ssl.CERT_REQUIRED
    context.check_hostname = mode == "verify-full"
    if key and not cert:
        raise ConfigError("DATABASE_URL sslkey needs sslcert (the client certificate)")
    if cert:
        try:
            context.load_cert_chain(cert, keyfile=key)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"DATABASE_URL sslcert {cert!r} / sslkey cannot be read ({type(exc).__name__})"
            ) from None
    return context


def _default_root_certificate() -> str | None:
    """libpq's default, ~/.postgresql/root.crt, if the user running the bot has one."""
    try:
        default = Path.home() / ".postgresql" / "root.crt"
    except RuntimeError:  # no home directory (a systemd DynamicUser may have none)
        return None
    return str(default) if default.is_file() else None
