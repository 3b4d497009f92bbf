"""SQLAlchemy models: the four record files of DESIGN.md, and what the assistant adds."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime

from sqlalchemy import Date, DateTime, Enum, Integer, MetaData, String, TypeDecorator
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
