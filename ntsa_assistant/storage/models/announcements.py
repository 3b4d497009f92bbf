"""Announcements: who asked to be told, and a send list per announcement.

``announcement_subscriptions``: one row per chat that asked for the migration's deadline
announcements, with the language to write in; unsubscribing (or blocking the bot) deletes
it. ``announcements``: one row per thing to announce — a date of the timeline (made by the
first gateway that finds it due, once, by its ``key``) or an operator's broadcast (its text,
language and audience). ``announcement_deliveries``: the send list, one row per recipient
and announcement (never two: the unique pair is what makes "at most once" hold across
restarts and replicas), each ``pending`` until it ends ``sent``, ``blocked``, ``failed``,
``expired`` or ``cancelled``. A sender takes a row with a lease (``leased_until``), so a row
whose sender died is taken again once the lease is over; the same column delays a retry.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ntsa_assistant.storage.models.base import Base, Language, UtcDateTime, enum_column


class AnnouncementKind(enum.StrEnum):
    TIMELINE = "timeline"  # a date of the migration, sent by the gateway at its time
    BROADCAST = "broadcast"  # an operator's text (``ntsa-assistant broadcast``)


class DeliveryState(enum.StrEnum):
    PENDING = "pending"  # still to send (perhaps taken by a sender under a lease)
    SENT = "sent"
    BLOCKED = "blocked"  # the person blocked the bot (403): unsubscribed
    FAILED = "failed"  # refused for good (e.g. chat not found), or too many tries
    EXPIRED = "expired"  # its moment passed before it could go (a date already behind)
    CANCELLED = "cancelled"  # the person unsubscribed before it went


class Subscription(Base):
    __tablename__ = "announcement_subscriptions"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    language: Mapped[Language] = mapped_column(enum_column(Language, "subscription_language"))
    subscribed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Announcement(Base):
    __tablename__ = "announcements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # timeline:<topic>:<day>, or broadcast:<sha256 of language, audience and text>
    key: Mapped[str] = mapped_column(String(96), unique=True)
    kind: Mapped[AnnouncementKind] = mapped_column(
        enum_column(AnnouncementKind, "announcement_kind")
    )
    topic: Mapped[str | None] = mapped_column(String(32))  # a timeline announcement's topic
    language: Mapped[Language | None] = mapped_column(
        enum_column(Language, "announcement_language")
    )  # a broadcast's text's
    audience: Mapped[str | None] = mapped_column(String(64))  # a broadcast's
    text: Mapped[str | None] = mapped_column(Text)  # a broadcast's
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # a timeline announcement is not sent from this instant on (its date is behind it)
    send_until: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AnnouncementDelivery(Base):
    __tablename__ = "announcement_deliveries"
    __table_args__ = (
        UniqueConstraint("announcement_id", "chat_id"),
        Index("ix_announcement_deliveries_todo", "announcement_id", "state", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    announcement_id: Mapped[int] = mapped_column(ForeignKey("announcements.id", ondelete="CASCADE"))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    language: Mapped[Language] = mapped_column(enum_column(Language, "delivery_language"))
    state: Mapped[DeliveryState] = mapped_column(enum_column(DeliveryState, "delivery_state"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # taken by a sender until then, or (given back) not to be tried before then
    leased_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    detail: Mapped[str | None] = mapped_column(String(200))  # Telegram's reason for a refusal
