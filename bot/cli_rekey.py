"""`python -m bot rekey`: re-seal what an older SECRET_KEYS key sealed under the newest key.

Safe while `serve` runs (each row is replaced by compare-and-set on its old ciphertext)
and idempotent (a second run says "0 re-sealed"). It never migrates: the schema must be
at the migrations' head (`python -m bot migrate`).
"""

from __future__ import annotations

import argparse
import asyncio

from bot.config import ConfigError, Settings
from bot.services.link_crypto import LinkCipher
from bot.services.rekey import BATCH, RekeyReport, rekey
from bot.storage.database import Database
from bot.storage.migrate import at_head
from bot.web.staff.session import ABSOLUTE_SECONDS, TOKEN_SECONDS


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = sub.add_parser(
        "rekey",
        help="re-seal stored contact links and TOTP secrets under the newest key in SECRET_KEYS",
    )
    command.add_argument(
        "--batch", type=int, default=BATCH, help=f"rows per transaction (default {BATCH})"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    if settings.secret_key is None:
        raise ConfigError("SECRET_KEY (or SECRET_KEYS) is not set")
    if not 1 <= args.batch <= 100_000:
        raise ConfigError("--batch is between 1 and 100000")
    cipher = LinkCipher(settings.secret_key, settings.old_secret_keys)

    async def main() -> RekeyReport:
        database = Database.for_settings(settings)
        try:
            try:
                current = await at_head(database.engine)
            except Exception as exc:  # any driver error: one line for the operator
                raise ConfigError(f"cannot open the database ({type(exc).__name__})") from exc
            if not current:
                raise ConfigError(
                    "the database schema is not up to date: run `python -m bot migrate`"
                )
            return await rekey(database, cipher, args.batch)
        finally:
            await database.close()

    report = asyncio.run(main())
    for line in summary(report, settings):
        print(line)
    return 0


def summary(report: RekeyReport, settings: Settings) -> list[str]:
    links, drafts, totp = report.links, report.drafts, report.totp
    lines = [
        f"{report.resealed} re-sealed under the newest key: {links.resealed} contact link(s), "
        f"{drafts.resealed} call-back number(s) in unconfirmed requests, "
        f"{totp.resealed} staff TOTP secret(s)",
        f"already under the newest key: {links.current} link(s), {drafts.current} number(s), "
        f"{totp.current} TOTP secret(s)",
    ]
    if links.changed or drafts.changed or totp.changed:
        lines.append(
            f"changed while rekey ran, left as they were: {links.changed} link(s), "
            f"{drafts.changed} number(s), {totp.changed} TOTP secret(s); run rekey again"
        )
    if links.unreadable or drafts.unreadable:
        lines.append(
            f"no key in SECRET_KEYS opens {links.unreadable} link(s) and {drafts.unreadable} "
            "number(s): sealed under a key no longer listed; staff replies to those cases "
            "are refused (put the key back in SECRET_KEYS and run rekey again to recover them)"
        )
    if totp.unreadable:
        lines.append(
            f"no key in SECRET_KEYS opens {totp.unreadable} TOTP secret(s): those accounts "
            "cannot sign in with a code; put the key back and run rekey again, or reset "
            "them (`python -m bot staff 2fa-reset`)"
        )
    if not settings.old_secret_keys:
        lines.append("SECRET_KEYS lists no older key: there is nothing to drop.")
        return lines
    hours, token_hours = ABSOLUTE_SECONDS // 3600, TOKEN_SECONDS // 3600
    lines += [
        "Next: drop the older key(s) from SECRET_KEYS once every process runs with the new key "
        f"first and every staff session made before that has expired (at most {hours} hours; "
        f"API tokens {token_hours} hours), then restart.",
        "Chat pseudonyms cannot be re-keyed in bulk (a keyed hash cannot be inverted): each "
        "chat's state moves to the new key at its next update. A chat idle until the old key "
        "is dropped starts afresh (language and municipality asked again; staff replies still "
        "reach it); idle chats are deleted after SESSION_RETENTION_DAYS "
        f"({settings.session_retention_days}) anyway, so keeping the old key that long spares "
        "them all.",
    ]
    return lines
