"""SQLAlchemy models: the four record files of DESIGN.md, and what the assistant adds."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """An aware instant, stored in UTC and read back aware on every backend (SQLite too)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: give every instant a time zone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class OrganisationCategory(enum.StrEnum):
    MOTOR_DEALER = "motor_dealer"
    FINANCIAL_INSTITUTION = "financial_institution"
    INSURANCE = "insurance"
    COMPANY = "company"
    EMBASSY_MISSION = "embassy_mission"
    GOVERNMENT_MDA = "government_mda"


class LinkStatus(enum.StrEnum):
    LINKED = "linked"
    PENDING = "pending"
    NOT_LINKED = "not_linked"


class TransactionStatus(enum.StrEnum):
    SUBMITTED = "submitted"
    AWAITING_PAYMENT = "awaiting_payment"
    AWAITING_INSPECTION = "awaiting_inspection"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    COMPLETED = "completed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"

    @property
    def is_pending(self) -> bool:
        return self not in _NOT_PENDING


_NOT_PENDING = {
    TransactionStatus.COMPLETED,
    TransactionStatus.REJECTED,
    TransactionStatus.CANCELLED,
}


class Audience(enum.StrEnum):
    MOTORISTS = "motorists"
    MOTOR_DEALERS = "motor_dealers"
    FINANCIAL_INSTITUTIONS = "financial_institutions"
    INSURANCE = "insurance"
    COMPANIES = "companies"
    EMBASSIES_MISSIONS = "embassies_missions"
    GOVERNMENT_MDAS = "government_mdas"
    ALL = "all"


class Language(enum.StrEnum):
    EN = "en"
    SW = "sw"


def _enum(kind: type[enum.Enum], name: str) -> Enum:
    """Stored as the value string, checked by a named constraint on every backend."""
    return Enum(
        kind,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Account(Base):
    __tablename__ = "accounts"

    id_number: Mapped[str] = mapped_column(String(8), primary_key=True)
    full_name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(16))
    email: Mapped[str | None] = mapped_column(String(254))
    validated_on: Mapped[date | None] = mapped_column(Date)


class Organisation(Base):
    __tablename__ = "organisations"

    kra_pin: Mapped[str] = mapped_column(String(11), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[OrganisationCategory] = mapped_column(
        _enum(OrganisationCategory, "organisation_category")
    )
    representative_id_number: Mapped[str] = mapped_column(String(8), index=True)
    link_status: Mapped[LinkStatus] = mapped_column(_enum(LinkStatus, "link_status"))


class Transaction(Base):
    __tablename__ = "transactions"

    reference: Mapped[str] = mapped_column(String(64), primary_key=True)
    id_number: Mapped[str] = mapped_column(String(8), index=True)
    service: Mapped[str] = mapped_column(String(200))
    status: Mapped[TransactionStatus] = mapped_column(
        _enum(TransactionStatus, "transaction_status")
    )
    submitted_on: Mapped[date] = mapped_column(Date)
    updated_on: Mapped[date] = mapped_column(Date)


class TrainingSession(Base):
    __tablename__ = "training_sessions"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    audience: Mapped[Audience] = mapped_column(_enum(Audience, "audience"))
    language: Mapped[Language] = mapped_column(_enum(Language, "language"))
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)
    capacity: Mapped[int] = mapped_column(Integer)
    join_url: Mapped[str] = mapped_column(String(500))


__all__ = [
    "Account",
    "Audience",
    "Base",
    "Language",
    "LinkStatus",
    "Organisation",
    "OrganisationCategory",
    "TrainingSession",
    "Transaction",
    "TransactionStatus",
]


# --- issue 5: training registrations, reminders, outbox ---
# A "person" is a Telegram chat (``chat_id``): one active registration per chat per session,
# and also one per phone number per session. Cancelled rows stay (history, export) and do not
# count, so both unique indexes are partial (``status <> 'cancelled'``) on both backends.


class RegistrationStatus(enum.StrEnum):
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"


_ACTIVE = "status <> 'cancelled'"


