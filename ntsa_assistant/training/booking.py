"""Registrations for training sessions: capacity, waitlist, cancel, move, promotion notices.

Rules:

- A "person" is a Telegram chat (``chat_id``). A chat holds at most one active (not
  cancelled) registration per training session, and so does a phone number proven by
  Telegram's share of the sender's own contact: both are partial unique indexes.
  Registering again returns the existing registration. A typed phone proves nothing (anyone
  can type anyone's number), so it neither reserves the number nor is refused for it: a
  stranger who types a number first can never lock its owner out.
- Seats: the first ``capacity`` active registrations are confirmed, the rest waitlisted,
  first come first served (by insertion order). A training session is never overbooked,
  also under concurrent registrations: every change to a training session's registrations
  first locks its row (PostgreSQL ``SELECT ... FOR UPDATE``; SQLite takes its single write
  lock with a no-op ``UPDATE`` of that row as the transaction's first statement, and a
  "database is locked" error is retried).
- Invariant: a training session with a free seat has an empty waitlist. When a seat frees
  up, the first on the waitlist is confirmed and an
  :class:`~ntsa_assistant.storage.models.OutboxNotice` is written in the same transaction;
  the gateway sends it (see :mod:`ntsa_assistant.training.outbox`).
- A re-import of ``sessions.csv`` changes capacities under the same lock
  (:func:`update_training_sessions`): a raised capacity confirms the first on the waitlist
  (with notices); a lowered one never cancels anyone already confirmed, it only stops new
  confirmations until enough seats free up.
- Nothing is written unless the whole registration is valid: :func:`ntsa_assistant.training.
  rules.applicant` checks every field before :func:`register` is called, and
  :func:`register` itself refuses an unknown or started training session.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ntsa_assistant.reporting import activity
from ntsa_assistant.storage.engine import SessionFactory, retry_if_locked
from ntsa_assistant.storage.models import (
    OutboxNotice,
    Registration,
    RegistrationOutcome,
    RegistrationStatus,
    TrainingSession,
)
from ntsa_assistant.training.rules import (
    PhoneTaken,
    RegistrationNotFound,
    SameTrainingSession,
    TrainingSessionStarted,
    UnknownTrainingSession,
    has_started,
    new_reference,
    normalise_reference,
    seats_left,
)
from ntsa_assistant.training.views import (
    Applicant,
    CancelResult,
    MoveResult,
    RegisterResult,
    RegistrationInfo,
    TrainingSessionInfo,
)

PROMOTED = "promoted"  # the outbox notice of a seat given to the first on the waitlist


# --- transactions with the training session's row locked ----------------------------------


async def _lock_training_sessions(
    db: AsyncSession, codes: Sequence[str]
) -> dict[str, TrainingSession]:
    """Locks the rows of ``codes`` (in code order, so two movers never deadlock)."""
    found: dict[str, TrainingSession] = {}
    sqlite = (await db.connection()).dialect.name == "sqlite"
    for code in sorted(set(codes)):
        if sqlite:  # the first write of the transaction takes SQLite's write lock
            await db.execute(
                update(TrainingSession)
                .where(TrainingSession.code == code)
                .values(capacity=TrainingSession.capacity)
            )
        row = await db.scalar(
            select(TrainingSession)
            .where(TrainingSession.code == code)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if row is None:
            raise UnknownTrainingSession(code)
        found[code] = row
    return found


def active() -> ColumnElement[bool]:
    """Registrations that count (not cancelled)."""
    return Registration.status != RegistrationStatus.CANCELLED


async def _count(db: AsyncSession, code: str, status: RegistrationStatus) -> int:
    query = select(func.count()).where(
        Registration.session_code == code, Registration.status == status
    )
    return int(await db.scalar(query) or 0)


async def describe(
    db: AsyncSession, row: Registration, training: TrainingSession
) -> RegistrationInfo:
    position = None
    if row.status is RegistrationStatus.WAITLISTED:
        position = int(
            await db.scalar(
                select(func.count()).where(
                    Registration.session_code == row.session_code,
                    Registration.status == RegistrationStatus.WAITLISTED,
                    Registration.id <= row.id,
                )
            )
            or 0
        )
    return RegistrationInfo(
        id=row.id,
        reference=row.reference,
        status=row.status,
        training_session=TrainingSessionInfo.of(training),
        chat_id=row.chat_id,
        full_name=row.full_name,
        phone=row.phone,
        email=row.email,
        kra_pin=row.kra_pin,
        language=row.language,
        created_at=row.created_at,
        waitlist_position=position,
    )


async def _register_locked(
    db: AsyncSession, training: TrainingSession, applicant: Applicant, now: datetime
) -> RegisterResult:
    if has_started(training, now):
        raise TrainingSessionStarted(training.code)
    existing = await db.scalar(
        select(Registration).where(
            Registration.session_code == training.code,
            Registration.chat_id == applicant.chat_id,
            active(),
        )
    )
    if existing is not None:
        return RegisterResult(await describe(db, existing, training), existing=True)
    if applicant.phone_proven:
        phone_taken = await db.scalar(
            select(Registration.id).where(
                Registration.session_code == training.code,
                Registration.phone == applicant.phone,
                Registration.phone_proven,
                active(),
            )
        )
        if phone_taken is not None:
            raise PhoneTaken(training.code)
    confirmed = await _count(db, training.code, RegistrationStatus.CONFIRMED)
    has_seat = seats_left(training.capacity, confirmed) > 0
    row = Registration(
        reference=new_reference(),
        session_code=training.code,
        chat_id=applicant.chat_id,
        full_name=applicant.full_name,
        phone=applicant.phone,
        phone_proven=applicant.phone_proven,
        email=applicant.email,
        kra_pin=applicant.kra_pin,
        language=applicant.language,
        status=RegistrationStatus.CONFIRMED if has_seat else RegistrationStatus.WAITLISTED,
        created_at=now,
        confirmed_at=now if has_seat else None,
    )
    db.add(row)
    await db.flush()
    outcome = RegistrationOutcome.SEATED if has_seat else RegistrationOutcome.WAITLISTED
    await activity.registration(db, row, outcome, now)
    return RegisterResult(await describe(db, row, training), existing=False)


async def _fill_free_seats(
    db: AsyncSession, training: TrainingSession, now: datetime
) -> list[RegistrationInfo]:
    """Confirms the first on the waitlist while seats are free; each is owed a notice."""
    if has_started(training, now):
        return []
    promoted: list[RegistrationInfo] = []
    free = seats_left(
        training.capacity, await _count(db, training.code, RegistrationStatus.CONFIRMED)
    )
    while free > 0:
        first = await db.scalar(
            select(Registration)
            .where(
                Registration.session_code == training.code,
                Registration.status == RegistrationStatus.WAITLISTED,
            )
            .order_by(Registration.id)
            .limit(1)
        )
        if first is None:
            break
        first.status = RegistrationStatus.CONFIRMED
        first.confirmed_at = now
        db.add(
            OutboxNotice(
                kind=PROMOTED,
                chat_id=first.chat_id,
                registration_id=first.id,
                language=first.language,
                created_at=now,
            )
        )
        await db.flush()
        await activity.registration(db, first, RegistrationOutcome.PROMOTED, now)
        promoted.append(await describe(db, first, training))
        free -= 1
    return promoted


async def _cancel_locked(
    db: AsyncSession, row: Registration, training: TrainingSession, now: datetime
) -> CancelResult:
    was_confirmed = row.status is RegistrationStatus.CONFIRMED
    row.status = RegistrationStatus.CANCELLED
    row.cancelled_at = now
    await db.flush()
    await activity.registration(db, row, RegistrationOutcome.CANCELLED, now)
    promoted = await _fill_free_seats(db, training, now) if was_confirmed else []
    return CancelResult(await describe(db, row, training), promoted[0] if promoted else None)


async def owned(db: AsyncSession, reference: str, chat_id: int | None) -> Registration:
    query = select(Registration).where(
        Registration.reference == normalise_reference(reference), active()
    )
    if chat_id is not None:
        query = query.where(Registration.chat_id == chat_id)
    row = await db.scalar(query)
    if row is None:
        raise RegistrationNotFound(reference)
    return row


# --- services -----------------------------------------------------------------------------


async def register(
    sessions: SessionFactory, code: str, applicant: Applicant, now: datetime
) -> RegisterResult:
    """Registers ``applicant`` for training session ``code``: confirmed while seats last,
    else waitlisted.

    Raises :class:`UnknownTrainingSession`, :class:`TrainingSessionStarted` or
    :class:`PhoneTaken` (another chat holds a place with this phone, proven); a person
    already registered gets their registration back (``existing=True``).
    """

    async def attempt() -> RegisterResult:
        async with sessions() as db, db.begin():
            training = (await _lock_training_sessions(db, [code]))[code]
            return await _register_locked(db, training, applicant, now)

    for _ in range(3):  # a reference collision (1 in 10^12) just draws another one
        try:
            return await retry_if_locked(attempt)
        except IntegrityError as exc:
            if "reference" not in str(exc):
                raise
    raise RuntimeError("could not draw a free registration reference")


async def cancel(
    sessions: SessionFactory, reference: str, now: datetime, chat_id: int | None = None
) -> CancelResult:
    """Cancels a registration (only the chat's own when ``chat_id`` is given).

    A confirmed seat that frees up goes to the first on the waitlist, who gets a notice.
    """

    async def attempt() -> CancelResult:
        async with sessions() as db, db.begin():
            code = (await owned(db, reference, chat_id)).session_code
            training = (await _lock_training_sessions(db, [code]))[code]
            # again, now that the training session is locked
            row = await owned(db, reference, chat_id)
            return await _cancel_locked(db, row, training, now)

    return await retry_if_locked(attempt)


async def move(
    sessions: SessionFactory, reference: str, new_code: str, chat_id: int, now: datetime
) -> MoveResult:
    """Moves a chat's registration to another training session in one transaction.

    The new registration is confirmed or waitlisted like any other; the old one is
    cancelled (its seat promoting the next person). Already registered for the target →
    nothing changes and that registration is returned.
    """

    async def attempt() -> MoveResult:
        async with sessions() as db, db.begin():
            old_code = (await owned(db, reference, chat_id)).session_code
            if old_code == new_code:
                raise SameTrainingSession(old_code)
            locked = await _lock_training_sessions(db, [old_code, new_code])
            row = await owned(db, reference, chat_id)
            applicant = Applicant(
                chat_id=row.chat_id,
                full_name=row.full_name,
                phone=row.phone,
                language=row.language,
                email=row.email,
                kra_pin=row.kra_pin,
                phone_proven=row.phone_proven,
            )
            # The old one is cancelled first, so the phone's unique index lets the new in.
            if has_started(locked[new_code], now):
                raise TrainingSessionStarted(new_code)
            cancelled = await _cancel_locked(db, row, locked[old_code], now)
            moved = await _register_locked(db, locked[new_code], applicant, now)
            if moved.existing:  # already in the target training session: keep the old one after all
                raise _AlreadyThere(moved)
            return MoveResult(moved, cancelled.cancelled, cancelled.promoted)

    try:
        return await retry_if_locked(attempt)
    except _AlreadyThere as there:  # the transaction was rolled back: nothing changed
        return MoveResult(there.result, None, None)


async def update_training_sessions(
    db: AsyncSession, codes: Sequence[str], write: Callable[[], Awaitable[None]], now: datetime
) -> list[RegistrationInfo]:
    """Runs ``write`` (which changes the rows of training sessions ``codes``, e.g. a re-import)
    inside the caller's transaction with every existing one of them locked, then gives each
    free seat to the first on its waitlist (each promoted person is owed a notice).

    A lowered capacity cancels nobody: confirmed people keep their seats, and the waitlist
    simply waits until enough of them cancel. Returns the people promoted.
    """
    existing = [
        code
        for batch in _chunks(sorted(set(codes)), 500)
        for code in await db.scalars(
            select(TrainingSession.code).where(TrainingSession.code.in_(batch))
        )
    ]
    await _lock_training_sessions(db, existing)
    await write()
    promoted: list[RegistrationInfo] = []
    for code in sorted(existing):
        training = await db.scalar(
            select(TrainingSession)
            .where(TrainingSession.code == code)
            .execution_options(populate_existing=True)  # as ``write`` left it
        )
        if training is not None:
            promoted += await _fill_free_seats(db, training, now)
    return promoted


def _chunks(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


class _AlreadyThere(Exception):
    def __init__(self, result: RegisterResult) -> None:
        super().__init__("already registered for the target training session")
        self.result = result
