"""What happened, for the operators' report, with no personal data.

One row of ``activity_events`` per event: a user's turn and how Rasa answered it (written
by Rasa's event broker, ``nlu/ntsa_rasa/event_broker.py``), a handoff's steps, a status
look-up's outcome, a registration's change, a vote on the FAQ page. A chat is known only by
``chat``: an HMAC-SHA256 of its id under the key in ``activity_key``, so one person's events
link up (people per day, a return within a week) without naming them. A text is kept only
for a message the assistant did not understand, masked and clipped, for the list of what
it missed. Nothing here holds an ID number, a phone, a code or a name.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ntsa_assistant.storage.models.base import Base, Language, UtcDateTime, enum_column

# SQLite numbers rows itself only for an INTEGER primary key; PostgreSQL needs 64 bits for
# years of turns at the deadline rush's rate.
EVENT_ID = BigInteger().with_variant(Integer(), "sqlite")


class EventKind(enum.StrEnum):
    TURN = "turn"  # a user's message: intent, confidence, fell back, the action, latency
    HANDOFF_OPENED = "handoff_opened"  # asked for a person (reason)
    HANDOFF_QUEUED = "handoff_queued"  # said what it is about (topic), queued in a desk
    HANDOFF_CLAIMED = "handoff_claimed"  # an agent took it (first reply or /claim)
    HANDOFF_CLOSED = "handoff_closed"  # back with the bot (outcome: the close reason)
    HANDOFF_RATED = "handoff_rated"  # the person's 1-5
    STATUS = "status"  # a status look-up's proof step (outcome: StatusOutcome)
    REGISTRATION = "registration"  # a training registration changed (RegistrationOutcome)
    FAQ_FEEDBACK = "faq_feedback"  # a vote on the FAQ page (topic, helped or not)


class StatusOutcome(enum.StrEnum):
    PROVEN_CONTACT = "proven_contact"  # the shared own contact matched the phone on record
    PROVEN_CODE = "proven_code"  # the one-time code was right
    FAILED = "failed"  # a wrong code, or a shared phone that did not match (``reason``)
    LOCKED = "locked"  # refused by the attempt limits


class RegistrationOutcome(enum.StrEnum):
    SEATED = "seated"
    WAITLISTED = "waitlisted"
    PROMOTED = "promoted"  # from the waitlist to a seat that freed up
    CANCELLED = "cancelled"


class ActivityEvent(Base):
    __tablename__ = "activity_events"
    __table_args__ = (
        Index("ix_activity_events_kind_at", "kind", "at"),
        Index("ix_activity_events_chat_at", "chat", "at"),
    )

    id: Mapped[int] = mapped_column(EVENT_ID, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    kind: Mapped[EventKind] = mapped_column(enum_column(EventKind, "activity_kind"))
    chat: Mapped[str | None] = mapped_column(String(64))  # HMAC of the chat id (hex)
    language: Mapped[Language | None] = mapped_column(enum_column(Language, "activity_language"))
    # a turn
    intent: Mapped[str | None] = mapped_column(String(128))
    confidence: Mapped[float | None] = mapped_column(Float)
    typed: Mapped[bool | None] = mapped_column(Boolean)  # False: a button or command payload
    fell_back: Mapped[bool | None] = mapped_column(Boolean)
    action: Mapped[str | None] = mapped_column(String(64))  # the action that answered
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    # a handoff, a status look-up, a registration, a vote
    handoff_id: Mapped[int | None] = mapped_column(Integer)  # links a handoff's steps
    reason: Mapped[str | None] = mapped_column(String(32))
    topic: Mapped[str | None] = mapped_column(String(64))
    session_code: Mapped[str | None] = mapped_column(String(32))
    outcome: Mapped[str | None] = mapped_column(String(32))
    seconds: Mapped[int | None] = mapped_column(Integer)
    rating: Mapped[int | None] = mapped_column(Integer)
    # what a person wrote that was not understood: masked, clipped
    text: Mapped[str | None] = mapped_column(Text)


class ActivityKey(Base):
    """The one key (row ``id`` 1) of every ``chat`` HMAC, made by whichever process needs
    it first and kept, so a person hashes the same across restarts and processes."""

    __tablename__ = "activity_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    secret: Mapped[str] = mapped_column(String(64))  # 32 random bytes, hex
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
