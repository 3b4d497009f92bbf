"""Ownership proofs, one-time codes, limit events and the disclosure audit trail."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ntsa_assistant.storage.models.base import Base, UtcDateTime, enum_column

# Proving that a chat speaks for an ID number before its status is told (DESIGN.md,
# "Privacy"). ``chat_id`` is Rasa's sender id (a string). One-time codes are stored only as
# an HMAC keyed with a salt and the server's pepper. Limit events are one row per counted
# attempt, so limits survive restarts and hold across replicas; a limit's check and its new
# event are made atomic by first locking that limit's row in ``limit_locks``. Every table
# has an indexed instant, so retention can purge old rows.


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
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class OwnershipProof(Base):
    __tablename__ = "ownership_proofs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chat_id: Mapped[str] = mapped_column(String(64), index=True)
    id_number: Mapped[str] = mapped_column(String(8))
    method: Mapped[ProofMethod] = mapped_column(enum_column(ProofMethod, "proof_method"))
    proven_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class LimitEvent(Base):
    __tablename__ = "limit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[LimitKind] = mapped_column(enum_column(LimitKind, "limit_kind"))
    chat_id: Mapped[str] = mapped_column(String(64), index=True)
    id_number: Mapped[str] = mapped_column(String(8), index=True)
    # For a code sent to a real phone: an HMAC of that phone (never the number itself), for
    # the daily cap per phone and the hourly SMS budget; None for anything else.
    phone_key: Mapped[str | None] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class LimitLock(Base):
    """One row per limit and key (e.g. ``code_sent`` / ``id:21000102``), locked by each
    transaction that checks that limit and counts against it, so two requests never both
    pass a check that only one of them may pass."""

    __tablename__ = "limit_locks"

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    touched_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class SmsOutbox(Base):
    """A text the gateway owes a phone (a one-time code), sent off the reply path.

    A row is written for every code, also for an unknown ID (``phone`` None, nothing to
    send), so both cost the same. ``body`` holds the message until it is sent, given up or
    expired, then it is wiped: a code is never kept in clear longer than that."""

    __tablename__ = "sms_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    phone: Mapped[str | None] = mapped_column(String(16))
    body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    outcome: Mapped[str | None] = mapped_column(String(32))


class StatusDisclosure(Base):
    """The audit trail: one row each time a status answer was given, and on what proof."""

    __tablename__ = "status_disclosures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    disclosed_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    chat_id: Mapped[str] = mapped_column(String(64))
    id_number: Mapped[str] = mapped_column(String(8), index=True)
    method: Mapped[ProofMethod] = mapped_column(enum_column(ProofMethod, "disclosure_method"))
    parts: Mapped[str] = mapped_column(String(32))
