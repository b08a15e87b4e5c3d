"""Assemble the product from settings: content, i18n, storage, services, Telegram, web.

``Server`` is what `serve` and `preview` run and what the tests start in-process,
so the tests exercise exactly the wiring a deployment uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine
from telegram import Bot, Update
from telegram.ext import TypeHandler

from bot.chat.check import checked_once
from bot.chat.conversation import ConversationService
from bot.chat.memory import ChatMemory
from bot.config import ConfigError, Settings
from bot.content.loader import ContentError
from bot.content.model import Content
from bot.content.render import Renderer
from bot.i18n import Translator
from bot.services.cases import CaseService, RetentionSettings
from bot.services.flood import IncomingBudget
from bot.services.health import HealthService
from bot.services.jobs import JobFailed, JobTracker
from bot.services.signin import forget_old_counters
from bot.services.staff import StaffService
from bot.services.staff_admin import purge_expired_links
from bot.services.stats import FLUSH_SECONDS, StatsRecorder, StatsService
from bot.services.teams import TeamFacts, TeamSettings
from bot.services.telemetry import Telemetry
from bot.storage.database import Database
from bot.storage.locks import job_round
from bot.storage.migrate import at_head, upgrade
from bot.storage.sessions import SessionStore, open_session_store
from bot.telegram.app import ALLOWED_UPDATES, TelegramApplication, build_application, build_bot
from bot.telegram.flood_gate import FloodGate
from bot.telegram.notify import TelegramStaffNotifier
from bot.telegram.profile import publish_profile
from bot.telegram.relay import TelegramRelay
from bot.telegram.webhook import add_webhook_route
from bot.web.app import create_web_app
from bot.web.staff import StaffWeb
from bot.web.staff.demo import DemoAccount, create_demo_accounts

if TYPE_CHECKING:
    from bot.emulator.server import BotApiEmulator, Validator

log = logging.getLogger(__name__)
PURGE_EVERY_SECONDS = 6 * 3600
AUTO_RELEASE_EVERY_SECONDS = 60
LAST_HANDLER_GROUP = 1_000_000  # after the door's handlers (group 0)


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
    # Teams' languages served and opening hours as an admin set them over the files.
    teams: TeamSettings | None = None
    jobs: JobTracker = field(default_factory=JobTracker)  # background rounds' last outcomes

    async def close(self) -> None:
        if self.recorder is not None:
            await self.recorder.flush()  # a clean stop loses no counts
        await self.store.close()
        await self.database.close()

    @property
    def engine(self) -> AsyncEngine:
        """The SQLAlchemy engine (of ``database``), for what is not per update."""
        return self.database.engine


async def build_core(settings: Settings, bot: Bot | None = None) -> Core:
    """Validate content (refuse to start on errors), migrate the database, build services.

    Each object receives its dependencies when it is made, lowest first, and nothing is
    wired afterwards: with a ``bot`` the case rules get the relay (staff replies to the
    chat) and the staff notifier; the relay and the conversation share one ChatMemory,
    so a reply's message ids reach the chat's state without a call into the conversation.
    """
    report = checked_once(
        settings.content_dir, settings.locales_dir, settings.session_retention_days
    )
    if report.errors or report.renderer is None or report.content is None:
        raise ContentError(report.problems)
    if settings.secret_key is None:
        raise ConfigError("SECRET_KEY is not set")
    database = Database.for_settings(settings)
    try:
        if settings.migrate_on_start:
            await upgrade(database.engine)
            current = True
        else:
            current = await at_head(database.engine)
    except Exception as exc:  # any driver error: report it in one line
        await database.close()
        raise ConfigError(f"cannot open the database ({type(exc).__name__}: {exc})") from exc
    if not current:
        await database.close()
        raise ConfigError(
            "the database schema is not up to date and MIGRATE_ON_START is false: "
            "run `python -m bot migrate` first"
        )
    try:
        store = await open_session_store(database)
    except Exception as exc:
        await database.close()
        raise ConfigError(f"cannot open the database ({type(exc).__name__}: {exc})") from exc
    content, renderer = report.content, report.renderer
    memory = ChatMemory(
        store,
        settings.secret_key,
        (lang.code for lang in content.enabled_languages),
        old_keys=settings.old_secret_keys,  # SECRET_KEYS rotation: chats move at their next update
    )
    recorder = StatsRecorder(database, settings.secret_key, time_zone=settings.time_zone)
    relay = TelegramRelay(bot, renderer, memory) if bot is not None else None
    events = None
    if bot is not None and settings.staff_notify_chat_id is not None:
        lang = settings.staff_notify_language
        events = TelegramStaffNotifier(
            bot,
            settings.staff_notify_chat_id,
            team_name=lambda team_id: renderer.team_name(lang, team_id),
            gettext=renderer.t(lang).gettext,
        )
    cases = CaseService(
        database,
        settings.secret_key,
        RetentionSettings(
            link_grace_days=settings.case_link_grace_days,
            text_retention_days=settings.case_text_retention_days,
            auto_release_minutes=settings.case_auto_release_minutes,
            audit_retention_days=settings.audit_retention_days,
        ),
        known_teams=frozenset(report.content.teams),
        close_notice_teams=frozenset(
            team.id for team in report.content.teams.values() if team.notify_on_close
        ),
        relay=relay,
        events=events,
        stats=recorder,
        old_secret_keys=settings.old_secret_keys,
        messages_per_hour=settings.case_messages_per_hour,
    )
    staff = StaffService(database, frozenset(report.content.teams))
    teams = TeamSettings(database, team_facts(content), content.languages)
    try:
        await teams.load()
    except Exception as exc:
        await database.close()
        raise ConfigError(f"cannot open the database ({type(exc).__name__}: {exc})") from exc
    report.renderer.set_team_changes(teams.team_changes)
    teams.subscribe(report.renderer.teams_changed)
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
        memory,
        report.content,
        report.renderer,
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
        teams=teams,
    )


def team_facts(content: Content) -> dict[str, TeamFacts]:
    """Each team file's languages served and opening hours: the defaults an admin overrides."""
    return {
        team.id: TeamFacts(
            team.languages_served,
            team.languages_served_verified,
            team.opening_hours,
            team.opening_hours_verified,
            team.timezone,
        )
        for team in content.teams.values()
    }


