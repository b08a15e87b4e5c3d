"""What one staff request carries through the middlewares to its handler.

The ``/staff`` and ``/api/v1`` sub-applications' middlewares build a ``Ctx`` (session,
signed-in user, language, form) and put it on the request; handlers read it with
``ctx_of``. Whether a route needs a signed-in user or the CSRF token is said beside the
handler with ``public`` / ``public_without_csrf``; everything else is signed-in and CSRF.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from aiohttp import web

from bot.domain import CaseError, StaffUser
from bot.i18n import Translator
from bot.services.cases import normalise_code
from bot.web.staff.session import Session

STAFF_LANGUAGES = ("sv", "en")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)


@dataclass
class Ctx:
    """What one staff request knows: who, in which language, with which session."""

    request: web.Request
    session: Session
    user: StaffUser | None
    tr: Translator
    form: dict[str, str] = field(default_factory=dict)
    token_sid: str | None = None  # the session id of the request's bearer token, if any

    @property
    def lang(self) -> str:
        return self.tr.code

    @property
    def staff(self) -> StaffUser:
        """The signed-in user; the middleware lets no one else reach a signed-in route."""
        if self.user is None:
            raise web.HTTPUnauthorized()
        return self.user

    def _(self, message: str) -> str:
        """For literal msgids (extracted by pybabel)."""
        return self.tr.gettext(message)

    def say(self, message: str) -> str:
        """For msgids held in variables (marked with N_ where they are defined)."""
        return self.tr.gettext(message)


CTX = web.RequestKey("staff_ctx", Ctx)


def ctx_of(request: web.Request) -> Ctx:
    return request[CTX]


@dataclass(frozen=True)
class Access:
    signed_in: bool = True
    csrf: bool = True


SIGNED_IN = Access()
_ACCESS: dict[object, Access] = {}


def public(handler: H) -> H:
    """Served without sign-in (the form still needs its CSRF token)."""
    _ACCESS[handler] = Access(signed_in=False)
    return handler


def public_without_csrf(handler: H) -> H:
    """Served without sign-in or CSRF token: only the API's JSON sign-in."""
    _ACCESS[handler] = Access(signed_in=False, csrf=False)
    return handler


_POLLS: set[object] = set()
POLL_HEADER = "X-Staff-Poll"  # "1": an API client's refresh, which keeps no session alive


def poll(handler: H) -> H:
    """A live refresh (queue or case fragment): it does not move the session's idle clock."""
    _POLLS.add(handler)
    return handler


def is_poll(request: web.Request) -> bool:
    """Whether the request only refreshes what is on screen (``poll`` or the poll header)."""
    if request.headers.get(POLL_HEADER) == "1":
        return True
    match = request.match_info
    return match.http_exception is None and match.handler in _POLLS


def access_of(request: web.Request) -> Access:
    """What the matched route asks for; an unknown path is public (it is a 404 anyway)."""
    match = request.match_info
    if match.http_exception is not None:
        return Access(signed_in=False)
    return _ACCESS.get(match.handler, SIGNED_IN)


def choose_language(session_lang: str | None, accept_language: str) -> str:
    """The session's choice, else the browser's first supported language, else Swedish."""
    if session_lang in STAFF_LANGUAGES:
        return session_lang
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


def case_code(request: web.Request) -> str:
    """The case code in the path, as the service spells it; anything else is not found."""
    code = normalise_code(request.match_info["code"])
    if code is None:
        raise CaseError("not_found")
    return code


class PageError(Exception):
    """An error page by kind (``pages.ERRORS``), raised by a view, drawn by the middleware."""

    def __init__(self, status: int, kind: str) -> None:
        super().__init__(kind)
        self.status, self.kind = status, kind


@contextmanager
def only_for(kind: str) -> Iterator[None]:
    """A service's "forbidden" on a page for some roles: the page says whose it is (403)."""
    try:
        yield
    except CaseError as exc:
        if exc.reason != "forbidden":
            raise
        raise PageError(403, kind) from None
