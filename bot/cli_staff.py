"""`python -m bot staff ...`: manage helpline staff accounts and their teams.

Passwords never travel as arguments (they would land in shell history and the
process list): they come from STAFF_PASSWORD or are asked for with getpass.
Every refusal is one line and a non-zero exit.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.config import ConfigError, Settings
from bot.content.loader import load_content
from bot.domain import ROLES
from bot.services.staff import MIN_PASSWORD_LENGTH, StaffError, StaffService
from bot.storage.database import Database
from bot.storage.migrate import upgrade

T = TypeVar("T")

_REASONS = {
    "exists": "an account with that username already exists",
    "not_found": "no account with that username",
    "weak_password": f"the password must be at least {MIN_PASSWORD_LENGTH} characters",
    "invalid_role": f"the role must be one of: {', '.join(ROLES)}",
    "unknown_team": "unknown team",
    "invalid_username": "a username is 2-64 characters of a-z, 0-9, '.', '_' and '-'",
}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    staff = sub.add_parser("staff", help="manage helpline staff accounts")
    staff_sub = staff.add_subparsers(dest="staff_command", required=True)
    add = staff_sub.add_parser("add", help="create an account (password: STAFF_PASSWORD or asked)")
    add.add_argument("username")
    add.add_argument("--role", choices=ROLES, default="staff")
    add.add_argument("--team", action="append", default=[], help="a team id; repeat for more")
    add.add_argument("--name", help="first name staff may sign replies with")
    add.add_argument(
        "--link",
        action="store_true",
        help="print a one-time set-password link (72 h) instead of asking for a password",
    )
    passwd = staff_sub.add_parser("passwd", help="set a new password")
    passwd.add_argument("username")
    teams = staff_sub.add_parser("teams", help="replace the teams of an account")
    teams.add_argument("username")
    teams.add_argument("--team", action="append", default=[], required=True)
    role = staff_sub.add_parser("role", help="change the role of an account (signs it out)")
    role.add_argument("username")
    role.add_argument("--role", choices=ROLES, required=True)
    deactivate = staff_sub.add_parser(
        "deactivate", help="stop an account from signing in (signs it out everywhere)"
    )
    deactivate.add_argument("username")
    reactivate = staff_sub.add_parser("reactivate", help="let a deactivated account sign in again")
    reactivate.add_argument("username")
    signout = staff_sub.add_parser(
        "signout", help="end every session and API token of an account (sign out everywhere)"
    )
    signout.add_argument("username")
    reset_2fa = staff_sub.add_parser(
        "2fa-reset", help="remove the second factor of an account (lost phone; audited)"
    )
    reset_2fa.add_argument("username")
    staff_sub.add_parser("list", help="list accounts")


def run(args: argparse.Namespace, settings: Settings) -> int:
    content, _problems = load_content(settings.content_dir)
    if content is None:
        raise ConfigError(f"cannot read the teams in {settings.content_dir}")
    known = frozenset(content.teams)
    try:
        if args.staff_command == "add" and args.link:
            print(_with_service(settings, known, lambda s: _add_with_link(s, settings, args)))
        elif args.staff_command == "add":
            password = _password(f"Password for {args.username}: ")
            view = _with_service(
                settings,
                known,
                lambda s: s.create(
                    args.username, password, args.role, frozenset(args.team), args.name
                ),
            )
            print(f"created {view.username} ({view.role}; teams: {', '.join(sorted(view.teams))})")
        elif args.staff_command == "passwd":
            password = _password(f"New password for {args.username}: ")
            _with_service(settings, known, lambda s: s.set_password(args.username, password))
            print(f"password changed for {args.username}")
        elif args.staff_command == "teams":
            teams = frozenset(args.team)
            _with_service(settings, known, lambda s: s.set_teams(args.username, teams))
            print(f"{args.username} now belongs to: {', '.join(sorted(teams))}")
        elif args.staff_command == "role":
            _with_service(settings, known, lambda s: s.set_role(args.username, args.role))
            print(f"{args.username} is now {args.role} (signed out everywhere)")
        elif args.staff_command == "deactivate":
            _with_service(settings, known, lambda s: s.deactivate(args.username))
            print(f"{args.username} can no longer sign in (signed out everywhere)")
        elif args.staff_command == "reactivate":
            _with_service(settings, known, lambda s: s.reactivate(args.username))
            print(f"{args.username} can sign in again")
        elif args.staff_command == "signout":
            ended = _with_service(settings, known, lambda s: s.sign_out_everywhere(args.username))
            print(f"{args.username} signed out everywhere ({ended} sessions and tokens ended)")
        elif args.staff_command == "2fa-reset":
            removed = _with_service(
                settings, known, lambda s: _reset_2fa(s, settings, args.username)
            )
            print(
                f"{args.username}: second factor removed (set up again at the next sign-in)"
                if removed
                else f"{args.username} had no second factor"
            )
        elif args.staff_command == "list":
            accounts = _with_service(settings, known, lambda s: s.list())
            for a in accounts:
                state = "active" if a.active else "inactive"
                print(f"{a.username}\t{a.role}\t{','.join(sorted(a.teams)) or '-'}\t{state}")
            if not accounts:
                print("no staff accounts yet")
    except StaffError as exc:
        detail = f" ({exc.detail})" if exc.detail and exc.reason == "unknown_team" else ""
        print(
            f"staff {args.staff_command}: {_REASONS.get(exc.reason, exc.reason)}{detail}",
            file=sys.stderr,
        )
        if exc.reason == "unknown_team":
            print(f"known teams: {', '.join(sorted(known))}", file=sys.stderr)
        return 1
    return 0


async def _reset_2fa(staff: StaffService, settings: Settings, username: str) -> bool:
    """The account's TOTP secret and recovery codes removed, audited as done by "cli"."""
    from bot.services.totp import TotpError, TotpService

    if settings.secret_key is None:
        raise ConfigError("SECRET_KEY is not set")
    totp = TotpService(staff.database, settings.secret_key, settings.old_secret_keys)
    try:
        return await totp.reset("cli", username)
    except TotpError:
        raise StaffError("not_found", username) from None


