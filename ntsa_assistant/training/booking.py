"""Registrations for training sessions: capacity, waitlist, cancel, move, promotion notices.

Rules:

- A "person" is a Telegram chat (``chat_id``). A chat holds at most one active (not
  cancelled) registration per session, and so does a phone number: both are partial unique
  indexes. Registering again returns the existing registration.
- Seats: the first ``capacity`` active registrations are confirmed, the rest waitlisted,
  first come first served (by insertion order). A session is never overbooked, also under
  concurrent registrations: every change to a session's registrations first locks the
  session's row (PostgreSQL ``SELECT ... FOR UPDATE``; SQLite takes its single write lock
  with a no-op ``UPDATE`` of that row as the transaction's first statement, and a "database
  is locked" error is retried).
- Invariant: a session with a free seat has an empty waitlist. When a seat frees up, the
  first on the waitlist is confirmed and an :class:`~ntsa_assistant.storage.models.OutboxNotice`
  is written in the same transaction; the gateway sends it (see :func:`claim_notices`).
- Nothing is written unless the whole registration is valid: inputs are checked by the
  ``validate_*`` functions before :func:`register` is called, and :func:`register` itself
  refuses an unknown or started session.
"""

from __future__ import annotations

import enum
import re
import secrets
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import phonenumbers
from sqlalchemy import case, func, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from ntsa_assistant.storage.engine import SessionFactory
from ntsa_assistant.storage.models import (
    Audience,
    Language,
    OutboxNotice,
    Registration,
    RegistrationStatus,
    TrainingSession,
)

T = TypeVar("T")

NAME_MAX_LENGTH = 100
EMAIL_MAX_LENGTH = 254
REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I look-alikes
PROMOTED = "promoted"

ORGANISATION_AUDIENCES = frozenset(
    {
        Audience.MOTOR_DEALERS,
        Audience.FINANCIAL_INSTITUTIONS,
        Audience.INSURANCE,
        Audience.COMPANIES,
        Audience.EMBASSIES_MISSIONS,
        Audience.GOVERNMENT_MDAS,
    }
)
# The audiences a person picks from (``all`` is not one: its sessions are offered to everyone).
CHOOSABLE_AUDIENCES: tuple[Audience, ...] = tuple(a for a in Audience if a is not Audience.ALL)


# --- errors -------------------------------------------------------------------------------


class RegistrationError(Exception):
    """An expected refusal; ``reason`` names the text the user is shown."""

    reason = "registration_error"


class UnknownTrainingSession(RegistrationError):
    reason = "unknown_session"


class TrainingSessionStarted(RegistrationError):
    reason = "session_started"


class PhoneTaken(RegistrationError):
    """Another chat already registered this phone number for the session."""

    reason = "phone_taken"


class RegistrationNotFound(RegistrationError):
    reason = "not_found"


