"""Rows of every kind the retention purge handles, each once just past its period and once
just inside it, for the tests of ``purge`` (domain functions, the command, the gateway job)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from ntsa_assistant.storage.engine import SessionFactory
from ntsa_assistant.storage.models import (
    Language,
    LimitEvent,
    LimitKind,
    LimitLock,
    OneTimeCode,
    OutboxNotice,
    OwnershipProof,
    ProofMethod,
    Registration,
    RegistrationStatus,
    ReminderDelivery,
    SmsOutbox,
    StatusDisclosure,
)
from ntsa_assistant.storage.models.base import Base
from tests.support.training import add_session

NOW = datetime(2027, 6, 1, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
# The default periods (core/settings.py), as the tests expect them.
CODES, LIMITS, PROOFS, AUDIT = (timedelta(days=d) for d in (1, 2, 7, 365))
REGISTRATIONS, NOTICES = timedelta(days=90), timedelta(days=30)

TABLES: dict[str, type[Base]] = {
    "codes": OneTimeCode,
    "sms": SmsOutbox,
    "limit_events": LimitEvent,
    "limit_locks": LimitLock,
    "proofs": OwnershipProof,
    "audit": StatusDisclosure,
    "notices": OutboxNotice,
    "reminders": ReminderDelivery,
    "registrations": Registration,
}


def _status_rows(now: datetime, n: int, shift: timedelta) -> list[Base]:
    """Row set ``n`` of each status kind, ``shift`` past its period (negative: inside it)."""
    chat, id_number = f"70000000{n}", f"2100010{n}"
    code_at, limit_at = now - CODES - shift, now - LIMITS - shift
    proven_at, disclosed_at = now - PROOFS - shift, now - AUDIT - shift
    return [
        OneTimeCode(
            chat_id=chat,
            id_number=id_number,
            salt="s" * 32,
            code_hash="h" * 64,
            phone_hint="02",
            created_at=code_at,
            expires_at=code_at + timedelta(minutes=10),
            attempts=0,
        ),
        SmsOutbox(
            phone="+254700000102",
            body=None,
            created_at=code_at,
            expires_at=code_at + timedelta(minutes=10),
            attempts=1,
        ),
        LimitEvent(kind=LimitKind.LOOKUP, chat_id=chat, id_number=id_number, at=limit_at),
        LimitLock(kind="lookup", key=f"id:{id_number}", touched_at=limit_at),
        OwnershipProof(
            chat_id=chat,
            id_number=id_number,
            method=ProofMethod.CODE,
            proven_at=proven_at,
            expires_at=proven_at + timedelta(minutes=15),
        ),
        StatusDisclosure(
            disclosed_at=disclosed_at,
            chat_id=chat,
            id_number=id_number,
            method=ProofMethod.CODE,
            parts="account,transactions",
        ),
    ]


async def add_status_rows(factory: SessionFactory, now: datetime = NOW) -> None:
    """Per kind: one row an hour past its period (set 1), one an hour inside it (set 2)."""
    async with factory() as db, db.begin():
        db.add_all(_status_rows(now, 1, HOUR) + _status_rows(now, 2, -HOUR))


def _registration(n: int, code: str, status: RegistrationStatus, at: datetime) -> Registration:
    return Registration(
        reference=f"TRN-RET-{n:04d}",
        session_code=code,
        chat_id=900_000 + n,
        full_name=f"Person {n}",
        phone=f"+2547{n:08d}",
        email=f"person{n}@example.com",
        kra_pin=None,
        language=Language.EN,
        status=status,
        created_at=at,
        confirmed_at=at if status is RegistrationStatus.CONFIRMED else None,
        cancelled_at=at if status is RegistrationStatus.CANCELLED else None,
    )


def _notice(registration: Registration, created: datetime, outcome: str | None) -> OutboxNotice:
    return OutboxNotice(
        kind="promoted",
        chat_id=registration.chat_id,
        registration_id=registration.id,
        language=Language.EN,
        created_at=created,
        sent_at=created if outcome == "sent" else None,
        outcome=outcome,
        attempts=1,
    )


async def add_training_rows(factory: SessionFactory, now: datetime = NOW) -> None:
    """A session that ended just past the registrations period (two registrations, one of
    them cancelled, with a reminder marker and a pending notice), one that ended just inside
    it (one registration), and one still to come (one registration with a reminder marker,
    a sent notice past the notices period, a sent one inside it and an unsent old one)."""
    ended = await add_session(factory, "TRN-OLD", starts_at=now - REGISTRATIONS - 3 * HOUR)
    recent = await add_session(factory, "TRN-RECENT", starts_at=now - REGISTRATIONS - HOUR)
    coming = await add_session(factory, "TRN-COMING", starts_at=now + timedelta(days=3))
    created = now - timedelta(days=100)
    async with factory() as db, db.begin():
        old_one = _registration(1, ended, RegistrationStatus.CONFIRMED, created)
        old_two = _registration(2, ended, RegistrationStatus.CANCELLED, created)
        kept = _registration(3, recent, RegistrationStatus.CONFIRMED, created)
        future = _registration(4, coming, RegistrationStatus.CONFIRMED, created)
        db.add_all([old_one, old_two, kept, future])
        await db.flush()
        for registration in (old_one, future):
            db.add(
                ReminderDelivery(
                    registration_id=registration.id,
                    offset_minutes=60,
                    claimed_at=created,
                    sent_at=created,
                    outcome="sent",
                    attempts=1,
                )
            )
        db.add_all(
            [
                _notice(old_one, created, None),
                _notice(future, now - NOTICES - HOUR, "sent"),
                _notice(future, now - NOTICES + HOUR, "sent"),
                _notice(future, created, None),
            ]
        )


async def remaining(factory: SessionFactory) -> dict[str, int]:
    """How many rows of each kind are left."""
    async with factory() as db:
        return {
            kind: int(await db.scalar(select(func.count()).select_from(model)) or 0)
            for kind, model in TABLES.items()
        }
