"""What the in-process benchmarks share: a throwaway product, a signed-in staff web session
and latency percentiles."""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
from aiohttp import web

from bot.config import load_settings
from bot.runtime import Core, build_core
from bot.services.stats import StatsService
from bot.web.app import create_web_app
from bot.web.staff import StaffWeb


@asynccontextmanager
async def throwaway_core(prefix: str, database_url: str | None) -> AsyncIterator[Core]:
    """The real product's core on a fresh SQLite file (or the given database), closed after."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    env = {
        "DATABASE_URL": database_url or f"sqlite:///{tmp / 'bench.db'}",
        "DATA_DIR": str(tmp),
        "SECRET_KEY": secrets.token_urlsafe(48),
    }
    core = await build_core(load_settings(env, require_telegram=False))
    try:
        yield core
    finally:
        await core.close()


def backend(core: Core) -> str:
    return "SQLite" if core.database.is_sqlite else "PostgreSQL"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@asynccontextmanager
async def signed_in_staff_web(
    core: Core, stats: StatsService, username: str, password: str
) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    """The staff web app on a loopback port, and an HTTP session signed in to it (and origin)."""
    runner = web.AppRunner(create_web_app(staff=StaffWeb.from_core(core, stats)), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    origin = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.get(f"{origin}/staff/login") as response:
                page = await response.text()
            csrf = page.split('name="csrf" value="')[1].split('"')[0]
            form = {"csrf": csrf, "username": username, "password": password}
            async with http.post(f"{origin}/staff/login", data=form) as response:
                assert response.status == 200, response.status
            yield http, origin
    finally:
        await runner.cleanup()