class InvalidInput(ValueError):
    """A field the user typed is not acceptable; ``reason`` names the text that says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- validation (pure) ----------------------------------------------------------------------

_NAME_PUNCTUATION = frozenset(" '’-.")
_EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}$")
_KRA_PIN_RE = re.compile(r"^[A-Z]\d{9}[A-Z]$")


# Words people type to leave a form; never taken as a name (the form offers a Cancel button).
STOP_WORDS = frozenset(
    {"stop", "cancel", "quit", "exit", "acha", "sitisha", "ghairi", "sitaki", "basi", "wacha"}
)


def validate_name(text: str) -> str:
    """A person's name: letters (any script), spaces, ``' - .``; 2 letters to 100 characters."""
    name = " ".join(unicodedata.normalize("NFC", text).split())
    if len(name) > NAME_MAX_LENGTH:
        raise InvalidInput("name_too_long")
    if name.lower().strip(".!") in STOP_WORDS:
        raise InvalidInput("name_is_stop_word")
    letters = sum(1 for ch in name if unicodedata.category(ch).startswith("L"))
    if letters < 2:
        raise InvalidInput("name_no_letters")
    for ch in name:
        if ch not in _NAME_PUNCTUATION and unicodedata.category(ch)[0] not in "LM":
            raise InvalidInput("name_bad_characters")
    return name


def validate_phone(text: str) -> str:
    """A Kenyan mobile or landline number, in any usual form → E.164 (``+2547...``)."""
    try:
        number = phonenumbers.parse(text.strip(), "KE")
    except phonenumbers.NumberParseException:
        raise InvalidInput("phone_invalid") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput("phone_invalid")
    if phonenumbers.region_code_for_number(number) != "KE":
        raise InvalidInput("phone_not_kenyan")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def validate_email(text: str) -> str:
    email = text.strip()
    if len(email) > EMAIL_MAX_LENGTH or not _EMAIL_RE.match(email):
        raise InvalidInput("email_invalid")
    return email.lower()


def validate_kra_pin(text: str) -> str:
    """A KRA PIN: a letter, nine digits, a letter (``P051234567K``)."""
    pin = re.sub(r"\s+", "", text).upper()
    if not _KRA_PIN_RE.match(pin):
        raise InvalidInput("kra_pin_invalid")
    return pin


def needs_kra_pin(audience: Audience | str | None) -> bool:
    return audience is not None and Audience(audience) in ORGANISATION_AUDIENCES


def parse_audience(value: object) -> Audience | None:
    try:
        audience = Audience(str(value))
    except ValueError:
        return None
    return audience if audience in CHOOSABLE_AUDIENCES else None


def new_reference() -> str:
    """``TRN-7KQ2-M9XD``: 8 random characters, about 40 bits."""
    chars = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(8))
    return f"TRN-{chars[:4]}-{chars[4:]}"


def normalise_reference(text: str) -> str:
    return re.sub(r"\s+", "", text).upper()


# --- views ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingSessionInfo:
    code: str
    title: str
    audience: Audience
    language: Language
    starts_at: datetime
    ends_at: datetime
    capacity: int
    join_url: str

    @classmethod
    def of(cls, row: TrainingSession) -> TrainingSessionInfo:
        return cls(
            row.code,
            row.title,
            row.audience,
            row.language,
            row.starts_at,
            row.ends_at,
            row.capacity,
            row.join_url,
        )


@dataclass(frozen=True)
class Applicant:
    """Who registers: already validated (see the ``validate_*`` functions)."""

    chat_id: int
    full_name: str
    phone: str
    language: Language
    email: str | None = None
    kra_pin: str | None = None


@dataclass(frozen=True)
class RegistrationInfo:
    id: int
    reference: str
    status: RegistrationStatus
    training_session: TrainingSessionInfo
    chat_id: int
    full_name: str
    phone: str
    email: str | None
    kra_pin: str | None
    language: Language
    created_at: datetime
    waitlist_position: int | None = None

    @property
    def confirmed(self) -> bool:
        return self.status is RegistrationStatus.CONFIRMED


@dataclass(frozen=True)
class RegisterResult:
    registration: RegistrationInfo
    existing: bool  # the person was already registered: nothing new was written


@dataclass(frozen=True)
class CancelResult:
    cancelled: RegistrationInfo
    promoted: RegistrationInfo | None


@dataclass(frozen=True)
class MoveResult:
    moved: RegisterResult
    cancelled: RegistrationInfo | None  # None when already registered for the target
    promoted: RegistrationInfo | None


@dataclass(frozen=True)
class TrainingOffer:
    training_session: TrainingSessionInfo
    seats_left: int


@dataclass(frozen=True)
class TrainingSessionCounts:
    training_session: TrainingSessionInfo
    confirmed: int
    waitlisted: int


@dataclass(frozen=True)
class Notice:
    id: int
    kind: str
    chat_id: int
    language: Language
    registration: RegistrationInfo | None


# --- transactions with the session row locked ---------------------------------------------


def _is_sqlite_lock(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError) and "database is locked" in str(exc)


async def retry_if_locked(attempt: Callable[[], Awaitable[T]]) -> T:
    """Runs ``attempt`` again when SQLite's single writer stayed busy past its timeout."""
    async for retry in AsyncRetrying(
        retry=retry_if_exception(_is_sqlite_lock),
        stop=stop_after_attempt(8),
        wait=wait_random_exponential(multiplier=0.05, max=2),
        reraise=True,
    ):
        with retry:
            return await attempt()
    raise AssertionError("unreachable")  # pragma: no cover


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


