"""The deployment files say what the README says: locks, the unit, the image, compose.

The container image and the compose file cannot be run here (no container engine), so
their promises are read from the files; the install script they wrap is run for real
in tests/test_install.py. The systemd unit is checked by ``systemd-analyze verify``.
"""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
UNIT = REPO / "deploy" / "systemd" / "relatives-bot.service"
PREFIX = "/opt/relatives-bot"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


def pins(lock: str) -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) of a pip-compile --generate-hashes file."""
    found: dict[str, tuple[str, int]] = {}
    name = ""
    for line in (REPO / "requirements" / lock).read_text().splitlines():
        if match := PIN.match(line):
            name = canonicalize_name(match.group(1))
            found[name] = (match.group(2), 0)
        elif line.strip().startswith("--hash=sha256:") and name:
            version, hashes = found[name]
            found[name] = (version, hashes + 1)
        elif not line.startswith(" "):
            name = ""
    return found


def test_every_dependency_is_pinned_with_hashes_in_both_locks() -> None:
    """A dependency added to pyproject without re-locking fails here."""
    runtime = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    test = [Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"]["test"]]
    runtime_lock, test_lock = pins("runtime.txt"), pins("test.txt")
    for lock_name, lock, wanted in (
        ("runtime.txt", runtime_lock, runtime),
        ("test.txt", test_lock, runtime + test),
    ):
        for requirement in wanted:
            name = canonicalize_name(requirement.name)
            assert name in lock, f"{requirement} is not in requirements/{lock_name}: re-lock"
            version, hashes = lock[name]
            assert requirement.specifier.contains(version, prereleases=True), (
                f"requirements/{lock_name} pins {name}=={version}, pyproject asks {requirement}"
            )
            assert hashes > 0, f"{name} has no hash in requirements/{lock_name}"
    for name, (version, _) in runtime_lock.items():  # the tests run what production runs
        assert test_lock.get(name, ("missing",))[0] == version, (name, version)
    build = pins("build.txt")
    for requirement in map(Requirement, PYPROJECT["build-system"]["requires"]):
        version, hashes = build[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(version) and hashes > 0, requirement


def test_locks_say_how_to_regenerate_them() -> None:
    for lock in ("runtime.txt", "test.txt", "build.txt"):
        head = (REPO / "requirements" / lock).read_text()[:800]
        assert "pip-compile " in head and "--generate-hashes" in head, lock
        assert f"--output-file=requirements/{lock}" in head, lock


def test_licence_is_eupl_as_spdx_with_its_text() -> None:
    assert PYPROJECT["project"]["license"] == "EUPL-1.2"
    assert PYPROJECT["project"]["license-files"] == ["LICENSE"]
    text = (REPO / "LICENSE").read_text()
    assert text.startswith("EUROPEAN UNION PUBLIC LICENCE v. 1.2")
    assert "Appendix" in text and "Compatible Licences" in text


def _unit_lines() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


def test_systemd_unit_is_hardened_and_reads_its_secrets_as_credentials() -> None:
    unit = _unit_lines()
    for key, value in {
        "DynamicUser": "yes",
        "StateDirectory": "relatives-bot",
        "Restart": "on-failure",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "MemoryDenyWriteExecute": "yes",
        "SystemCallFilter": "@system-service",
        "CapabilityBoundingSet": "",
    }.items():
        assert value in unit.get(key, []), f"{key}={value} missing from the unit"
    assert "DATA_DIR=%S/relatives-bot" in unit["Environment"]
    assert "MIGRATE_ON_START=false" in unit["Environment"]
    assert unit["ExecStartPre"] == [f"{PREFIX}/bin/python -m bot migrate"]
    assert unit["ExecStart"] == [f"{PREFIX}/bin/python -m bot serve"]
    credentials = {value.split(":", 1)[0] for value in unit["LoadCredential"]}
    assert credentials == {"telegram_bot_token", "secret_key", "webhook_secret", "database_url"}
    assert all(
        not v.startswith(("SECRET_KEY=", "TELEGRAM_BOT_TOKEN=")) for v in unit["Environment"]
    )


def test_systemd_analyze_verify_prints_nothing(tmp_path: Path) -> None:
    """ExecStart must exist for verify, so the copy points at this interpreter."""
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing (tests/run installs systemd)"
    copy = tmp_path / UNIT.name
    copy.write_text(UNIT.read_text().replace(f"{PREFIX}/bin/python", sys.executable))
    result = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


PR_SET_MDWE, PR_GET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 66, 1
NATIVE_WORK = """
import asyncio, ctypes, mmap, sqlite3, ssl
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    raise SystemExit("W+X memory was allowed: the check proves nothing")
except PermissionError:
    pass
import argon2, asyncpg, aiosqlite
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
import bot.runtime, bot.telegram.app, bot.web.app
key = HKDF(hashes.SHA256(), 32, None, b"x").derive(b"k" * 32)
assert AESGCM(key).decrypt(b"0" * 12, AESGCM(key).encrypt(b"0" * 12, b"hi", None), None) == b"hi"
hasher = argon2.PasswordHasher()
assert hasher.verify(hasher.hash("pw"), "pw")
ssl.create_default_context()
sqlite3.connect(":memory:").execute("select 1")
async def main():
    async with aiosqlite.connect(":memory:") as db:
        await db.execute("select 1")