class Server:
    """The bot and the web app in one process: `serve`, and `preview` with the emulator.

    ``start`` assembles the process once, in the style of aiohttp's ``cleanup_ctx``: each
    resource (socket, core, web site, Telegram application, polling, background loops) is
    one context whose set-up and tear-down sit together, entered in order on an exit
    stack; ``stop`` (or a failure half-way through ``start``) unwinds them in reverse.
    The socket is bound first, so the port is known before anything is built: the
    preview's Bot gets the emulator's final base URL at construction.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        preview: bool = False,
        spec_validator: Validator | None = None,
    ) -> None:
        self.settings = settings
        self.preview = preview
        self.spec_validator = spec_validator
        self.core: Core | None = None
        self.stats: StatsService | None = None  # the staff pages' statistics (tests move its clock)
        self.application: TelegramApplication | None = None
        self.emulator: BotApiEmulator | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self.port = settings.port
        self.demo_accounts: list[DemoAccount] = []  # preview only: printed with the staff URL
        self.preview_token = new_preview_token()  # preview only: the emulator's Bot API token
        self.telemetry = Telemetry()  # updates, latency, Bot API errors: for /metrics

    @property
    def origin(self) -> str:
        return f"http://{self.settings.host}:{self.port}"

    async def start(self) -> None:
        settings = self.settings
        if self.preview and settings.secret_key is None:
            settings = self.settings = settings.with_overrides(secret_key=secrets.token_bytes(32))
        if self.preview:
            refuse_public_preview(settings)
        token = self.preview_token if self.preview else settings.telegram_bot_token
        if token is None:
            raise ConfigError("TELEGRAM_BOT_TOKEN is not set")
        stack = self._stack = contextlib.AsyncExitStack()
        try:
            await self._assemble(stack, settings, token)
        except BaseException:
            self._stack = None
            await stack.aclose()
            raise

    async def _assemble(
        self, stack: contextlib.AsyncExitStack, settings: Settings, token: str
    ) -> None:
        webhook = bool(settings.webhook_url) and not self.preview
        sock = stack.enter_context(_listening(settings.host, settings.port))
        self.port = sock.getsockname()[1]
        base_url = settings.telegram_api_url
        if self.preview:
            from bot.emulator.server import BotApiEmulator

            self.emulator = BotApiEmulator(
                token, validator=self.spec_validator, processing_acks=True
            )
            self.emulator.set_server_origin(self.origin)
            base_url = self.emulator.base_url
        # The preview's emulator is this process: only a real Bot API goes out via the proxy.
        bot = build_bot(
            token,
            base_url,
            proxy=None if self.preview else settings.telegram_proxy,
            telemetry=self.telemetry,
        )
        core = self.core = await stack.enter_async_context(_core(settings, bot))
        if self.preview and not settings.public_url:
            core.renderer.set_public_url(self.origin)  # the bot links to this preview
        application = self.application = build_application(
            core.conversation,
            bot,
            with_updater=not webhook,
            telemetry=self.telemetry,
            budget=IncomingBudget(settings.flood_burst, settings.flood_per_minute),
        )
        if self.emulator is not None:
            report_processed(application, self.emulator.update_processed)

        stats = self.stats = StatsService(
            core.database, frozenset(core.content.teams), settings.time_zone
        )
        health = HealthService(core.database, jobs=core.jobs)  # /health/ready and /metrics
        web_app = create_web_app(
            staff=StaffWeb.from_core(core, stats, teams=core.teams, team_of=core.renderer.team),
            health_service=health,
            telemetry=self.telemetry,
            trusted_proxies=settings.trusted_proxies,
        )
        if webhook:
            add_webhook_route(
                web_app, application, settings.webhook_path, settings.webhook_secret or ""
            )
        if self.emulator is not None:
            self.demo_accounts = await create_demo_accounts(core.staff, sorted(core.content.teams))
            self.emulator.add_routes(web_app)
        await stack.enter_async_context(_serving(web_app, sock))
        # The preview's Bot API is served by the site above: the bot starts after it.
        await stack.enter_async_context(_running(application, core))
        if isinstance(core.cases.events, TelegramStaffNotifier):
            stack.push_async_callback(core.cases.events.drain)  # before the bot stops
        if webhook:
            assert settings.webhook_url is not None
            await application.bot.set_webhook(
                settings.webhook_url,
                secret_token=settings.webhook_secret,
                allowed_updates=ALLOWED_UPDATES,
            )
        else:
            await stack.enter_async_context(
                _polling(application, timeout=2 if self.preview else 10)
            )
        for loop in (
            self._purge_loop,
            self._auto_release_loop,
            self._stats_flush_loop,
            self._team_settings_loop,
        ):
            await stack.enter_async_context(_background(loop(core)))

    @staticmethod
    async def _team_settings_loop(core: Core) -> None:
        """Another process's change to a team's languages or hours is read within a minute."""
        while core.teams is not None:
            await asyncio.sleep(core.teams.refresh_seconds)
            await core.teams.refresh_if_stale()

    @staticmethod
    async def _purge_loop(core: Core) -> None:
        """Old state, texts and links go; one process per round does it (``job_round``)."""
        while True:
            await Server._purge_job_round(core)
            await asyncio.sleep(PURGE_EVERY_SECONDS)

    @staticmethod
    async def _purge_job_round(core: Core) -> None:
        """One round of the purge job: under its lock, the outcome recorded in ``core.jobs``."""
        await _one_process(core, "purge", lambda: Server._purge_round(core))

    @staticmethod
    async def _purge_round(core: Core) -> None:
        """One round: each part runs even if another failed; the fold is its own job.

        Raises JobFailed (its parts logged why) when a purge part failed.
        """
        failed = False
        try:
            await core.conversation.purge()
        except Exception as exc:  # keep serving; the next round retries
            log.error("purge failed: %s", type(exc).__name__, exc_info=exc)
            failed = True
        try:
            await core.cases.purge()
        except Exception as exc:
            log.error("case purge failed: %s", type(exc).__name__, exc_info=exc)
            failed = True
        try:
            await core.staff.purge_sessions()  # staff sessions past their idle/absolute limit
            await purge_expired_links(core.staff)  # set-password links past their expiry
        except Exception as exc:
            log.error("staff session purge failed: %s", type(exc).__name__, exc_info=exc)
            failed = True
        try:  # sign-in and case-lookup brakes' counters past their memory
            await forget_old_counters(core.database, datetime.now(UTC))
        except Exception as exc:
            log.error("brake counter purge failed: %s", type(exc).__name__, exc_info=exc)
            failed = True
        try:  # after the deletes: on SQLite, free pages and the WAL's old copies go too
            await _reclaim(core)
        except Exception as exc:
            log.error("reclaim after purge failed: %s", type(exc).__name__, exc_info=exc)
            failed = True
        if core.recorder is not None:
            try:
                await core.recorder.fold_finished_days()
            except Exception as exc:
                log.error("statistics fold failed: %s", type(exc).__name__, exc_info=exc)
                core.jobs.failed("stats_fold")
            else:
                core.jobs.succeeded("stats_fold")  # also when another process held the fold
        if failed:
            raise JobFailed("purge")

    @staticmethod
    async def _stats_flush_loop(core: Core) -> None:
        """Counts reach the database every FLUSH_SECONDS: a crash loses at most that much.

        Every process flushes its own counts; the fold inside takes its own lock.
        """
        while core.recorder is not None:
            await asyncio.sleep(FLUSH_SECONDS)
            await Server._stats_flush_round(core)

    @staticmethod
    async def _stats_flush_round(core: Core) -> None:
        """One flush; it logs and keeps its counts on failure, the tracker hears the outcome."""
        if core.recorder is not None:
            core.jobs.record("stats_flush", await core.recorder.flush())

    @staticmethod
    async def _auto_release_loop(core: Core) -> None:
        """Claims nobody works on go back to the queue (checked every minute, by one process)."""
        while True:
            await asyncio.sleep(AUTO_RELEASE_EVERY_SECONDS)
            await Server._auto_release_round(core)

    @staticmethod
    async def _auto_release_round(core: Core) -> None:
        await _one_process(core, "auto_release", core.cases.auto_release)

    async def stop(self) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()


# -- the contexts Server.start enters, in order ---------------------------------------------


@contextlib.contextmanager
def _listening(host: str, port: int) -> Iterator[socket.socket]:
    """The listening socket, bound before anything else (port 0: the system picks one)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.create_server((host, port), family=family)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ConfigError(
            f"cannot listen on {host}:{port} ({reason}); set PORT to a free port"
        ) from exc
    with sock:
        yield sock


