"""The operators' report: every figure for one period, from what the database holds.

:func:`compile_report` is pure (events, seats and votes in, figures out);
:func:`load_report` reads them for a period and compiles it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from ntsa_assistant.faq.answers import ANCHORS, MENU_TOPICS
from ntsa_assistant.handoff.hours import WorkingHours
from ntsa_assistant.reporting import metrics
from ntsa_assistant.reporting.metrics import (
    EVENT_FIELDS,
    AgentReplies,
    Containment,
    DayCounts,
    Event,
    Fallbacks,
    Handoffs,
    Latency,
    Period,
    Seats,
    TopicVotes,
    Totals,
)
from ntsa_assistant.storage.engine import SessionFactory
from ntsa_assistant.storage.models import (
    ActivityEvent,
    EventKind,
    FaqFeedback,
    Registration,
    RegistrationStatus,
    TrainingSession,
)

# Events this long before the period are read too, so that a conversation running across
# its start is not cut in two.
_LEAD_IN = timedelta(days=1)


@dataclass(frozen=True)
class Report:
    period: Period
    generated_at: datetime
    data_end: datetime
    days: list[DayCounts]
    totals: Totals
    containment: Containment
    fallbacks: Fallbacks
    fallback_days: dict[date, Fallbacks]
    handoffs: Handoffs
    handoff_days: dict[date, Counter[str]]
    agent: AgentReplies
    topics: list[tuple[str, Counter[str]]]
    latency: Latency
    status: Counter[str]
    status_failed: Counter[str]
    registrations: Counter[str]
    seats: list[Seats]
    votes: list[TopicVotes]
    events: tuple[Event, ...]  # as read, for the list of what was missed

    @property
    def empty(self) -> bool:
        return not self.totals.conversations_total and not any(v.total for v in self.votes)


def compile_report(
    events: Sequence[Event],
    period: Period,
    *,
    data_end: datetime,
    hours: WorkingHours,
    seats: Sequence[Seats] = (),
    votes: Sequence[tuple[str, str, bool]] = (),
    generated_at: datetime | None = None,
) -> Report:
    """Every figure of ``period`` from the events read up to ``data_end``."""
    found = metrics.conversations(events)
    totals = metrics.totals(found, period)
    status, failed = metrics.status_outcomes(events, period)
    return Report(
        period=period,
        generated_at=generated_at or data_end,
        data_end=data_end,
        days=metrics.per_day(found, period),
        totals=totals,
        containment=metrics.containment(found, period, data_end),
        fallbacks=metrics.fallbacks(events, period),
        fallback_days=metrics.fallback_per_day(events, period),
        handoffs=metrics.handoffs(events, period, totals.conversations_total),
        handoff_days=metrics.events_per_day(events, period, EventKind.HANDOFF_OPENED),
        agent=metrics.agent_replies(events, period, hours),
        topics=metrics.top_topics(events, period),
        latency=metrics.latency(events, period),
        status=status,
        status_failed=failed,
        registrations=metrics.registration_outcomes(events, period),
        seats=list(seats),
        votes=metrics.page_votes(votes, [ANCHORS[topic] for topic in MENU_TOPICS]),
        events=tuple(events),
    )


async def load_events(sessions: SessionFactory, start: datetime, end: datetime) -> list[Event]:
    """The record's events with ``start <= at < end``, oldest first (plain rows, no ORM
    objects: a month of a busy assistant is a few hundred thousand)."""
    columns = [ActivityEvent.__table__.c[name] for name in EVENT_FIELDS]
    async with sessions() as db:
        result = await db.stream(
            select(*columns)
            .where(ActivityEvent.at >= start, ActivityEvent.at < end)
            .order_by(ActivityEvent.at, ActivityEvent.id)
            .execution_options(yield_per=5000)
        )
        return [Event.of_row(row._mapping) async for row in result]


async def load_seats(sessions: SessionFactory, since: datetime) -> list[Seats]:
    """Each training session not over before ``since``: its seats and registrations."""
    async with sessions() as db:
        trainings = list(
            await db.scalars(
                select(TrainingSession)
                .where(TrainingSession.ends_at >= since)
                .order_by(TrainingSession.starts_at, TrainingSession.code)
            )
        )
        result = await db.execute(
            select(Registration.session_code, Registration.status, func.count()).group_by(
                Registration.session_code, Registration.status
            )
        )
        counts = {(code, status): int(n) for code, status, n in result.all()}
    return [
        Seats(
            t.code,
            t.title,
            t.language.value,
            t.starts_at,
            t.capacity,
            counts.get((t.code, RegistrationStatus.CONFIRMED), 0),
            counts.get((t.code, RegistrationStatus.WAITLISTED), 0),
            counts.get((t.code, RegistrationStatus.CANCELLED), 0),
        )
        for t in trainings
    ]


async def load_votes(
    sessions: SessionFactory, start: datetime, end: datetime
) -> list[tuple[str, str, bool]]:
    """The FAQ page's votes (a replaced vote counts as its latest answer)."""
    async with sessions() as db:
        result = await db.execute(
            select(FaqFeedback.anchor, FaqFeedback.language, FaqFeedback.helpful).where(
                FaqFeedback.at >= start, FaqFeedback.at < end
            )
        )
        return [(anchor, language.value, bool(helpful)) for anchor, language, helpful in result]


async def load_report(
    sessions: SessionFactory, period: Period, now: datetime, hours: WorkingHours
) -> Report:
    """The report of ``period`` as the database holds it at ``now``."""
    data_end = min(now, period.end + metrics.RETURN_WINDOW)
    events = await load_events(sessions, period.start - _LEAD_IN, data_end)
    return compile_report(
        events,
        period,
        data_end=data_end,
        hours=hours,
        seats=await load_seats(sessions, period.start),
        votes=await load_votes(sessions, period.start, period.end),
        generated_at=now,
    )
