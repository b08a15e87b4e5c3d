"""A short trial as a new municipality would run it, through the bot, both databases.

Issue #12's "Done when": after relatives choose Laholm, browse the guide and one sends a
request, the Laholm team's statistics page shows the trial's conversations and relatives
(not 0: a conversation starts before its municipality is chosen), small counts as "<5";
the all-teams view counts each conversation once, under the team chosen or as "no
municipality chosen yet". Issue #12 allowed today's relatives "shown from the day's
digests or clearly marked as counted tomorrow"; since issue #13 (closed days only, one
protected figure in every report) it is the second: on the trial day the page says up to
which day it counts and that a day is counted from the next day on, and the next day it
shows the trial.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, time, timedelta
from typing import Any

from bot import callbacks
from bot.runtime import Server
from tests.helpers import Relative
from tests.staff_helpers import PASSWORD, create_accounts, signed_in, text_of

CHART_DATA = re.compile(r'<script type="application/json" id="chart-data">(.*?)</script>', re.S)
LAHOLM_RELATIVES = 6


def charts_of(page: str) -> dict[str, dict[str, Any]]:
    found = CHART_DATA.search(page)
    assert found, "the page carries its chart data as JSON"
    return {chart["id"]: chart for chart in json.loads(found.group(1))}


def table_of(report: dict[str, Any], table_id: str) -> dict[str, Any]:
    return next(t for t in report["tables"] if t["id"] == table_id)


async def _send_request(relative: Relative) -> None:
    await relative.taps("g:contact", from_older_message=True)
    await relative.taps("k:new")
    for code in ("k:c:child", "k:t:online", "k:u:soon", "k:r:chat", "k:l:sv"):
        await relative.taps(code)
    await relative.taps("k:skip")
    done = await relative.taps("k:ok")
    assert re.search(r"[A-Z0-9]{3}-[A-Z0-9]{3}", done["text"]), done["text"]


async def test_a_trial_is_marked_counted_tomorrow_and_shown_the_next_day(
    preview_server: Server,
) -> None:
    core = preview_server.core
    assert core is not None and core.recorder is not None
    for i in range(LAHOLM_RELATIVES):
        relative = Relative(preview_server.emulator)
        await relative.onboard("sv", "laholm")
        await relative.taps(callbacks.go("worry"), from_older_message=True)
        if i == 0:
            await _send_request(relative)
    await Relative(preview_server.emulator).onboard("sv", "botkyrka")
    undecided = Relative(preview_server.emulator)
    await undecided.says("/start")
    await undecided.taps("l:sv")  # never chooses a municipality
    assert await core.recorder.flush()

    await create_accounts(preview_server)
    await core.staff.create("kim", PASSWORD, "coordinator", frozenset({"laholm"}))
    stats = preview_server.stats
    assert stats is not None
    trial_day = core.recorder.today()
    async with signed_in(preview_server, "kim") as kim:
        page = await kim.get("/staff/stats?period=month&team=laholm")
        assert kim.status == 200, text_of(page)
        words = text_of(page)
        yesterday = (trial_day - timedelta(days=1)).isoformat()
        assert "Varje dag räknas från och med dagen efter" in words and yesterday in words
        labels = charts_of(page)["conversations_over_time"]["labels"]
        assert trial_day.isoformat() not in labels, "the trial day is counted tomorrow"

    # The next day: the digests are folded, the trial day is closed and shown.
    tomorrow = trial_day + timedelta(days=1)
    core.recorder.today = lambda: tomorrow
    assert await core.recorder.flush()
    now_before = stats.now
    stats.now = lambda: datetime.combine(tomorrow, time(12), UTC)
    try:
        async with signed_in(preview_server, "kim") as kim:
            day = trial_day.isoformat()
            page = await kim.get(f"/staff/stats?period=month&date={day}&team=laholm")
            assert kim.status == 200, text_of(page)
            charts = charts_of(page)
            over = charts["conversations_over_time"]
            assert over["labels"][-1] == day, "no future days, the trial day the last row"
            conversations, relatives = (d["data"][-1] for d in over["datasets"])
            # One protected figure in every report: shown as the true count, or hidden.
            assert relatives == LAHOLM_RELATIVES and conversations in (LAHOLM_RELATIVES, None)
            requests = charts["requests_over_time"]
            assert requests["labels"][-1] == day and requests["datasets"][0]["data"][-1] is None
            last = len(requests["labels"]) - 1
            assert [last, 0, "<5"] in requests["hidden"]  # one contact request: "<5"
            assert "<5" in text_of(page)
            # The month is not over: its totals (the funnel) come the day after it ends, so a
            # total never changes from one day to the next.
            funnel = charts["funnel"]
            assert set(funnel["datasets"][0]["data"]) == {None}
            assert {m for _, _, m in funnel["hidden"]} == {"efter perioden"}
            assert "summorna visas från och med dagen efter att den har slutat" in text_of(page)
            status, report = await kim.api(
                "GET", f"/api/v1/stats?period=week&date={day}&team=laholm"
            )
            assert status == 200, report
            rows = table_of(report, "conversations_over_time")["rows"]
            cells = next(r for r in rows if r["key"] == day)["cells"]
            assert cells[1]["value"] == LAHOLM_RELATIVES  # the same figure as the month's
            assert cells[0]["value"] in (LAHOLM_RELATIVES, None)

        async with signed_in(preview_server, "root") as root:
            status, report = await root.api("GET", f"/api/v1/stats?period=month&date={day}")
            assert status == 200, report
            funnel = {row["key"]: row["cells"][0] for row in table_of(report, "funnel")["rows"]}
            assert funnel["Conversations started"] == {"value": None, "shown": "after the period"}
            # Laholm's six, Botkyrka's one and the one who chose no municipality: each once.
            over = table_of(report, "conversations_over_time")["rows"][-1]
            assert over["key"] == day
            values = [c["value"] for c in over["cells"]]
            assert set(values) <= {LAHOLM_RELATIVES + 2, None} and LAHOLM_RELATIVES + 2 in values
    finally:
        stats.now = now_before
