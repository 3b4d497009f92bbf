"""Handoffs to human agents, each person's desk topic, and the desk's outbox.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05

``desk_topics``: one forum topic per person (reused for every handoff) and a block, if an
agent set one. ``handoffs``: who, when asked, why, what about, the desk and topic, who
claimed it, when closed and why, the rating. ``desk_outbox``: what waits to be sent into a
desk group under Telegram's per-group limit (message ids to copy, or a short text).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _instant(name: str, *, nullable: bool = True) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "desk_topics",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("desk_chat_id", sa.BigInteger(), nullable=False),
        sa.Column("thread_id", sa.Integer(), nullable=True),
        sa.Column("label", sa.String(length=64), nullable=False),
        _instant("created_at", nullable=False),
        _instant("blocked_until"),
        sa.PrimaryKeyConstraint("chat_id", name=op.f("pk_desk_topics")),
        sa.UniqueConstraint("desk_chat_id", "thread_id", name=op.f("uq_desk_topics_desk_chat_id")),
    )
    op.create_table(
        "handoffs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("language", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("topic", sa.String(length=32), nullable=True),
        sa.Column("typed_reason", sa.Text(), nullable=True),
        sa.Column("context", sa.Text(), nullable=True),
        _instant("asked_at", nullable=False),
        _instant("queued_at"),
        sa.Column("desk_chat_id", sa.BigInteger(), nullable=True),
        sa.Column("thread_id", sa.Integer(), nullable=True),
        sa.Column("agent_id", sa.BigInteger(), nullable=True),
        sa.Column("agent_name", sa.String(length=64), nullable=True),
        _instant("claimed_at"),
        _instant("escalated_at"),
        _instant("closed_at"),
        sa.Column("close_reason", sa.String(length=32), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        _instant("rated_at"),
        sa.CheckConstraint("language IN ('en', 'sw')", name=op.f("ck_handoffs_handoff_language")),
        sa.CheckConstraint(
            "state IN ('choosing', 'waiting', 'claimed', 'closed')",
            name=op.f("ck_handoffs_handoff_state"),
        ),
        sa.CheckConstraint(
            "close_reason IN ('done', 'cancelled', 'blocked', 'unreachable')",
            name=op.f("ck_handoffs_handoff_close_reason"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handoffs")),
    )
    op.create_index(op.f("ix_handoffs_asked_at"), "handoffs", ["asked_at"])
    op.create_index("ix_handoffs_chat_id_state", "handoffs", ["chat_id", "state"])
    op.create_index("ix_handoffs_state_queued_at", "handoffs", ["state", "queued_at"])
    op.create_index("ix_handoffs_desk_thread", "handoffs", ["desk_chat_id", "thread_id"])
    op.create_table(
        "desk_outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("handoff_id", sa.Integer(), nullable=False),
        sa.Column("desk_chat_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("from_chat_id", sa.BigInteger(), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        _instant("created_at", nullable=False),
        _instant("leased_until"),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _instant("sent_at"),
        sa.CheckConstraint(
            "kind IN ('card', 'person_copy', 'person_text', 'notice', 'rename')",
            name=op.f("ck_desk_outbox_desk_item_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["handoff_id"],
            ["handoffs.id"],
            name=op.f("fk_desk_outbox_handoff_id_handoffs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_outbox")),
    )
    op.create_index(op.f("ix_desk_outbox_created_at"), "desk_outbox", ["created_at"])
    op.create_index("ix_desk_outbox_desk_pending", "desk_outbox", ["desk_chat_id", "sent_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_desk_outbox_desk_pending", table_name="desk_outbox")
    op.drop_index(op.f("ix_desk_outbox_created_at"), table_name="desk_outbox")
    op.drop_table("desk_outbox")
    op.drop_index("ix_handoffs_desk_thread", table_name="handoffs")
    op.drop_index("ix_handoffs_state_queued_at", table_name="handoffs")
    op.drop_index("ix_handoffs_chat_id_state", table_name="handoffs")
    op.drop_index(op.f("ix_handoffs_asked_at"), table_name="handoffs")
    op.drop_table("handoffs")
    op.drop_table("desk_topics")
