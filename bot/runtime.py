"""Assemble the product from settings: content, i18n, storage, services, Telegram, web.

``Server`` is what `serve` and `preview` run and what the tests start in-process,
so the tests exercise exactly the wiring a deployment uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from dataclasses import dataclass

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine
from telegram.ext import Application

from bot.chat.check import checked_once
from bot.chat.conversation import ConversationService
from bot.config import ConfigError, Settings
from bot.content.loader import ContentError
from bot.content.model import Content
from bot.content.render import Renderer
from bot.i18n import Translator
from bot.services.cases import CaseService, RetentionSettings
from bot.services.staff import StaffService
from bot.services.stats import FLUSH_SECONDS, StatsRecorder, StatsService
from bot.storage.database import Database
from bot.storage.migrate import upgrade
from bot.storage.sessions import SessionStore, open_session_store
from bot.telegram.app import ALLOWED_UPDATES, build_application
from bot.telegram.notify import TelegramStaffNotifier
from bot.telegram.profile import publish_profile
from bot.telegram.relay import TelegramRelay
from bot.telegram.webhook import add_webhook_route
from bot.web.app import create_web_app
from bot.web.staff import StaffWeb
from bot.web.staff.demo import DemoAccount, create_demo_accounts

log = logging.getLogger(__name__)
PREVIEW_TOKEN = "100000001:PREVIEW-offline-token-not-for-telegram"
PURGE_EVERY_SECONDS = 6 * 3600
AUTO_RELEASE_EVERY_SECONDS = 60


@dataclass
class Core:
    """Everything both doors share."""

    settings: Settings
    content: Content
    translators: dict[str, Translator]
    renderer: Renderer
    database: Database  # engine, the one asyncpg pool, the hot SQLite connection
    store: SessionStore
    conversation: ConversationService
    cases: CaseService
    staff: StaffService
    recorder: StatsRecorder | None = None  # anonymous daily counts, flushed in the background

    async def close(self) -> None:
        if self.recorder is not None:
            await self.recorder.flush()  # a clean stop loses no counts
        await self.store.close()
        await self.database.close()

    @property
    def engine(self) -> AsyncEngine:
        """The SQLAlchemy engine (of ``database``), for what is not per update."""
        return self.database.engine


async def build_core(settings: Settings) -> Core:
    """Validate content (refuse to start on errors), migrate the database, build services."""
    report = checked_once(
        settings.content_dir, settings.locales_dir, settings.session_retention_days
    )
    if report.errors or report.renderer is None or report.content is None:
        raise ContentError(report.problems)
    if settings.secret_key is None:
        raise ConfigError("SECRET_KEY is not set")
    database = Database.open(settings.database_url)
    try:
        await upgrade(database.engine)
    except Exception as exc:  # any driver error: report it in one line
        await database.close()
        raise ConfigError(f"cannot open the database ({type(exc).__name__}: {exc})") from exc
    try:
        store = await open_session_store(database)
    except Exception as exc:
        await database.close()
        raise ConfigError(f"cannot open the database ({type(exc).__name__}: {exc})") from exc
    cases = CaseService(
        database,
        settings.secret_key,
        RetentionSettings(
            link_grace_days=settings.case_link_grace_days,
            text_retention_days=settings.case_text_retention_days,
            auto_release_minutes=settings.case_auto_release_minutes,
        ),
        known_teams=frozenset(report.content.teams),
        close_notice_teams=frozenset(
            team.id for team in report.content.teams.values() if team.notify_on_close
        ),
    )
    recorder = StatsRecorder(database, settings.secret_key)
    cases.stats = recorder
    staff = StaffService(database.engine, frozenset(report.content.teams))
    report.renderer.set_case_retention(
        settings.case_text_retention_days, settings.case_link_grace_days
    )
    report.renderer.set_public_url(settings.public_url)
    if settings.fallback_team is not None:
        if settings.fallback_team not in report.content.teams:
            known = ", ".join(sorted(report.content.teams))
            raise ConfigError(
                f"FALLBACK_TEAM {settings.fallback_team!r} is not a team in content/teams ({known})"
            )
        report.renderer.set_fallback_team(settings.fallback_team)
    conversation = ConversationService(
        store,
        report.content,
        report.renderer,
        settings.secret_key,
        settings.session_retention_days,
        cases=cases,
        stats=recorder,
    )
    return Core(
        settings,
        report.content,
        report.translators,
        report.renderer,
        database,
        store,
        conversation,
        cases,
        staff,
        recorder,
    )


class Server:
    """The bot and the web app in one process: `serve`, and `preview` with the emulator."""

    def __init__(self, settings: Settings, *, preview: bool = False, spec_validator=None) -> None:
        self.settings = settings
        self.preview = preview
        self.spec_validator = spec_validator
        self.core: Core | None = None
        self.application: Application | None = None
        self.emulator = None
        self._runner: web.AppRunner | None = None
        self._purge_task: asyncio.Task[None] | None = None
        self._release_task: asyncio.Task[None] | None = None
        self._stats_task: asyncio.Task[None] | None = None
        self.port = settings.port
        self.demo_accounts: list[DemoAccount] = []  # preview only: printed with the staff URL

    @property
    def origin(self) -> str:
        return f"http://{self.settings.host}:{self.port}"

    async def start(self) -> None:
        settings = self.settings
        if self.preview and settings.secret_key is None:
            settings = self.settings = settings.with_overrides(secret_key=secrets.token_bytes(32))
        self.core = await build_core(settings)
        webhook = bool(settings.webhook_url) and not self.preview
        token = PREVIEW_TOKEN if self.preview else settings.telegram_bot_token
        if token is None:
            raise ConfigError("TELEGRAM_BOT_TOKEN is not set")

        stats = StatsService(self.core.database, frozenset(self.core.content.teams))
        staff_web = StaffWeb.from_core(self.core, stats)
        web_app = create_web_app(staff=staff_web)
        if webhook:
            self.application = build_application(
                self.core.conversation,
                token=token,
                base_url=settings.telegram_api_url,
                with_updater=False,
            )
            add_webhook_route(
                web_app, self.application, settings.webhook_path, settings.webhook_secret or ""
            )
        if self.preview:
            from bot.emulator.server import BotApiEmulator

            self.demo_accounts = await create_demo_accounts(
                self.core.staff, sorted(self.core.content.teams)
            )
            self.emulator = BotApiEmulator(token, validator=self.spec_validator)
            self.emulator.add_routes(web_app)
        self._runner = web.AppRunner(web_app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, settings.host, settings.port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise ConfigError(
                f"cannot listen on {settings.host}:{settings.port} "
                f"({exc.strerror or exc}); set PORT to a free port"
            ) from exc
        if settings.port == 0:
            self.port = self._runner.addresses[0][1]
        if self.preview and not settings.public_url:
            self.core.renderer.set_public_url(self.origin)  # the bot links to this preview
        if self.emulator is not None:
            self.emulator.set_server_origin(self.origin)
        if self.application is None:
            base_url = self.emulator.base_url if self.emulator else settings.telegram_api_url
            self.application = build_application(
                self.core.conversation, token=token, base_url=base_url, with_updater=True
            )
        await self.application.initialize()
        self.core.cases.relay = TelegramRelay(
            self.application.bot,
            self.core.renderer,
            self.core.conversation.remember_sent,
            chat_language=self.core.conversation.chat_language,
        )
        if settings.staff_notify_chat_id is not None:
            lang = settings.staff_notify_language
            self.core.cases.events = TelegramStaffNotifier(
                self.application.bot,
                settings.staff_notify_chat_id,
                team_name=lambda team_id: self.core.renderer.team_name(lang, team_id),
                gettext=self.core.renderer.t(lang).gettext,
            )
        await publish_profile(self.application.bot, self.core.content, self.core.translators)
        await self.application.start()
        if webhook:
            await self.application.bot.set_webhook(
                settings.webhook_url,
                secret_token=settings.webhook_secret,
                allowed_updates=ALLOWED_UPDATES,
            )
        else:
            assert self.application.updater is not None
            await self.application.updater.start_polling(
                allowed_updates=ALLOWED_UPDATES,
                timeout=10 if not self.preview else 2,
                poll_interval=0.0,
                drop_pending_updates=False,
            )
        self._purge_task = asyncio.create_task(self._purge_loop())
        self._release_task = asyncio.create_task(self._auto_release_loop())
        self._stats_task = asyncio.create_task(self._stats_flush_loop())

    async def _purge_loop(self) -> None:
        assert self.core is not None
        while True:
            try:
                await self.core.conversation.purge()
            except Exception as exc:  # keep serving; the next round retries
                log.error("purge failed: %s", type(exc).__name__)
            try:
                await self.core.cases.purge()
            except Exception as exc:
                log.error("case purge failed: %s", type(exc).__name__)
            if self.core.recorder is not None:
                try:
                    await self.core.recorder.fold_finished_days()
                except Exception as exc:
                    log.error("statistics fold failed: %s", type(exc).__name__)
            await asyncio.sleep(PURGE_EVERY_SECONDS)

    async def _stats_flush_loop(self) -> None:
        """Counts reach the database every FLUSH_SECONDS: a crash loses at most that much."""
        assert self.core is not None
        recorder = self.core.recorder
        while recorder is not None:
            await asyncio.sleep(FLUSH_SECONDS)
            await recorder.flush()  # logs and keeps its counts on failure

    async def _auto_release_loop(self) -> None:
        """Claims nobody works on go back to the queue (checked every minute)."""
        assert self.core is not None
        while True:
            await asyncio.sleep(AUTO_RELEASE_EVERY_SECONDS)
            try:
                await self.core.cases.auto_release()
            except Exception as exc:  # keep serving; the next round retries
                log.error("auto-release failed: %s", type(exc).__name__)

    async def stop(self) -> None:
        for task in (self._purge_task, self._release_task, self._stats_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.core is not None and isinstance(self.core.cases.events, TelegramStaffNotifier):
            await self.core.cases.events.drain()
        if self.application is not None:
            if self.application.updater is not None and self.application.updater.running:
                await self.application.updater.stop()
            if self.application.running:
                await self.application.stop()
            await self.application.shutdown()
        if self._runner is not None:
            await self._runner.cleanup()
        if self.core is not None:
            await self.core.close()