@contextlib.asynccontextmanager
async def _core(settings: Settings, bot: Bot) -> AsyncIterator[Core]:
    core = await build_core(settings, bot)
    try:
        yield core
    finally:
        await core.close()


@contextlib.asynccontextmanager
async def _serving(web_app: web.Application, sock: socket.socket) -> AsyncIterator[None]:
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    try:
        await web.SockSite(runner, sock).start()
        yield
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def _running(application: TelegramApplication, core: Core) -> AsyncIterator[None]:
    """The Telegram application: initialised (getMe), profile published, started."""
    await application.initialize()
    try:
        await publish_profile(application.bot, core.content, core.translators)
        await application.start()
        try:
            yield
        finally:
            if application.running:
                await application.stop()
    finally:
        await application.shutdown()


def report_processed(application: TelegramApplication, done: Callable[[int], None]) -> None:
    """Call ``done(update_id)`` once the bot has handled each update (preview and tests).

    Why: the emulator's wait_idle waits for this report instead of a quiet period. A handler
    in a group after every other one runs last, also after an error (PTB moves on to the next
    group once the error handler has run).
    """

    async def handled(update: Update, _: object) -> None:
        done(update.update_id)

    application.add_handler(TypeHandler(Update, handled), group=LAST_HANDLER_GROUP)
    gate = getattr(application.update_processor, "gate", None)
    if isinstance(gate, FloodGate):  # updates over a chat's budget never reach a handler
        gate.after_drop = done