def _active():  # noqa: ANN202 - a SQL expression
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
    if training.starts_at <= now:
        raise TrainingSessionStarted(training.code)
    existing = await db.scalar(
        select(Registration).where(
            Registration.session_code == training.code,
            Registration.chat_id == applicant.chat_id,
            _active(),
        )
    )
    if existing is not None:
        return RegisterResult(await describe(db, existing, training), existing=True)
    phone_taken = await db.scalar(
        select(Registration.id).where(
            Registration.session_code == training.code,
            Registration.phone == applicant.phone,
            _active(),
        )
    )
    if phone_taken is not None:
        raise PhoneTaken(training.code)
    confirmed = await _count(db, training.code, RegistrationStatus.CONFIRMED)
    has_seat = confirmed < training.capacity
    row = Registration(
        reference=new_reference(),
        session_code=training.code,
        chat_id=applicant.chat_id,
        full_name=applicant.full_name,
        phone=applicant.phone,
        email=applicant.email,
        kra_pin=applicant.kra_pin,
        language=applicant.language,
        status=RegistrationStatus.CONFIRMED if has_seat else RegistrationStatus.WAITLISTED,
        created_at=now,
        confirmed_at=now if has_seat else None,
    )
    db.add(row)
    await db.flush()
    return RegisterResult(await describe(db, row, training), existing=False)


async def _fill_free_seats(
    db: AsyncSession, training: TrainingSession, now: datetime
) -> list[RegistrationInfo]:
    """Confirms the first on the waitlist while seats are free; each is owed a notice."""
    if training.starts_at <= now:
        return []
    promoted: list[RegistrationInfo] = []
    free = training.capacity - await _count(db, training.code, RegistrationStatus.CONFIRMED)
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
    promoted = await _fill_free_seats(db, training, now) if was_confirmed else []
    return CancelResult(await describe(db, row, training), promoted[0] if promoted else None)


async def _owned(db: AsyncSession, reference: str, chat_id: int | None) -> Registration:
    query = select(Registration).where(
        Registration.reference == normalise_reference(reference), _active()
    )
    if chat_id is not None:
        query = query.where(Registration.chat_id == chat_id)
    row = await db.scalar(query)
    if row is None:
        raise RegistrationNotFound(reference)
    return row


# --- public services ------------------------------------------------------------------------


