"""The webhook benchmark still runs end to end (tiny numbers; nothing here is timed).

Why: a benchmark nobody runs rots silently; this keeps the script, the fake Bot
API and both bots' start-up working as the product changes.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytest.importorskip("tornado", reason="the echo bot needs python-telegram-bot[webhooks]")


def test_benchmark_prints_both_result_lines() -> None:
    command = [
        sys.executable, "-m", "bot.bench.webhook",
        "--updates", "50", "--chats", "5", "--concurrency", "5",
        "--rate", "20", "--duration", "1",
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for label in ("full bot (serve)", "bare PTB echo"):
        row = re.compile(rf"^{re.escape(label)}\s+\d")
        rows = [line for line in lines if row.match(line)]
        assert rows, f"no result line for {label!r}:\n{done.stdout}"
        updates_per_s, _p50, _p99, _max, lost, non_200, _cpu = rows[0][len(label) :].split()
        assert float(updates_per_s) > 0, rows[0]
        assert (lost, non_200) == ("0", "0"), f"updates went unanswered: {rows[0]}"


def test_national_benchmark_prints_every_figure() -> None:
    """Tiny sizes: every figure line is printed with a number and a verdict (not its outcome)."""
    command = [sys.executable, "-m", "bot.bench.national", "--quick", "--teams", "12"]
    done = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for figure in (
        r"serve start-up, 12 teams \(to /health/ready\)\s+\d+\.\d+ s .*(PASS|FAIL)",
        r"serve resident memory, ready / peak\s+[1-9]\d*\.\d / [1-9]\d*\.\d MB .*(PASS|FAIL)",
        r"all-teams year report \(service\)\s+p50\s+\d+\.\d ms\s+p99\s+\d+\.\d ms.*(PASS|FAIL)",
        r"all-teams year page \(/staff/stats\)\s+p50\s+\d+\.\d ms\s+p99.*(PASS|FAIL)",
        r"the year before, whole \(service\)\s+p50\s+\d+\.\d ms\s+p99.*(PASS|FAIL)",
        r"one team's quarter \(service\)\s+p50\s+\d+\.\d ms\s+p99.*(PASS|FAIL)",
        r"admin queue page \(/staff/queue\)\s+p50\s+\d+\.\d ms\s+p99\s+\d+\.\d ms",
        r"admin queue API \(/api/v1/queue\)\s+p50\s+\d+\.\d ms\s+p99\s+\d+\.\d ms",
        r"per-update throughput, 2 teams\s+[1-9]\d*\.\d updates/s",
        r"per-update throughput, 12 teams\s+[1-9]\d*\.\d updates/s",
        r"throughput 12 / 2 teams\s+\d+\.\d+\s+target >= 0\.90\s+(PASS|FAIL)",
        r"serve CPU ms per update, 2 / 12 teams\s+\d+\.\d+ / \d+\.\d+, ratio .*(PASS|FAIL)",
        r"\(2 rounds of 60 updates a side, the sides alternating; .*ratios: \d\.\d{3}, \d\.\d{3}\)",
        r"updates lost or not 200: 0; error replies: 0",
        # every chat reached Laholm: with 12 teams (a picker of groups) by typing its name
        r"chats that chose Laholm .*: 2 teams ([1-9]\d*)/\1, 12 teams ([1-9]\d*)/\2$",
    ):
        assert re.search(figure, done.stdout, re.MULTILINE), f"missing {figure!r}:\n{done.stdout}"
