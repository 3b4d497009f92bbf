"""The gateway's outbox: notices owed to a chat (a seat given from the waitlist), each
claimed by exactly one gateway, then marked sent or failed, or given back."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from ntsa_assistant.storage.engine import SessionFactory, claimed_rows
from ntsa_assistant.storage.models import Language, OutboxNotice, Registration, TrainingSession
from ntsa_assistant.training.booking import describe, retry_if_locked
from ntsa_assistant.training.views import RegistrationInfo


@dataclass(frozen=True)
class Notice:
    id: int
    kind: str
    chat_id: int
    language: Language
    registration: RegistrationInfo | None


class NoticeOutcome(enum.StrEnum):
    SENT = "sent"
    FAILED = "failed"  # the chat cannot be reached (blocked, deleted): not retried


async def claim_notices(sessions: SessionFactory, now: datetime, limit: int = 20) -> list[Notice]:
    """Claims unsent notices, each by exactly one caller (a conditional ``UPDATE``)."""
    async with sessions() as db:
        ids = list(
            await db.scalars(
                select(OutboxNotice.id)
                .where(OutboxNotice.claimed_at.is_(None))
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
                    .where(OutboxNotice.id == notice_id, OutboxNotice.claimed_at.is_(None))
                    .values(claimed_at=now)
                )
                if claimed_rows(result) != 1:
                    return None
                notice = await db.get(OutboxNotice, notice_id)
                assert notice is not None
                info = None
                if notice.registration_id is not None:
                    row = await db.get(Registration, notice.registration_id)
                    training = await db.get(TrainingSession, row.session_code) if row else None
                    if row is not None and training is not None:
                        info = await describe(db, row, training)
                return Notice(notice.id, notice.kind, notice.chat_id, notice.language, info)

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


async def release_notice(sessions: SessionFactory, notice_id: int) -> None:
    """Gives a claimed notice back (a transient send failure): it is tried again later."""

    async def attempt() -> None:
        async with sessions() as db, db.begin():
            await db.execute(
                update(OutboxNotice)
                .where(OutboxNotice.id == notice_id, OutboxNotice.sent_at.is_(None))
                .values(claimed_at=None)
            )

    await retry_if_locked(attempt)
