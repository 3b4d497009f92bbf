"""Which training reminders are due, and claiming each one exactly once.

A reminder is owed for each offset (by default a day and an hour before a training session) to each
confirmed registration. Rules (pure, see :func:`due_offsets`):

- due when ``starts_at - offset <= now < starts_at``;
- only for a registration confirmed before that moment (someone who registers or is promoted
  20 minutes before the start gets no "a day before" reminder);
- when several are due at once (the gateway was down), only the nearest is sent, the others
  are marked skipped.

Each reminder is claimed by inserting its sent-marker row (unique per registration and
offset) before it is sent, so it is never sent twice, also with several gateways or after a
restart; everything is read from the database, so a restart rebuilds nothing by hand.
A cancelled registration is not confirmed, so it gets no reminder.

A claim is a lease (:data:`LEASE`): a reminder claimed by a gateway that died before
finishing it is claimed again once the lease is over. A transient failure (network, Telegram
busy) is retried after a backoff, while it is still the nearest due reminder and the training
session has not started, at most :data:`MAX_ATTEMPTS` times; a permanent one (the chat blocked
the bot, or is gone) is not retried.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from ntsa_assistant.storage.engine import SessionFactory, claimed_rows, retry_if_locked
from ntsa_assistant.storage.models import (
    Registration,
    RegistrationStatus,
    ReminderDelivery,
    TrainingSession,
)
from ntsa_assistant.training.booking import describe
from ntsa_assistant.training.outbox import LEASE, MAX_ATTEMPTS, backoff
from ntsa_assistant.training.views import RegistrationInfo

DEFAULT_OFFSETS = "24h,1h"
_OFFSET_RE = re.compile(r"^\s*(\d+)\s*([dhm])\s*$", re.IGNORECASE)
_UNIT = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}


def parse_offsets(text: str) -> tuple[timedelta, ...]:
    """``"24h,1h"`` → (24 h, 1 h), largest first; units ``d``, ``h``, ``m``."""
    offsets: set[timedelta] = set()
    for part in text.split(","):
        if not part.strip():
            continue
        match = _OFFSET_RE.match(part)
        if match is None or int(match.group(1)) == 0:
            raise ValueError(f"bad reminder offset {part.strip()!r}: use e.g. 24h, 90m, 2d")
        offsets.add(int(match.group(1)) * _UNIT[match.group(2).lower()])
    if not offsets:
        raise ValueError("no reminder offsets given")
    return tuple(sorted(offsets, reverse=True))


def minutes(offset: timedelta) -> int:
    return int(offset.total_seconds() // 60)


@dataclass(frozen=True)
class DuePlan:
    send: timedelta | None
    skip: tuple[timedelta, ...]


def due_offsets(
    starts_at: datetime,
    confirmed_at: datetime | None,
    now: datetime,
    offsets: Iterable[timedelta],
    done: Iterable[timedelta] = (),
) -> DuePlan:
    """Which reminder to send now (at most one) and which to mark skipped; pure."""
    if now >= starts_at or confirmed_at is None:
        return DuePlan(None, ())
    done_set = set(done)
    due = sorted(
        (o for o in offsets if o not in done_set and starts_at - o <= now),
        reverse=True,
    )
    if not due:
        return DuePlan(None, ())
    nearest = due[-1]
    if confirmed_at > starts_at - nearest:
        return DuePlan(None, tuple(due))  # confirmed after its moment: none of these
    return DuePlan(nearest, tuple(due[:-1]))


class ReminderOutcome(enum.StrEnum):
    CLAIMED = "claimed"  # being sent (a lease)
    RETRY = "retry"  # a transient failure: to be tried again at ``retry_at``
    SKIPPED = "skipped"
    SENT = "sent"
    FAILED = "failed"  # permanent, or out of tries


PENDING = (ReminderOutcome.CLAIMED, ReminderOutcome.RETRY)


class SendResult(enum.StrEnum):
    """What sending one reminder did."""

    SENT = "sent"
    TRANSIENT = "transient"  # worth another try later
    PERMANENT = "permanent"  # blocked, chat gone: never retried


@dataclass(frozen=True)
class Reminder:
    delivery_id: int
    offset: timedelta
    registration: RegistrationInfo


@dataclass(frozen=True)
class _Mark:
    """A reminder's marker as read: where it stands at ``now``."""

    id: int
    outcome: str
    claimed_at: datetime
    retry_at: datetime | None
    attempts: int

    def in_flight(self, now: datetime, lease: timedelta) -> bool:
        """Claimed by a sender whose lease still runs: leave it alone."""
        return self.outcome == ReminderOutcome.CLAIMED and self.claimed_at > now - lease

    def settled(self, now: datetime, lease: timedelta) -> bool:
        """Sent, skipped, failed, or out of tries: nothing more to do for it."""
        if self.outcome not in PENDING:
            return True
        return self.attempts >= MAX_ATTEMPTS and not self.in_flight(now, lease)

    def waiting(self, now: datetime) -> bool:
        return self.outcome == ReminderOutcome.RETRY and (
            self.retry_at is None or self.retry_at > now
        )


def _released(now: datetime, lease: timedelta) -> ColumnElement[bool]:
    """Pending and nobody sending it: a retry, or a claim whose lease is over."""
    return or_(
        ReminderDelivery.outcome == ReminderOutcome.RETRY,
        and_(
            ReminderDelivery.outcome == ReminderOutcome.CLAIMED,
            ReminderDelivery.claimed_at <= now - lease,
        ),
    )


def _claimable(now: datetime, lease: timedelta) -> ColumnElement[bool]:
    """Released, with tries left, and (for a retry) due."""
    return and_(
        _released(now, lease),
        ReminderDelivery.attempts < MAX_ATTEMPTS,
        or_(ReminderDelivery.outcome != ReminderOutcome.RETRY, ReminderDelivery.retry_at <= now),
    )


