"""Wiring of the staff door: ``/staff`` and ``/api/v1`` as sub-applications with middlewares.

Each sub-application's middleware does for every route what a wrapper per handler did:
load the session, re-read the staff member's rights, refuse an unsafe request without
the CSRF token, send a visitor who is not signed in to sign-in (pages) or answer 401
(API), translate a service refusal (``CaseError``) with the one table in ``refusals``,
and write the session back. Handlers (``views``, ``api``, ``stats_views``) only parse,
call a service and render.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from aiohttp import web

from bot.config import ConfigError, Settings
from bot.content.model import Content, Team
from bot.domain import CaseError, StaffUser
from bot.i18n import Translator
from bot.services.canned import CannedReplies
from bot.services.cases import CaseService
from bot.services.oidc import OidcService
from bot.services.signin import SignInService
from bot.services.staff import StaffService
from bot.services.staff_admin import AdminService
from bot.services.staff_sessions import StaffSessions
from bot.services.stats import StatsService
from bot.services.teams import TeamSettings
from bot.services.totp import TotpService
from bot.storage.faults import is_transient
from bot.web.staff import (
    accessibility,
    account,
    admin,
    admin_api,
    admin_teams,
    api,
    keepalive,
    sso,
    stats_views,
    views,
)
from bot.web.staff.accessibility import STATEMENT, StatementSettings
from bot.web.staff.api import CSRF_HEADER, api_error
from bot.web.staff.context import (
    CTX,
    STAFF_LANGUAGES,
    Ctx,
    Handler,
    PageError,
    access_of,
    choose_language,
    is_poll,
)
from bot.web.staff.deps import DOOR, StaffDoor, StatsDeps
from bot.web.staff.lookups import lookup_brake
from bot.web.staff.pages import PageRenderer
from bot.web.staff.refusals import refusal
from bot.web.staff.session import COOKIE_NAME, Session, SessionCodec
from bot.web.staff.sso import PARTS, SignInParts

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class CoreParts(Protocol):
    """What the staff door takes from the runtime's ``Core`` (web sits below the runtime)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def cases(self) -> CaseService: ...
    @property
    def staff(self) -> StaffService: ...
    @property
    def content(self) -> Content: ...
    @property
    def translators(self) -> dict[str, Translator]: ...


