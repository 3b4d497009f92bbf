"""Ownership proofs, one-time codes, limit events and the disclosure audit trail."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ntsa_assistant.storage.models.base import Base, UtcDateTime, enum_column

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
    method: Mapped[ProofMethod] = mapped_column(enum_column(ProofMethod, "proof_method"))
    proven_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class LimitEvent(Base):
    __tablename__ = "limit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[LimitKind] = mapped_column(enum_column(LimitKind, "limit_kind"))
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
    method: Mapped[ProofMethod] = mapped_column(enum_column(ProofMethod, "disclosure_method"))
    parts: Mapped[str] = mapped_column(String(32))
