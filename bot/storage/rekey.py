"""SQL for `python -m bot rekey`: the sealed values at rest, read in batches, replaced by
compare-and-set on the old ciphertext (a row changed meanwhile is left as it is).

Two places hold values sealed with a key derived from SECRET_KEY: ``case_contact``
(the chat reference and a call-back number of each case) and the ``phone`` of an
unconfirmed draft in ``chat_session.draft``. Neither write bumps a version: only the
ciphertext changes, so a conversation or a staff action in flight never sees its own
compare-and-set refused because of a rekey.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage.models import CaseContact, ChatSession, table_of
from bot.storage.sessions import _draft, _draft_json

contacts = table_of(CaseContact)
sessions = table_of(ChatSession)


@dataclass(frozen=True, slots=True)
class SealedLink:
    case_id: int
    chat_ref: str
    phone_ref: str | None


@dataclass(frozen=True, slots=True)
class SealedDraftPhone:
    pseudonym: str
    raw: str  # the stored draft JSON, as read (the compare-and-set compares it)
    phone: str  # the sealed call-back number in it


async def links_after(conn: AsyncConnection, after: int, limit: int) -> list[SealedLink]:
    """Up to ``limit`` contact links of cases after ``after``, by case id."""
    result = await conn.execute(
        select(contacts.c.case_id, contacts.c.chat_ref, contacts.c.phone_ref)
        .where(contacts.c.case_id > after)
        .order_by(contacts.c.case_id)
        .limit(limit)
    )
    return [SealedLink(*row) for row in result]


async def replace_link(
    conn: AsyncConnection, old: SealedLink, chat_ref: str, phone_ref: str | None
) -> bool:
    """Store the re-sealed values if the row still holds ``old``'s; False if it changed."""
    statement = (
        update(contacts)
        .where(
            contacts.c.case_id == old.case_id,
            contacts.c.chat_ref == old.chat_ref,
            contacts.c.phone_ref.is_not_distinct_from(old.phone_ref),
        )
        .values(chat_ref=chat_ref, phone_ref=phone_ref)
    )
    return (await conn.execute(statement)).rowcount == 1


async def draft_phones_after(
    conn: AsyncConnection, after: str, limit: int
) -> tuple[list[SealedDraftPhone], str | None]:
    """Drafts holding a sealed call-back number, among up to ``limit`` drafts after the
    pseudonym ``after``; and the last pseudonym read (None: no drafts left)."""
    result = await conn.execute(
        select(sessions.c.pseudonym, sessions.c.draft)
        .where(sessions.c.pseudonym > after, sessions.c.draft.is_not(None))
        .order_by(sessions.c.pseudonym)
        .limit(limit)
    )
    rows = list(result)
    found = []
    for pseudonym, raw in rows:
        phone = (_draft(raw) or {}).get("phone")
        if isinstance(phone, str) and phone:
            found.append(SealedDraftPhone(pseudonym, raw, phone))
    return found, (rows[-1][0] if len(rows) == limit else None)


async def replace_draft_phone(conn: AsyncConnection, old: SealedDraftPhone, phone: str) -> bool:
    """Store the draft with its re-sealed number if it is still the draft read."""
    draft = json.loads(old.raw)
    draft["phone"] = phone
    statement = (
        update(sessions)
        .where(sessions.c.pseudonym == old.pseudonym, sessions.c.draft == old.raw)
        .values(draft=_draft_json(draft))
    )
    return (await conn.execute(statement)).rowcount == 1
