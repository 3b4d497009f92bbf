"""The people and organisations of the record files (DESIGN.md, "Record files"), and
their TIMS applications."""

from __future__ import annotations

import enum
from datetime import date

from sqlalchemy import Date, String
from sqlalchemy.orm import Mapped, mapped_column

from ntsa_assistant.storage.models.base import Base, enum_column


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
        enum_column(OrganisationCategory, "organisation_category")
    )
    representative_id_number: Mapped[str] = mapped_column(String(8), index=True)
    link_status: Mapped[LinkStatus] = mapped_column(enum_column(LinkStatus, "link_status"))


class Transaction(Base):
    __tablename__ = "transactions"

    reference: Mapped[str] = mapped_column(String(64), primary_key=True)
    id_number: Mapped[str] = mapped_column(String(8), index=True)
    service: Mapped[str] = mapped_column(String(200))
    status: Mapped[TransactionStatus] = mapped_column(
        enum_column(TransactionStatus, "transaction_status")
    )
    submitted_on: Mapped[date] = mapped_column(Date)
    updated_on: Mapped[date] = mapped_column(Date)
