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
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ntsa_assistant.storage.engine import SessionFactory
from ntsa_assistant.storage.models import (
    Registration,
    RegistrationStatus,
    ReminderDelivery,
    TrainingSession,
)
from ntsa_assistant.training.booking import describe, retry_if_locked
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
    CLAIMED = "claimed"
    SKIPPED = "skipped"
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True)
class Reminder:
    delivery_id: int
    offset: timedelta
    registration: RegistrationInfo


async def claim_due_reminders(
    sessions: SessionFactory, now: datetime, offsets: Sequence[timedelta], limit: int = 50
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
        done: dict[int, set[timedelta]] = {}
        if rows:
            marks = await db.execute(
                select(ReminderDelivery.registration_id, ReminderDelivery.offset_minutes).where(
                    ReminderDelivery.registration_id.in_([r.id for r in rows])
                )
            )
            for registration_id, offset_minutes in marks:
                done.setdefault(registration_id, set()).add(timedelta(minutes=offset_minutes))
    claimed: list[Reminder] = []
    for registration_id, confirmed_at, starts_at in rows:
        plan = due_offsets(starts_at, confirmed_at, now, offsets, done.get(registration_id, ()))
        if plan.send is None and not plan.skip:
            continue
        reminder = await _claim(sessions, registration_id, plan, now)
        if reminder is not None:
            claimed.append(reminder)
            if len(claimed) >= limit:
                break
    return claimed


async def _claim(
    sessions: SessionFactory, registration_id: int, plan: DuePlan, now: datetime
) -> Reminder | None:
    async def attempt() -> Reminder | None:
        async with sessions() as db, db.begin():
            row = await db.get(Registration, registration_id, populate_existing=True)
            if row is None or row.status is not RegistrationStatus.CONFIRMED:
                return None  # cancelled meanwhile
            for offset in plan.skip:
                db.add(_mark(registration_id, offset, now, ReminderOutcome.SKIPPED))
            delivery = None
            if plan.send is not None:
                delivery = _mark(registration_id, plan.send, now, ReminderOutcome.CLAIMED)
                db.add(delivery)
            await db.flush()
            if delivery is None or plan.send is None:
                return None
            training = await db.get(TrainingSession, row.session_code)
            assert training is not None
            return Reminder(delivery.id, plan.send, await describe(db, row, training))

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
    )


async def finish_reminder(
    sessions: SessionFactory, delivery_id: int, now: datetime, sent: bool
) -> None:
    """Records the outcome; a failed reminder is not retried (it would come too late)."""

    async def attempt() -> None:
        async with sessions() as db, db.begin():
            await db.execute(
                update(ReminderDelivery)
                .where(ReminderDelivery.id == delivery_id)
                .values(
                    sent_at=now if sent else None,
                    outcome=ReminderOutcome.SENT if sent else ReminderOutcome.FAILED,
                )
            )

    await retry_if_locked(attempt)
