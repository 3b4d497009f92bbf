"""The activity record for the operators' report, and the key of its chat hashes.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06

``activity_events``: one row per event (a turn, a handoff's step, a status look-up's
outcome, a registration's change, a vote on the FAQ page) with no personal data: the chat
only as an HMAC, a text only for a message not understood, masked and clipped. Indexed by
instant (the report, retention), by kind and instant, and by chat and instant (a person's
conversations). ``activity_key``: the one HMAC key, made on first use.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS = (
    "'turn', 'handoff_opened', 'handoff_queued', 'handoff_claimed', 'handoff_closed', "
    "'handoff_rated', 'status', 'registration', 'faq_feedback'"
)


def upgrade() -> None:
    op.create_table(
        "activity_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("chat", sa.String(length=64), nullable=True),
        sa.Column("language", sa.String(length=32), nullable=True),
        sa.Column("intent", sa.String(length=128), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("typed", sa.Boolean(), nullable=True),
        sa.Column("fell_back", sa.Boolean(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("handoff_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("topic", sa.String(length=64), nullable=True),
        sa.Column("session_code", sa.String(length=32), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("seconds", sa.Integer(), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.CheckConstraint(f"kind IN ({_KINDS})", name=op.f("ck_activity_events_activity_kind")),
        sa.CheckConstraint(
            "language IN ('en', 'sw')", name=op.f("ck_activity_events_activity_language")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity_events")),
    )
    op.create_index(op.f("ix_activity_events_at"), "activity_events", ["at"])
    op.create_index("ix_activity_events_kind_at", "activity_events", ["kind", "at"])
    op.create_index("ix_activity_events_chat_at", "activity_events", ["chat", "at"])
    op.create_table(
        "activity_key",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity_key")),
    )


def downgrade() -> None:
    op.drop_table("activity_key")
    op.drop_index("ix_activity_events_chat_at", table_name="activity_events")
    op.drop_index("ix_activity_events_kind_at", table_name="activity_events")
    op.drop_index(op.f("ix_activity_events_at"), table_name="activity_events")
    op.drop_table("activity_events")
