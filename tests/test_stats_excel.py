"""The statistics CSV opened the way Swedish Excel opens it, both databases.

Excel in a Swedish locale reads a double-clicked .csv as UTF-8 only when it starts with
a byte-order mark (else in the Windows code page, so "ö" becomes "Ã¶"), and splits it on
the locale's list separator, ";" (the decimal separator being ","), so a comma-separated
file is one column. ``excel_rows`` does exactly that; the semicolon export must come out
with the right columns, the Swedish words intact, ISO dates and "<5" for small counts.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from datetime import date

import pytest

from bot.runtime import Server
from bot.services.stats_report import CSV_COLUMNS, LABEL_COLUMNS
from bot.storage.engine import write_tx
from bot.storage.stats import add_counts
from tests.staff_helpers import PASSWORD, StaffClient, create_accounts, signed_in

MONTH = "period=month&date=2026-11-15&team=laholm"
FEEDBACK_SV = "Hjälpte kontakten?"  # a table's Swedish title, with an ä
ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
BOM = b"\xef\xbb\xbf"


def excel_rows(raw: bytes, list_separator: str = ";") -> list[list[str]]:
    """What Swedish Excel shows: UTF-8 if the file starts with a BOM, else cp1252; cells
    split on the list separator, quotes honoured."""
    text = (
        raw[len(BOM) :].decode("utf-8")
        if raw.startswith(BOM)
        else raw.decode("cp1252", errors="replace")
    )
    return list(csv.reader(io.StringIO(text), delimiter=list_separator))


async def seed(server: Server) -> None:
    assert server.core is not None
    d = date
    counts = {
        (d(2026, 11, 2), "laholm", "sv", "conversation_started", ""): 12,
        (d(2026, 11, 3), "laholm", "sv", "conversation_started", ""): 3,
        (d(2026, 11, 2), "laholm", "", "relatives", ""): 11,
        (d(2026, 11, 2), "laholm", "sv", "screen_viewed", "home"): 40,
        (d(2026, 11, 2), "laholm", "sv", "screen_viewed", "worry"): 9,
        (d(2026, 11, 5), "laholm", "sv", "request_created", ""): 3,
        (d(2026, 11, 4), "botkyrka", "sv", "conversation_started", ""): 173,
    }
    async with write_tx(server.core.engine) as conn:
        await add_counts(conn, counts)


@pytest.fixture
async def kim(preview_server: Server) -> AsyncIterator[StaffClient]:
    await create_accounts(preview_server)
    assert preview_server.core is not None
    await preview_server.core.staff.create("kim", PASSWORD, "coordinator", frozenset({"laholm"}))
    await seed(preview_server)
    async with signed_in(preview_server, "kim") as client:
        yield client


async def download(client: StaffClient, path: str) -> tuple[int, str, bytes]:
    async with client.http.get(client.origin + path) as response:
        return (
            response.status,
            response.headers.get("Content-Disposition", ""),
            await response.read(),
        )


async def test_swedish_excel_reads_the_semicolon_export(kim: StaffClient) -> None:
    page = await kim.get(f"/staff/stats?{MONTH}")
    assert 'data-testid="csv-semicolon"' in page and 'data-testid="csv"' in page
    link = re.search(r'href="([^"]*sep=semicolon[^"]*)"', page)
    assert link, "the page offers the semicolon export"
    status, disposition, raw = await download(kim, link.group(1).replace("&amp;", "&"))
    assert status == 200 and raw.startswith(BOM)
    assert disposition.endswith('semicolon.csv"'), disposition

    rows = excel_rows(raw)
    header, body = rows[0], rows[1:]
    assert header == CSV_COLUMNS + LABEL_COLUMNS
    assert body and all(len(row) == len(header) for row in body), "one cell per column"
    cells = [dict(zip(header, row, strict=True)) for row in body]
    feedback = next(c for c in cells if c["table"] == "contact_feedback")
    assert feedback["table_title"] == FEEDBACK_SV
    assert all(ISO_DAY.match(c["period_start"]) and ISO_DAY.match(c["period_end"]) for c in cells)
    assert {c["period_start"] for c in cells} == {"2026-11-01"}
    daily = [c for c in cells if c["table"] == "conversations_over_time" and c["row"] != "Total"]
    assert daily and all(ISO_DAY.match(c["row"]) for c in daily if c["row"])
    # Small counts as "<5", never the number; Botkyrka's figure never in Laholm's file.
    values = [c["value"] for c in cells if c["column"] != "note"]
    assert "<5" in values and not {"1", "2", "3", "4"} & set(values)
    funnel = {c["row"]: c["value"] for c in cells if c["table"] == "funnel"}
    assert funnel["Contact requests sent"] == "<5" and funnel["Conversations started"] == "15"
    # The book (issue #13) shows the 3 requests' days, each small one as "<5" or "hidden".
    requests = [c for c in cells if c["table"] == "requests_over_time" and c["column"] != "note"]
    assert requests and not {"1", "2", "3", "4"} & {c["value"] for c in requests}
    assert any(c["value"] in {"<5", "hidden"} for c in requests)
    assert "173" not in raw.decode("utf-8-sig")
    # The reader is Excel's, not a kind one: the same file without its BOM is mangled.
    mangled = [cell for row in excel_rows(raw[len(BOM) :]) for cell in row]
    assert not any(FEEDBACK_SV in cell for cell in mangled)
    assert any("HjÃ¤lpte" in cell for cell in mangled)


async def test_the_comma_export_has_a_bom_and_bad_separators_are_refused(
    kim: StaffClient,
) -> None:
    status, disposition, raw = await download(kim, f"/staff/stats.csv?{MONTH}")
    assert (
        status == 200
        and raw.startswith(BOM)
        and disposition.endswith('laholm-2026-11-01-2026-11-30.csv"')
    )
    # Commas: what a program (or Excel in English) reads; Swedish Excel would show one column.
    assert excel_rows(raw, ",")[0] == CSV_COLUMNS + LABEL_COLUMNS
    assert all(len(row) == 1 for row in excel_rows(raw)[:1])
    assert FEEDBACK_SV in raw.decode("utf-8-sig")
    status, _, body = await download(kim, f"/staff/stats.csv?{MONTH}&sep=tab")
    assert status == 400 and "semikolon" in body.decode()