class StaffWeb:
    """The staff pages, the JSON API and the public pages, mounted on the product's app."""

    def __init__(
        self,
        *,
        cases: CaseService,
        staff: StaffService,
        content: Content,
        translators: dict[str, Translator],
        secret_key: bytes,
        old_secret_keys: tuple[bytes, ...] = (),  # SECRET_KEYS rotation: only to open
        cookie_secure: bool | None = None,
        timezone: str = "Europe/Stockholm",
        poll_seconds: float = 3.0,
        stats: StatsDeps | None = None,
        sign_in: SignInParts | None = None,  # second factor and single sign-on (sso.py)
        teams: TeamSettings | None = None,  # an admin's languages and hours over team files
        team_of: Callable[[str], Team | None] | None = None,  # the effective team
        statement: StatementSettings | None = None,  # ACCESSIBILITY_* (accessibility.py)
    ) -> None:
        self.statement = statement or StatementSettings()
        self.sign_in = sign_in or SignInParts(
            TotpService(staff.database, secret_key, old_secret_keys, now=lambda: staff.now()),
            secret_key,
            old_secret_keys,
        )
        self.sign_in.safe_next = views.safe_next
        self.admin = AdminService(staff, self.sign_in.totp, secret_key, old_secret_keys)
        self.door = StaffDoor(
            cases=cases,
            staff=staff,
            signin=SignInService(staff, secret_key),
            canned=CannedReplies(cases),
            content=content,
            translators={code: translators[code] for code in STAFF_LANGUAGES},
            # The public pages a relative opens from the bot speak every relatives' language.
            public_translators={
                lang.code: translators[lang.code]
                for lang in content.enabled_languages
                if lang.code in translators
            },
            codec=SessionCodec(secret_key, old_secret_keys),
            # The staff service's clock (tests move it), read at each use.
            sessions=StaffSessions(
                staff.database, secret_key, old_secret_keys, now=lambda: staff.now()
            ),
            pages=PageRenderer(content, timezone, poll_seconds),
            cookie_secure=cookie_secure,
            stats=stats,
            teams=teams,
        )
        if team_of is not None:
            self.door.pages.team_of = team_of

    @classmethod
    def from_core(
        cls,
        core: CoreParts,
        stats: StatsService,
        *,
        teams: TeamSettings | None = None,
        team_of: Callable[[str], Team | None] | None = None,
    ) -> StaffWeb:
        """Built from ``bot.runtime.Core`` and the runtime's ``StatsService``."""
        settings = core.settings
        if settings.secret_key is None:  # build_core refuses to start without one
            raise ConfigError("SECRET_KEY is not set")
        # Reached over HTTPS by what the operator configured (the proxy may still say so
        # per request through TRUSTED_PROXIES): the session cookie is then always Secure.
        https = any(
            url is not None and url.startswith("https://")
            for url in (settings.webhook_url, settings.public_url)
        )
        return cls(
            cases=core.cases,
            staff=core.staff,
            content=core.content,
            translators=core.translators,
            secret_key=settings.secret_key,
            old_secret_keys=settings.old_secret_keys,
            cookie_secure=True if https else None,
            timezone=settings.time_zone,  # staff pages' times (TIME_ZONE)
            stats=StatsDeps(
                stats,
                settings.content_dir,
                settings.locales_dir,
                settings.session_retention_days,
                settings.case_text_retention_days,
                today=stats.today,  # a period's default last day: today in TIME_ZONE
            ),
            sign_in=SignInParts(
                TotpService(
                    core.staff.database,
                    settings.secret_key,
                    settings.old_secret_keys,
                    now=lambda: core.staff.now(),
                ),
                settings.secret_key,
                settings.old_secret_keys,
                oidc=OidcService.from_settings(
                    core.staff.database, settings, frozenset(core.content.teams)
                ),
                require_2fa=settings.require_2fa,
                local_passwords=settings.local_passwords,
                public_url=settings.public_url,
            ),
            teams=teams,
            team_of=team_of,
            statement=StatementSettings(
                settings.accessibility_organisation, settings.accessibility_contact
            ),
        )

    def mount(self, app: web.Application) -> None:
        """Static files and plain routes first: the sub-apps answer everything under them."""
        app[DOOR] = self.door
        app[STATEMENT] = self.statement
        app.router.add_get("/staff", views.root_redirect)
        app.router.add_static("/staff/static/", STATIC_DIR, name="staff_static")
        app.router.add_get("/api/openapi.json", api.openapi)
        app.add_routes(stats_views.public_routes)
        app.add_routes(accessibility.public_routes)

        pages_app = web.Application(middlewares=[page_middleware, lookup_brake(api=False)])
        pages_app[DOOR] = self.door
        pages_app[PARTS] = self.sign_in
        pages_app[admin.ADMIN] = self.admin
        pages_app.add_routes(views.routes)
        pages_app.add_routes(account.routes)
        pages_app.add_routes(admin.routes)
        pages_app.add_routes(sso.routes)
        pages_app.add_routes(stats_views.page_routes)
        pages_app.add_routes(keepalive.routes)
        pages_app.add_routes(admin_teams.page_routes)
        app.add_subapp("/staff", pages_app)

        api_app = web.Application(middlewares=[api_middleware, lookup_brake(api=True)])
        api_app[DOOR] = self.door
        api_app[PARTS] = self.sign_in
        api_app[admin.ADMIN] = self.admin
        api_app.add_routes(api.routes)
        api_app.add_routes(account.api_routes)
        api_app.add_routes(admin_api.routes)
        api_app.add_routes(stats_views.api_routes)
        api_app.add_routes(admin_teams.api_routes)
        app.add_subapp("/api/v1", api_app)


# -- the sub-applications' middlewares ---------------------------------------------------


def _session(door: StaffDoor, request: web.Request) -> Session:
    session = door.codec.load(request.cookies.get(COOKIE_NAME))
    return session if session is not None else Session(changed=True)


async def _settle(door: StaffDoor, request: web.Request, session: Session) -> None:
    """The table follows the handler: ended sessions' rows go, a sign-in's row is made."""
    try:
        for sid in session.ended:
            await door.sessions.end(sid)
        session.ended.clear()
        if session.starting and session.staff_id is not None:
            agent = request.headers.get("User-Agent")
            session.sid = await door.sessions.start(session.staff_id, "cookie", agent)
            session.starting = False
    except Exception as exc:  # the database failed: nobody is signed in by this cookie
        log.error("staff session not stored: %s", type(exc).__name__, exc_info=exc)
        if session.starting:
            session.forget()


async def _signed_in(door: StaffDoor, request: web.Request, session: Session) -> StaffUser | None:
    """The cookie's user while its session row lives, else None (and the cookie signed out)."""
    if session.staff_id is None:
        return None
    resumed = None
    if session.sid:
        resumed = await door.sessions.resume_timed(session.sid, "cookie", poll=is_poll(request))
    if resumed is None or resumed[0].id != session.staff_id:
        session.forget()
        session.lapsed = True
        return None
    user, session.left = resumed
    return user


def _store_session(
    door: StaffDoor, request: web.Request, response: web.StreamResponse, s: Session
) -> None:
    if not is_poll(request):  # a live refresh keeps no session alive
        s.seen = int(time.time())
    secure = door.cookie_secure
    if secure is None:
        # The scheme a trusted proxy forwarded (bot.web.forwarded), never a client's header.
        secure = request.secure
    response.set_cookie(
        COOKIE_NAME, door.codec.dump(s), path="/", httponly=True, samesite="Strict", secure=secure
    )


