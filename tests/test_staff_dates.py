"""Staff pages show dates and times the Swedish way in Swedish and English alike.

ISO dates (2026-12-01) and a 24-hour clock (08:14), in the deployment's TIME_ZONE: never
Babel's English "12/1/26, 8:14 AM", which a Swedish reader takes for 12 January. One
server (SQLite: the data layer does not change how a page writes a time) for the module.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import pytest_asyncio

from bot.emulator.spec import BotApiSpec
from bot.runtime import Server
from bot.storage import cases as case_db
from bot.web.staff.dates import StaffDates
from tests.conftest import running_preview
from tests.staff_helpers import create_accounts, new_request, signed_in, text_of

MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")  # the tests that use the server

MORNING = datetime(2026, 12, 1, 7, 14, tzinfo=UTC)  # 08:14 in Stockholm (UTC+1 in winter)
SUMMER = datetime(2026, 7, 1, 6, 5, tzinfo=UTC)  # 08:05 in Stockholm (UTC+2 in summer)
LATE = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)  # 2 December 00:30 in Stockholm
US_STYLE = re.compile(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b|\b\d{1,2}:\d{2}\s?[AP]M\b", re.I)
ISO_MOMENT = re.compile(r"\b\d{4}-\d{2}-\d{2} \d{2}:\d{2}\b")


# -- the helper --------------------------------------------------------------------------


def test_a_moment_is_an_iso_date_and_a_24_hour_clock_in_the_zone() -> None:
    dates = StaffDates.of("Europe/Stockholm")
    assert dates.moment(MORNING) == "2026-12-01 08:14"
    assert dates.moment(SUMMER) == "2026-07-01 08:05"
    assert dates.moment(LATE) == "2026-12-02 00:30"
    assert dates.clock(LATE) == "00:30"
    assert dates.day(LATE) == "2026-12-02"
    assert dates.iso(MORNING) == "2026-12-01T08:14+01:00"
    assert dates.moment(None) == dates.day(None) == ""


def test_an_afternoon_is_not_written_with_am_or_pm() -> None:
    afternoon = datetime(2026, 12, 1, 14, 5, tzinfo=UTC)
    assert StaffDates.of("Europe/Stockholm").moment(afternoon) == "2026-12-01 15:05"
    assert StaffDates.of("UTC").moment(afternoon) == "2026-12-01 14:05"


def test_a_naive_moment_from_storage_is_taken_as_utc() -> None:
    naive = MORNING.replace(tzinfo=None)
    assert StaffDates.of("Europe/Stockholm").moment(naive) == "2026-12-01 08:14"


def test_a_day_stays_the_day() -> None:
    assert StaffDates.of("Asia/Tokyo").day(date(2026, 12, 1)) == "2026-12-01"
    assert StaffDates.of("Asia/Tokyo").day("2026-12-01") == "2026-12-01"


# -- the pages ---------------------------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(
    spec: BotApiSpec, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Server, str]]:
    """A request received, noted and audited at 07:14 UTC (08:14 in Stockholm)."""
    tmp: Path = tmp_path_factory.mktemp("dates")
    url = f"sqlite+aiosqlite:///{tmp / 'dates.db'}"
    async with running_preview(url, tmp, spec, TIME_ZONE="Europe/Stockholm") as server:
        assert server.core is not None
        await create_accounts(server)
        server.core.cases.now = lambda: MORNING  # the request and its first message
        created = await new_request(server)
        async with server.core.database.write_tx() as conn:
            await case_db.record(conn, MORNING, "root", "claim", created.code)
        yield server, created.code


@MODULE_LOOP
@pytest.mark.parametrize("lang", ["sv", "en"])
@pytest.mark.parametrize("page", ["audit", "case"])
async def test_staff_pages_write_times_the_swedish_way(
    server: tuple[Server, str], lang: str, page: str
) -> None:
    running, code = server
    path = "/staff/audit" if page == "audit" else f"/staff/cases/{code}"
    async with signed_in(running, "root", lang=lang) as root:
        shown = text_of(await root.get(path))
        assert root.status == 200, shown
    assert "2026-12-01 08:14" in shown, shown
    assert US_STYLE.findall(shown) == [], shown


@MODULE_LOOP
async def test_every_time_on_the_case_page_is_iso(server: tuple[Server, str]) -> None:
    running, code = server
    async with signed_in(running, "root", lang="en") as root:
        page = await root.get(f"/staff/cases/{code}")
    times = re.findall(r"<time[^>]*>([^<]*)</time>", page)
    assert times and all(ISO_MOMENT.fullmatch(t.strip()) for t in times), times
