"""Re-seal every stored sealed value under the newest SECRET_KEY (`python -m bot rekey`).

After SECRET_KEYS="new old" and a restart, new values are sealed under the new key and
old ones still open under the old key. This moves the old ones: each case's contact link
(chat reference and call-back number), each draft's sealed call-back number and each
staff member's TOTP secret (``bot.services.totp``, bound to the account). In batches,
each batch one transaction; each row replaced by compare-and-set on the ciphertext read,
so a row changed or deleted meanwhile (serve keeps running) is left as it is and counted.
Running it again re-seals nothing.

Pseudonyms are not here: a keyed hash cannot be inverted, so there is nothing to re-key
in bulk. Each chat's state moves at its next update (``bot.chat.memory``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from bot.services.link_crypto import DRAFT_PHONE, LinkCipher, LinkError
from bot.services.totp import TOTP_PURPOSE
from bot.storage import mfa as mfa_db
from bot.storage import rekey as db
from bot.storage.database import Database

log = logging.getLogger(__name__)
BATCH = 500


@dataclass
class Tally:
    """Per kind of value: re-sealed, already under the newest key, opened by no key, changed."""

    resealed: int = 0
    current: int = 0
    unreadable: int = 0
    changed: int = 0  # changed or deleted while we worked: left as it was (run again)


@dataclass
class RekeyReport:
    links: Tally
    drafts: Tally
    totp: Tally = field(default_factory=Tally)  # staff TOTP secrets

    @property
    def resealed(self) -> int:
        return self.links.resealed + self.drafts.resealed + self.totp.resealed


class _Unreadable(Exception):
    pass


def _reseal(cipher: LinkCipher, token: str | None, case_id: int, purpose: str) -> str | None:
    """The new ciphertext, or None when nothing needs to change."""
    if token is None:
        return None
    try:
        return cipher.reseal(token, case_id, purpose)
    except LinkError:
        raise _Unreadable from None


async def rekey(database: Database, cipher: LinkCipher, batch: int = BATCH) -> RekeyReport:
    """Re-seal what an older key sealed; see the module docstring."""
    report = RekeyReport(
        await _links(database, cipher, batch),
        await _drafts(database, cipher, batch),
        await _totp(database, cipher, batch),
    )
    log.info(
        "rekey: %d link(s), %d draft number(s) and %d TOTP secret(s) re-sealed",
        report.links.resealed,
        report.drafts.resealed,
        report.totp.resealed,
    )
    return report


async def _links(database: Database, cipher: LinkCipher, batch: int) -> Tally:
    tally, after = Tally(), 0
    while True:
        async with database.write_tx() as conn:
            rows = await db.links_after(conn, after, batch)
            for row in rows:
                try:
                    chat = _reseal(cipher, row.chat_ref, row.case_id, "chat")
                    phone = _reseal(cipher, row.phone_ref, row.case_id, "phone")
                except _Unreadable:
                    tally.unreadable += 1
                    continue
                if chat is None and phone is None:
                    tally.current += 1
                elif await db.replace_link(conn, row, chat or row.chat_ref, phone or row.phone_ref):
                    tally.resealed += 1
                else:
                    tally.changed += 1
        if len(rows) < batch:
            return tally
        after = rows[-1].case_id


async def _drafts(database: Database, cipher: LinkCipher, batch: int) -> Tally:
    tally, after = Tally(), ""
    while True:
        async with database.write_tx() as conn:
            rows, last = await db.draft_phones_after(conn, after, batch)
            for row in rows:
                try:
                    phone = _reseal(cipher, row.phone, 0, DRAFT_PHONE)
                except _Unreadable:
                    tally.unreadable += 1
                    continue
                if phone is None:
                    tally.current += 1
                elif await db.replace_draft_phone(conn, row, phone):
                    tally.resealed += 1
                else:
                    tally.changed += 1
        if last is None:
            return tally
        after = last


async def _totp(database: Database, cipher: LinkCipher, batch: int) -> Tally:
    """Each staff TOTP secret, sealed for its account (the account id where a case's is)."""
    tally, after = Tally(), 0
    while True:
        async with database.write_tx() as conn:
            rows = await mfa_db.sealed_after(conn, after, batch)
            for staff_id, sealed in rows:
                try:
                    secret = _reseal(cipher, sealed, staff_id, TOTP_PURPOSE)
                except _Unreadable:
                    tally.unreadable += 1
                    continue
                if secret is None:
                    tally.current += 1
                elif await mfa_db.reseal(conn, staff_id, sealed, secret):
                    tally.resealed += 1
                else:
                    tally.changed += 1
        if len(rows) < batch:
            return tally
        after = rows[-1][0]
