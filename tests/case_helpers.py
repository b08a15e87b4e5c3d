"""The case rules as the service-level tests build them (tests/test_cases.py, close notices)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from bot.services.cases import CaseService, RetentionSettings
from bot.storage.database import Database

# Seven days to link a chat to its case, texts kept 30 days, a claim released after 30 minutes.
RETENTION = RetentionSettings(link_grace_days=7, text_retention_days=30, auto_release_minutes=30)


@contextlib.asynccontextmanager
async def case_service(database: Database, key: bytes, **kwargs: Any) -> AsyncIterator[CaseService]:
    """A ``CaseService`` on ``database`` with the tests' retention, disposed on the way out."""
    service = CaseService(database, key, RETENTION, **kwargs)
    try:
        yield service
    finally:
        await service.dispose()