class Registration(Base):
    __tablename__ = "training_registrations"
    __table_args__ = (
        Index(
            "uq_training_registrations_session_chat",
            "session_code",
            "chat_id",
            unique=True,
            sqlite_where=text(_ACTIVE),
            postgresql_where=text(_ACTIVE),
        ),
        Index(
            "uq_training_registrations_session_phone",
            "session_code",
            "phone",
            unique=True,
            sqlite_where=text(_ACTIVE),
            postgresql_where=text(_ACTIVE),
        ),
        Index("ix_training_registrations_session_status", "session_code", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    session_code: Mapped[str] = mapped_column(
        String(32), ForeignKey("training_sessions.code", ondelete="RESTRICT")
    )
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    full_name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(16))
    email: Mapped[str | None] = mapped_column(String(254))
    kra_pin: Mapped[str | None] = mapped_column(String(11))
    language: Mapped[Language] = mapped_column(_enum(Language, "registration_language"))
    status: Mapped[RegistrationStatus] = mapped_column(
        _enum(RegistrationStatus, "registration_status")
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ReminderDelivery(Base):
    """The sent-marker of one reminder: inserted before sending, so a reminder is claimed once."""

    __tablename__ = "training_reminder_deliveries"
    __table_args__ = (UniqueConstraint("registration_id", "offset_minutes"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("training_registrations.id", ondelete="CASCADE")
    )
    offset_minutes: Mapped[int] = mapped_column(Integer)
    claimed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    outcome: Mapped[str] = mapped_column(String(32), default="claimed")


class OutboxNotice(Base):
    """A message the gateway owes a chat (e.g. "you were promoted"), claimed once, then sent."""

    __tablename__ = "outbox_notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    registration_id: Mapped[int | None] = mapped_column(
        ForeignKey("training_registrations.id", ondelete="CASCADE")
    )
    language: Mapped[Language] = mapped_column(_enum(Language, "outbox_language"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    outcome: Mapped[str | None] = mapped_column(String(32))


__all__ += ["OutboxNotice", "Registration", "RegistrationStatus", "ReminderDelivery"]


# --- issue 4: verification, limits, audit ---
# Proving that a chat speaks for an ID number before its status is told (DESIGN.md,
# "Privacy"). ``chat_id`` is Rasa's sender id (a string). One-time codes are stored only as
# a salted HMAC. Limit events are one row per counted attempt, so limits survive restarts
# and hold across replicas; old rows may be purged after an hour.


class ProofMethod(enum.StrEnum):
    CONTACT = "contact"
    CODE = "code"


class LimitKind(enum.StrEnum):
    LOOKUP = "lookup"
    FAILED_PROOF = "failed_proof"
    CODE_SENT = "code_sent"


class OneTimeCode(Base):
    __tablename__ = "one_time_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chat_id: Mapped[str] = mapped_column(String(64), index=True)
    id_number: Mapped[str] = mapped_column(String(8), index=True)
    salt: Mapped[str] = mapped_column(String(64))
    code_hash: Mapped[str] = mapped_column(String(64))
    phone_hint: Mapped[str] = mapped_column(String(2))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class OwnershipProof(Base):
    __tablename__ = "ownership_proofs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chat_id: Mapped[str] = mapped_column(String(64), index=True)
    id_number: Mapped[str] = mapped_column(String(8))
    method: Mapped[ProofMethod] = mapped_column(_enum(ProofMethod, "proof_method"))
    proven_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class LimitEvent(Base):
    __tablename__ = "limit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[LimitKind] = mapped_column(_enum(LimitKind, "limit_kind"))
    chat_id: Mapped[str] = mapped_column(String(64), index=True)
    id_number: Mapped[str] = mapped_column(String(8), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class StatusDisclosure(Base):
    """The audit trail: one row each time a status answer was given, and on what proof."""

    __tablename__ = "status_disclosures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    disclosed_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    chat_id: Mapped[str] = mapped_column(String(64))
    id_number: Mapped[str] = mapped_column(String(8), index=True)
    method: Mapped[ProofMethod] = mapped_column(_enum(ProofMethod, "disclosure_method"))
    parts: Mapped[str] = mapped_column(String(32))


__all__ += [
    "LimitEvent",
    "LimitKind",
    "OneTimeCode",
    "OwnershipProof",
    "ProofMethod",
    "StatusDisclosure",
]
