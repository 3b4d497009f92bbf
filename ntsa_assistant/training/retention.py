"""Retention of the training feature's personal data (README, "Retention").

A registration (name, phone, e-mail, KRA PIN) is kept until its training session has been
over for the registrations period, whatever its status; its reminder markers and outbox
notices go with it. A finished notice (sent, or given up) is also purged after the notices
period, while its session still runs. Reminder markers of a session that has not ended stay:
they are what keeps a reminder from being sent twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select

from ntsa_assistant.core.settings import Settings
from ntsa_assistant.storage.engine import SessionFactory, delete_rows
from ntsa_assistant.storage.models import (
    OutboxNotice,
    Registration,
    ReminderDelivery,
    TrainingSession,
)

KINDS = ("notices", "reminders", "registrations")


@dataclass(frozen=True)
class TrainingRetention:
    """How long after its session ended a registration is kept, and a finished notice."""

    registrations: timedelta
    notices: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> TrainingRetention:
        return cls(
            registrations=timedelta(days=settings.retention_registrations_days),
            notices=timedelta(days=settings.retention_notices_days),
        )


async def purge(
    sessions: SessionFactory, now: datetime, keep: TrainingRetention, *, dry_run: bool = False
) -> dict[str, int]:
    """Purges (or, with ``dry_run``, counts) what is older than its period, in one
    transaction, children first; the count per kind, in :data:`KINDS` order."""
    ended = select(TrainingSession.code).where(TrainingSession.ends_at < now - keep.registrations)
    finished = select(Registration.id).where(Registration.session_code.in_(ended))
    notices = or_(
        OutboxNotice.registration_id.in_(finished),
        (OutboxNotice.outcome.is_not(None)) & (OutboxNotice.created_at < now - keep.notices),
    )
    async with sessions() as session, session.begin():
        return {
            "notices": await delete_rows(session, OutboxNotice, notices, dry_run=dry_run),
            "reminders": await delete_rows(
                session,
                ReminderDelivery,
                ReminderDelivery.registration_id.in_(finished),
                dry_run=dry_run,
            ),
            "registrations": await delete_rows(
                session, Registration, Registration.session_code.in_(ended), dry_run=dry_run
            ),
        }
