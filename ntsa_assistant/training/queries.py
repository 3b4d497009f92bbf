"""Training sessions: which are upcoming, for whom."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select

from ntsa_assistant.storage.engine import SessionFactory
from ntsa_assistant.storage.models import Audience, TrainingSession


async def upcoming_sessions(
    sessions: SessionFactory,
    now: datetime,
    audience: Audience | None = None,
    limit: int = 6,
) -> Sequence[TrainingSession]:
    """Sessions that have not started yet, soonest first; for an audience, its own and ``all``."""
    query = select(TrainingSession).where(TrainingSession.starts_at > now)
    if audience is not None:
        query = query.where(TrainingSession.audience.in_([audience, Audience.ALL]))
    query = query.order_by(TrainingSession.starts_at, TrainingSession.code).limit(limit)
    async with sessions() as session:
        return (await session.scalars(query)).all()
