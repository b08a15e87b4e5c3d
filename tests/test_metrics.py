"""``/metrics``: updates handled and their latency, Bot API errors by kind, and no identifier.

Real updates go through the real product (preview mode: PTB polls the spec-checking
emulator); the emulator answers the errors Telegram would (``fail_next``, a blocked chat),
a handler fails for real (its table renamed away), and the counters are read back from the
text the scraper gets, with prometheus_client's own parser.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from telegram.error import NetworkError

from bot.emulator.spec import BotApiSpec
from bot.runtime import Server
from bot.services.telemetry import BOT_API_ERROR_KINDS, Telemetry, bot_api_error_kind
from bot.telegram.transport import ObservedRequest
from tests.conftest import free_port, running_preview
from tests.helpers import Relative

NAME = "Quirinia"
USERNAME = "quir_metrics_42"
SAID = "Min syster Quirinia har slutat svara i telefon"


async def scrape(
    server: Server,
) -> tuple[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(server.origin + "/metrics") as response,
    ):
        assert response.status == 200
        body = await response.text()
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }
    return body, samples


def value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


async def test_updates_bot_api_errors_and_no_identifier_in_metrics(preview_server: Server) -> None:
    emulator, core = preview_server.emulator, preview_server.core
    assert emulator is not None and core is not None
    relative = Relative(emulator)
    relative.chat_id = emulator.new_private_chat(
        language_code="sv", first_name=NAME, username=USERNAME
    )
    _, before = await scrape(preview_server)
    assert value(before, "helpline_updates_handled_total", kind="message", outcome="ok") == 0
    assert value(before, "helpline_bot_api_errors_total", kind="retry_after") == 0

    await relative.onboard("sv", "laholm")  # /start (a message), then two button taps
    await relative.says(SAID)
    emulator.fail_next("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
    await relative.says("/help")
    emulator.fail_next("sendMessage", 500, "Internal Server Error")
    await relative.says("/help")
    async with core.database.write_tx() as conn:  # the chat's state table goes: handling fails
        await conn.exec_driver_sql("ALTER TABLE chat_session RENAME TO chat_session_away")
    try:
        await relative.says("/help")
    finally:
        async with core.database.write_tx() as conn:
            await conn.exec_driver_sql("ALTER TABLE chat_session_away RENAME TO chat_session")
    emulator.user_blocks_bot(relative.chat_id)
    await relative.says("/help")

    body, samples = await scrape(preview_server)
    handled = "helpline_updates_handled_total"
    assert value(samples, handled, kind="callback_query", outcome="ok") == 2
    assert value(samples, handled, kind="message", outcome="ok") == 5
    assert value(samples, handled, kind="message", outcome="error") == 1
    assert value(samples, handled, kind="callback_query", outcome="error") == 0
    latency = "helpline_update_handling_seconds_count"
    assert value(samples, latency, kind="message") == 6
    assert value(samples, latency, kind="callback_query") == 2
    assert value(samples, "helpline_update_handling_seconds_sum", kind="message") > 0
    errors = "helpline_bot_api_errors_total"
    assert value(samples, errors, kind="retry_after") == 1
    assert value(samples, errors, kind="server") == 1
    assert value(samples, errors, kind="forbidden") >= 1  # the blocked chat
    assert value(samples, errors, kind="network") == 0

    labels = {v for _, pairs in samples for _, v in pairs}
    allowed = set(BOT_API_ERROR_KINDS) | {"message", "callback_query", "other", "ok", "error"}
    allowed |= set(core.content.teams) | {"purge", "stats_fold", "stats_flush", "auto_release"}
    allowed |= {"notice", "dropped"}  # what the flood budget did with an update
    buckets = {v for (name, pairs) in samples for k, v in pairs if k == "le"}
    assert labels - buckets <= allowed, labels - buckets - allowed
    for told in (str(relative.chat_id), NAME, USERNAME, SAID, "Quirinia", "syster"):
        assert told not in body, told


async def test_updates_over_a_chats_budget_are_counted_without_the_chat(
    database_url: str, tmp_path: Path, spec: BotApiSpec
) -> None:
    """Ten messages at once from a chat whose budget holds three: three handled, the fourth
    answered with the one notice, six dropped; the counter says so and names no chat."""
    env = {"FLOOD_BURST": "3", "FLOOD_PER_MINUTE": "1"}
    async with running_preview(database_url, tmp_path, spec, **env) as server:
        emulator = server.emulator
        assert emulator is not None
        _, before = await scrape(server)
        over = "helpline_updates_over_budget_total"
        assert value(before, over, action="notice") == 0
        assert value(before, over, action="dropped") == 0
        chat_id = emulator.new_private_chat(language_code="sv", username=USERNAME)
        for i in range(10):
            await emulator.user_sends_text(chat_id, f"{SAID} {i}")
        await emulator.wait_idle()
        body, samples = await scrape(server)
        assert value(samples, over, action="notice") == 1
        assert value(samples, over, action="dropped") == 6
        assert value(samples, "helpline_updates_handled_total", kind="message", outcome="ok") == 3
        for told in (str(chat_id), USERNAME, SAID):
            assert told not in body, told


async def test_a_network_failure_counts_as_network() -> None:
    """Nothing listens on the port: the transport's own error, counted before PTB sees it."""
    telemetry = Telemetry()
    request = ObservedRequest(telemetry)
    await request.initialize()
    try:
        with pytest.raises(NetworkError):
            await request.post(f"http://127.0.0.1:{free_port()}/bot1:x/getMe")
    finally:
        await request.shutdown()
    assert (
        telemetry.registry.get_sample_value("helpline_bot_api_errors_total", {"kind": "network"})
        == 1
    )


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (200, None),
        (400, "bad_request"),
        (401, "unauthorized"),
        (403, "forbidden"),
        (404, "unauthorized"),
        (409, "conflict"),
        (429, "retry_after"),
        (500, "server"),
        (502, "server"),
        (418, "other"),
    ],
)
def test_bot_api_error_kind_by_status(status: int, kind: str | None) -> None:
    assert bot_api_error_kind(status) == kind
