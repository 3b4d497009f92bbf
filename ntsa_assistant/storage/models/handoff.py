"""Handoffs to a human agent, the desk topic of each person, and the desk's outbox.

A person has at most one topic in the agents' desk (a forum supergroup), reused for every
later handoff; ``thread_id`` is None while it is (re)created. A handoff moves
``choosing`` (the person picks what it is about) → ``waiting`` (queued by ``queued_at``)
→ ``claimed`` (an agent took it) → ``closed`` (with a reason, and perhaps a rating).
Everything bound for a desk group waits in ``desk_outbox`` so that one pacer keeps under
Telegram's limit per group and a restart loses nothing: rows hold Telegram message ids to
copy, or a short text (a person's message while queued, merged when several wait).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ntsa_assistant.storage.models.base import Base, Language, UtcDateTime, enum_column


class HandoffState(enum.StrEnum):
    CHOOSING = "choosing"
    WAITING = "waiting"
    CLAIMED = "claimed"
    CLOSED = "closed"


class CloseReason(enum.StrEnum):
    DONE = "done"  # an agent handed the person back to the bot
    CANCELLED = "cancelled"  # the person left (button or /cancel)
    BLOCKED = "blocked"  # an agent blocked the person
    UNREACHABLE = "unreachable"  # the person blocked the bot


class DeskItemKind(enum.StrEnum):
    CARD = "card"  # the context card that opens a handoff in its topic
    PERSON_COPY = "person_copy"  # copy the person's message (from_chat_id, message_id)
    PERSON_TEXT = "person_text"  # a person's text, merged with the next ones when queued
    NOTICE = "notice"  # the bot's own line in the topic (claimed, closed, escalation…)
    RENAME = "rename"  # the topic's name (state shown in it)


class DeskTopic(Base):
    __tablename__ = "desk_topics"
    __table_args__ = (UniqueConstraint("desk_chat_id", "thread_id"),)

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    desk_chat_id: Mapped[int] = mapped_column(BigInteger)
    thread_id: Mapped[int | None] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    blocked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Handoff(Base):
    __tablename__ = "handoffs"
    __table_args__ = (
        Index("ix_handoffs_chat_id_state", "chat_id", "state"),
        Index("ix_handoffs_state_queued_at", "state", "queued_at"),
        Index("ix_handoffs_desk_thread", "desk_chat_id", "thread_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    language: Mapped[Language] = mapped_column(enum_column(Language, "handoff_language"))
    reason: Mapped[str] = mapped_column(String(16))  # a protocol.HandoffReason value
    state: Mapped[HandoffState] = mapped_column(enum_column(HandoffState, "handoff_state"))
    topic: Mapped[str | None] = mapped_column(String(32))
    typed_reason: Mapped[str | None] = mapped_column(Text)  # masked
    context: Mapped[str | None] = mapped_column(Text)  # masked transcript (JSON) until the card
    asked_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    queued_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    desk_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    thread_id: Mapped[int | None] = mapped_column(Integer)
    agent_id: Mapped[int | None] = mapped_column(BigInteger)
    agent_name: Mapped[str | None] = mapped_column(String(64))  # only when the agent shows it
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    close_reason: Mapped[CloseReason | None] = mapped_column(
        enum_column(CloseReason, "handoff_close_reason")
    )
    rating: Mapped[int | None] = mapped_column(Integer)
    rated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class DeskOutbox(Base):
    __tablename__ = "desk_outbox"
    __table_args__ = (Index("ix_desk_outbox_desk_pending", "desk_chat_id", "sent_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id", ondelete="CASCADE"))
    desk_chat_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[DeskItemKind] = mapped_column(enum_column(DeskItemKind, "desk_item_kind"))
    from_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    message_id: Mapped[int | None] = mapped_column(Integer)
    text: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    leased_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