asyncio.run(main())
ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)(lambda x: x + 1)(1)
print("ok")
"""


def test_the_native_code_runs_without_writable_executable_memory() -> None:
    """Why MemoryDenyWriteExecute=yes is safe: the kernel's PR_SET_MDWE refuses what it would.

    A child sets the flag (kept across exec) and execs Python on the product's native work.
    """
    if ctypes.CDLL(None).prctl(PR_GET_MDWE, 0, 0, 0, 0) == -1:
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3 or newer has)")
    wrapper = (
        "import ctypes, os, sys\n"
        f"if ctypes.CDLL(None).prctl({PR_SET_MDWE}, {PR_MDWE_REFUSE_EXEC_GAIN}, 0, 0, 0):\n"
        "    raise SystemExit('prctl(PR_SET_MDWE) failed')\n"
        "os.execv(sys.executable, [sys.executable, '-c', sys.argv[1]])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", wrapper, NATIVE_WORK],
        capture_output=True, text=True, cwd=REPO, check=False,
    )  # fmt: skip
    assert (result.returncode, result.stdout.strip()) == (0, "ok"), result.stderr[-3000:]


def _dockerfile() -> list[str]:
    joined = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines() if line.strip() and line[0] != "#"]


def test_dockerfile_only_runs_the_install_script_and_runs_unprivileged() -> None:
    lines = _dockerfile()
    froms = [line for line in lines if line.startswith("FROM ")]
    assert froms and all(f.split()[1] == "python:3.11-slim-bookworm" for f in froms), froms
    runs = [line for line in lines if line.startswith("RUN ")]
    assert runs[0] == "RUN /src/deploy/install.sh /opt/relatives-bot /src", runs
    env = " ".join(line for line in lines if line.startswith("ENV "))
    assert "HOST=0.0.0.0" in env and "DATA_DIR=/var/lib/relatives-bot" in env
    user = [line for line in lines if line.startswith("USER ")]
    assert user and not user[-1].split()[1].startswith(("root", "0")), user
    assert any(line.startswith("EXPOSE 8080") for line in lines)
    (health,) = [line for line in lines if line.startswith("HEALTHCHECK ")]
    assert "/health/live" in health
    assert lines[-1] == 'CMD ["python", "-m", "bot", "serve"]'
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".git", ".venv", "data"} <= set(ignored)


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "deploy" / "compose.yaml").read_text())
    return loaded


def test_compose_migrates_once_before_the_bot_and_reads_secrets_from_files() -> None:
    compose = _compose()
    services = compose["services"]
    assert services["postgres"]["image"] == "postgres:15"
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    migrate, bot = services["migrate"], services["bot"]
    assert migrate["command"] == ["python", "-m", "bot", "migrate"]
    assert migrate["restart"] == "no"
    assert bot["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert bot["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert bot["environment"]["MIGRATE_ON_START"] == "false"
    declared = set(compose["secrets"])
    for name, service in services.items():
        env = service.get("environment", {})
        for key in ("TELEGRAM_BOT_TOKEN", "SECRET_KEY", "WEBHOOK_SECRET", "DATABASE_URL"):
            assert key not in env, f"{name}: {key} in the environment, not as {key}_FILE"
        for key, value in env.items():
            if key.endswith("_FILE"):
                secret = value.removeprefix("/run/secrets/")
                assert secret in service["secrets"] and secret in declared, (name, key)
    for secret in compose["secrets"].values():
        assert secret["file"].startswith("./secrets/")
    assert "pg_dump" in services["backup"]["command"][0]
    assert "backups:/backups" in services["backup"]["volumes"]


def test_compose_trusts_only_its_nginx() -> None:
    compose = _compose()
    nginx = compose["services"]["nginx"]
    mounts = {v.split(":")[0]: v.split(":")[1] for v in nginx["volumes"]}
    assert mounts["./nginx/relatives-bot.conf"] == "/etc/nginx/conf.d/relatives-bot.conf"
    for source in mounts:
        assert (REPO / "deploy" / source).exists(), source
    address = nginx["networks"]["front"]["ipv4_address"]
    assert compose["services"]["bot"]["environment"]["TRUSTED_PROXIES"] == address
    assert "ports" not in compose["services"]["bot"], "only nginx is published"
    assert compose["networks"]["backend"]["internal"] is True
    upstream = (REPO / "deploy" / "compose" / "nginx" / "upstream.conf").read_text()
    assert "server bot:8080" in upstream


def run_install(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(REPO / "deploy" / "install.sh"), *args],
        capture_output=True, text=True, cwd=cwd, check=False,
    )  # fmt: skip


def test_install_script_refuses_bad_arguments_in_one_line(tmp_path: Path) -> None:
    assert run_install(cwd=tmp_path).returncode == 2
    not_source = run_install(str(tmp_path / "p"), str(tmp_path), cwd=tmp_path)
    assert not_source.returncode == 1
    assert not_source.stderr.strip().count("\n") == 0
    assert "is not the bot's source tree" in not_source.stderr
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    taken = run_install(str(tmp_path / "full"), cwd=tmp_path)
    assert taken.returncode == 1 and "not empty" in taken.stderr


def test_version_is_pyprojects_and_has_a_changelog_entry() -> None:
    version = PYPROJECT["project"]["version"]
    shown = subprocess.run(
        [sys.executable, "-m", "bot", "--version"],
        capture_output=True, text=True, cwd=REPO, check=True,
    )  # fmt: skip
    assert shown.stdout.split() == ["python", "-m", "bot", version], shown.stdout
    changelog = (REPO / "CHANGELOG.md").read_text()
    assert re.search(rf"^## \[{re.escape(version)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", changelog, re.M)
