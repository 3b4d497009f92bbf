"""Registrations on SQLite and PostgreSQL: seats, waitlist, concurrency, cancel, move,
promotion notices and reminders."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from ntsa_assistant.storage.engine import SessionFactory
from ntsa_assistant.storage.models import (
    Audience,
    Language,
    OutboxNotice,
    Registration,
    RegistrationStatus,
    ReminderDelivery,
)
from ntsa_assistant.training.booking import cancel, move, register
from ntsa_assistant.training.outbox import (
    LEASE,
    MAX_ATTEMPTS,
    NoticeOutcome,
    claim_notices,
    finish_notice,
    release_notice,
)
from ntsa_assistant.training.queries import my_registrations, offers, training_session_counts
from ntsa_assistant.training.reminders import (
    ReminderOutcome,
    SendResult,
    claim_due_reminders,
    finish_reminder,
    parse_offsets,
)
from ntsa_assistant.training.rules import (
    PhoneTaken,
    RegistrationNotFound,
    TrainingSessionStarted,
    UnknownTrainingSession,
)
from ntsa_assistant.training.views import Applicant
from tests.support.training import NOW, STARTS, add_session, person

OFFSETS = parse_offsets("24h,1h")


async def test_seats_then_waitlist_then_promotion(session_factory: SessionFactory) -> None:
    code = await add_session(session_factory, capacity=2)
    first = await register(session_factory, code, person(1), NOW)
    second = await register(session_factory, code, person(2), NOW)
    third = await register(session_factory, code, person(3), NOW)
    fourth = await register(session_factory, code, person(4), NOW)
    assert [r.registration.status for r in (first, second, third, fourth)] == [
        RegistrationStatus.CONFIRMED,
        RegistrationStatus.CONFIRMED,
        RegistrationStatus.WAITLISTED,
        RegistrationStatus.WAITLISTED,
    ]
    assert third.registration.waitlist_position == 1
    assert fourth.registration.waitlist_position == 2
    assert re.fullmatch(r"TRN-[A-Z0-9]{4}-[A-Z0-9]{4}", first.registration.reference)

    result = await cancel(session_factory, second.registration.reference, NOW, chat_id=900_002)
    assert result.cancelled.status is RegistrationStatus.CANCELLED
    assert result.promoted is not None
    assert result.promoted.reference == third.registration.reference
    assert result.promoted.status is RegistrationStatus.CONFIRMED

    [notice] = await claim_notices(session_factory, NOW)
    assert notice.chat_id == 900_003
    assert notice.registration is not None
    assert notice.registration.reference == third.registration.reference
    assert await claim_notices(session_factory, NOW) == []  # claimed once
    await finish_notice(session_factory, notice.id, NOW, NoticeOutcome.SENT)

    [counts] = await training_session_counts(session_factory, code)
    assert (counts.confirmed, counts.waitlisted) == (2, 1)
    mine = await my_registrations(session_factory, 900_004, NOW)
    assert [m.waitlist_position for m in mine] == [1]


async def test_registering_twice_returns_the_existing_one(
    session_factory: SessionFactory,
) -> None:
    code = await add_session(session_factory)
    first = await register(session_factory, code, person(1), NOW)
    again = await register(session_factory, code, person(1), NOW)
    assert again.existing
    assert again.registration.reference == first.registration.reference
    async with session_factory() as db:
        assert await db.scalar(select(func.count()).select_from(Registration)) == 1


def proven(applicant: Applicant) -> Applicant:
    """The same applicant, their phone proven by sharing their own Telegram contact."""
    return dataclasses.replace(applicant, phone_proven=True)


def other_chat(n: int, phone: str) -> Applicant:
    return Applicant(chat_id=n, full_name=f"Chat {n}", phone=phone, language=Language.EN)


async def test_a_typed_phone_never_blocks_its_owner(session_factory: SessionFactory) -> None:
    code = await add_session(session_factory, capacity=5)
    owners_phone = person(1).phone
    squatter = await register(session_factory, code, other_chat(123, owners_phone), NOW)
    assert squatter.registration.status is RegistrationStatus.CONFIRMED

    # The owner proves the phone with their own contact: the typed one reserved nothing.
    owner = await register(session_factory, code, proven(person(1)), NOW)
    assert not owner.existing
    assert owner.registration.status is RegistrationStatus.CONFIRMED

    # A proven phone holds its place against a second proof from another chat …
    with pytest.raises(PhoneTaken):
        await register(session_factory, code, proven(other_chat(456, owners_phone)), NOW)
    # … while a typed phone, which proves nothing, is neither refused nor reserving.
    typed = await register(session_factory, code, other_chat(789, owners_phone), NOW)
    assert typed.registration.status is RegistrationStatus.CONFIRMED
    [counts] = await training_session_counts(session_factory, code)
    assert counts.confirmed == 3


async def test_a_moved_registration_keeps_its_proven_phone(
    session_factory: SessionFactory,
) -> None:
    old = await add_session(session_factory, "TRN-OLD", capacity=5)
    new = await add_session(session_factory, "TRN-NEW", capacity=5, starts_at=STARTS + timedelta(1))
    mine = await register(session_factory, old, proven(person(1)), NOW)
    await move(session_factory, mine.registration.reference, new, 900_001, NOW)
    with pytest.raises(PhoneTaken):
        await register(session_factory, new, proven(other_chat(456, person(1).phone)), NOW)


async def test_unknown_and_started_sessions_are_refused(session_factory: SessionFactory) -> None:
    past = await add_session(session_factory, "TRN-PAST", starts_at=NOW - timedelta(hours=1))
    with pytest.raises(UnknownTrainingSession):
        await register(session_factory, "TRN-NOPE", person(1), NOW)
    with pytest.raises(TrainingSessionStarted):
        await register(session_factory, past, person(1), NOW)
    async with session_factory() as db:
        assert await db.scalar(select(func.count()).select_from(Registration)) == 0


async def test_cancel_needs_the_owner_and_can_then_register_again(
    session_factory: SessionFactory,
) -> None:
    code = await add_session(session_factory)
    mine = await register(session_factory, code, person(1), NOW)
    with pytest.raises(RegistrationNotFound):
        await cancel(session_factory, mine.registration.reference, NOW, chat_id=1)
    await cancel(session_factory, mine.registration.reference, NOW, chat_id=900_001)
    with pytest.raises(RegistrationNotFound):  # already cancelled
        await cancel(session_factory, mine.registration.reference, NOW, chat_id=900_001)
    again = await register(session_factory, code, person(1), NOW)
    assert not again.existing
    assert again.registration.status is RegistrationStatus.CONFIRMED


async def test_move_frees_the_old_seat_and_takes_a_new_one(
    session_factory: SessionFactory,
) -> None:
    old = await add_session(session_factory, "TRN-OLD", capacity=1)
    new = await add_session(session_factory, "TRN-NEW", capacity=5, starts_at=STARTS + timedelta(1))
    mover = await register(session_factory, old, person(1), NOW)
    waiting = await register(session_factory, old, person(2), NOW)
    assert waiting.registration.status is RegistrationStatus.WAITLISTED

    result = await move(session_factory, mover.registration.reference, new, 900_001, NOW)
    assert result.moved.registration.training_session.code == new
    assert result.moved.registration.status is RegistrationStatus.CONFIRMED
    assert result.promoted is not None
    assert result.promoted.reference == waiting.registration.reference

    # Already registered in the target: nothing changes.
    back = await register(session_factory, old, person(1), NOW)
    stay = await move(session_factory, back.registration.reference, new, 900_001, NOW)
    assert stay.moved.existing
    assert stay.cancelled is None
    [old_counts] = await training_session_counts(session_factory, old)
    assert (old_counts.confirmed, old_counts.waitlisted) == (1, 1)
    await cancel(session_factory, back.registration.reference, NOW, chat_id=900_001)
    listed = await offers(session_factory, NOW, Audience.MOTOR_DEALERS, "en")
    seats = {o.training_session.code: o.seats_left for o in listed}
    assert seats == {"TRN-OLD": 0, "TRN-NEW": 4}


async def test_offers_put_the_readers_language_first(session_factory: SessionFactory) -> None:
    await add_session(session_factory, "EN-1", audience=Audience.MOTORISTS)
    await add_session(
        session_factory,
        "SW-1",
        audience=Audience.ALL,
        language=Language.SW,
        starts_at=STARTS + timedelta(days=2),
    )
    await add_session(session_factory, "DLR-1", audience=Audience.MOTOR_DEALERS)
    codes = [
        o.training_session.code
        for o in await offers(session_factory, NOW, Audience.MOTORISTS, "sw")
    ]
    assert codes == ["SW-1", "EN-1"]


@pytest.mark.parametrize(("seats", "people"), [(10, 50)])
async def test_concurrent_registrations_never_overbook(
    session_factory: SessionFactory, database_url: str, seats: int, people: int
) -> None:
    code = await add_session(session_factory, capacity=seats)
    started = time.perf_counter()
    results = await asyncio.gather(
        *(register(session_factory, code, person(n), NOW) for n in range(people))
    )
    elapsed = time.perf_counter() - started
    statuses = [r.registration.status for r in results]
    confirmed = statuses.count(RegistrationStatus.CONFIRMED)
    waitlisted = statuses.count(RegistrationStatus.WAITLISTED)
    backend = database_url.split(":", 1)[0]
    print(
        f"\n[{backend}] {people} concurrent registrations for {seats} seats: "
        f"{confirmed} confirmed, {waitlisted} waitlisted in {elapsed:.2f} s"
    )
    assert (confirmed, waitlisted) == (seats, people - seats)
    async with session_factory() as db:
        rows = (await db.scalars(select(Registration))).all()
    assert len(rows) == people
    assert len({r.chat_id for r in rows}) == people
    assert len({r.reference for r in rows}) == people
    positions = sorted(
        r.registration.waitlist_position for r in results if not r.registration.confirmed
    )
    assert positions == list(range(1, people - seats + 1))

    # The same 50 again, at once: each gets their own registration back, nothing new.
    again = await asyncio.gather(
        *(register(session_factory, code, person(n), NOW) for n in range(people))
    )
    assert all(r.existing for r in again)
    assert [r.registration.reference for r in again] == [r.registration.reference for r in results]
    [counts] = await training_session_counts(session_factory, code)
    assert (counts.confirmed, counts.waitlisted) == (seats, people - seats)


async def test_concurrent_cancellations_promote_each_waiting_person_once(
    session_factory: SessionFactory,
) -> None:
    code = await add_session(session_factory, capacity=5)
    results = [await register(session_factory, code, person(n), NOW) for n in range(10)]
    confirmed = [r.registration for r in results if r.registration.confirmed]
    outcomes = await asyncio.gather(
        *(cancel(session_factory, r.reference, NOW, chat_id=r.chat_id) for r in confirmed)
    )
    promoted = [o.promoted.reference for o in outcomes if o.promoted]
    assert sorted(promoted) == sorted(r.registration.reference for r in results[5:])
    [counts] = await training_session_counts(session_factory, code)
    assert (counts.confirmed, counts.waitlisted) == (5, 0)
    async with session_factory() as db:
        assert await db.scalar(select(func.count()).select_from(OutboxNotice)) == 5


async def test_reminders_are_sent_once_and_never_after_cancel(
    session_factory: SessionFactory,
) -> None:
    code = await add_session(session_factory, capacity=5)
    keep = await register(session_factory, code, person(1), NOW)
    leave = await register(session_factory, code, person(2), NOW)
    await cancel(session_factory, leave.registration.reference, NOW, chat_id=900_002)

    assert await claim_due_reminders(session_factory, STARTS - timedelta(hours=30), OFFSETS) == []
    day_before = STARTS - timedelta(hours=23)
    claims = await asyncio.gather(
        *(claim_due_reminders(session_factory, day_before, OFFSETS) for _ in range(5))
    )
    flat = [r for batch in claims for r in batch]
    assert [r.registration.reference for r in flat] == [keep.registration.reference]
    assert flat[0].offset == timedelta(hours=24)
    await finish_reminder(session_factory, flat[0].delivery_id, day_before, SendResult.SENT)
    assert await claim_due_reminders(session_factory, day_before, OFFSETS) == []

    hour_before = STARTS - timedelta(minutes=50)
    [hour] = await claim_due_reminders(session_factory, hour_before, OFFSETS)
    assert hour.offset == timedelta(hours=1)
    assert await claim_due_reminders(session_factory, hour_before, OFFSETS) == []
    assert await claim_due_reminders(session_factory, STARTS + timedelta(minutes=1), OFFSETS) == []


async def test_a_late_gateway_sends_only_the_nearest_reminder(
    session_factory: SessionFactory,
) -> None:
    code = await add_session(session_factory, capacity=5)
    await register(session_factory, code, person(1), NOW)
    late = STARTS - timedelta(minutes=30)
    reminders = await claim_due_reminders(session_factory, late, OFFSETS)
    assert [r.offset for r in reminders] == [timedelta(hours=1)]
    await finish_reminder(session_factory, reminders[0].delivery_id, late, SendResult.SENT)
    assert await claim_due_reminders(session_factory, STARTS - timedelta(minutes=5), OFFSETS) == []


# --- leases and retries (a fixed clock: every instant is given) ------------------------------


async def promoted_notice_owed(session_factory: SessionFactory) -> str:
    """A training session where person 2 was just promoted; returns its code."""
    code = await add_session(session_factory, capacity=1)
    first = await register(session_factory, code, person(1), NOW)
    await register(session_factory, code, person(2), NOW)
    await cancel(session_factory, first.registration.reference, NOW)
    return code


async def test_a_notice_claimed_before_a_crash_is_sent_once_later(
    session_factory: SessionFactory,
) -> None:
    await promoted_notice_owed(session_factory)
    [crashed] = await claim_notices(session_factory, NOW)  # the gateway dies sending it

    assert await claim_notices(session_factory, NOW + LEASE - timedelta(seconds=1)) == []
    after_lease = NOW + LEASE
    claims = await asyncio.gather(*(claim_notices(session_factory, after_lease) for _ in range(5)))
    [again] = [n for batch in claims for n in batch]
    assert (again.id, again.chat_id, again.attempts) == (crashed.id, 900_002, 2)
    await finish_notice(session_factory, again.id, after_lease, NoticeOutcome.SENT)
    assert await claim_notices(session_factory, after_lease + 10 * LEASE) == []


async def test_a_notice_that_failed_transiently_is_retried_with_backoff(
    session_factory: SessionFactory,
) -> None:
    await promoted_notice_owed(session_factory)
    [notice] = await claim_notices(session_factory, NOW)
    assert await release_notice(session_factory, notice.id, NOW)  # Telegram timed out

    assert await claim_notices(session_factory, NOW + timedelta(seconds=59)) == []
    [second] = await claim_notices(session_factory, NOW + timedelta(minutes=1))
    assert second.attempts == 2
    assert await release_notice(session_factory, notice.id, NOW + timedelta(minutes=1))
    assert await claim_notices(session_factory, NOW + timedelta(minutes=2, seconds=59)) == []
    [third] = await claim_notices(session_factory, NOW + timedelta(minutes=3))
    assert third.attempts == 3

    # Blocked by the user: final, even long after any lease.
    await finish_notice(session_factory, third.id, NOW, NoticeOutcome.FAILED)
    assert await claim_notices(session_factory, NOW + timedelta(days=1)) == []


async def test_a_notice_gives_up_after_its_last_try(session_factory: SessionFactory) -> None:
    await promoted_notice_owed(session_factory)
    now = NOW
    for attempt in range(1, MAX_ATTEMPTS + 1):
        [notice] = await claim_notices(session_factory, now)
        assert notice.attempts == attempt
        retried = await release_notice(session_factory, notice.id, now)
        assert retried is (attempt < MAX_ATTEMPTS)
        now += timedelta(hours=2)
    assert await claim_notices(session_factory, now) == []
    async with session_factory() as db:
        assert await db.scalar(select(OutboxNotice.outcome)) == NoticeOutcome.FAILED


async def reminder_outcome(session_factory: SessionFactory, delivery_id: int) -> str:
    async with session_factory() as db:
        delivery = await db.get(ReminderDelivery, delivery_id)
        assert delivery is not None
        return delivery.outcome


DAY_BEFORE = STARTS - timedelta(hours=23)


async def test_a_reminder_claimed_before_a_crash_is_sent_once_later(
    session_factory: SessionFactory,
) -> None:
    code = await add_session(session_factory, capacity=5)
    await register(session_factory, code, person(1), NOW)
    [crashed] = await claim_due_reminders(session_factory, DAY_BEFORE, OFFSETS)

    assert await claim_due_reminders(session_factory, DAY_BEFORE + LEASE / 2, OFFSETS) == []
    after_lease = DAY_BEFORE + LEASE
    claims = await asyncio.gather(
        *(claim_due_reminders(session_factory, after_lease, OFFSETS) for _ in range(5))
    )
    [again] = [r for batch in claims for r in batch]
    assert (again.delivery_id, again.offset) == (crashed.delivery_id, timedelta(hours=24))
    await finish_reminder(session_factory, again.delivery_id, after_lease, SendResult.SENT)
    assert await claim_due_reminders(session_factory, after_lease + 3 * LEASE, OFFSETS) == []


async def test_a_reminder_that_failed_transiently_is_retried_with_backoff(
    session_factory: SessionFactory,
) -> None:
    code = await add_session(session_factory, capacity=5)
    await register(session_factory, code, person(1), NOW)
    [first] = await claim_due_reminders(session_factory, DAY_BEFORE, OFFSETS)
    outcome = await finish_reminder(
        session_factory, first.delivery_id, DAY_BEFORE, SendResult.TRANSIENT
    )
    assert outcome is ReminderOutcome.RETRY

    soon = DAY_BEFORE + timedelta(seconds=59)
    assert await claim_due_reminders(session_factory, soon, OFFSETS) == []
    retry_time = DAY_BEFORE + timedelta(minutes=1)
    [retry] = await claim_due_reminders(session_factory, retry_time, OFFSETS)
    assert (retry.delivery_id, retry.offset) == (first.delivery_id, timedelta(hours=24))
    await finish_reminder(session_factory, retry.delivery_id, retry_time, SendResult.SENT)
    assert await reminder_outcome(session_factory, first.delivery_id) == ReminderOutcome.SENT
    assert (
        await claim_due_reminders(session_factory, retry_time + timedelta(hours=1), OFFSETS) == []
    )


async def test_a_reminder_to_a_blocked_chat_is_not_retried(
    session_factory: SessionFactory,
) -> None:
    code = await add_session(session_factory, capacity=5)
    await register(session_factory, code, person(1), NOW)
    [first] = await claim_due_reminders(session_factory, DAY_BEFORE, OFFSETS)
    outcome = await finish_reminder(
        session_factory, first.delivery_id, DAY_BEFORE, SendResult.PERMANENT
    )
    assert outcome is ReminderOutcome.FAILED
    for later in (timedelta(minutes=1), timedelta(hours=1), timedelta(hours=5)):
        assert await claim_due_reminders(session_factory, DAY_BEFORE + later, OFFSETS) == []


async def test_a_pending_retry_gives_way_to_the_nearer_reminder(
    session_factory: SessionFactory,
) -> None:
    code = await add_session(session_factory, capacity=5)
    await register(session_factory, code, person(1), NOW)
    now = STARTS - timedelta(minutes=65)  # the day-before reminder is due (and late)
    for retry_in in (1, 2, 4):  # Telegram keeps timing out: 1, 2, 4 minutes of backoff
        [day] = await claim_due_reminders(session_factory, now, OFFSETS)
        assert day.offset == timedelta(hours=24)
        await finish_reminder(session_factory, day.delivery_id, now, SendResult.TRANSIENT)
        now += timedelta(minutes=retry_in)
    # 60 minutes before, its retry still waits (till 58 before): the hour-before one goes.
    hour_before = STARTS - timedelta(minutes=60)
    [hour] = await claim_due_reminders(session_factory, hour_before, OFFSETS)
    assert hour.offset == timedelta(hours=1)
    assert await reminder_outcome(session_factory, day.delivery_id) == ReminderOutcome.SKIPPED
    await finish_reminder(session_factory, hour.delivery_id, hour_before, SendResult.SENT)
    assert await claim_due_reminders(session_factory, STARTS - timedelta(minutes=30), OFFSETS) == []
