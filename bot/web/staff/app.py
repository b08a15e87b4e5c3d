"""Wiring of the staff door: dependencies, routes, and the request wrapper.

Every staff route goes through ``StaffWeb.page`` or ``StaffWeb.api``: they load
the session, re-read the staff member's rights, refuse an unsafe request without
the CSRF token, translate a service refusal (``CaseError``) into a clear answer,
and write the session back. The handlers themselves only parse, call, render.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import web

from bot.content.model import Content
from bot.domain import CaseError, StaffUser
from bot.i18n import Translator
from bot.services.cases import CaseService
from bot.services.staff import StaffService
from bot.web.staff.pages import PageRenderer
from bot.web.staff.session import COOKIE_NAME, Session, SessionCodec
from bot.web.staff.throttle import SignInThrottle

if TYPE_CHECKING:
    from bot.web.staff.stats_views import StatsDeps

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
STAFF_LANGUAGES = ("sv", "en")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_HEADER = "X-CSRF-Token"


@dataclass
class Ctx:
    """What one staff request knows: who, in which language, with which session."""

    request: web.Request
    session: Session
    user: StaffUser | None
    tr: Translator
    form: dict[str, str] = field(default_factory=dict)

    @property
    def lang(self) -> str:
        return self.tr.code

    def _(self, message: str) -> str:
        """For literal msgids (extracted by pybabel)."""
        return self.tr.gettext(message)

    def say(self, message: str) -> str:
        """For msgids held in variables (marked with N_ where they are defined)."""
        return self.tr.gettext(message)


Handler = Callable[[Ctx], Awaitable[web.StreamResponse]]


def choose_language(session: Session, accept_language: str) -> str:
    """The session's choice, else the browser's first supported language, else Swedish."""
    if session.lang in STAFF_LANGUAGES:
        return session.lang
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in STAFF_LANGUAGES and quality > 0:
            ranked.append((-quality, index, primary))
    return min(ranked)[2] if ranked else STAFF_LANGUAGES[0]


class StaffWeb:
    """The staff pages and the JSON API, mounted on the product's aiohttp app."""

    def __init__(
        self,
        *,
        cases: CaseService,
        staff: StaffService,
        content: Content,
        translators: dict[str, Translator],
        secret_key: bytes,
        cookie_secure: bool | None = None,
        timezone: str = "Europe/Stockholm",
        poll_seconds: float = 3.0,
    ) -> None:
        self.cases = cases
        self.staff = staff
        self.content = content
        self.translators = {code: translators[code] for code in STAFF_LANGUAGES}
        # The public pages a relative opens from the bot speak every relatives' language.
        self.public_translators = {
            lang.code: translators[lang.code]
            for lang in content.enabled_languages
            if lang.code in translators
        }
        self.codec = SessionCodec(secret_key)
        self.throttle = SignInThrottle()
        self.cookie_secure = cookie_secure  # None: Secure whenever the request came over https
        self.pages = PageRenderer(content, timezone, poll_seconds)
        self.stats: StatsDeps | None = None  # statistics pages; set by from_core

    @classmethod
    def from_core(cls, core: Any) -> StaffWeb:
        """Built from ``bot.runtime.Core``: the same services the bot uses."""
        settings = core.settings
        https = bool(settings.webhook_url and settings.webhook_url.startswith("https://"))
        staff_web = cls(
            cases=core.cases,
            staff=core.staff,
            content=core.content,
            translators=core.translators,
            secret_key=settings.secret_key,
            cookie_secure=True if https else None,
        )
        from bot.web.staff.stats_views import StatsDeps

        staff_web.stats = StatsDeps.from_core(core)
        return staff_web

    def mount(self, app: web.Application) -> None:
        from bot.web.staff import api, stats_views, views

        views.add_routes(app, self)
        api.add_routes(app, self)
        stats_views.add_routes(app, self)
        app.router.add_static("/staff/static/", STATIC_DIR, name="staff_static")

    # -- the request wrapper ---------------------------------------------------------------

    def _session(self, request: web.Request) -> Session:
        session = self.codec.load(request.cookies.get(COOKIE_NAME))
        if session is None:
            session = Session(changed=True)
        return session

    def _secure(self, request: web.Request) -> bool:
        if self.cookie_secure is not None:
            return self.cookie_secure
        return request.secure or request.headers.get("X-Forwarded-Proto", "") == "https"

    def store_session(self, request: web.Request, response: web.StreamResponse, s: Session) -> None:
        import time

        s.seen = int(time.time())
        response.set_cookie(
            COOKIE_NAME,
            self.codec.dump(s),
            path="/",
            httponly=True,
            samesite="Strict",
            secure=self._secure(request),
        )

    def page(self, *, auth: bool = True) -> Callable[[Handler], Callable[..., Any]]:
        """Wrap an HTML view: session, sign-in, CSRF on forms, refusals as pages."""

        def wrap(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
            async def view(request: web.Request) -> web.StreamResponse:
                session = self._session(request)
                tr = self.translators[
                    choose_language(session, request.headers.get("Accept-Language", ""))
                ]
                ctx = Ctx(request, session, None, tr)
                response = await self._run_page(ctx, handler, auth)
                self.store_session(request, response, session)
                return response

            return view

        return wrap

    async def _run_page(self, ctx: Ctx, handler: Handler, auth: bool) -> web.StreamResponse:
        request, session = ctx.request, ctx.session
        try:
            if session.staff_id is not None:
                ctx.user = await self.staff.get(session.staff_id)
                if ctx.user is None:
                    session.sign_out()
            if request.method in UNSAFE_METHODS:
                ctx.form = await _read_form(request)
                if not hmac.compare_digest(ctx.form.get("csrf", ""), session.csrf):
                    return self.pages.error(ctx, 403, "stale_form")
            if auth and ctx.user is None:
                if request.method in UNSAFE_METHODS:
                    session.set_flash("info", ctx._("Your session has ended. Please sign in."))
                location = f"/staff/login?next={quote(request.path)}"
                return web.Response(status=303, headers={"Location": location})
            return await handler(ctx)
        except CaseError as exc:
            status = {"not_found": 404, "forbidden": 403}.get(exc.reason, 409)
            return self.pages.error(ctx, status, exc.reason)
        except web.HTTPException as exc:
            if exc.status >= 400:
                return self.pages.error(ctx, exc.status, "http")
            return exc
        except Exception as exc:  # never a traceback page; the log names the type only
            log.error("staff page failed: %s", type(exc).__name__)
            return self.pages.error(ctx, 500, "internal")

    def api(
        self, *, auth: bool = True, csrf: bool = True
    ) -> Callable[[Handler], Callable[..., Any]]:
        """Wrap a JSON endpoint: bearer token or cookie + CSRF header; refusals as JSON."""

        def wrap(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
            async def endpoint(request: web.Request) -> web.StreamResponse:
                session = self._session(request)
                tr = self.translators["en"]
                ctx = Ctx(request, session, None, tr)
                response = await self._run_api(ctx, handler, auth, csrf)
                if session.changed:
                    self.store_session(request, response, session)
                return response

            return endpoint

        return wrap

    async def _run_api(
        self, ctx: Ctx, handler: Handler, auth: bool, csrf: bool
    ) -> web.StreamResponse:
        request, session = ctx.request, ctx.session
        try:
            bearer = request.headers.get("Authorization", "")
            if bearer.startswith("Bearer "):
                staff_id = self.codec.token_staff_id(bearer[7:].strip())
                if staff_id is None:
                    return api_error(401, "unauthorized", "The token is not valid or has expired.")
                ctx.user = await self.staff.get(staff_id)
                if ctx.user is None:
                    return api_error(401, "unauthorized", "The account is not active.")
            else:
                if (
                    csrf
                    and request.method in UNSAFE_METHODS
                    and not hmac.compare_digest(request.headers.get(CSRF_HEADER, ""), session.csrf)
                ):
                    return api_error(403, "csrf", f"Missing or wrong {CSRF_HEADER} header.")
                if session.staff_id is not None:
                    ctx.user = await self.staff.get(session.staff_id)
            if auth and ctx.user is None:
                return api_error(401, "unauthorized", "Sign in first (POST /api/v1/session).")
            return await handler(ctx)
        except CaseError as exc:
            from bot.web.staff.texts import REFUSALS

            status = {
                "not_found": 404,
                "forbidden": 403,
                "invalid": 400,
                "too_long": 400,
                "unknown_team": 400,
            }.get(exc.reason, 409)
            return api_error(status, exc.reason, REFUSALS.get(exc.reason, exc.reason))
        except web.HTTPException as exc:
            return api_error(exc.status, "http", exc.reason)
        except Exception as exc:
            log.error("staff API failed: %s", type(exc).__name__)
            return api_error(500, "internal", "Something went wrong on the server.")


def api_error(status: int, reason: str, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": reason, "message": message, **extra}, status=status)


async def _read_form(request: web.Request) -> dict[str, str]:
    """Text fields of a submitted form; a broken body is an empty form, not a crash."""
    try:
        data = await request.post()
    except (ValueError, UnicodeDecodeError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, str)}
