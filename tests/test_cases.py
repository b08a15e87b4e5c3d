"""CaseService on SQLite and PostgreSQL: a contact request's life, rules, retention, privacy."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.domain import CODE_ALPHABET, MAX_STAFF_TEXT, MAX_TEXT, CaseError, RequestDraft, StaffUser
from bot.log_policy import enforce_log_privacy
from bot.privacy import chat_pseudonym
from bot.services.cases import CaseService, normalise_code
from bot.storage.database import Database
from bot.storage.models import metadata
from bot.storage.sessions import SessionState, open_session_store
from tests.case_helpers import case_service

KEY = b"case-tests-secret-key-0123456789abcdef"
CHAT = 5550001234567
START = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
TEAMS = frozenset({"laholm", "botkyrka"})

ANNA = StaffUser(1, "anna", "staff", frozenset({"laholm"}), display_name="Anna")
BO = StaffUser(2, "bo", "staff", frozenset({"laholm"}))
CILLA = StaffUser(3, "cilla", "staff", frozenset({"botkyrka"}))
ADMIN = StaffUser(9, "root", "admin", frozenset())


class Clock:
    def __init__(self) -> None:
        self.at = START

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@dataclass
class FakeRelay:
    """Records what would be sent to Telegram; can refuse or break like the real one."""

    refuse: str | None = None
    explode: bool = False
    sent: list[tuple[int, str, str, str, str | None]] = field(default_factory=list)

    async def deliver(
        self, chat_id: int, team_id: str, language: str, text: str, signature: str | None
    ) -> str | None:
        if self.explode:
            raise RuntimeError("network down")
        if self.refuse:
            return self.refuse
        self.sent.append((chat_id, team_id, language, text, signature))
        return None


@dataclass
class Events:
    seen: list[tuple[str, bool]] = field(default_factory=list)

    async def new_request(self, team_id: str, urgent: bool) -> None:
        self.seen.append((team_id, urgent))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def relay() -> FakeRelay:
    return FakeRelay()


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
async def service(
    database: Database, clock: Clock, relay: FakeRelay, events: Events
) -> AsyncIterator[CaseService]:
    async with case_service(
        database, KEY, relay=relay, events=events, now=clock, known_teams=TEAMS
    ) as opened:
        yield opened


def draft(**changes: object) -> RequestDraft:
    values: dict[str, object] = {
        "team_id": "laholm",
        "language": "sv",
        "concerns": "child",
        "topic": "online",
        "urgency": "soon",
    }
    values.update(changes)
    return RequestDraft(**values)  # type: ignore[arg-type]  # tests pass words outside the Literals


async def dump(engine: AsyncEngine) -> str:
    """Every row of every table as one string, for privacy checks."""
    parts: list[str] = []
    async with engine.connect() as conn:
        for table in metadata.sorted_tables:
            rows = (await conn.execute(select(table))).all()
            parts.extend(f"{table.name}: {tuple(row)!r}" for row in rows)
    return "\n".join(parts)


# --- creating a request --------------------------------------------------------------


async def test_created_request_has_a_code_and_is_committed(
    service: CaseService, engine: AsyncEngine, events: Events
) -> None:
    created = await service.create_request(draft(urgency="urgent"), CHAT)
    assert re.fullmatch(f"[{CODE_ALPHABET}]{{3}}-[{CODE_ALPHABET}]{{3}}", created.code)
    async with engine.connect() as conn:  # another connection sees it: it is committed
        count = (await conn.execute(text("SELECT count(*) FROM case_request"))).scalar_one()
    assert count == 1
    assert events.seen == [("laholm", True)]
    view = await service.view_for_relative(created.case_id)
    assert view is not None
    assert (view.code, view.status, view.claimed, view.staff_replies) == (
        created.code,
        "open",
        False,
        0,
    )


async def test_codes_differ_between_requests(service: CaseService) -> None:
    codes = {(await service.create_request(draft(), CHAT + i)).code for i in range(30)}
    assert len(codes) == 30


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"team_id": "atlantis"}, "unknown_team"),
        ({"concerns": "cat"}, "invalid"),
        ({"topic": "weather"}, "invalid"),
        ({"urgency": "yesterday"}, "invalid"),
        ({"language": "Swedish!"}, "invalid"),
        ({"reply_via": "phone"}, "invalid"),  # call-back without a number
        ({"reply_via": "phone", "phone": "call me"}, "invalid"),
        ({"phone": "070-123 45 67"}, "invalid"),  # a number without call-back consent
        ({"text": "x" * (MAX_TEXT + 1)}, "too_long"),
    ],
)
async def test_bad_drafts_are_refused_and_store_nothing(
    service: CaseService, engine: AsyncEngine, changes: dict[str, object], reason: str
) -> None:
    with pytest.raises(CaseError) as refused:
        await service.create_request(draft(**changes), CHAT)
    assert refused.value.reason == reason
    assert "case_request" not in await dump(engine)


async def test_a_notification_failure_does_not_lose_the_request(
    service: CaseService, engine: AsyncEngine
) -> None:
    class Broken:
        async def new_request(self, team_id: str, urgent: bool) -> None:
            raise ConnectionError("group chat unreachable")

    service.events = Broken()
    created = await service.create_request(draft(), CHAT)
    assert await service.view_for_relative(created.case_id) is not None


async def test_a_hanging_notification_does_not_hold_back_the_case_code(
    service: CaseService, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Hanging:
        async def new_request(self, team_id: str, urgent: bool) -> None:
            await asyncio.Event().wait()  # never answers

    monkeypatch.setattr("bot.services.cases.NOTIFY_TIMEOUT_SECONDS", 0.05)
    service.events = Hanging()
    created = await asyncio.wait_for(service.create_request(draft(), CHAT), 5)
    assert await service.view_for_relative(created.case_id) is not None


async def test_identifiers_in_the_text_are_scrubbed_before_storing(
    service: CaseService, engine: AsyncEngine
) -> None:
    created = await service.create_request(
        draft(text="Han är 16. Ring 070-123 45 67 eller mejla a@b.se"), CHAT
    )
    detail = await service.detail(ANNA, created.code)
    assert detail.messages[0].body == (
        "Han är 16. Ring [phone number removed] eller mejla [e-mail address removed]"
    )
    stored = await dump(engine)
    assert "070-123" not in stored and "a@b.se" not in stored


def test_codes_are_read_the_way_people_type_them() -> None:
    assert normalise_code("acb efg") is None  # B is not in the alphabet
    assert normalise_code(" acd-eFh ") == "ACD-EFH"
    assert normalise_code("ACDEFH") == "ACD-EFH"
    assert normalise_code("ACD-EF") is None


# --- the queue -----------------------------------------------------------------------


async def test_queue_is_urgent_first_then_longest_waiting(
    service: CaseService, clock: Clock
) -> None:
    later_old = await service.create_request(draft(urgency="later"), CHAT)
    clock.advance(minutes=1)
    soon_old = await service.create_request(draft(urgency="soon"), CHAT + 1)
    clock.advance(minutes=1)
    urgent_new = await service.create_request(draft(urgency="urgent"), CHAT + 2)
    clock.advance(minutes=1)
    soon_new = await service.create_request(draft(urgency="soon"), CHAT + 3)
    clock.advance(minutes=1)
    await service.create_request(draft(team_id="botkyrka"), CHAT + 4)

    queue = await service.queue(ANNA)
    assert [i.code for i in queue.items] == [
        urgent_new.code,
        soon_old.code,
        soon_new.code,
        later_old.code,
    ]
    assert (queue.waiting, queue.urgent_waiting) == (4, 1)
    assert queue.items[-1].waiting_seconds == 4 * 60
    first_two = await service.queue(ANNA, limit=2)
    assert [i.code for i in first_two.items] == [urgent_new.code, soon_old.code]
    assert (first_two.total, first_two.waiting, first_two.urgent_waiting) == (4, 4, 1)
    assert first_two.version == queue.version
    assert len((await service.queue(ADMIN)).items) == 5
    assert [i.team_id for i in (await service.queue(CILLA)).items] == ["botkyrka"]


async def test_queue_version_changes_with_every_visible_change(
    service: CaseService, clock: Clock
) -> None:
    versions = [(await service.queue(ANNA)).version]

    async def changed() -> None:
        version = (await service.queue(ANNA)).version
        assert version != versions[-1]
        assert version == await service.queue_version(ANNA)
        versions.append(version)

    created = await service.create_request(draft(), CHAT)
    await changed()
    await service.claim(ANNA, created.code)
    await changed()
    await service.relative_message(created.case_id, "Tack")
    await changed()
    await service.close(ANNA, created.code, "advice")
    await changed()
    # Another team's changes leave this team's version alone.
    before = await service.queue_version(ANNA)
    await service.create_request(draft(team_id="botkyrka"), CHAT)
    assert await service.queue_version(ANNA) == before


async def test_other_teams_cannot_see_or_touch_a_case(service: CaseService) -> None:
    created = await service.create_request(draft(), CHAT)
    for call in (
        service.detail(CILLA, created.code),
        service.claim(CILLA, created.code),
        service.add_note(CILLA, created.code, "note"),
        service.close(CILLA, created.code, "advice"),
    ):
        with pytest.raises(CaseError) as refused:
            await call
        assert refused.value.reason == "forbidden"
    with pytest.raises(CaseError) as missing:
        await service.detail(ANNA, "ACD-EFG")
    assert missing.value.reason == "not_found"
    with pytest.raises(CaseError) as garbage:
        await service.detail(ANNA, "<script>")
    assert garbage.value.reason == "not_found"


# --- claim, release, auto release ----------------------------------------------------


async def test_claim_then_the_other_sees_who_has_it(service: CaseService) -> None:
    created = await service.create_request(draft(), CHAT)
    assert (await service.claim(ANNA, created.code)).won
    lost = await service.claim(BO, created.code)
    assert (lost.won, lost.holder) == (False, "anna")
    again = await service.claim(ANNA, created.code)
    assert (again.won, again.holder) == (True, "anna")
    item = (await service.queue(BO)).items[0]
    assert (item.status, item.claimed_by) == ("claimed", "anna")
    assert (await service.queue(BO)).waiting == 0
    view = await service.view_for_relative(created.case_id)
    assert view is not None and view.claimed


async def test_admins_claim_any_team_and_codes_are_read_leniently(service: CaseService) -> None:
    created = await service.create_request(draft(team_id="botkyrka"), CHAT)
    typed = created.code.lower().replace("-", " ")
    assert (await service.claim(ADMIN, typed)).won
    assert (await service.claim(CILLA, created.code)).holder == "root"
    with pytest.raises(CaseError) as missing:
        await service.claim(ADMIN, "ACD-EFG")
    assert missing.value.reason == "not_found"
    await service.close(ADMIN, created.code, "advice")
    closed = await service.claim(CILLA, created.code)
    assert (closed.won, closed.holder) == (False, None)


async def test_release_only_by_the_holder(service: CaseService) -> None:
    created = await service.create_request(draft(), CHAT)
    await service.claim(ANNA, created.code)
    with pytest.raises(CaseError) as refused:
        await service.release(BO, created.code)
    assert refused.value.reason == "not_claimed_by_you"
    await service.release(ANNA, created.code)
    assert (await service.claim(BO, created.code)).won


async def test_claims_without_a_reply_are_released_after_the_limit(
    service: CaseService, clock: Clock
) -> None:
    idle = await service.create_request(draft(), CHAT)
    busy = await service.create_request(draft(), CHAT + 1)
    await service.claim(ANNA, idle.code)
    await service.claim(BO, busy.code)
    clock.advance(minutes=20)
    await service.reply(BO, busy.code, "Hej, jag heter Bo.")
    clock.advance(minutes=11)  # idle: 31 min since claim; busy: 11 min since the reply
    assert await service.auto_release() == 1
    statuses = {i.code: (i.status, i.claimed_by) for i in (await service.queue(ANNA)).items}
    assert statuses == {idle.code: ("open", None), busy.code: ("claimed", "bo")}
    log = await service.audit_log(ADMIN)
    assert (log[0].staff, log[0].action, log[0].case_code) == ("system", "auto_release", idle.code)
    clock.advance(minutes=30)
    assert await service.auto_release() == 1
    assert await service.auto_release() == 0


# --- replies and the relative's messages ---------------------------------------------


async def test_reply_is_relayed_to_the_chat_and_recorded(
    service: CaseService, relay: FakeRelay, engine: AsyncEngine
) -> None:
    created = await service.create_request(draft(language="en"), CHAT)
    with pytest.raises(CaseError) as unclaimed:
        await service.reply(ANNA, created.code, "Hello")
    assert unclaimed.value.reason == "not_claimed_by_you"
    await service.claim(ANNA, created.code)
    sent = await service.reply(ANNA, created.code, "  Hello, call 020-123 456.  ", sign=True)
    assert (sent.delivery, sent.signature, sent.body) == (
        "sent",
        "Anna",
        "Hello, call 020-123 456.",
    )
    assert relay.sent == [(CHAT, "laholm", "en", "Hello, call 020-123 456.", "Anna")]
    await service.reply(ANNA, created.code, "Unsigned", sign=False)
    assert relay.sent[-1][4] is None
    detail = await service.detail(ANNA, created.code)
    assert [(m.author, m.delivery) for m in detail.messages] == [
        ("staff", "sent"),
        ("staff", "sent"),
    ]
    view = await service.view_for_relative(created.case_id)
    assert view is not None and view.staff_replies == 2
    async with engine.connect() as conn:
        first, last = (
            await conn.execute(text("SELECT first_reply_at, last_staff_reply_at FROM case_request"))
        ).one()
    assert first is not None and last is not None


async def test_a_staff_member_without_a_first_name_signs_nothing(
    service: CaseService, relay: FakeRelay
) -> None:
    created = await service.create_request(draft(), CHAT)
    await service.claim(BO, created.code)
    assert (await service.reply(BO, created.code, "Hej", sign=True)).signature is None


@pytest.mark.parametrize(
    ("relay_state", "expected"),
    [
        ({"refuse": "blocked"}, "failed: blocked"),
        ({"explode": True}, "failed: RuntimeError"),
    ],
)
async def test_a_failed_relay_is_shown_on_the_case(
    service: CaseService, relay: FakeRelay, relay_state: dict[str, object], expected: str
) -> None:
    for name, value in relay_state.items():
        setattr(relay, name, value)
    created = await service.create_request(draft(), CHAT)
    await service.claim(ANNA, created.code)
    assert (await service.reply(ANNA, created.code, "Hej")).delivery == expected
    detail = await service.detail(ANNA, created.code)
    assert detail.messages[-1].delivery == expected and detail.messages[-1].body == "Hej"


async def test_empty_or_long_replies_are_refused(service: CaseService) -> None:
    created = await service.create_request(draft(), CHAT)
    await service.claim(ANNA, created.code)
    for body, reason in (("   ", "invalid"), ("x" * (MAX_STAFF_TEXT + 1), "too_long")):
        with pytest.raises(CaseError) as refused:
            await service.reply(ANNA, created.code, body)
        assert refused.value.reason == reason
    assert (await service.detail(ANNA, created.code)).messages == []


async def test_relative_messages_reach_only_open_cases(service: CaseService) -> None:
    created = await service.create_request(draft(), CHAT)
    assert await service.relative_message(created.case_id, "Min mejl: x@y.se")
    await service.claim(ANNA, created.code)
    assert await service.relative_message(created.case_id, "Tack")
    await service.close(ANNA, created.code, "advice")
    assert not await service.relative_message(created.case_id, "Hallå?")
    assert not await service.relative_message(999_999, "Hallå?")
    bodies = [m.body for m in (await service.detail(ANNA, created.code)).messages]
    assert bodies == ["Min mejl: [e-mail address removed]", "Tack"]
    with pytest.raises(CaseError) as long:
        await service.relative_message(created.case_id, "x" * (MAX_TEXT + 1))
    assert long.value.reason == "too_long"


# --- withdraw, close, reopen, transfer -----------------------------------------------


async def test_withdraw_removes_link_and_text_at_once(
    service: CaseService, engine: AsyncEngine
) -> None:
    created = await service.create_request(
        draft(reply_via="phone", phone="070-123 45 67", text="Det gäller min son"), CHAT
    )
    await service.claim(ANNA, created.code)
    await service.withdraw(created.case_id)
    detail = await service.detail(ANNA, created.code)
    assert (detail.item.status, detail.outcome, detail.phone) == ("withdrawn", "withdrew", None)
    assert [m.body for m in detail.messages] == [None]
    stored = await dump(engine)
    assert "case_contact" not in stored and "min son" not in stored
    with pytest.raises(CaseError) as refused:
        await service.reply(ANNA, created.code, "Hej")
    assert refused.value.reason == "closed"
    assert (await service.queue(ANNA)).items == []
    await service.withdraw(created.case_id)  # twice is harmless


async def test_close_needs_an_outcome_and_hides_the_phone(service: CaseService) -> None:
    created = await service.create_request(draft(reply_via="phone", phone="+46 70-123 45 67"), CHAT)
    await service.claim(ANNA, created.code)
    assert (await service.detail(ANNA, created.code)).phone == "+46701234567"
    with pytest.raises(CaseError) as refused:
        await service.close(ANNA, created.code, "fixed")  # type: ignore[arg-type]  # on purpose
    assert refused.value.reason == "invalid"
    with pytest.raises(CaseError) as not_yours:
        await service.close(BO, created.code, "advice")
    assert not_yours.value.reason == "not_claimed_by_you"
    await service.close(ANNA, created.code, "social_services")
    detail = await service.detail(ANNA, created.code)
    assert (detail.item.status, detail.outcome, detail.phone) == ("closed", "social_services", None)
    assert detail.closed_at == START and detail.can_reopen
    with pytest.raises(CaseError) as twice:
        await service.close(ANNA, created.code, "advice")
    assert twice.value.reason == "closed"


async def test_reopen_within_retention_while_the_link_exists(
    service: CaseService, clock: Clock
) -> None:
    created = await service.create_request(draft(), CHAT)
    with pytest.raises(CaseError) as open_case:
        await service.reopen(ANNA, created.code)
    assert open_case.value.reason == "not_closed"
    await service.close(ANNA, created.code, "no_response")
    clock.advance(days=3)
    await service.reopen(BO, created.code)
    detail = await service.detail(BO, created.code)
    assert (detail.item.status, detail.outcome, detail.closed_at) == ("open", None, None)
    # A reopened case's link no longer expires; closing again starts a new grace period.
    clock.advance(days=10)
    assert (await service.purge()).links_deleted == 0
    await service.close(BO, created.code, "advice")
    clock.advance(days=8)
    assert (await service.purge()).links_deleted == 1
    assert not (await service.detail(BO, created.code)).can_reopen
    with pytest.raises(CaseError) as gone:
        await service.reopen(BO, created.code)
    assert gone.value.reason == "retention_passed"


async def test_transfer_moves_the_case_to_the_other_team(service: CaseService) -> None:
    created = await service.create_request(draft(), CHAT)
    await service.claim(ANNA, created.code)
    with pytest.raises(CaseError) as unknown:
        await service.transfer(ANNA, created.code, "atlantis")
    assert unknown.value.reason == "unknown_team"
    with pytest.raises(CaseError) as not_yours:
        await service.transfer(BO, created.code, "botkyrka")
    assert not_yours.value.reason == "not_claimed_by_you"
    await service.transfer(ANNA, created.code, "botkyrka")
    item = (await service.queue(CILLA)).items[0]
    assert (item.code, item.status, item.claimed_by) == (created.code, "open", None)
    with pytest.raises(CaseError) as gone:
        await service.detail(ANNA, created.code)
    assert gone.value.reason == "forbidden"


async def test_notes_are_kept_and_audited_without_content(service: CaseService) -> None:
    created = await service.create_request(draft(), CHAT)
    await service.add_note(ANNA, created.code, "Ring tillbaka på tisdag")
    notes = (await service.detail(BO, created.code)).notes
    assert [(n.author, n.body) for n in notes] == [("anna", "Ring tillbaka på tisdag")]
    with pytest.raises(CaseError) as empty:
        await service.add_note(ANNA, created.code, " ")
    assert empty.value.reason == "invalid"
    entries = await service.audit_log(ADMIN)
    assert [(e.staff, e.action, e.case_code) for e in entries] == [("anna", "note", created.code)]
    with pytest.raises(CaseError) as staff_only:
        await service.audit_log(ANNA)
    assert staff_only.value.reason == "forbidden"


async def test_canned_replies_per_team_and_language(service: CaseService) -> None:
    coordinator = StaffUser(4, "dora", "coordinator", frozenset({"laholm"}))
    await service.add_canned_reply(coordinator, "laholm", "sv", "Hälsning", "Hej! Vi hörs.")
    await service.add_canned_reply(coordinator, "laholm", "en", "Greeting", "Hello!")
    assert await service.canned_replies(ANNA, "laholm", "sv") == ["Hej! Vi hörs."]
    assert await service.canned_replies(ANNA, "laholm", "ar") == []
    for call in (
        service.canned_replies(ANNA, "botkyrka", "sv"),
        service.add_canned_reply(ANNA, "laholm", "sv", "x", "y"),
        service.add_canned_reply(coordinator, "botkyrka", "sv", "x", "y"),
    ):
        with pytest.raises(CaseError) as refused:
            await call
        assert refused.value.reason == "forbidden"


# --- retention and privacy -----------------------------------------------------------


async def test_purge_deletes_links_after_grace_and_texts_after_retention(
    service: CaseService, clock: Clock, database: Database
) -> None:
    store = await open_session_store(database)
    try:
        created = await service.create_request(draft(text="Min bror"), CHAT)
        pseudonym = chat_pseudonym(KEY, CHAT)
        assert await store.save(pseudonym, SessionState(case_id=created.case_id), 1, START.date())
        other = await service.create_request(draft(), CHAT + 1)  # stays open: untouched
        await service.claim(ANNA, created.code)
        await service.reply(ANNA, created.code, "Hej", sign=True)
        await service.add_note(ANNA, created.code, "note")
        await service.close(ANNA, created.code, "advice")

        clock.advance(days=6)
        assert await service.purge() == type(await service.purge())(0, 0)
        clock.advance(days=2)
        assert (await service.purge()).links_deleted == 1
        session = await store.load(pseudonym)
        assert session is not None and session.case_id is None
        assert (await service.detail(ANNA, created.code)).messages[0].body == "Min bror"

        clock.advance(days=23)  # 31 days after closing
        report = await service.purge()
        assert (report.links_deleted, report.texts_deleted) == (0, 3)
        detail = await service.detail(ADMIN, created.code)
        assert [m.body for m in detail.messages] == [None, None]
        assert [m.signature for m in detail.messages] == [None, None]
        assert [n.body for n in detail.notes] == [None]
        assert (detail.outcome, detail.item.claimed_by) == ("advice", None)
        assert (await service.purge()).texts_deleted == 0
        assert (await service.detail(ANNA, other.code)).item.status == "open"
    finally:
        await store.close()


async def test_no_identifier_in_any_table_or_log_after_a_full_scenario(
    service: CaseService,
    clock: Clock,
    engine: AsyncEngine,
    relay: FakeRelay,
    caplog: pytest.LogCaptureFixture,
) -> None:
    enforce_log_privacy()  # what `python -m bot` does at start, whatever LOG_LEVEL says
    caplog.set_level(logging.DEBUG)
    phone = "0701234567"
    created = await service.create_request(
        draft(
            reply_via="phone",
            phone=phone,
            text="Han heter inget här. @kalle88 pnr 080512-1234 https://t.me/grupp anna@x.se",
        ),
        CHAT,
    )
    await service.claim(ANNA, created.code)
    assert await service.relative_message(created.case_id, "Ring 0731112233 eller +46 8 123 456")
    await service.reply(ANNA, created.code, "Hej, vi ringer i morgon.", sign=True)
    assert relay.sent[0][0] == CHAT
    await service.close(ANNA, created.code, "advice")

    stored = await dump(engine)
    for secret in (str(CHAT), phone, "kalle88", "080512", "t.me/grupp", "anna@x.se", "0731112233"):
        assert secret not in stored, secret
    assert "+46701234567" not in stored and "123 456" not in stored

    clock.advance(days=8)
    await service.purge()
    stored = await dump(engine)
    assert "case_contact" not in stored
    clock.advance(days=30)
    await service.purge()
    rows = await dump(engine)
    assert "vi ringer" not in rows and "Anna" not in rows
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "contact request created" in logged  # the capture works
    for secret in (str(CHAT), phone, "+46701234567", "kalle88", "vi ringer", "Ring", "Anna"):
        assert secret not in logged, secret
