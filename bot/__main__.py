"""Command line: `python -m bot serve | preview | content check | migrate | purge | backup | ...`.

Operators see one clear line for a configuration or content problem and a
non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import bot
from bot.config import ConfigError, Settings, load_settings
from bot.content.loader import ContentError
from bot.log_policy import setup_logging

if TYPE_CHECKING:
    from bot.content.validate import Report
    from bot.runtime import Server

log = logging.getLogger("bot")


async def _run_until_signal(server: Server) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    try:
        await stop.wait()
    finally:
        await server.stop()


def cmd_serve(settings: Settings) -> int:
    from bot.runtime import Server

    server = Server(settings)
    mode = f"webhook {settings.webhook_path}" if settings.webhook_url else "long polling"
    print(f"Serving on http://{settings.host}:{settings.port} ({mode}). Ctrl+C stops.", flush=True)
    asyncio.run(_run_until_signal(server))
    return 0


def cmd_preview(settings: Settings, *, public: bool = False) -> int:
    from bot.emulator.spec import BotApiSpec, default_spec_path
    from bot.runtime import Server, is_loopback_host

    # Each preview starts empty in a database of its own, removed when it stops: a second
    # preview (or one refused for a taken port) never touches a running one's data.
    scratch = tempfile.TemporaryDirectory(prefix="bot-preview-")
    db = Path(scratch.name) / "preview.db"
    settings = settings.with_overrides(database_url=f"sqlite+aiosqlite:///{db}")
    if public:  # `--public`: said on the command line, as PREVIEW_ALLOW_PUBLIC=true would
        settings = settings.with_overrides(preview_allow_public=True)
    spec_path = default_spec_path()
    validator = BotApiSpec.load(spec_path).validate_call if spec_path else None
    server = Server(settings, preview=True, spec_validator=validator)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await server.start()
        print(
            "\nOffline preview is running. Nothing leaves this computer.\n"
            + (
                f"  WARNING: HOST={settings.host} is not loopback; anyone who reaches it "
                "can use this preview.\n"
                if not is_loopback_host(settings.host)
                else ""
            )
            + f"  Chat with the bot as a relative: {server.origin}/preview/\n"
            f"  Bot API calls are checked against the official spec: "
            f"{'yes' if validator else 'no (spec file not found)'}\n"
            f"  Staff pages (the helpline team's queue): {server.origin}/staff/\n"
            "  Demo staff accounts (new random passwords at every start):\n"
            + "".join(
                f"    {a.username:<22} {a.password:<18} {a.role:<12} {', '.join(a.teams)}\n"
                for a in server.demo_accounts
            )
            + "Ctrl+C stops.\n",
            flush=True,
        )
        try:
            await stop.wait()
        finally:
            await server.stop()

    with scratch:
        asyncio.run(run())
    return 0


def cmd_content_check(settings: Settings) -> int:
    from bot.chat.check import check

    report = check(settings.content_dir, settings.locales_dir, settings.session_retention_days)
    for problem in report.problems:
        print(problem)
    if report.coverage:
        print("\nlanguage  enabled  reviewed  guide screens  relatives' UI  staff UI")
        for c in report.coverage:
            print(
                f"{c.language:<9} {'yes' if c.enabled else 'no':<8} "
                f"{'yes' if c.reviewed else 'NO':<9} {c.nodes_done:>4}/{c.nodes_total:<8} "
                f"{c.ui_done:>5}/{c.ui_total:<7} {c.staff_done:>4}/{c.staff_total}"
            )
    _print_translations(report)
    _print_claims(report)
    errors = len(report.errors)
    warnings = len(report.problems) - errors
    print(
        f"\n{report.screens_checked} screens rendered and checked; "
        f"{errors} error(s), {warnings} warning(s)."
    )
    return 1 if errors else 0


def _print_translations(report: Report) -> None:
    """Content translations per language: translated, signed off, stale since translated."""
    shown = [s for s in report.translations.values() if s.translated]
    if not shown:
        return
    print("\ncontent translations  translated  reviewed  stale  untracked  language sign-off")
    for s in shown:
        signed = f"{s.reviewed_by}, {s.reviewed_on}" if s.reviewed_by else "-"
        print(
            f"{s.language:<21} {s.translated:>4}/{s.total:<5} {s.reviewed:>8} "
            f"{len(s.stale):>6} {s.untracked:>10}  {signed}"
        )


def _print_claims(report: Report) -> None:
    """The claims register: every fact beyond the seeds, and which are not yet checked."""
    content = report.content
    if content is None or not content.claims:
        return
    unverified = [c for c in content.claims.values() if not c.verified]
    print(f"\nclaims register: {len(content.claims)} claim(s), {len(unverified)} not yet verified")
    for language in content.enabled_languages:
        found = report.unverified_claims(language.code)
        marks = sum(len(places) for places in found.values())
        print(f"  {language.code}: {len(found)} unverified claim(s), marked {marks} time(s)")
    for claim in sorted(unverified, key=lambda c: c.id):
        places = sorted({u.where for u in report.claim_uses if u.claim == claim.id})
        review = claim.review_by.isoformat() if claim.review_by else "-"
        print(f"  - {claim.id} (review by {review}; in {', '.join(places) or 'no text'})")
        print(f"      {claim.statement}")
        print(f"      source: {claim.source}")


def cmd_purge(settings: Settings, *, vacuum: bool = False) -> int:
    from bot.runtime import build_core
    from bot.services.cases import PurgeReport
    from bot.storage.engine import Reclaimed

    async def run() -> tuple[int, PurgeReport, int, Reclaimed | None]:
        core = await build_core(settings)
        try:
            folded = await core.recorder.fold_finished_days() if core.recorder else 0
            removed, cases = await core.conversation.purge(), await core.cases.purge()
            return removed, cases, folded, await core.database.reclaim(vacuum_any_size=vacuum)
        finally:
            await core.close()

    removed, cases, folded, reclaimed = asyncio.run(run())
    print(f"removed {removed} idle conversation(s)")
    print(f"counted and deleted {folded} finished day(s) of distinct-relative digests")
    print(
        f"removed {cases.links_deleted} contact link(s) of closed requests "
        f"and {cases.texts_deleted} text(s) past retention"
    )
    print(f"removed {cases.audit_deleted} audit row(s) older than AUDIT_RETENTION_DAYS")
    if reclaimed is not None:
        vacuumed = ", after a one-time VACUUM" if reclaimed.vacuumed else ""
        wal = "truncated" if reclaimed.wal_truncated else "not truncated (a reader was busy)"
        print(f"SQLite: {reclaimed.freed_pages} free page(s) given back{vacuumed}; WAL {wal}")
        if reclaimed.needs_vacuum:
            print("SQLite: no auto_vacuum yet; run `python -m bot purge --vacuum` once")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {bot.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the bot and the web app (webhook if WEBHOOK_URL is set)")
    preview = sub.add_parser(
        "preview", help="offline preview: local Telegram emulator and a chat page"
    )
    preview.add_argument(
        "--public",
        action="store_true",
        help="allow a non-loopback HOST (anyone reaching it can use the preview)",
    )
    content = sub.add_parser("content", help="guidance content tools")
    content_sub = content.add_subparsers(dest="content_command", required=True)
    content_sub.add_parser("check", help="validate content/ and locales/, print coverage")
    from bot.content.exchange import add_parsers as add_exchange_parsers

    add_exchange_parsers(content_sub)  # export, import, review: the translation round trip
    from bot.cli_migrate import add_parser as add_migrate_parser

    add_migrate_parser(sub)  # migrate, migrate status, migrate --sql
    purge = sub.add_parser("purge", help="delete data past its retention period")
    purge.add_argument(
        "--vacuum",
        action="store_true",
        help="SQLite: VACUUM a file made without auto_vacuum whatever its size (stop the bot)",
    )
    from bot.cli_staff import add_parser as add_staff_parser

    add_staff_parser(sub)
    from bot.cli_stats import add_parser as add_stats_parser

    add_stats_parser(sub)
    from bot.cli_rekey import add_parser as add_rekey_parser

    add_rekey_parser(sub)
    from bot.cli_backup import add_parser as add_backup_parser

    add_backup_parser(sub)  # backup [--to PATH]
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    needs_telegram = args.command == "serve"
    try:
        settings = load_settings(os.environ, require_telegram=needs_telegram)
        setup_logging(settings.log_level, settings.log_format)
        match args.command, getattr(args, "content_command", None):
            case "serve", _:
                return cmd_serve(settings)
            case "preview", _:
                return cmd_preview(settings, public=args.public)
            case "content", "check":
                return cmd_content_check(settings)
            case "content", _:
                from bot.content.exchange import run as run_exchange

                return run_exchange(args, settings)
            case "migrate", _:
                from bot.cli_migrate import run as run_migrate

                return run_migrate(args, settings)
            case "purge", _:
                return cmd_purge(settings, vacuum=args.vacuum)
            case "staff", _:
                from bot.cli_staff import run as run_staff

                return run_staff(args, settings)
            case "stats", _:
                from bot.cli_stats import run as run_stats

                return run_stats(args, settings)
            case "rekey", _:
                from bot.cli_rekey import run as run_rekey

                return run_rekey(args, settings)
            case "backup", _:
                from bot.cli_backup import run as run_backup

                return run_backup(args, settings)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except ContentError as exc:
        for problem in exc.problems:
            if problem.severity == "error":
                print(problem, file=sys.stderr)
        print("content has errors; run `python -m bot content check`", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