@contextlib.asynccontextmanager
async def _polling(application: TelegramApplication, *, timeout: int) -> AsyncIterator[None]:
    updater = application.updater
    assert updater is not None
    await updater.start_polling(
        allowed_updates=ALLOWED_UPDATES,
        timeout=timeout,
        poll_interval=0.0,
        drop_pending_updates=False,
    )
    try:
        yield
    finally:
        if updater.running:
            await updater.stop()


def new_preview_token() -> str:
    """A Bot API token for one preview run: the emulator's Bot API shares the preview's
    port, so whoever knows the token could drive the bot; nobody outside this process does."""
    return f"{100_000_000 + secrets.randbelow(900_000_000)}:{secrets.token_urlsafe(32)}"


def is_loopback_host(host: str) -> bool:
    """Whether HOST binds only this machine (127.0.0.0/8, ::1, or a name that is only those)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return False
    return bool(infos) and all(
        ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos
    )


def refuse_public_preview(settings: Settings) -> None:
    """The preview has no Telegram between it and a visitor: loopback only unless told."""
    if settings.preview_allow_public or is_loopback_host(settings.host):
        return
    raise ConfigError(
        f"preview refuses HOST={settings.host}, which is not a loopback address (anyone who "
        "reaches it can chat as a relative and read the demo staff pages); use "
        "HOST=127.0.0.1, or `python -m bot preview --public` (PREVIEW_ALLOW_PUBLIC=true) "
        "to expose it on purpose"
    )


async def _reclaim(core: Core) -> None:
    """The SQLite file's free pages and WAL after a purge (``Database.reclaim``), logged."""
    done = await core.database.reclaim()
    if done is None:
        return
    log.info(
        "reclaimed %d free page(s)%s; WAL %s",
        done.freed_pages,
        " after the one-time VACUUM" if done.vacuumed else "",
        "truncated" if done.wal_truncated else "not truncated (a reader was busy)",
    )
    if done.needs_vacuum:
        log.warning(
            "the SQLite file has no auto_vacuum and is too big to VACUUM in a purge round: "
            "run `python -m bot purge --vacuum` once with the bot stopped (README: erasure)"
        )


async def _one_process(
    core: Core, job: Literal["purge", "auto_release"], work: Callable[[], Awaitable[object]]
) -> None:
    """Run ``work`` if this process holds the job's lock this round; others skip quietly.

    The round's outcome goes to ``core.jobs``: a round skipped because another process
    holds the lock is this process's success (the job ran, elsewhere). A failure is logged
    with its type and frames and the next round retries.
    """
    try:
        async with job_round(core.engine, job) as mine:
            if mine:
                await work()
    except JobFailed:  # its parts were logged
        core.jobs.failed(job)
    except Exception as exc:  # keep serving
        log.error("%s failed: %s", job.replace("_", "-"), type(exc).__name__, exc_info=exc)
        core.jobs.failed(job)
    else:
        core.jobs.succeeded(job)


@contextlib.asynccontextmanager
async def _background(work: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    task = asyncio.create_task(work)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
