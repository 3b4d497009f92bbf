"""Answers to the FAQ page's "Did this help?", for the operators' report.

A vote names a topic by its page anchor, the page's language and yes or no. Who voted is
kept only as HMACs under the web process's secret, never in clear: ``client_key`` of the
client's address (the per-client limit) and ``voter_key`` of the browser's random form
cookie (one vote per topic per browser; many browsers may share one address behind a
carrier's NAT). ``at`` is indexed for the limit, the report and retention.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ntsa_assistant.storage.models.base import Base, Language, UtcDateTime, enum_column


class FaqFeedback(Base):
    __tablename__ = "faq_feedback"
    __table_args__ = (
        Index("ix_faq_feedback_client_key_at", "client_key", "at"),
        Index("ix_faq_feedback_voter_key_anchor", "voter_key", "anchor"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    anchor: Mapped[str] = mapped_column(String(64))
    language: Mapped[Language] = mapped_column(enum_column(Language, "faq_feedback_language"))
    helpful: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    client_key: Mapped[str] = mapped_column(String(64))
    voter_key: Mapped[str] = mapped_column(String(64))
