"""The accessibility statement (tillgänglighetsredogörelse), public at ``/accessibility``.

In the parts the Swedish supervisory authority, Digg, asks for: who runs the service and
what it is, how far it meets the law on accessibility to digital public services (WCAG
2.1 AA), what is known not to be accessible and why, how the statement was made, how to
report a problem (``ACCESSIBILITY_CONTACT``; unset, the page says where the municipality
publishes its contact, never an invented address), Digg's supervision, and the date.
Swedish or English, chosen as on "what is counted": ``?lang=``, else the browser's.
No session and no cookie.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from aiohttp import web

from bot.web.staff.context import STAFF_LANGUAGES, choose_language
from bot.web.staff.deps import door_of
from bot.web.staff.pages import SECURITY_HEADERS

ACCESSIBILITY_PATH = "/accessibility"
# When the statement was made and when it was last reviewed (change with the text).
MADE_ON = date(2026, 12, 1)
REVIEWED_ON = date(2026, 12, 1)
# What tests/test_accessibility.py checks (tests/a11y_pages.py): page states, and checks per
# run (each state as every role that sees it, in sv and en, at two widths). Update with it.
CHECKED_STATES = 38
CHECKS = 276
# Digg's form for reporting a lack of accessibility, as Digg itself names it.
DIGG_REPORT_URL = "https://www.digg.se/tdosanmalan"
LANGUAGE_NAMES = {"sv": "Svenska", "en": "English"}

public_routes = web.RouteTableDef()  # on the root app: no session, no cookie


@dataclass(frozen=True)
class StatementSettings:
    """What the deploying municipality configured (``ACCESSIBILITY_*``); None: not said."""

    organisation: str | None = None
    contact: str | None = None  # an e-mail address or an https:// page


STATEMENT = web.AppKey("accessibility_statement", StatementSettings)


@public_routes.get(ACCESSIBILITY_PATH)
async def statement(request: web.Request) -> web.StreamResponse:
    """Public: no sign-in and no cookie."""
    door = door_of(request)
    lang = request.query.get("lang", "")
    if lang not in STAFF_LANGUAGES:
        lang = choose_language(None, request.headers.get("Accept-Language", ""))
    tr = door.translators[lang]
    settings = request.app.get(STATEMENT) or StatementSettings()
    contact = settings.contact
    html = door.pages.env.get_template("accessibility.html").render(
        _=tr.gettext,
        lang=lang,
        other=[(code, LANGUAGE_NAMES[code]) for code in STAFF_LANGUAGES if code != lang],
        path=ACCESSIBILITY_PATH,
        organisation=settings.organisation,
        contact=contact,
        contact_href=_href(contact),
        made_on=MADE_ON.isoformat(),
        reviewed_on=REVIEWED_ON.isoformat(),
        digg_url=DIGG_REPORT_URL,
        checked_states=CHECKED_STATES,
        checks=CHECKS,
    )
    headers = dict(SECURITY_HEADERS)
    headers["Cache-Control"] = "public, max-age=300"
    headers["Vary"] = "Accept-Language"  # without ?lang= the language comes from the header
    return web.Response(text=html, content_type="text/html", charset="utf-8", headers=headers)


def _href(contact: str | None) -> str | None:
    """The configured page as it is, an e-mail address as a mailto: link."""
    if contact is None:
        return None
    return contact if contact.startswith("https://") else f"mailto:{contact}"
