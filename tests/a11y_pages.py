"""Every page the accessibility test checks: one list, data only (tests/test_accessibility.py).

Each page is opened as each role that can see it, in Swedish and in English, at phone width
(390x844) and desktop width (1280x900), and axe-core checks it against WCAG 2.1 A and AA
(0 violations allowed). A page that answers another status than ``status`` fails the test.

TO ADD A PAGE, append one ``Page(...)`` to PAGES:

    Page("admin accounts", "/staff/admin/accounts", ADMIN),
    Page("an account", "/staff/admin/accounts/{account}", ADMIN),   # {placeholder}: see below
    Page("printable report", "/staff/stats/report?year=2026", LEADS, wait_for="body[data-x]"),
    Page("accessibility statement", "/accessibility", PUBLIC + SIGNED_IN),

- ``name``: short and unique, shown in failures.
- ``path``: what the browser opens (query string allowed). ``{placeholders}`` are filled
  from what the test's module set-up made (``test_accessibility.Seeded.values``):
  ``{unclaimed}`` an open urgent request, ``{claimed}`` a request claimed by the staff role's
  account (anna) with a reply and a note, ``{closed}`` a closed request; ``{account}`` the
  id of the staff account "bo". Add a value there if your page needs one.
- ``roles``: who opens it: "public" (not signed in), "staff" (anna), "coordinator" (kim,
  Laholm and Botkyrka), "admin" (root).
- ``status``: what the page must answer (200 unless it is an error page on purpose).
- ``setup``: the name of a step in ``test_accessibility.SETUPS`` run before the page, for
  pages only reached by doing something first (a sign-in's code step, a form's answer).
  A setup may leave the browser on the page itself: then ``path`` is None.
- ``wait_for``: a CSS selector to wait for before checking (charts drawn by a script).
"""

from __future__ import annotations

from dataclasses import dataclass

PUBLIC = ("public",)
STAFF = ("staff",)
LEADS = ("coordinator", "admin")  # coordinators and admins: statistics, content, replies
ADMIN = ("admin",)
SIGNED_IN = ("staff", "coordinator", "admin")
ROLES = ("public", "staff", "coordinator", "admin")

STATS_NOVEMBER = "/staff/stats?period=month&date=2026-11-15"
STATS_WRONG = "/staff/stats?period=fortnight"
CHARTS_DRAWN = "body[data-charts-drawn]"


@dataclass(frozen=True)
class Page:
    name: str
    path: str | None
    roles: tuple[str, ...]
    status: int = 200
    setup: str | None = None
    wait_for: str | None = None


PAGES: list[Page] = [
    # -- signing in ------------------------------------------------------------------------
    Page("sign-in (password and single sign-on)", "/staff/login", PUBLIC),
    Page("sign-in, a wrong password", None, PUBLIC, status=401, setup="wrong_password"),
    Page("sign-in code step", "/staff/login/code", PUBLIC, setup="password_step"),
    Page("single sign-on refused", "/staff/sso/start?next=/staff/queue", PUBLIC, status=403),
    # -- the work --------------------------------------------------------------------------
    Page("queue", "/staff/queue", SIGNED_IN),
    Page("queue, session about to end", None, SIGNED_IN, setup="session_warning"),
    Page("queue, session ended", None, SIGNED_IN, setup="session_ended"),
    Page("case, unclaimed", "/staff/cases/{unclaimed}", SIGNED_IN),
    Page("case, claimed, with messages and a note", "/staff/cases/{claimed}", SIGNED_IN),
    Page("case, closed", "/staff/cases/{closed}", SIGNED_IN),
    Page("case, a refused reply shown again", None, STAFF, status=400, setup="empty_reply"),
    # -- the account -----------------------------------------------------------------------
    Page("second factor, set up", "/staff/account/2fa", SIGNED_IN),
    Page("second factor, on", "/staff/account/2fa", SIGNED_IN, setup="enrolled_twin"),
    Page("second factor, recovery codes", None, SIGNED_IN, setup="fresh_enrolment"),
    Page("change my password", "/staff/account/password", SIGNED_IN),
    # -- coordinators and admins -----------------------------------------------------------
    Page("audit log", "/staff/audit", ADMIN),
    Page("statistics, all teams", STATS_NOVEMBER, LEADS, wait_for=CHARTS_DRAWN),
    Page("statistics, one team", STATS_NOVEMBER + "&team=laholm", LEADS, wait_for=CHARTS_DRAWN),
    Page("statistics, a wrong period", STATS_WRONG, LEADS, status=400),
    Page(
        "printable statistics report (a quarter)",
        "/staff/stats/report?period=quarter&date=2026-11-15",
        LEADS,
        wait_for=CHARTS_DRAWN,
    ),
    Page("printable statistics report, not for staff", "/staff/stats/report", STAFF, status=403),
    Page("content status and translations", "/staff/content", LEADS),
    Page("canned replies", "/staff/canned", LEADS),
    Page("administration", "/staff/admin", ADMIN),
    Page("admin: staff accounts", "/staff/admin/accounts", ADMIN),
    Page("admin: one account", "/staff/admin/accounts/bo", ADMIN),
    Page("admin: teams", "/staff/admin/teams", ADMIN),
    Page("admin: one team's languages and hours", "/staff/admin/teams/laholm", ADMIN),
    Page("admin: not for this role", "/staff/admin/accounts", ("staff", "coordinator"), status=403),
    Page("admin: a new set-password link shown", None, ADMIN, setup="new_link"),
    Page("set a password from a link", None, PUBLIC, setup="set_password_link"),
    Page("set-password link not usable", "/staff/set-password/" + "x" * 43, PUBLIC, status=404),
    # -- public pages ----------------------------------------------------------------------
    Page("what is counted (about the statistics)", "/what-is-counted", PUBLIC),
    Page("accessibility statement", "/accessibility", PUBLIC),
    Page("preview chat page", "/preview/", PUBLIC),
    # -- errors ----------------------------------------------------------------------------
    Page("not found", "/staff/no-such-page", PUBLIC + SIGNED_IN, status=404),
    Page("not for this role (audit log)", "/staff/audit", ("staff", "coordinator"), status=403),
    Page("not for this role (statistics)", "/staff/stats", STAFF, status=403),
]
