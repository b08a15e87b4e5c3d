"""What the in-process benchmarks share: a throwaway product and latency percentiles."""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bot.config import load_settings
from bot.runtime import Core, build_core


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
