"""The gateway's outbox: notices owed to a chat (a seat given from the waitlist), each
claimed by exactly one gateway, then marked sent or failed, or given back.

A claim is a lease: a notice claimed by a gateway that died before finishing it can be
claimed again once :data:`LEASE` has passed, so it is still sent, once, later. A transient
failure gives the notice back to be tried after a backoff (:func:`backoff`); a permanent
one (the chat blocked the bot, or is gone) and the last of :data:`MAX_ATTEMPTS` are final.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select, update

from ntsa_assistant.storage.engine import SessionFactory, claimed_rows, retry_if_locked
from ntsa_assistant.storage.models import Language, OutboxNotice, Registration, TrainingSession
from ntsa_assistant.training.booking import describe
from ntsa_assistant.training.views import RegistrationInfo

# Far longer than sending one notice takes (rate-limit waits included), so a live sender's
# claim never expires under it.
LEASE = timedelta(minutes=10)
MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=1)


def backoff(attempts: int) -> timedelta:
    """The wait before try number ``attempts + 1``: 1, 2, 4 … minutes, at most an hour."""
    doublings = min(max(attempts - 1, 0), 16)
    return min(FIRST_RETRY * (1 << doublings), LONGEST_RETRY)


@dataclass(frozen=True)
class Notice:
    id: int
    kind: str
    chat_id: int
    language: Language
    registration: RegistrationInfo | None
    attempts: int = 1


class NoticeOutcome(enum.StrEnum):
    SENT = "sent"
    FAILED = "failed"  # the chat cannot be reached (blocked, deleted): not retried


def _claimable(now: datetime, lease: timedelta) -> ColumnElement[bool]:
    """Unfinished, and either never claimed (or given back) and due, or its lease is over."""
    due = or_(OutboxNotice.retry_at.is_(None), OutboxNotice.retry_at <= now)
    return and_(
        OutboxNotice.outcome.is_(None),
        OutboxNotice.sent_at.is_(None),
        OutboxNotice.attempts < MAX_ATTEMPTS,
        or_(
            and_(OutboxNotice.claimed_at.is_(None), due),
            OutboxNotice.claimed_at <= now - lease,
        ),
    )


async def claim_notices(
    sessions: SessionFactory, now: datetime, limit: int = 20, lease: timedelta = LEASE
) -> list[Notice]:
    """Claims due notices, each by exactly one caller (a conditional ``UPDATE``)."""
    async with sessions() as db:
        ids = list(
            await db.scalars(
                select(OutboxNotice.id)
                .where(_claimable(now, lease))
                .order_by(OutboxNotice.id)
                .limit(limit)
            )
        )
    claimed: list[Notice] = []
    for notice_id in ids:

        async def attempt(notice_id: int = notice_id) -> Notice | None:
            async with sessions() as db, db.begin():
                result = await db.execute(
                    update(OutboxNotice)
                    .where(OutboxNotice.id == notice_id, _claimable(now, lease))
                    .values(claimed_at=now, attempts=OutboxNotice.attempts + 1)
                )
                if claimed_rows(result) != 1:
                    return None
                notice = await db.get(OutboxNotice, notice_id, populate_existing=True)
                assert notice is not None
                info = None
                if notice.registration_id is not None:
                    row = await db.get(Registration, notice.registration_id)
                    training = await db.get(TrainingSession, row.session_code) if row else None
                    if row is not None and training is not None:
                        info = await describe(db, row, training)
                return Notice(
                    notice.id, notice.kind, notice.chat_id, notice.language, info, notice.attempts
                )

        notice = await retry_if_locked(attempt)
        if notice is not None:
            claimed.append(notice)
    return claimed


async def finish_notice(
    sessions: SessionFactory, notice_id: int, now: datetime, outcome: NoticeOutcome
) -> None:
    async def attempt() -> None:
        async with sessions() as db, db.begin():
            await db.execute(
                update(OutboxNotice)
                .where(OutboxNotice.id == notice_id)
                .values(sent_at=now if outcome is NoticeOutcome.SENT else None, outcome=outcome)
            )

    await retry_if_locked(attempt)


async def release_notice(sessions: SessionFactory, notice_id: int, now: datetime) -> bool:
    """Gives a claimed notice back after a transient send failure, to be tried again after
    a backoff; its last allowed try ends it as failed instead. True when it will be retried.
    """

    async def attempt() -> bool:
        async with sessions() as db, db.begin():
            notice = await db.get(OutboxNotice, notice_id, populate_existing=True)
            if notice is None or notice.sent_at is not None or notice.outcome is not None:
                return False
            if notice.attempts >= MAX_ATTEMPTS:
                notice.outcome = NoticeOutcome.FAILED
                return False
            notice.claimed_at = None
            notice.retry_at = now + backoff(notice.attempts)
            return True

    return await retry_if_locked(attempt)