async def register(
    sessions: SessionFactory, code: str, applicant: Applicant, now: datetime
) -> RegisterResult:
    """Registers ``applicant`` for session ``code``: confirmed while seats last, else waitlisted.

    Raises :class:`UnknownTrainingSession`, :class:`TrainingSessionStarted` or :class:`PhoneTaken`; a person
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
            code = (await _owned(db, reference, chat_id)).session_code
            training = (await _lock_training_sessions(db, [code]))[code]
            row = await _owned(db, reference, chat_id)  # again, now that the session is locked
            return await _cancel_locked(db, row, training, now)

    return await retry_if_locked(attempt)


async def move(
    sessions: SessionFactory, reference: str, new_code: str, chat_id: int, now: datetime
) -> MoveResult:
    """Moves a chat's registration to another session in one transaction.

    The new registration is confirmed or waitlisted like any other; the old one is
    cancelled (its seat promoting the next person). Already registered for the target →
    nothing changes and that registration is returned.
    """

    async def attempt() -> MoveResult:
        async with sessions() as db, db.begin():
            old_code = (await _owned(db, reference, chat_id)).session_code
            if old_code == new_code:
                raise RegistrationError("same_session")
            locked = await _lock_training_sessions(db, [old_code, new_code])
            row = await _owned(db, reference, chat_id)
            applicant = Applicant(
                chat_id=row.chat_id,
                full_name=row.full_name,
                phone=row.phone,
                language=row.language,
                email=row.email,
                kra_pin=row.kra_pin,
            )
            # The old one is cancelled first, so the phone's unique index lets the new in.
            if locked[new_code].starts_at <= now:
                raise TrainingSessionStarted(new_code)
            cancelled = await _cancel_locked(db, row, locked[old_code], now)
            moved = await _register_locked(db, locked[new_code], applicant, now)
            if moved.existing:  # already in the target session: keep the old one after all
                raise _AlreadyThere(moved)
            return MoveResult(moved, cancelled.cancelled, cancelled.promoted)

    try:
        return await retry_if_locked(attempt)
    except _AlreadyThere as there:  # the transaction was rolled back: nothing changed
        return MoveResult(there.result, None, None)


class _AlreadyThere(Exception):
    def __init__(self, result: RegisterResult) -> None:
        super().__init__("already registered for the target session")
        self.result = result


async def my_registrations(
    sessions: SessionFactory, chat_id: int, now: datetime
) -> list[RegistrationInfo]:
    """The chat's active registrations for sessions that have not ended, soonest first."""
    async with sessions() as db:
        rows = (
            await db.execute(
                select(Registration, TrainingSession)
                .join(TrainingSession, TrainingSession.code == Registration.session_code)
                .where(Registration.chat_id == chat_id, _active(), TrainingSession.ends_at > now)
                .order_by(TrainingSession.starts_at, Registration.id)
            )
        ).all()
        return [await describe(db, row, training) for row, training in rows]


async def find_registration(
    sessions: SessionFactory, reference: str, chat_id: int | None = None
) -> RegistrationInfo:
    async with sessions() as db:
        row = await _owned(db, reference, chat_id)
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
    """Every session (or one) with its confirmed and waitlisted counts, soonest first."""
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


def _when(status: RegistrationStatus):  # noqa: ANN202 - a SQL expression
    return case((Registration.status == status, 1), else_=0)


async def offers(
    sessions: SessionFactory,
    now: datetime,
    audience: Audience,
    language: str,
    limit: int = 8,
) -> list[TrainingOffer]:
    """Upcoming sessions for ``audience`` and ``all``, the reader's language first, then by
    date, each with its free seats."""
    counts = {c.training_session.code: c for c in await training_session_counts(sessions)}
    upcoming = [
        c
        for c in counts.values()
        if c.training_session.starts_at > now
        and c.training_session.audience in (audience, Audience.ALL)
    ]
    upcoming.sort(
        key=lambda c: (c.training_session.language.value != language, c.training_session.starts_at)
    )
    return [
        TrainingOffer(c.training_session, max(c.training_session.capacity - c.confirmed, 0))
        for c in upcoming[:limit]
    ]


@dataclass(frozen=True)
class ExportRow:
    registration: RegistrationInfo
    confirmed_at: datetime | None
    cancelled_at: datetime | None


async def export_rows(sessions: SessionFactory, code: str | None = None) -> list[ExportRow]:
    """Every registration (cancelled ones too), by session then order of arrival."""
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


# --- the gateway's outbox -------------------------------------------------------------------


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
                if result.rowcount != 1:
                    return None
                notice = await db.get(OutboxNotice, notice_id)
                assert notice is not None
                info = None
                if notice.registration_id is not None:
                    row = await db.get(Registration, notice.registration_id)
                    training = row and await db.get(TrainingSession, row.session_code)
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