async def claim_due_reminders(
    sessions: SessionFactory,
    now: datetime,
    offsets: Sequence[timedelta],
    limit: int = 50,
    lease: timedelta = LEASE,
) -> list[Reminder]:
    """Claims the reminders due at ``now``; each is returned to exactly one caller."""
    horizon = now + max(offsets)
    async with sessions() as db:
        rows = (
            await db.execute(
                select(Registration.id, Registration.confirmed_at, TrainingSession.starts_at)
                .join(TrainingSession, TrainingSession.code == Registration.session_code)
                .where(
                    Registration.status == RegistrationStatus.CONFIRMED,
                    TrainingSession.starts_at > now,
                    TrainingSession.starts_at <= horizon,
                )
                .order_by(TrainingSession.starts_at, Registration.id)
            )
        ).all()
        marks: dict[int, dict[timedelta, _Mark]] = {}
        if rows:
            found = await db.scalars(
                select(ReminderDelivery).where(
                    ReminderDelivery.registration_id.in_([r.id for r in rows])
                )
            )
            for d in found:
                marks.setdefault(d.registration_id, {})[timedelta(minutes=d.offset_minutes)] = (
                    _Mark(d.id, d.outcome, d.claimed_at, d.retry_at, d.attempts)
                )
    claimed: list[Reminder] = []
    for registration_id, confirmed_at, starts_at in rows:
        mine = marks.get(registration_id, {})
        if any(m.in_flight(now, lease) for m in mine.values()):
            continue  # a gateway is sending one right now
        settled = [o for o, m in mine.items() if m.settled(now, lease)]
        plan = due_offsets(starts_at, confirmed_at, now, offsets, settled)
        if plan.send is not None and plan.send in mine and mine[plan.send].waiting(now):
            plan = DuePlan(None, plan.skip)  # its retry is not due yet
        if plan.send is None and not plan.skip:
            continue
        reminder = await _claim(sessions, registration_id, plan, mine, now, lease)
        if reminder is not None:
            claimed.append(reminder)
            if len(claimed) >= limit:
                break
    return claimed


async def _claim(
    sessions: SessionFactory,
    registration_id: int,
    plan: DuePlan,
    marks: dict[timedelta, _Mark],
    now: datetime,
    lease: timedelta,
) -> Reminder | None:
    """Skips what the plan skips and claims what it sends: new markers are inserted (a
    unique constraint refuses a second claimer), pending ones re-claimed by a conditional
    ``UPDATE`` (only one claimer's matches)."""

    async def attempt() -> Reminder | None:
        async with sessions() as db, db.begin():
            row = await db.get(Registration, registration_id, populate_existing=True)
            if row is None or row.status is not RegistrationStatus.CONFIRMED:
                return None  # cancelled meanwhile
            for offset in plan.skip:
                if offset in marks:  # a superseded retry: a nearer reminder is due now
                    await db.execute(
                        update(ReminderDelivery)
                        .where(ReminderDelivery.id == marks[offset].id, _released(now, lease))
                        .values(outcome=ReminderOutcome.SKIPPED, retry_at=None)
                    )
                else:
                    db.add(_mark(registration_id, offset, now, ReminderOutcome.SKIPPED))
            if plan.send is None:
                return None
            if plan.send in marks:
                delivery_id = marks[plan.send].id
                result = await db.execute(
                    update(ReminderDelivery)
                    .where(ReminderDelivery.id == delivery_id, _claimable(now, lease))
                    .values(
                        outcome=ReminderOutcome.CLAIMED,
                        claimed_at=now,
                        retry_at=None,
                        attempts=ReminderDelivery.attempts + 1,
                    )
                )
                if claimed_rows(result) != 1:
                    return None  # another gateway re-claimed it first
            else:
                delivery = _mark(registration_id, plan.send, now, ReminderOutcome.CLAIMED)
                delivery.attempts = 1
                db.add(delivery)
                await db.flush()
                delivery_id = delivery.id
            training = await db.get(TrainingSession, row.session_code)
            assert training is not None
            return Reminder(delivery_id, plan.send, await describe(db, row, training))

    try:
        return await retry_if_locked(attempt)
    except IntegrityError:
        return None  # another gateway claimed it first


def _mark(
    registration_id: int, offset: timedelta, now: datetime, outcome: ReminderOutcome
) -> ReminderDelivery:
    return ReminderDelivery(
        registration_id=registration_id,
        offset_minutes=minutes(offset),
        claimed_at=now,
        outcome=outcome,
        attempts=0,
    )


async def finish_reminder(
    sessions: SessionFactory, delivery_id: int, now: datetime, result: SendResult
) -> ReminderOutcome:
    """Records what sending did: sent; failed for good (permanent, or the last try); or to
    be retried after a backoff. Returns the outcome recorded."""

    async def attempt() -> ReminderOutcome:
        async with sessions() as db, db.begin():
            delivery = await db.get(ReminderDelivery, delivery_id, populate_existing=True)
            if delivery is None:
                return ReminderOutcome.FAILED  # the registration is gone
            if result is SendResult.SENT:
                delivery.outcome, delivery.sent_at = ReminderOutcome.SENT, now
            elif result is SendResult.TRANSIENT and delivery.attempts < MAX_ATTEMPTS:
                delivery.outcome = ReminderOutcome.RETRY
                delivery.retry_at = now + backoff(delivery.attempts)
            else:
                delivery.outcome = ReminderOutcome.FAILED
            return ReminderOutcome(delivery.outcome)

    return await retry_if_locked(attempt)