@web.middleware
async def page_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """An HTML page: session, sign-in, CSRF on forms, refusals and errors as pages."""
    door = request.app[DOOR]
    session = _session(door, request)
    lang = choose_language(session.lang, request.headers.get("Accept-Language", ""))
    ctx = request[CTX] = Ctx(request, session, None, door.translators[lang])
    response = await _run_page(door, ctx, handler)
    await _settle(door, request, session)
    if session.changed or not is_poll(request):
        _store_session(door, request, response, session)
    return response


async def _run_page(door: StaffDoor, ctx: Ctx, handler: Handler) -> web.StreamResponse:
    request, session, pages = ctx.request, ctx.session, door.pages
    try:
        ctx.user = await _signed_in(door, request, session)
        if request.method in UNSAFE_METHODS:
            ctx.form = await _read_form(request)
            if session.lapsed and access_of(request).signed_in:
                # A form sent after the session ran out: sign in, then back to its page
                # (nothing is done; session.js keeps the typed text in the tab).
                session.set_flash("info", ctx._("Your session has ended. Please sign in."))
                location = f"/staff/login?next={quote(_form_page(request.path))}"
                return web.Response(status=303, headers={"Location": location})
            if not hmac.compare_digest(ctx.form.get("csrf", ""), session.csrf):
                return pages.error(ctx, 403, "stale_form")
        if access_of(request).signed_in and ctx.user is None:
            if request.method in UNSAFE_METHODS:
                session.set_flash("info", ctx._("Your session has ended. Please sign in."))
            location = f"/staff/login?next={quote(request.path)}"
            return web.Response(status=303, headers={"Location": location})
        return await handler(request)
    except CaseError as exc:
        return pages.refused(ctx, exc.reason)
    except PageError as exc:
        return pages.error(ctx, exc.status, exc.kind)
    except web.HTTPException as exc:
        if exc.status >= 400:
            return pages.error(ctx, exc.status, "http")
        return exc
    except Exception as exc:  # never a traceback page; the log has the type and frames only
        if is_transient(exc):  # the database is away or full: say so, and when to retry
            log.warning("staff page unavailable: %s", type(exc).__name__)
            return _retry_later(pages.error(ctx, 503, "unavailable"))
        log.error("staff page failed: %s", type(exc).__name__, exc_info=exc)
        return pages.error(ctx, 500, "internal")


@web.middleware
async def api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A JSON endpoint: bearer token, or cookie + CSRF header; refusals and errors as JSON."""
    door = request.app[DOOR]
    session = _session(door, request)
    ctx = request[CTX] = Ctx(request, session, None, door.translators["en"])
    response = await _run_api(door, ctx, handler)
    await _settle(door, request, session)
    if session.changed:
        _store_session(door, request, response, session)
    return response


async def _run_api(door: StaffDoor, ctx: Ctx, handler: Handler) -> web.StreamResponse:
    request, session = ctx.request, ctx.session
    rule = access_of(request)
    try:
        bearer = request.headers.get("Authorization", "")
        if bearer.startswith("Bearer "):
            opened, staff_id = door.codec.open_token(bearer[7:].strip()), None
            if opened is not None and opened[1]:
                staff_id, ctx.token_sid = opened
                ctx.user = await door.sessions.resume(ctx.token_sid, "token", poll=is_poll(request))
            if ctx.user is None or ctx.user.id != staff_id:
                ctx.user = None
                return api_error(401, "unauthorized", "The token is not valid or has expired.")
        else:
            if (
                rule.csrf
                and request.method in UNSAFE_METHODS
                and not hmac.compare_digest(request.headers.get(CSRF_HEADER, ""), session.csrf)
            ):
                return api_error(403, "csrf", f"Missing or wrong {CSRF_HEADER} header.")
            ctx.user = await _signed_in(door, request, session)
        if rule.signed_in and ctx.user is None:
            return api_error(401, "unauthorized", "Sign in first (POST /api/v1/session).")
        return await handler(request)
    except CaseError as exc:
        status, message = refusal(exc.reason)
        return api_error(status, exc.reason, message)
    except web.HTTPException as exc:
        return api_error(exc.status, "http", exc.reason)
    except Exception as exc:
        if is_transient(exc):
            log.warning("staff API unavailable: %s", type(exc).__name__)
            return _retry_later(api_error(503, "unavailable", UNAVAILABLE))
        log.error("staff API failed: %s", type(exc).__name__, exc_info=exc)
        return api_error(500, "internal", "Something went wrong on the server.")


# A failure that may pass (bot.storage.faults): 503 and a time to try again, never a 500.
RETRY_AFTER_SECONDS = 30
UNAVAILABLE = "The service cannot reach its database just now. Try again in a minute."


def _retry_later(response: web.Response) -> web.Response:
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _form_page(path: str) -> str:
    """The page a form was on: a case action's case page, else the queue."""
    parts = path.split("/")  # "", "staff", "cases", code, action
    if len(parts) == 5 and parts[1:3] == ["staff", "cases"]:
        return "/".join(parts[:4])
    return "/staff/queue"


async def _read_form(request: web.Request) -> dict[str, str]:
    """Text fields of a submitted form; a broken body is an empty form, not a crash."""
    try:
        data = await request.post()
    except (ValueError, UnicodeDecodeError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, str)}
