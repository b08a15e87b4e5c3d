"""PostgreSQL over TLS from DATABASE_URL, on a PostgreSQL instance of this test's own.

The instance (initdb into a temporary folder, a self-signed CA and a server certificate
for "localhost", ``ssl=on``, a free loopback port) accepts ``hostssl`` only, so a plain
connection is refused: whatever works here really went over TLS, which the tests also
ask PostgreSQL itself (``pg_stat_ssl``) through the engine and through the direct pool.

Before ``bot.storage.pg_connect`` parsed the URL once for every path, ``?sslmode=require``
crashed SQLAlchemy's asyncpg dialect (``connect() got an unexpected keyword argument
'sslmode'``) and ``?ssl=require`` became a server setting in the direct pool (``parameter
"ssl" cannot be changed now``): ``test_the_drivers_alone_fail_on_the_urls_operators_write``
keeps both failures on record against the shared test server.

With CI=true a missing initdb is a failure; elsewhere these tests skip and say why.
"""

from __future__ import annotations

import datetime
import os
import shutil
import ssl
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.__main__ import main
from bot.config import ConfigError
from bot.emulator.spec import BotApiSpec
from bot.runtime import Server, build_core
from bot.storage.database import Database
from bot.storage.pg_connect import connect, pg_target
from tests.conftest import CI, free_port, make_settings
from tests.helpers import Relative, button_data

INITDB_PLACES = ("/usr/lib/postgresql/15/bin/initdb", "/usr/local/bin/initdb")
IN_USE = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


@dataclass(frozen=True)
class TlsServer:
    port: int
    ca: Path  # the CA certificate that signed the server's (for sslrootcert)

    def url(self, database: str, query: str, host: str = "localhost") -> str:
        return f"postgresql://postgres@{host}:{self.port}/{database}?{query}"


def _initdb() -> Path | None:
    for place in (*INITDB_PLACES, shutil.which("initdb") or ""):
        if place and Path(place).is_file():
            return Path(place).resolve()
    return None


def _write_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate it signs that names only DNS:localhost."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relatives test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = folder / "ca.crt", folder / "server.crt", folder / "server.key"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return ca_path, cert_path, key_path


@pytest.fixture(scope="session")
def tls_server() -> Iterator[TlsServer]:
    """A PostgreSQL instance with ssl=on that refuses plain connections, for the session."""
    initdb = _initdb()
    if initdb is None:
        if CI:
            pytest.fail("CI=true but initdb was not found: the TLS PostgreSQL test is mandatory")
        pytest.skip(f"no initdb (looked in {', '.join(INITDB_PLACES)} and PATH)")
    pg_ctl = initdb.parent / "pg_ctl"
    root = Path(tempfile.mkdtemp(prefix="relatives-pgtls-"))
    # initdb and postgres refuse to run as root: as root, run them as the postgres user.
    as_owner: list[str] = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    data, log = root / "data", root / "server.log"
    ca, cert, key = _write_certificates(root)
    if as_owner:
        shutil.chown(root, "postgres", "postgres")
        for path in (ca, cert, key):
            shutil.chown(path, "postgres", "postgres")
    port = free_port()
    started = False
    try:
        subprocess.run(
            [*as_owner, str(initdb), "-D", str(data), "-U", "postgres", "-A", "trust"],
            check=True,
            capture_output=True,
        )
        (data / "pg_hba.conf").write_text(
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\n", encoding="utf-8"
        )
        with (data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(
                f"\nport = {port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{root}'\n"
                f"ssl = on\nssl_cert_file = '{cert}'\nssl_key_file = '{key}'\n"
                "max_connections = 40\nfsync = off\nsynchronous_commit = off\n"
            )
        subprocess.run(
            [*as_owner, str(pg_ctl), "-D", str(data), "-l", str(log), "-w", "-t", "60", "start"],
            check=True,
            capture_output=True,
        )
        started = True
        yield TlsServer(port, ca)
    except subprocess.CalledProcessError as exc:
        server_log = log.read_text(encoding="utf-8") if log.is_file() else ""
        pytest.fail(f"the TLS PostgreSQL did not start: {exc.stderr!r} {server_log}")
    finally:
        if started:
            subprocess.run(
                [*as_owner, str(pg_ctl), "-D", str(data), "-m", "fast", "-w", "stop"],
                check=False,
                capture_output=True,
            )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def tls_database(tls_server: TlsServer) -> AsyncIterator[str]:
    """A fresh database on the TLS instance (its name), dropped afterwards."""
    name = f"relatives_tls_{uuid.uuid4().hex[:8]}"
    admin = pg_target(tls_server.url("postgres", "sslmode=require"))
    conn = await connect(admin, timeout=10)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield name
    finally:
        conn = await connect(admin, timeout=10)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


async def _contact_request_over(database_url: str, tmp_path: Path, spec: BotApiSpec) -> None:
    """A relative sends a contact request through the real product on this DATABASE_URL;
    then PostgreSQL is asked whether the engine's and the direct pool's connections use TLS."""
    server = Server(
        make_settings(database_url, tmp_path), preview=True, spec_validator=spec.validate_call
    )
    await server.start()
    try:
        assert server.emulator is not None and server.core is not None
        relative = Relative(server.emulator)
        await relative.answers_the_request_questions("child", "online")
        confirm = await relative.says("Min son har slutat gå till skolan.")
        assert "k:ok" in button_data(confirm)
        done = await relative.taps("k:ok")
        assert "-" in done["text"]  # the case code, e.g. ABC-DEF
        database = server.core.database
        async with database.read_tx() as conn:
            assert (await conn.execute(text(IN_USE))).scalar_one() is True
            cases = (await conn.execute(text("SELECT count(*) FROM case_request"))).scalar_one()
            assert cases == 1
        pool = await database.pool()
        row = await pool.fetchrow(IN_USE)
        assert row is not None and row["ssl"] is True
        # Every connection the product holds on this database, seen from the server's side.
        async with database.read_tx() as conn:
            plain = await conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) "
                    "WHERE a.datname = current_database() AND NOT s.ssl"
                )
            )
            assert plain.scalar_one() == 0
    finally:
        await server.stop()
    assert server.emulator is not None and server.emulator.problems == []


