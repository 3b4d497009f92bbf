"""The activity record, written by the features themselves, on SQLite and PostgreSQL: a
handoff, a status look-up, a registration and a vote on the FAQ page each leave exactly
the events expected, in their own transaction, with no ID number, phone or chat id in
any column."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from ntsa_assistant.core.clock import NAIROBI, Clock
from ntsa_assistant.faq import feedback
from ntsa_assistant.handoff import desk
from ntsa_assistant.protocol import HandoffReason, HandoffRequest, TranscriptLine
from ntsa_assistant.reporting.activity import chat_key
from ntsa_assistant.status.limits import Limits
from ntsa_assistant.status.lookup import PersonStatus
from ntsa_assistant.status.sms import deliver_outbox
from ntsa_assistant.status.verification import Outcome, Verifier
from ntsa_assistant.storage.engine import SessionFactory
from ntsa_assistant.storage.models import ActivityEvent, ActivityKey, CloseReason, Language
from ntsa_assistant.training import booking
from tests.support.fakes import FakeSms
from tests.support.training import NOW as TRAINING_NOW
from tests.support.training import add_session, person

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=NAIROBI)
MINUTE = timedelta(minutes=1)
DESK = -1_001_000_000_001
CHAT = 731_770_001
ID_NUMBER, PHONE = "21000102", "+254700000102"
OTHER_PHONE = "+254711000999"
# Nothing of these may appear in any column of the record.
PERSONAL = (ID_NUMBER, PHONE[1:], "0700000102", "700000102", OTHER_PHONE[4:], str(CHAT))

COLUMNS = ("kind", "language", "reason", "topic", "session_code", "outcome", "seconds", "rating")


async def record(sessions: SessionFactory) -> list[ActivityEvent]:
    async with sessions() as db:
        return list(await db.scalars(select(ActivityEvent).order_by(ActivityEvent.id)))


async def key_of(sessions: SessionFactory) -> bytes:
    async with sessions() as db:
        secret = await db.scalar(select(ActivityKey.secret))
    assert secret is not None
    return bytes.fromhex(secret)


def fields(row: ActivityEvent) -> tuple[object, ...]:
    values = (getattr(row, name) for name in COLUMNS)
    return tuple(v.value if hasattr(v, "value") else v for v in values)


def assert_nothing_personal(rows: list[ActivityEvent]) -> None:
    for row in rows:
        for column in ActivityEvent.__table__.columns:
            value = str(getattr(row, column.key))
            assert not any(secret in value for secret in PERSONAL), (column.key, value)


async def test_a_handoff_leaves_one_event_per_step(session_factory: SessionFactory) -> None:
    transcript = (
        TranscriptLine("person", f"my id {ID_NUMBER} phone {PHONE} not working"),
        TranscriptLine("assistant", "Sorry, I did not get that."),
        TranscriptLine("person", "(tapped: Talk to a person)"),
    )
    request = HandoffRequest("sw", HandoffReason.MISSES, transcript)
    view = await desk.begin(session_factory, CHAT, request, NOW)
    await desk.begin(session_factory, CHAT, request, NOW + MINUTE)  # the open one is kept
    await desk.choose(
        session_factory,
        view.id,
        topic="other",
        typed_reason=f"call me on {PHONE}",
        desks=(DESK,),
        label="Wanjiru",
        open_now=True,
        now=NOW + 2 * MINUTE,
    )
    await desk.claim(session_factory, view.id, 500, "Amina", NOW + 12 * MINUTE)
    await desk.claim(session_factory, view.id, 501, "Baraka", NOW + 13 * MINUTE)  # too late
    await desk.close(session_factory, view.id, CloseReason.DONE, NOW + 30 * MINUTE)
    assert await desk.rate(session_factory, CHAT, view.id, 5, NOW + 31 * MINUTE)
    assert not await desk.rate(session_factory, CHAT, view.id, 1, NOW + 32 * MINUTE)

    rows = await record(session_factory)
    assert [fields(row) for row in rows] == [
        ("handoff_opened", "sw", "misses", None, None, None, None, None),
        ("handoff_queued", "sw", None, "other", None, None, None, None),
        ("handoff_claimed", "sw", None, None, None, None, 600, None),
        ("handoff_closed", "sw", None, None, None, "done", 1800, None),
        ("handoff_rated", "sw", None, None, None, None, None, 5),
    ]
    assert [row.text for row in rows] == [
        "my id **** phone **** not working",
        "call me on ****",
        None,
        None,
        None,
    ]
    assert [row.at for row in rows] == [NOW + n * MINUTE for n in (0, 2, 12, 30, 31)]
    assert {row.handoff_id for row in rows} == {view.id}
    assert {row.chat for row in rows} == {chat_key(await key_of(session_factory), CHAT)}
    assert_nothing_personal(rows)


async def test_a_handoff_asked_for_keeps_no_words(session_factory: SessionFactory) -> None:
    transcript = (TranscriptLine("person", "nataka kuongea na mtu"),)
    request = HandoffRequest("sw", HandoffReason.ASKED, transcript)
    view = await desk.begin(session_factory, CHAT, request, NOW)
    await desk.choose(
        session_factory,
        view.id,
        topic="login",
        typed_reason="siwezi kuingia",
        desks=(DESK,),
        label="Wanjiru",
        open_now=True,
        now=NOW,
    )
    rows = await record(session_factory)
    assert [(row.kind.value, row.reason, row.topic, row.text) for row in rows] == [
        ("handoff_opened", "asked", None, None),
        ("handoff_queued", None, "login", None),
    ]


class Records:
    """The status backend: one person on record."""

    async def lookup(self, id_number: str) -> PersonStatus | None:
        if id_number != ID_NUMBER:
            return None
        return PersonStatus(ID_NUMBER, PHONE, date(2026, 12, 1))


async def test_status_look_ups_leave_their_outcome_only(session_factory: SessionFactory) -> None:
    clock = Clock(NOW)
    limits = Limits(failed_proofs_per_chat=2)
    verifier = Verifier(session_factory, Records(), clock, limits, pepper=b"pepper")
    sms = FakeSms()

    # Proven by the person's own contact.
    assert (await verifier.begin("731770001", ID_NUMBER)).outcome is Outcome.NEEDS_PROOF
    proven = await verifier.prove_by_contact("731770001", ID_NUMBER, PHONE, "en")
    assert proven.outcome is Outcome.PROVEN
    # Someone else's phone: failed, a code is sent instead; the right code proves.
    sent = await verifier.prove_by_contact("731770002", ID_NUMBER, OTHER_PHONE, "en")
    assert sent.outcome is Outcome.CODE_SENT
    await deliver_outbox(session_factory, sms, clock.now())
    code = sms.last_code()
    assert (await verifier.check_code("731770002", ID_NUMBER, code)).outcome is Outcome.PROVEN
    # Two wrong codes lock the chat out; asking again is refused.
    await verifier.send_code("731770003", ID_NUMBER, "en")
    wrong = "000000" if code != "000000" else "111111"
    assert (await verifier.check_code("731770003", ID_NUMBER, wrong)).outcome is (
        Outcome.WRONG_CODE
    )
    assert (await verifier.check_code("731770003", ID_NUMBER, wrong)).outcome is Outcome.LOCKED
    assert (await verifier.begin("731770003", ID_NUMBER)).outcome is Outcome.LOCKED

    rows = await record(session_factory)
    key = await key_of(session_factory)
    assert [(row.kind.value, row.chat, row.outcome, row.reason) for row in rows] == [
        ("status", chat_key(key, 731770001), "proven_contact", None),
        ("status", chat_key(key, 731770002), "failed", "contact_mismatch"),
        ("status", chat_key(key, 731770002), "proven_code", None),
        ("status", chat_key(key, 731770003), "failed", "wrong_code"),
        ("status", chat_key(key, 731770003), "failed", "wrong_code"),
        ("status", chat_key(key, 731770003), "locked", None),
        ("status", chat_key(key, 731770003), "locked", None),
    ]
    assert {row.text for row in rows} == {None}
    assert_nothing_personal(rows)


async def test_registrations_leave_seated_waitlisted_cancelled_and_promoted(
    session_factory: SessionFactory,
) -> None:
    code = await add_session(session_factory, "TRN-REP-01", capacity=1)
    other = await add_session(session_factory, "TRN-REP-02", capacity=5)
    first = await booking.register(session_factory, code, person(1), TRAINING_NOW)
    await booking.register(session_factory, code, person(2, Language.SW), TRAINING_NOW)
    await booking.register(session_factory, code, person(1), TRAINING_NOW)  # already there
    await booking.cancel(session_factory, first.registration.reference, TRAINING_NOW)

    rows = await record(session_factory)
    key = await key_of(session_factory)
    assert [(row.chat, row.language.value, row.session_code, row.outcome) for row in rows] == [
        (chat_key(key, 900_001), "en", code, "seated"),
        (chat_key(key, 900_002), "sw", code, "waitlisted"),
        (chat_key(key, 900_001), "en", code, "cancelled"),
        (chat_key(key, 900_002), "sw", code, "promoted"),
    ]
    assert_nothing_personal(rows)

    # A move that changes nothing (already registered there) is rolled back: no event.
    third = await booking.register(session_factory, other, person(2, Language.SW), TRAINING_NOW)
    before = len(await record(session_factory))
    moved = await booking.move(
        session_factory, third.registration.reference, code, 900_002, TRAINING_NOW
    )
    assert moved.cancelled is None
    assert len(await record(session_factory)) == before


async def test_faq_page_votes_leave_topic_language_and_answer(
    session_factory: SessionFactory,
) -> None:
    await feedback.record(session_factory, "closure", "sw", True, "client", NOW, voter="v1")
    await feedback.record(
        session_factory, "closure", "sw", False, "client", NOW + MINUTE, voter="v1"
    )
    rows = await record(session_factory)
    assert [
        (r.kind.value, r.chat, r.language.value, r.topic, r.outcome, r.reason) for r in rows
    ] == [
        ("faq_feedback", None, "sw", "closure", "helped", None),
        ("faq_feedback", None, "sw", "closure", "not_helped", "replaced"),
    ]


async def test_the_key_is_made_once_and_kept(session_factory: SessionFactory) -> None:
    await feedback.record(session_factory, "closure", "en", True, "c", NOW, voter="v")
    assert await record(session_factory)  # no key needed for a vote
    request = HandoffRequest("en", HandoffReason.ASKED)
    await desk.begin(session_factory, CHAT, request, NOW)
    first = await key_of(session_factory)
    await desk.begin(session_factory, CHAT + 1, request, NOW)
    assert await key_of(session_factory) == first
    rows = await record(session_factory)
    assert rows[-1].chat == chat_key(first, CHAT + 1)
    async with session_factory() as db:
        assert len((await db.scalars(select(ActivityKey))).all()) == 1


@pytest.mark.parametrize("chat", [CHAT, str(CHAT)])
async def test_the_same_chat_hashes_the_same_from_any_feature(
    session_factory: SessionFactory, chat: int | str
) -> None:
    request = HandoffRequest("en", HandoffReason.COMMAND)
    await desk.begin(session_factory, CHAT, request, NOW)
    verifier = Verifier(session_factory, Records(), Clock(NOW), pepper=b"p")
    await verifier.prove_by_contact(str(chat), ID_NUMBER, PHONE, "en")
    rows = await record(session_factory)
    assert len({row.chat for row in rows}) == 1
