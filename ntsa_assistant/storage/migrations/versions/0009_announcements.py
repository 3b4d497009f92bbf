"""Subscriptions to the deadline announcements, announcements and their send lists.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05

``announcement_subscriptions``: the chats that asked to be told, with their language.
``announcements``: a date of the timeline (one row per date, by ``key``) or an operator's
broadcast (text, language, audience). ``announcement_deliveries``: one row per recipient
and announcement (unique pair: never twice), with its state, tries and lease.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LANGUAGES = "'en', 'sw'"
_STATES = "'pending', 'sent', 'blocked', 'failed', 'expired', 'cancelled'"


def _instant(name: str, *, nullable: bool = True) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "announcement_subscriptions",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("language", sa.String(length=32), nullable=False),
        _instant("subscribed_at", nullable=False),
        sa.CheckConstraint(
            f"language IN ({_LANGUAGES})",
            name=op.f("ck_announcement_subscriptions_subscription_language"),
        ),
        sa.PrimaryKeyConstraint("chat_id", name=op.f("pk_announcement_subscriptions")),
    )
    op.create_table(
        "announcements",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=96), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("topic", sa.String(length=32), nullable=True),
        sa.Column("language", sa.String(length=32), nullable=True),
        sa.Column("audience", sa.String(length=64), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        _instant("created_at", nullable=False),
        _instant("send_until"),
        sa.CheckConstraint(
            "kind IN ('timeline', 'broadcast')", name=op.f("ck_announcements_announcement_kind")
        ),
        sa.CheckConstraint(
            f"language IN ({_LANGUAGES})", name=op.f("ck_announcements_announcement_language")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_announcements")),
        sa.UniqueConstraint("key", name=op.f("uq_announcements_key")),
    )
    op.create_table(
        "announcement_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("announcement_id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("language", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _instant("leased_until"),
        _instant("created_at", nullable=False),
        _instant("finished_at"),
        sa.Column("detail", sa.String(length=200), nullable=True),
        sa.CheckConstraint(
            f"language IN ({_LANGUAGES})",
            name=op.f("ck_announcement_deliveries_delivery_language"),
        ),
        sa.CheckConstraint(
            f"state IN ({_STATES})", name=op.f("ck_announcement_deliveries_delivery_state")
        ),
        sa.ForeignKeyConstraint(
            ["announcement_id"],
            ["announcements.id"],
            name=op.f("fk_announcement_deliveries_announcement_id_announcements"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_announcement_deliveries")),
        sa.UniqueConstraint(
            "announcement_id",
            "chat_id",
            name=op.f("uq_announcement_deliveries_announcement_id"),
        ),
    )
    op.create_index(
        op.f("ix_announcement_deliveries_finished_at"),
        "announcement_deliveries",
        ["finished_at"],
    )
    op.create_index(
        "ix_announcement_deliveries_todo",
        "announcement_deliveries",
        ["announcement_id", "state", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_announcement_deliveries_todo", table_name="announcement_deliveries")
    op.drop_index(
        op.f("ix_announcement_deliveries_finished_at"), table_name="announcement_deliveries"
    )
    op.drop_table("announcement_deliveries")
    op.drop_table("announcements")
    op.drop_table("announcement_subscriptions")
