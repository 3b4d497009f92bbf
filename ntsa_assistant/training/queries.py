"""Reading training sessions and registrations: offers, a chat's registrations, counts, export."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, case, func, select

from ntsa_assistant.storage.engine import SessionFactory
from ntsa_assistant.storage.models import (
    Audience,
    Registration,
    RegistrationStatus,
    TrainingSession,
)
from ntsa_assistant.training.booking import active, describe, owned
from ntsa_assistant.training.rules import (
    TrainingSessionStarted,
    UnknownTrainingSession,
    has_started,
    is_upcoming_for,
    seats_left,
)
from ntsa_assistant.training.views import (
    RegistrationInfo,
    TrainingOffer,
    TrainingSessionCounts,
    TrainingSessionInfo,
)


async def my_registrations(
    sessions: SessionFactory, chat_id: int, now: datetime
) -> list[RegistrationInfo]:
    """The chat's active registrations for training sessions that have not ended, soonest first."""
    async with sessions() as db:
        rows = (
            await db.execute(
                select(Registration, TrainingSession)
                .join(TrainingSession, TrainingSession.code == Registration.session_code)
                .where(Registration.chat_id == chat_id, active(), TrainingSession.ends_at > now)
                .order_by(TrainingSession.starts_at, Registration.id)
            )
        ).all()
        return [await describe(db, row, training) for row, training in rows]


async def find_registration(
    sessions: SessionFactory, reference: str, chat_id: int | None = None
) -> RegistrationInfo:
    async with sessions() as db:
        row = await owned(db, reference, chat_id)
        training = await db.get(TrainingSession, row.session_code)
        assert training is not None
        return await describe(db, row, training)


async def get_training_session(sessions: SessionFactory, code: str) -> TrainingSessionInfo:
    async with sessions() as db:
        row = await db.get(TrainingSession, code)
        if row is None:
            raise UnknownTrainingSession(code)
        return TrainingSessionInfo.of(row)


async def training_session_counts(
    sessions: SessionFactory, code: str | None = None
) -> list[TrainingSessionCounts]:
    """Every training session (or one) with its confirmed and waitlisted counts, soonest first."""
    counted = (
        select(
            Registration.session_code,
            func.sum(_when(RegistrationStatus.CONFIRMED)).label("confirmed"),
            func.sum(_when(RegistrationStatus.WAITLISTED)).label("waitlisted"),
        )
        .group_by(Registration.session_code)
        .subquery()
    )
    query = (
        select(TrainingSession, counted.c.confirmed, counted.c.waitlisted)
        .outerjoin(counted, counted.c.session_code == TrainingSession.code)
        .order_by(TrainingSession.starts_at, TrainingSession.code)
    )
    if code is not None:
        query = query.where(TrainingSession.code == code)
    async with sessions() as db:
        rows = (await db.execute(query)).all()
    return [
        TrainingSessionCounts(
            TrainingSessionInfo.of(training), int(confirmed or 0), int(waitlisted or 0)
        )
        for training, confirmed, waitlisted in rows
    ]


def _when(status: RegistrationStatus) -> ColumnElement[int]:
    return case((Registration.status == status, 1), else_=0)


async def offers(
    sessions: SessionFactory,
    now: datetime,
    audience: Audience | None,
    language: str | None = None,
    limit: int = 8,
) -> list[TrainingOffer]:
    """Upcoming training sessions for ``audience`` (its own and ``all``; every audience's when
    None), the reader's language first, then by date, each with its free seats."""
    upcoming = [
        c
        for c in await training_session_counts(sessions)
        if is_upcoming_for(c.training_session, now, audience)
    ]
    upcoming.sort(
        key=lambda c: (c.training_session.language.value != language, c.training_session.starts_at)
    )
    return [_offer(c) for c in upcoming[:limit]]


def _offer(counts: TrainingSessionCounts) -> TrainingOffer:
    seats = seats_left(counts.training_session.capacity, counts.confirmed)
    return TrainingOffer(counts.training_session, seats)


async def choose(sessions: SessionFactory, code: str, now: datetime) -> TrainingOffer:
    """The training session a person picked, with its free seats (0: full, waitlist only).

    Raises :class:`UnknownTrainingSession` or :class:`TrainingSessionStarted`."""
    counts = await training_session_counts(sessions, code)
    if not counts:
        raise UnknownTrainingSession(code)
    if has_started(counts[0].training_session, now):
        raise TrainingSessionStarted(code)
    return _offer(counts[0])


@dataclass(frozen=True)
class ExportRow:
    registration: RegistrationInfo
    confirmed_at: datetime | None
    cancelled_at: datetime | None


async def export_rows(sessions: SessionFactory, code: str | None = None) -> list[ExportRow]:
    """Every registration (cancelled ones too), by training session then order of arrival."""
    query = (
        select(Registration, TrainingSession)
        .join(TrainingSession, TrainingSession.code == Registration.session_code)
        .order_by(TrainingSession.starts_at, TrainingSession.code, Registration.id)
    )
    if code is not None:
        query = query.where(Registration.session_code == code)
    async with sessions() as db:
        rows = (await db.execute(query)).all()
        return [
            ExportRow(await describe(db, row, training), row.confirmed_at, row.cancelled_at)
            for row, training in rows
        ]