async def test_contact_request_with_sslmode_require(
    tls_server: TlsServer, tls_database: str, tmp_path: Path, spec: BotApiSpec
) -> None:
    await _contact_request_over(tls_server.url(tls_database, "sslmode=require"), tmp_path, spec)


async def test_contact_request_with_verify_full_against_the_test_ca(
    tls_server: TlsServer, tls_database: str, tmp_path: Path, spec: BotApiSpec
) -> None:
    query = f"sslmode=verify-full&sslrootcert={tls_server.ca}"
    await _contact_request_over(tls_server.url(tls_database, query), tmp_path, spec)


async def test_ssl_parameter_as_sqlalchemy_users_write_it_reaches_the_direct_pool_as_tls(
    tls_server: TlsServer, tls_database: str
) -> None:
    database = Database.open(tls_server.url(tls_database, "ssl=require"))
    try:
        async with database.read_tx() as conn:
            assert (await conn.execute(text(IN_USE))).scalar_one() is True
        row = await (await database.pool()).fetchrow(IN_USE)
        assert row is not None and row["ssl"] is True
    finally:
        await database.close()


async def test_verify_full_checks_the_host_name(
    tls_server: TlsServer, tls_database: str, tmp_path: Path
) -> None:
    """The certificate names localhost; 127.0.0.1 is the same server but not that name."""
    query = f"sslmode=verify-full&sslrootcert={tls_server.ca}"
    url = tls_server.url(tls_database, query, host="127.0.0.1")
    with pytest.raises(ConfigError, match="IP address mismatch"):
        await build_core(make_settings(url, tmp_path))
    # The direct pool checks it too (it does not lean on the engine having failed first).
    database = Database.open(url)
    try:
        with pytest.raises(ssl.SSLCertVerificationError, match="IP address mismatch"):
            await database.pool()
    finally:
        await database.close()


async def test_verify_ca_checks_the_chain_but_not_the_host_name(
    tls_server: TlsServer, tls_database: str
) -> None:
    query = f"sslmode=verify-ca&sslrootcert={tls_server.ca}"
    database = Database.open(tls_server.url(tls_database, query, host="127.0.0.1"))
    try:
        async with database.read_tx() as conn:
            assert (await conn.execute(text(IN_USE))).scalar_one() is True
    finally:
        await database.close()


async def test_verify_ca_refuses_a_server_another_ca_signed(
    tls_server: TlsServer, tls_database: str, tmp_path: Path
) -> None:
    other_ca, _cert, _key = _write_certificates(tmp_path)
    query = f"sslmode=verify-ca&sslrootcert={other_ca}"
    with pytest.raises(ConfigError, match=r"cannot open the database.*certificate"):
        await build_core(make_settings(tls_server.url(tls_database, query), tmp_path))


async def test_sslmode_disable_is_refused_by_a_tls_only_server(
    tls_server: TlsServer, tls_database: str, tmp_path: Path
) -> None:
    url = tls_server.url(tls_database, "sslmode=disable")
    with pytest.raises(ConfigError, match=r"cannot open the database.*no encryption"):
        await build_core(make_settings(url, tmp_path))


async def test_pgsslmode_works_where_the_url_says_nothing(
    tls_server: TlsServer, tls_database: str
) -> None:
    env = {"PGSSLMODE": "verify-full", "PGSSLROOTCERT": str(tls_server.ca)}
    target = pg_target(f"postgresql://postgres@localhost:{tls_server.port}/{tls_database}", env)
    assert target.sslmode == "verify-full"
    conn = await connect(target, timeout=10)
    try:
        assert await conn.fetchval(IN_USE) is True
    finally:
        await conn.close()
    wrong_host = pg_target(f"postgresql://postgres@127.0.0.1:{tls_server.port}/postgres", env)
    with pytest.raises(ssl.SSLCertVerificationError):
        await connect(wrong_host, timeout=10)


