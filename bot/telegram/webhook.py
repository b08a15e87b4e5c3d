"""The Telegram webhook route: the bot's door on the product's aiohttp app.

It lives with the Telegram door (not in ``bot.web``), so the staff web app never
imports python-telegram-bot; the runtime mounts it on the app it builds.
"""

from __future__ import annotations

import hmac
import json
import logging

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from bot.telegram.app import TelegramApplication
from bot.telegram.webhook_reply import WebhookReply, current_webhook_reply

log = logging.getLogger(__name__)
TELEGRAM_APP = web.AppKey("telegram_app", Application)
WEBHOOK_SECRET = web.AppKey("webhook_secret", str)
MAX_UPDATE_BYTES = 1_000_000


async def telegram_webhook(request: web.Request) -> web.Response:
    """Accept an update only with the right secret header; process it before saying 200.

    Answering 200 only after the update is handled (and its state written) means a
    crash makes Telegram deliver it again: at least once, deduplicated by update_id.
    """
    secret = request.app[WEBHOOK_SECRET]
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    if not hmac.compare_digest(given.encode(), secret.encode()):
        return web.json_response({"error": "forbidden"}, status=403)
    if request.content_length is not None and request.content_length > MAX_UPDATE_BYTES:
        return web.json_response({"error": "too large"}, status=413)
    application = request.app[TELEGRAM_APP]
    try:
        payload = json.loads(await request.read())
        if not isinstance(payload, dict) or not isinstance(payload.get("update_id"), int):
            raise ValueError("not an update object")
        update = Update.de_json(payload, application.bot)
    except (ValueError, TypeError, KeyError, UnicodeDecodeError):
        log.info("webhook: ignored a body that is not a Telegram update")
        return web.json_response({"error": "not an update"}, status=400)
    if update is None:
        return web.json_response({"error": "not an update"}, status=400)
    reply = WebhookReply()
    token = current_webhook_reply.set(reply)
    try:
        processor = application.update_processor
        await processor.process_update(update, application.process_update(update))
    finally:
        current_webhook_reply.reset(token)
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
