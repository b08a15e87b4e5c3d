"""The Telegram webhook route: the bot's door on the product's aiohttp app.

It lives with the Telegram door (not in ``bot.web``), so the staff web app never
imports python-telegram-bot; the runtime mounts it on the app it builds.
"""

from __future__ import annotations

import hmac
import logging

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from bot.telegram.app import TelegramApplication
from bot.telegram.flood_gate import flood_verdict, payload_verdict
from bot.telegram.webhook_reply import WebhookReply, current_webhook_reply
from bot.text_input import loads_json

log = logging.getLogger(__name__)
TELEGRAM_APP = web.AppKey("telegram_app", Application)
WEBHOOK_SECRET = web.AppKey("webhook_secret", str)
MAX_UPDATE_BYTES = 1_000_000


async def telegram_webhook(request: web.Request) -> web.Response:
    """Accept an update only with the right secret header; process it before saying 200.

    Answering 200 only after the update is handled (and its state written) means a
    crash makes Telegram deliver it again: at least once, deduplicated by update_id. A
    transient failure (database unreachable, disk full, a lock timeout) answers 503 for
    the same reason; a handler's permanent failure is acknowledged (retrying repeats it).
    """
    secret = request.app[WEBHOOK_SECRET]
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    if not hmac.compare_digest(given.encode(), secret.encode()):
        return web.json_response({"error": "forbidden"}, status=403)
    if request.content_length is not None and request.content_length > MAX_UPDATE_BYTES:
        return web.json_response({"error": "too large"}, status=413)
    application = request.app[TELEGRAM_APP]
    raw = await request.read()
    # A body that is not an update (malformed, too deeply nested) is permanently
    # unprocessable: acknowledged with 200, since any other status makes Telegram deliver
    # it again and again; logged without its content. Never a 500.
    try:
        payload = loads_json(raw, check_strings=False)  # nesting checked before parsing
        if not isinstance(payload, dict) or not isinstance(payload.get("update_id"), int):
            raise ValueError("not an update object")
        verdict = payload_verdict(application.update_processor, payload)
        if verdict == "drop":  # over its chat's budget: acknowledged, nothing else done
            return web.json_response({"ok": True})
        update = Update.de_json(payload, application.bot)
    except (ValueError, TypeError, KeyError, UnicodeDecodeError):
        log.info("webhook: ignored a body that is not a Telegram update")
        return web.json_response({"ok": True, "ignored": "not an update"})
    if update is None:
        log.info("webhook: ignored a body that is not a Telegram update")
        return web.json_response({"ok": True, "ignored": "not an update"})
    reply = WebhookReply()
    token = current_webhook_reply.set(reply)
    decided = flood_verdict.set(verdict)
    try:
        processor = application.update_processor
        await processor.process_update(update, application.process_update(update))
    finally:
        flood_verdict.reset(decided)
        current_webhook_reply.reset(token)
    if reply.retry:  # transient: not acknowledged, so Telegram delivers it again
        return web.json_response({"error": "temporarily unavailable"}, status=503)
    return web.json_response(reply.call or {"ok": True})


def add_webhook_route(
    app: web.Application,
    application: TelegramApplication,
    path: str,
    secret: str,
) -> None:
    """Serve Telegram's POSTs at ``path`` (a secret path, checked with a secret header too)."""
    app[TELEGRAM_APP] = application
    app[WEBHOOK_SECRET] = secret
    app.router.add_post(path, telegram_webhook)