# -- the parsing alone (no TLS server needed) -----------------------------------------------


def test_tls_parameters_leave_the_url_and_become_one_context(tmp_path: Path) -> None:
    ca, _cert, _key = _write_certificates(tmp_path)
    url = (
        "postgresql+asyncpg://u:p%40ss@db.example:5433/relatives"
        f"?sslmode=verify-full&sslrootcert={ca}&application_name=bot"
    )
    target = pg_target(url, {})
    assert dict(target.url.query) == {"application_name": "bot"}
    assert target.dsn == "postgresql://u:p%40ss@db.example:5433/relatives?application_name=bot"
    assert isinstance(target.ssl, ssl.SSLContext)
    assert target.ssl.check_hostname and target.ssl.verify_mode == ssl.CERT_REQUIRED
    verify_ca = pg_target(f"postgresql://h/db?sslmode=verify-ca&sslrootcert={ca}", {})
    assert isinstance(verify_ca.ssl, ssl.SSLContext)
    assert not verify_ca.ssl.check_hostname and verify_ca.ssl.verify_mode == ssl.CERT_REQUIRED
    require = pg_target("postgresql://h/db?ssl=require", {})
    assert isinstance(require.ssl, ssl.SSLContext)
    assert require.ssl.verify_mode == ssl.CERT_NONE
    # As libpq: require with a root certificate checks the chain (not the host name).
    require_ca = pg_target(f"postgresql://h/db?sslmode=require&sslrootcert={ca}", {})
    assert isinstance(require_ca.ssl, ssl.SSLContext)
    assert require_ca.ssl.verify_mode == ssl.CERT_REQUIRED and not require_ca.ssl.check_hostname
    assert pg_target("postgresql://h/db?sslmode=prefer", {}).ssl == "prefer"
    assert pg_target("postgresql://h/db?sslmode=disable", {}).ssl is False
    assert pg_target("postgresql://h/db", {}).ssl is None  # the driver's default
    assert pg_target("postgresql://h/db?sslmode=disable", {"PGSSLMODE": "require"}).ssl is False


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("sslmode=sometimes", "sslmode must be one of disable, allow, prefer"),
        ("ssl=yes", "ssl must be one of"),
        ("sslmode=require&ssl=disable", "keep one"),
        ("sslmode=verify-full&sslrootcert=/nonexistent/ca.crt", "cannot be read"),
        ("sslmode=verify-full", "needs sslrootcert"),
        ("sslmode=prefer&sslcert=/x.crt", "cannot use a client certificate"),
        ("sslmode=require&sslcert=/nonexistent/c.crt", "cannot be read"),
    ],
)
def test_bad_tls_parameters_are_one_line_config_errors(query: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        pg_target(f"postgresql://h/db?{query}", {})
    assert "\n" not in str(caught.value)


def test_an_unreadable_root_certificate_stops_the_command_with_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    not_a_cert = tmp_path / "ca.crt"
    not_a_cert.write_text("not a certificate", encoding="utf-8")
    monkeypatch.setenv(
        "DATABASE_URL", f"postgresql://h/db?sslmode=verify-full&sslrootcert={not_a_cert}"
    )
    assert main(["migrate", "status"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("configuration error: DATABASE_URL sslrootcert")
    assert err.count("\n") == 1 and "Traceback" not in err
    monkeypatch.setenv("DATABASE_URL", "postgresql://h/db?sslmode=maybe")
    assert main(["migrate"]) == 2
    assert "sslmode must be one of" in capsys.readouterr().err


async def test_the_drivers_alone_fail_on_the_urls_operators_write(pg_database_url: str) -> None:
    """The failures this parsing removes, reproduced on the shared test server (no TLS)."""
    url = make_url(pg_database_url)
    raw_engine = create_async_engine(url.update_query_dict({"sslmode": "disable"}))
    try:
        with pytest.raises(TypeError, match="sslmode"):
            async with raw_engine.connect():
                pass
    finally:
        await raw_engine.dispose()
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with pytest.raises(asyncpg.PostgresError, match='"ssl"'):
        await asyncpg.connect(f"{dsn}?ssl=disable", timeout=10)

    # The same URLs through the product: both paths connect.
    for name in ("sslmode", "ssl"):
        given = url.update_query_dict({name: "disable"})
        database = Database.open(given.render_as_string(hide_password=False))
        try:
            async with database.read_tx() as conn:
                assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
            row = await (await database.pool()).fetchrow("SELECT 1 AS one")
            assert row is not None and row["one"] == 1
        finally:
            await database.close()
