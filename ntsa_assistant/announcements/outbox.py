"""The send list: one row per recipient and announcement, each sent at most once.

The pattern of the training feature's outbox (``training/outbox.py``): a sender takes a row
with a conditional ``UPDATE`` (so one sender wins, across processes and replicas) that
leases it until ``leased_until``; it then finishes the row (``sent``, ``blocked``,
``failed``…) or gives it back, to be tried again after a backoff (a 429's ``retry_after``
does not count as a try). A row whose sender died is taken again once its lease is over,
so what was in a dead sender's hands goes later rather than never: the one message it may
have been sending when it died can arrive twice, every other arrives once.

The unique (announcement, chat) pair makes a second row for the same person impossible, so
"make the rows of what is due" may run in every gateway replica, every minute.

Leases and backoffs are measured in real time (``now`` here), never ``ASSISTANT_NOW``:
they are about processes, not the migration's dates, and a fixed clock would hold a row
taken once for ever.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    SQLColumnExpression,
    Subquery,
    and_,
    delete,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from ntsa_assistant.announcements.schedule import TimelineAnnouncement
from ntsa_assistant.announcements.subscriptions import TELEGRAM_ID_LIMIT
from ntsa_assistant.core.i18n import Lang
from ntsa_assistant.storage.engine import SessionFactory, claimed_rows, retry_if_locked
from ntsa_assistant.storage.models import (
    Announcement,
    AnnouncementDelivery,
    AnnouncementKind,
    DeliveryState,
    Subscription,
    UtcDateTime,
)

MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=1)
# The audience of a broadcast to subscribers, and of every timeline announcement: a person
# who unsubscribed before their row went is not written to.
SUBSCRIBERS = "subscribers"
_DETAIL_LENGTH = 200


def backoff(attempts: int) -> timedelta:
    """The gateway's wait before try number ``attempts + 1``: 1, 2, 4 … minutes, at most an
    hour (the broadcast command, which an operator watches, retries sooner)."""
    doublings = min(max(attempts - 1, 0), 16)
    return min(FIRST_RETRY * (1 << doublings), LONGEST_RETRY)


@dataclass(frozen=True)
class Delivery:
    """A row taken by one sender, with what it needs to send it."""

    id: int
    announcement_id: int
    chat_id: int
    language: Lang
    attempts: int
    kind: AnnouncementKind
    topic: str | None  # a timeline announcement's
    text: str | None  # a broadcast's
    send_until: datetime | None  # a timeline announcement is not sent from then on


@dataclass(frozen=True)
class Candidate:
    """A row that may be taken now (another sender may still take it first)."""

    id: int
    chat_id: int


def _insert_into(session: AsyncSession, model: type) -> postgresql.Insert | sqlite.Insert:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


# --- making rows -----------------------------------------------------------------------


async def add_rows(
    db: AsyncSession, announcement_id: int, recipients: Subquery, now: datetime
) -> int:
    """In ``db``'s transaction: a pending row for each ``recipients`` row (its ``chat_id``
    and ``language`` columns) that has none yet for this announcement; how many."""
    rows = select(
        literal(announcement_id),
        recipients.c.chat_id,
        recipients.c.language,
        literal(DeliveryState.PENDING.value),
        literal(0),
        literal(now, UtcDateTime()),
    ).select_from(recipients)
    # SQLite reads "SELECT … FROM t ON CONFLICT" as a join's ON unless a WHERE comes between.
    rows = rows.where(true())
    statement = (
        _insert_into(db, AnnouncementDelivery)
        .from_select(
            ["announcement_id", "chat_id", "language", "state", "attempts", "created_at"], rows
        )
        .on_conflict_do_nothing(
            index_elements=[AnnouncementDelivery.announcement_id, AnnouncementDelivery.chat_id]
        )
    )
    return claimed_rows(await db.execute(statement))


def _telegram_chats(column: SQLColumnExpression[int]) -> ColumnElement[bool]:
    return and_(column > 0, column < TELEGRAM_ID_LIMIT)


async def enqueue_timeline(
    sessions: SessionFactory, items: Sequence[TimelineAnnouncement], now: datetime
) -> int:
    """Makes each due announcement's row (once, by its key) and a row for every subscriber
    who has none for it yet; how many rows were new. Safe to run anywhere, any time."""

    async def attempt() -> int:
        added = 0
        async with sessions() as db, db.begin():
            for item in items:
                await db.execute(
                    _insert_into(db, Announcement)
                    .values(
                        key=item.key,
                        kind=AnnouncementKind.TIMELINE,
                        topic=item.topic.value,
                        created_at=now,
                        send_until=item.send_until,
                    )
                    .on_conflict_do_nothing(index_elements=[Announcement.key])
                )
                announcement_id = await db.scalar(
                    select(Announcement.id).where(Announcement.key == item.key)
                )
                assert announcement_id is not None
                subscribers = (
                    select(Subscription.chat_id, Subscription.language)
                    .where(_telegram_chats(Subscription.chat_id))
                    .subquery()
                )
                added += await add_rows(db, announcement_id, subscribers, now)
        return added

    return await retry_if_locked(attempt)


# --- taking, finishing and giving back rows ---------------------------------------------


def _takeable(now: datetime) -> ColumnElement[bool]:
    """Pending, not over its tries, and neither leased nor waiting for a retry."""
    return and_(
        AnnouncementDelivery.state == DeliveryState.PENDING,
        AnnouncementDelivery.attempts < MAX_ATTEMPTS,
        or_(AnnouncementDelivery.leased_until.is_(None), AnnouncementDelivery.leased_until <= now),
    )


def _of(announcement_id: int | None, kind: AnnouncementKind | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if announcement_id is not None:
        conditions.append(AnnouncementDelivery.announcement_id == announcement_id)
    if kind is not None:
        conditions.append(
            AnnouncementDelivery.announcement_id.in_(
                select(Announcement.id).where(Announcement.kind == kind)
            )
        )
    return conditions


async def candidates(
    sessions: SessionFactory,
    now: datetime,
    *,
    announcement_id: int | None = None,
    kind: AnnouncementKind | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> list[Candidate]:
    """Rows that may be taken at ``now``, in list order, after ``after_id``."""
    async with sessions() as db:
        rows = await db.execute(
            select(AnnouncementDelivery.id, AnnouncementDelivery.chat_id)
            .where(
                _takeable(now),
                AnnouncementDelivery.id > after_id,
                *_of(announcement_id, kind),
            )
            .order_by(AnnouncementDelivery.id)
            .limit(limit)
        )
        return [Candidate(row.id, row.chat_id) for row in rows]


async def take(
    sessions: SessionFactory, delivery_id: int, now: datetime, lease: timedelta
) -> Delivery | None:
    """Leases one row to this caller until ``now + lease``; None when another sender has it,
    it is done, or it ended here (its subscriber left: ``cancelled``)."""

    async def attempt() -> Delivery | None:
        async with sessions() as db, db.begin():
            result = await db.execute(
                update(AnnouncementDelivery)
                .where(AnnouncementDelivery.id == delivery_id, _takeable(now))
                .values(leased_until=now + lease, attempts=AnnouncementDelivery.attempts + 1)
            )
            if claimed_rows(result) != 1:
                return None
            row = await db.get(AnnouncementDelivery, delivery_id, populate_existing=True)
            assert row is not None
            announcement = await db.get(Announcement, row.announcement_id)
            assert announcement is not None
            language = row.language
            if announcement.kind is AnnouncementKind.TIMELINE or (
                announcement.audience == SUBSCRIBERS
            ):
                subscription = await db.get(Subscription, row.chat_id)
                if subscription is None:
                    _end(row, DeliveryState.CANCELLED, now)
                    return None
                if announcement.kind is AnnouncementKind.TIMELINE:
                    language = subscription.language  # the one they chose last
            return Delivery(
                id=row.id,
                announcement_id=row.announcement_id,
                chat_id=row.chat_id,
                language=language.value,
                attempts=row.attempts,
                kind=announcement.kind,
                topic=announcement.topic,
                text=announcement.text,
                send_until=announcement.send_until,
            )

    return await retry_if_locked(attempt)


def _end(
    row: AnnouncementDelivery, state: DeliveryState, now: datetime, detail: str | None = None
) -> None:
    row.state = state
    row.finished_at = now
    row.leased_until = None
    row.detail = detail[:_DETAIL_LENGTH] if detail else None


async def finish(
    sessions: SessionFactory,
    delivery_id: int,
    state: DeliveryState,
    now: datetime,
    detail: str | None = None,
) -> None:
    """Ends a taken row. ``blocked`` (the person blocked the bot) also unsubscribes them."""
    if state is DeliveryState.PENDING:
        raise ValueError("a row ends in any state but pending")

    async def attempt() -> None:
        async with sessions() as db, db.begin():
            row = await db.get(AnnouncementDelivery, delivery_id, populate_existing=True)
            if row is None or row.state is not DeliveryState.PENDING:
                return
            _end(row, state, now, detail)
            if state is DeliveryState.BLOCKED:
                await db.execute(delete(Subscription).where(Subscription.chat_id == row.chat_id))

    await retry_if_locked(attempt)


async def give_back(
    sessions: SessionFactory,
    delivery_id: int,
    not_before: datetime,
    now: datetime,
    *,
    count_try: bool = True,
    detail: str | None = None,
) -> bool:
    """Returns a taken row to the list, not to be tried before ``not_before``. A 429 is not
    the row's fault (``count_try=False``); a row at its last try ends ``failed`` instead.
    True when it will be tried again."""

    async def attempt() -> bool:
        async with sessions() as db, db.begin():
            row = await db.get(AnnouncementDelivery, delivery_id, populate_existing=True)
            if row is None or row.state is not DeliveryState.PENDING:
                return False
            if not count_try:
                row.attempts = max(row.attempts - 1, 0)
            elif row.attempts >= MAX_ATTEMPTS:
                _end(row, DeliveryState.FAILED, now, detail)
                return False
            row.leased_until = not_before
            return True

    return await retry_if_locked(attempt)


async def fail_exhausted(
    sessions: SessionFactory,
    now: datetime,
    *,
    announcement_id: int | None = None,
    kind: AnnouncementKind | None = None,
) -> int:
    """Ends as ``failed`` the rows whose last try's sender died (lease over, no tries left)."""

    async def attempt() -> int:
        async with sessions() as db, db.begin():
            result = await db.execute(
                update(AnnouncementDelivery)
                .where(
                    AnnouncementDelivery.state == DeliveryState.PENDING,
                    AnnouncementDelivery.attempts >= MAX_ATTEMPTS,
                    or_(
                        AnnouncementDelivery.leased_until.is_(None),
                        AnnouncementDelivery.leased_until <= now,
                    ),
                    *_of(announcement_id, kind),
                )
                .values(
                    state=DeliveryState.FAILED,
                    finished_at=now,
                    leased_until=None,
                    detail="no answer after the last try",
                )
            )
            return claimed_rows(result)

    return await retry_if_locked(attempt)


# --- where a list stands ------------------------------------------------------------------


@dataclass(frozen=True)
class ListState:
    """How many rows of a list are in each state; of the pending ones, how many another
    sender holds (or wait for a retry) and when the first of those frees."""

    counts: dict[DeliveryState, int]
    held: int
    next_free: datetime | None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def pending(self) -> int:
        return self.counts.get(DeliveryState.PENDING, 0)

    @property
    def done(self) -> int:
        return self.total - self.pending


async def list_state(sessions: SessionFactory, announcement_id: int, now: datetime) -> ListState:
    async with sessions() as db:
        by_state = await db.execute(
            select(AnnouncementDelivery.state, func.count())
            .where(AnnouncementDelivery.announcement_id == announcement_id)
            .group_by(AnnouncementDelivery.state)
        )
        counts = {DeliveryState(state): int(count) for state, count in by_state}
        held_rows = await db.execute(
            select(func.count(), func.min(AnnouncementDelivery.leased_until)).where(
                AnnouncementDelivery.announcement_id == announcement_id,
                AnnouncementDelivery.state == DeliveryState.PENDING,
                AnnouncementDelivery.leased_until > now,
            )
        )
        held, next_free = held_rows.one()
    return ListState(counts, int(held or 0), next_free)
