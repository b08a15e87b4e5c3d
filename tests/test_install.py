"""The install script builds a NON-editable install that runs without the source tree.

What the container image and an operator do, with no container engine: run
``deploy/install.sh`` on a copy of the tracked files (``git ls-files``, so nothing
untracked leaks in), delete the copy, then start ``<prefix>/bin/python -m bot serve``
from another working directory against the Bot API emulator on its own port (webhook
mode, SQLite in ``./data``). The welcome comes back in Swedish and English, so content
and locales were read from the package data (``bot/_data``) and nothing from the source
tree. Slow (a fresh virtual environment from the registry): one test.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import yaml

from bot.emulator.server import BotApiEmulator
from bot.emulator.spec import BotApiSpec
from tests.conftest import REPO, TEST_SECRET, emulator_on_own_port, free_port
from tests.helpers import Relative, button_data
from tests.webhook_helpers import registered

TOKEN = "123456:INSTALLtestTOKEN_abcdefghijklmnopqrstuv"
WEBHOOK_SECRET = "install-test-secret"
INSTALL_TIMEOUT = 900  # seconds: a cold registry cache builds the whole environment
# The home screen the shipped Swedish content draws (read here from the repository).
SWEDISH_HOME = yaml.safe_load((REPO / "content" / "texts" / "sv.yaml").read_text())["nodes"]["home"]


def tracked_copy(target: Path) -> Path:
    """The tracked files of the working tree (as they are now), copied to ``target``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, check=True, capture_output=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():  # a tracked file deleted in the tree is not copied
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


async def run(*command: str, cwd: Path, env: dict[str, str], timeout: float = 120) -> str:
    process = await asyncio.create_subprocess_exec(
        *command, cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), timeout)
    text = output.decode(errors="replace")
    assert process.returncode == 0, f"{' '.join(command)} failed:\n{text[-4000:]}"
    return text


def clean_env(home: Path, **settings: str) -> dict[str, str]:
    """No variable of the test run (PYTHONPATH, CONTENT_DIR, ...) reaches the product."""
    keep = ("PATH", "LANG", "PIP_CERT", "PIP_DEFAULT_TIMEOUT", "PIP_FIND_LINKS", "SSL_CERT_FILE")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    # The machine's pip cache (downloads are hash-checked anyway) spares the registry.
    cache = os.environ.get("PIP_CACHE_DIR") or str(Path.home() / ".cache" / "pip")
    env.update(HOME=str(home), PIP_CACHE_DIR=cache, PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.update(settings)
    return env


@pytest.fixture
async def emulator(spec: BotApiSpec) -> AsyncIterator[BotApiEmulator]:
    async with emulator_on_own_port(spec, TOKEN) as emulator:
        yield emulator


async def test_installed_package_serves_without_the_source_tree(
    emulator: BotApiEmulator, tmp_path: Path
) -> None:
    source = tracked_copy(tmp_path / "src")
    prefix = tmp_path / "prefix"
    home = tmp_path / "home"
    home.mkdir()
    env = clean_env(home)
    await run(
        "bash", str(source / "deploy" / "install.sh"), str(prefix),
        cwd=tmp_path, env=env, timeout=INSTALL_TIMEOUT,
    )  # fmt: skip
    shutil.rmtree(source)  # from here on, only the installed package exists

    workdir = tmp_path / "run"
    workdir.mkdir()
    python = str(prefix / "bin" / "python")

    # Where it reads from: the installed package, never a source tree.
    probe = (
        "import json, bot, bot.config as c; print(json.dumps({'file': bot.__file__, "
        "'version': bot.__version__, 'content': str(c.shipped_dir('content')), "
        "'locales': str(c.shipped_dir('locales')), 'data': str(c.default_data_dir()), "
        "'package_data': str(c.PACKAGE_DATA)}))"
    )
    where = json.loads(await run(python, "-c", probe, cwd=workdir, env=env))
    site = prefix / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    assert Path(where["file"]).is_relative_to(site), where
    assert where["content"] == str(Path(where["package_data"]) / "content"), where
    assert where["locales"] == str(Path(where["package_data"]) / "locales"), where
    assert (Path(where["content"]) / "guide.yaml").is_file()
    assert (Path(where["locales"]) / "sv" / "LC_MESSAGES" / "messages.po").is_file()
    assert where["data"] == str(workdir / "data"), where
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert where["version"] == project["version"]
    version = await run(python, "-m", "bot", "--version", cwd=workdir, env=env)
    assert version.split() == ["python", "-m", "bot", project["version"]], version

    # Not editable: no editable finder or .pth, and the wheel came from an archive.
    packages = site / "site-packages"
    assert not list(packages.glob("__editable__*")), list(packages.glob("__editable__*"))
    for pth in packages.glob("*.pth"):
        assert str(REPO) not in pth.read_text() and "src" not in pth.read_text(), pth
    (dist_info,) = packages.glob("relatives_support_bot-*.dist-info")
    direct = json.loads((dist_info / "direct_url.json").read_text())
    assert "archive_info" in direct and not direct.get("dir_info", {}).get("editable"), direct
    assert (dist_info / "licenses" / "LICENSE").is_file()

    # Serve from the installed package, webhook mode, SQLite in ./data of the working dir.
    port = free_port()
    serve_env = clean_env(
        home,
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=emulator.base_url,
        SECRET_KEY=TEST_SECRET,
        HOST="127.0.0.1",
        PORT=str(port),
        WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram/webhook",
        WEBHOOK_SECRET=WEBHOOK_SECRET,
        LOG_LEVEL="INFO",
    )
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            python, "-m", "bot", "serve",
            cwd=workdir, env=serve_env, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out,
        )  # fmt: skip
    try:
        await registered(emulator, [process], [log])  # an event, no polling of the port
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/health/ready") as response,
        ):
            assert response.status == 200, log.read_text()[-3000:]
        swedish = await Relative(emulator, language_code="sv").says("/start")
        assert "Välkommen" in swedish["text"], swedish["text"]
        english = Relative(emulator, language_code="en-GB")
        welcome = await english.says("/start")
        assert "Welcome" in welcome["text"], welcome["text"]
        home_screen = await Relative(emulator).onboard("sv", "laholm")
        assert SWEDISH_HOME["title"] in home_screen["text"], home_screen["text"]
        assert "g:worry" in button_data(home_screen)
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()
    assert process.returncode == 0, log.read_text()[-3000:]
    assert (workdir / "data" / "bot.db").is_file(), "SQLite should default to ./data"
    assert str(REPO) not in log.read_text()
    assert emulator.problems == [], emulator.problems