async def _add_with_link(staff: StaffService, settings: Settings, args: argparse.Namespace) -> str:
    """The account made as the admin section makes it (audited as done by "cli"), and the
    set-password link to pass on: printed once, only a keyed digest of it is stored."""
    from bot.domain import StaffUser
    from bot.services.staff_admin import AdminError, AdminService
    from bot.services.totp import TotpService

    if settings.secret_key is None:
        raise ConfigError("SECRET_KEY is not set")
    totp = TotpService(staff.database, settings.secret_key, settings.old_secret_keys)
    admin = AdminService(staff, totp, settings.secret_key, settings.old_secret_keys)
    cli = StaffUser(id=0, username="cli", role="admin", teams=frozenset())
    try:
        issued = await admin.create(cli, args.username, args.role, frozenset(args.team), args.name)
    except AdminError as exc:
        raise StaffError(exc.reason, ", ".join(args.team)) from None
    base = (settings.public_url or "").rstrip("/")
    expires = issued.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"created {issued.username} ({args.role}); give this link to the person, it works "
        f"once, until {expires}:\n{base}/staff/set-password/{issued.token}"
        + ("" if base else "\n(PUBLIC_URL is not set: put the staff pages' address in front)")
    )


def _password(prompt: str) -> str:
    from_env = os.environ.get("STAFF_PASSWORD")
    if from_env is not None:
        return from_env
    if not sys.stdin.isatty():
        raise ConfigError("set STAFF_PASSWORD or run this in a terminal to type the password")
    first = getpass.getpass(prompt)
    if getpass.getpass("Again: ") != first:
        raise ConfigError("the two passwords differ")
    return first


def _with_service(
    settings: Settings, known: frozenset[str], action: Callable[[StaffService], Awaitable[T]]
) -> T:
    async def main() -> T:
        database = Database.for_settings(settings)
        try:
            try:
                await upgrade(database.engine)
            except Exception as exc:  # any driver error: one line for the operator
                raise ConfigError(f"cannot open the database ({type(exc).__name__})") from exc
            return await action(StaffService(database, known))
        finally:
            await database.close()

    return asyncio.run(main())
