"""Training sessions (the ``sessions.csv`` record file), registrations, reminder markers and
the gateway's outbox."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ntsa_assistant.storage.models.base import Base, Language, UtcDateTime, enum_column


class Audience(enum.StrEnum):
    MOTORISTS = "motorists"
    MOTOR_DEALERS = "motor_dealers"
    FINANCIAL_INSTITUTIONS = "financial_institutions"
    INSURANCE = "insurance"
    COMPANIES = "companies"
    EMBASSIES_MISSIONS = "embassies_missions"
    GOVERNMENT_MDAS = "government_mdas"
    ALL = "all"


class TrainingSession(Base):
    __tablename__ = "training_sessions"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    audience: Mapped[Audience] = mapped_column(enum_column(Audience, "audience"))
    language: Mapped[Language] = mapped_column(enum_column(Language, "language"))
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)
    capacity: Mapped[int] = mapped_column(Integer)
    join_url: Mapped[str] = mapped_column(String(500))


# A "person" is a Telegram chat (``chat_id``): one active registration per chat per training
# session, and also one per proven phone number per training session. A phone is proven
# only by Telegram's own contact share; a typed phone proves nothing, so it reserves nothing
# (otherwise a stranger typing someone's number first would lock its owner out). Cancelled
# rows stay (history, export) and do not count, so both unique indexes are partial.


class RegistrationStatus(enum.StrEnum):
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"


_ACTIVE = "status <> 'cancelled'"
_ACTIVE_PROVEN = "status <> 'cancelled' AND phone_proven"


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
            sqlite_where=text(_ACTIVE_PROVEN),
            postgresql_where=text(_ACTIVE_PROVEN),
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
    phone_proven: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    email: Mapped[str | None] = mapped_column(String(254))
    kra_pin: Mapped[str | None] = mapped_column(String(11))
    language: Mapped[Language] = mapped_column(enum_column(Language, "registration_language"))
    status: Mapped[RegistrationStatus] = mapped_column(
        enum_column(RegistrationStatus, "registration_status")
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ReminderDelivery(Base):
    """The sent-marker of one reminder: inserted before sending, so a reminder is claimed once.

    A claim is a lease: one whose sender never finished (a crash) can be claimed again after
    it expires; a transient failure waits until ``retry_at`` (backoff by ``attempts``)."""

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
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    retry_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class OutboxNotice(Base):
    """A message the gateway owes a chat (e.g. "you were promoted"), claimed once, then sent.

    A claim is a lease (see :class:`ReminderDelivery`); a transient failure gives it back
    for ``retry_at``."""

    __tablename__ = "outbox_notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    registration_id: Mapped[int | None] = mapped_column(
        ForeignKey("training_registrations.id", ondelete="CASCADE")
    )
    language: Mapped[Language] = mapped_column(enum_column(Language, "outbox_language"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    outcome: Mapped[str | None] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    retry_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
