"""Settings from the environment: every bad value is one clear ConfigError line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings, normalise_database_url

REPO = Path(__file__).resolve().parent.parent
TOKEN = "123456:ABCdefGHIjklMNOpqrSTUvwxYZ_-0123"
SECRET = "s" * 32


def env(**values: str) -> dict[str, str]:
    """A complete, valid environment for `serve`, with some values replaced."""
    base = {"TELEGRAM_BOT_TOKEN": TOKEN, "SECRET_KEY": SECRET}
    base.update(values)
    return {k: v for k, v in base.items() if v is not None}


def test_valid_environment_loads_token_and_key() -> None:
    settings = load_settings(env(), require_telegram=True)
    assert settings.telegram_bot_token == TOKEN
    assert settings.secret_key == SECRET.encode()


def test_offline_commands_need_neither_token_nor_key() -> None:
    settings = load_settings({}, require_telegram=False)
    assert settings.telegram_bot_token is None
    assert settings.secret_key is None


def test_missing_token_is_an_error_for_serve() -> None:
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN is not set"):
        load_settings({"SECRET_KEY": SECRET}, require_telegram=True)


def test_missing_secret_key_is_an_error_for_serve() -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        load_settings({"TELEGRAM_BOT_TOKEN": TOKEN}, require_telegram=True)


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token",
        "123456",
        "abc:ABCdefGHIjklMNOpqrSTUvwxYZ",
        "123456:short",
        "123456:has spaces in it for sure ok",
    ],
)
def test_malformed_token_is_rejected(token: str) -> None:
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN does not look like a bot token"):
        load_settings(env(TELEGRAM_BOT_TOKEN=token), require_telegram=True)


def test_malformed_token_is_rejected_even_offline() -> None:
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN"):
        load_settings({"TELEGRAM_BOT_TOKEN": "nope"}, require_telegram=False)


def test_webhook_url_without_secret_is_rejected() -> None:
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET must be set when WEBHOOK_URL is set"):
        load_settings(env(WEBHOOK_URL="https://bot.example.se/hook"), require_telegram=True)


def test_webhook_url_with_secret_sets_the_local_route() -> None:
    settings = load_settings(
        env(WEBHOOK_URL="https://bot.example.se/hook/x", WEBHOOK_SECRET="abc_DEF-123"),
        require_telegram=True,
    )
    assert settings.webhook_secret == "abc_DEF-123"
    assert settings.webhook_path == "/hook/x"


@pytest.mark.parametrize("secret", ["has space", "semi;colon", "å", "x" * 257])
def test_webhook_secret_with_bad_characters_is_rejected(secret: str) -> None:
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET may only use"):
        load_settings(
            env(WEBHOOK_URL="https://bot.example.se/hook", WEBHOOK_SECRET=secret),
            require_telegram=True,
        )


def test_webhook_url_must_be_http_or_https() -> None:
    with pytest.raises(ConfigError, match="WEBHOOK_URL must be"):
        load_settings(
            env(WEBHOOK_URL="ftp://bot.example.se/hook", WEBHOOK_SECRET="abc"),
            require_telegram=True,
        )


def test_port_defaults_to_8080_and_accepts_a_number() -> None:
    assert load_settings({}, require_telegram=False).port == 8080
    assert load_settings({"PORT": "9000"}, require_telegram=False).port == 9000


def test_port_that_is_not_a_number_is_rejected() -> None:
    with pytest.raises(ConfigError, match="PORT must be a whole number"):
        load_settings({"PORT": "eighty"}, require_telegram=False)


def test_port_zero_lets_the_system_choose_a_free_port() -> None:
    # bot.runtime.Server reads the bound port back when PORT is 0, and the tests'
    # make_settings (conftest) passes PORT=0, so the setting must accept it.
    assert load_settings({"PORT": "0"}, require_telegram=False).port == 0


@pytest.mark.parametrize("port", ["65536", "-1", "99999"])
def test_port_out_of_range_is_rejected(port: str) -> None:
    with pytest.raises(ConfigError, match="PORT must be between 0 and 65535"):
        load_settings({"PORT": port}, require_telegram=False)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db/bot", "postgresql+asyncpg://u:p@db/bot"),
        ("postgresql://u:p@db/bot", "postgresql+asyncpg://u:p@db/bot"),
        ("postgresql+asyncpg://u@db/bot", "postgresql+asyncpg://u@db/bot"),
        ("sqlite:///data/bot.db", "sqlite+aiosqlite:///data/bot.db"),
        ("sqlite+aiosqlite:////abs/bot.db", "sqlite+aiosqlite:////abs/bot.db"),
    ],
)
def test_database_url_gets_an_async_driver(given: str, expected: str) -> None:
    settings = load_settings({"DATABASE_URL": given}, require_telegram=False)
    assert settings.database_url == expected


def test_default_database_is_sqlite_in_data_dir(tmp_path: Path) -> None:
    settings = load_settings({"DATA_DIR": str(tmp_path)}, require_telegram=False)
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"


@pytest.mark.parametrize("url", ["mysql://u@db/bot", "not a url"])
def test_unsupported_database_url_is_rejected(url: str) -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        normalise_database_url(url)


def test_mysql_database_url_is_rejected_by_load_settings() -> None:
    with pytest.raises(ConfigError, match=r"DATABASE_URL must be sqlite:/// or postgresql://"):
        load_settings({"DATABASE_URL": "mysql://u@db/bot"}, require_telegram=False)


def test_secret_key_shorter_than_32_characters_is_rejected() -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY must be at least 32 characters"):
        load_settings(env(SECRET_KEY="s" * 31), require_telegram=True)


def test_short_secret_key_is_rejected_even_offline() -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_settings({"SECRET_KEY": "short"}, require_telegram=False)


def test_bad_log_level_is_rejected() -> None:
    with pytest.raises(ConfigError, match="LOG_LEVEL"):
        load_settings({"LOG_LEVEL": "LOUD"}, require_telegram=False)


def test_config_error_message_is_one_line() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"SECRET_KEY": "short"}, require_telegram=False)
    assert "\n" not in str(caught.value)


def test_serve_without_token_exits_2_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    clean = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "DATA_DIR": str(tmp_path / "data"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot", "serve"],
        cwd=REPO,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("configuration error:")
    assert "TELEGRAM_BOT_TOKEN" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize("chat", ["@staffgroup", "12ab", "1.5", "-"])
def test_staff_notify_chat_must_be_an_integer(chat: str) -> None:
    with pytest.raises(ConfigError, match="STAFF_NOTIFY_CHAT_ID must be"):
        load_settings({"STAFF_NOTIFY_CHAT_ID": chat}, require_telegram=False)


def test_case_retention_settings_have_documented_defaults_and_bounds() -> None:
    settings = load_settings({"STAFF_NOTIFY_CHAT_ID": "-1001234567890"}, require_telegram=False)
    assert settings.staff_notify_chat_id == -1001234567890
    assert (settings.case_link_grace_days, settings.case_text_retention_days) == (7, 30)
    assert settings.case_auto_release_minutes == 30
    with pytest.raises(ConfigError, match="CASE_TEXT_RETENTION_DAYS"):
        load_settings({"CASE_TEXT_RETENTION_DAYS": "0"}, require_telegram=False)


def test_secret_from_a_file_and_both_forms_refused(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret_key"
    secret_file.write_text(SECRET + "\n")
    values = env(SECRET_KEY="")
    values["SECRET_KEY_FILE"] = str(secret_file)
    settings = load_settings({k: v for k, v in values.items() if v}, require_telegram=True)
    assert settings.secret_key == SECRET.encode()
    with pytest.raises(ConfigError, match="SECRET_KEY and SECRET_KEY_FILE are both set"):
        load_settings(env(SECRET_KEY_FILE=str(secret_file)), require_telegram=True)
    with pytest.raises(ConfigError, match=r"TELEGRAM_BOT_TOKEN_FILE .* cannot be read"):
        load_settings(
            {"SECRET_KEY": SECRET, "TELEGRAM_BOT_TOKEN_FILE": str(tmp_path / "missing")},
            require_telegram=True,
        )


def test_systemd_credential_is_read_when_nothing_else_is_set(tmp_path: Path) -> None:
    (tmp_path / "telegram_bot_token").write_text(TOKEN)
    settings = load_settings(
        {"SECRET_KEY": SECRET, "CREDENTIALS_DIRECTORY": str(tmp_path)}, require_telegram=True
    )
    assert settings.telegram_bot_token == TOKEN


def test_secret_keys_new_first_then_old() -> None:
    new, old = "n" * 32, "o" * 40
    settings = load_settings(
        {"TELEGRAM_BOT_TOKEN": TOKEN, "SECRET_KEYS": f"{new}, {old}"}, require_telegram=True
    )
    assert settings.secret_key == new.encode()
    assert settings.old_secret_keys == (old.encode(),)
    assert settings.all_secret_keys == (new.encode(), old.encode())
    with pytest.raises(ConfigError, match="SECRET_KEY and SECRET_KEYS are both set"):
        load_settings(env(SECRET_KEYS=new), require_telegram=True)
    with pytest.raises(ConfigError, match="each key in SECRET_KEYS must be at least 32"):
        load_settings(
            {"TELEGRAM_BOT_TOKEN": TOKEN, "SECRET_KEYS": f"{new} short"}, require_telegram=True
        )
    with pytest.raises(ConfigError, match="the same key twice"):
        load_settings(
            {"TELEGRAM_BOT_TOKEN": TOKEN, "SECRET_KEYS": f"{new} {new}"}, require_telegram=True
        )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("TRUSTED_PROXIES", "127.0.0.1, nginx", "TRUSTED_PROXIES must list IP addresses"),
        ("TIME_ZONE", "Mars/Olympus", "TIME_ZONE must be an IANA time zone"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT must be text or json"),
        ("DB_POOL_SIZE", "0", "DB_POOL_SIZE must be between 1 and 100"),
        ("AUDIT_RETENTION_DAYS", "forever", "AUDIT_RETENTION_DAYS must be a whole number"),
        ("HTTPS_PROXY", "proxy.kommun.se:3128", "HTTPS_PROXY must be a"),
        ("ACCESSIBILITY_CONTACT", "ring oss", "ACCESSIBILITY_CONTACT must be an e-mail"),
        ("ACCESSIBILITY_CONTACT", "http://kommun.se/a11y", "ACCESSIBILITY_CONTACT must be an"),
        ("ACCESSIBILITY_ORGANISATION", "x" * 201, "ACCESSIBILITY_ORGANISATION must be a name"),
    ],
)
def test_operations_settings_refuse_bad_values(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env(**{name: value}), require_telegram=True)


def test_operations_settings_are_read() -> None:
    settings = load_settings(
        env(
            TRUSTED_PROXIES="127.0.0.1 10.0.0.0/8,::1",
            TIME_ZONE="UTC",
            LOG_FORMAT="JSON",
            DB_POOL_SIZE="3",
            DB_MAX_OVERFLOW="0",
            DB_DIRECT_POOL_SIZE="2",
            AUDIT_RETENTION_DAYS="90",
            https_proxy="http://proxy.kommun.se:3128",
        ),
        require_telegram=True,
    )
    assert [str(n) for n in settings.trusted_proxies] == ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]
    assert settings.time_zone == "UTC"
    assert settings.log_format == "json"
    assert settings.db_connection_budget == 5
    assert settings.audit_retention_days == 90
    assert settings.telegram_proxy == "http://proxy.kommun.se:3128"
    assert load_settings(env(), require_telegram=True).telegram_proxy is None


def test_accessibility_statement_settings_are_read() -> None:
    settings = load_settings(
        env(
            ACCESSIBILITY_CONTACT=" mailto:tillganglighet@kommun.se ",
            ACCESSIBILITY_ORGANISATION="  Laholms   kommun ",
        ),
        require_telegram=True,
    )
    assert settings.accessibility_contact == "tillganglighet@kommun.se"
    assert settings.accessibility_organisation == "Laholms kommun"
    page = "https://www.kommun.se/tillganglighet"
    as_page = load_settings(env(ACCESSIBILITY_CONTACT=page), require_telegram=True)
    assert as_page.accessibility_contact == page
    unset = load_settings(env(), require_telegram=True)
    assert unset.accessibility_contact is None and unset.accessibility_organisation is None


def test_data_dir_defaults_to_the_working_directory_outside_a_source_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.config as config

    in_tree = load_settings(env(), require_telegram=True)
    assert in_tree.data_dir == config.REPO_ROOT / "data"
    # An installed package: its parent (site-packages) has no pyproject.toml.
    monkeypatch.setattr(config, "REPO_ROOT", tmp_path / "site-packages")
    monkeypatch.chdir(tmp_path)
    installed = load_settings(env(), require_telegram=True)
    assert installed.data_dir == tmp_path / "data"
    assert installed.database_url == f"sqlite+aiosqlite:///{tmp_path / 'data' / 'bot.db'}"
    assert installed.content_dir == config.PACKAGE_DATA / "content"
    assert load_settings(env(DATA_DIR="/srv/bot"), require_telegram=True).data_dir == Path(
        "/srv/bot"
    )


def test_flood_limits_default_and_are_checked() -> None:
    settings = load_settings(env(), require_telegram=True)
    assert (settings.flood_burst, settings.flood_per_minute) == (20, 60)
    assert settings.case_messages_per_hour == 60
    tight = load_settings(
        env(FLOOD_BURST="5", FLOOD_PER_MINUTE="10", CASE_MESSAGES_PER_HOUR="20"),
        require_telegram=True,
    )
    assert (tight.flood_burst, tight.flood_per_minute, tight.case_messages_per_hour) == (5, 10, 20)
    for name in ("FLOOD_BURST", "FLOOD_PER_MINUTE", "CASE_MESSAGES_PER_HOUR"):
        with pytest.raises(ConfigError, match=name):
            load_settings(env(**{name: "0"}), require_telegram=True)
        with pytest.raises(ConfigError, match=name):
            load_settings(env(**{name: "lots"}), require_telegram=True)


OIDC = {
    "OIDC_ISSUER": "https://login.example.org/tenant/v2.0",
    "OIDC_CLIENT_ID": "helpline",
    "OIDC_CLIENT_SECRET": "s3cret",
    "OIDC_GROUP_MAP": (
        "helpline-laholm=staff:laholm;helpline-coord=coordinator:laholm,botkyrka;"
        "helpline-admin=admin"
    ),
}


def test_sign_in_settings_default_to_local_passwords_without_2fa() -> None:
    settings = load_settings(env(), require_telegram=True)
    assert (settings.require_2fa, settings.local_passwords, settings.oidc_issuer) == (
        False,
        True,
        None,
    )
    assert load_settings(env(REQUIRE_2FA="true"), require_telegram=True).require_2fa


def test_oidc_settings_parse_the_group_map_and_read_the_secret_from_a_file(
    tmp_path: Path,
) -> None:
    from bot.config import OidcGroup

    secret = tmp_path / "oidc"
    secret.write_text("from-a-file\n")
    values = {k: v for k, v in OIDC.items() if k != "OIDC_CLIENT_SECRET"}
    settings = load_settings(
        env(**values, OIDC_CLIENT_SECRET_FILE=str(secret), LOCAL_PASSWORDS="false"),
        require_telegram=True,
    )
    assert settings.oidc_issuer == "https://login.example.org/tenant/v2.0"  # exactly as given
    assert settings.oidc_client_secret == "from-a-file"
    assert settings.local_passwords is False
    assert settings.oidc_groups_claim == "groups"
    assert settings.oidc_group_map == (
        OidcGroup("helpline-laholm", "staff", ("laholm",)),
        OidcGroup("helpline-coord", "coordinator", ("laholm", "botkyrka")),
        OidcGroup("helpline-admin", "admin", ()),
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"OIDC_CLIENT_SECRET": ""}, "OIDC_CLIENT_ID and OIDC_CLIENT_SECRET"),
        ({"OIDC_GROUP_MAP": ""}, "OIDC_GROUP_MAP must map at least one group"),
        ({"OIDC_GROUP_MAP": "g=boss:laholm"}, "role staff, coordinator or admin"),
        ({"OIDC_GROUP_MAP": "g=staff"}, "needs at least one team"),
        ({"OIDC_GROUP_MAP": "=staff:laholm"}, "OIDC_GROUP_MAP entries"),
        ({"OIDC_GROUP_MAP": "g=staff:Laholm!"}, "not a team id"),
        ({"OIDC_ISSUER": "ftp://x"}, "OIDC_ISSUER must be"),
        ({"OIDC_GROUPS_CLAIM": "has space"}, "OIDC_GROUPS_CLAIM"),
    ],
)
def test_oidc_settings_refuse_what_cannot_work(changes: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env(**{**OIDC, **changes}), require_telegram=True)


def test_local_passwords_off_needs_single_sign_on_and_oidc_parts_need_an_issuer() -> None:
    with pytest.raises(ConfigError, match="LOCAL_PASSWORDS=false needs single sign-on"):
        load_settings(env(LOCAL_PASSWORDS="false"), require_telegram=True)
    with pytest.raises(ConfigError, match="need OIDC_ISSUER"):
        load_settings(env(OIDC_CLIENT_ID="helpline"), require_telegram=True)
    with pytest.raises(ConfigError, match="REQUIRE_2FA must be true or false"):
        load_settings(env(REQUIRE_2FA="sometimes"), require_telegram=True)


def test_preview_allow_public_is_off_unless_said_and_must_be_a_boolean() -> None:
    assert load_settings(env(), require_telegram=True).preview_allow_public is False
    on = load_settings(env(PREVIEW_ALLOW_PUBLIC="true"), require_telegram=True)
    assert on.preview_allow_public is True
    with pytest.raises(ConfigError, match="PREVIEW_ALLOW_PUBLIC must be true or false"):
        load_settings(env(PREVIEW_ALLOW_PUBLIC="maybe"), require_telegram=True)
