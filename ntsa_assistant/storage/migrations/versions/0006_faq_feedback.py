"""Answers to the FAQ page's "Did this help?".

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

``faq_feedback``: one row per vote (topic anchor, language, yes/no, when), with who voted
kept only as HMACs: of the client's address (``client_key``, the per-client limit) and of
the browser's form cookie (``voter_key``, one vote per topic per browser). Indexed by
instant (retention, the report), by client and instant, and by voter and topic.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "faq_feedback",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("anchor", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=32), nullable=False),
        sa.Column("helpful", sa.Boolean(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client_key", sa.String(length=64), nullable=False),
        sa.Column("voter_key", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "language IN ('en', 'sw')", name=op.f("ck_faq_feedback_faq_feedback_language")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_faq_feedback")),
    )
    op.create_index(op.f("ix_faq_feedback_at"), "faq_feedback", ["at"])
    op.create_index("ix_faq_feedback_client_key_at", "faq_feedback", ["client_key", "at"])
    op.create_index("ix_faq_feedback_voter_key_anchor", "faq_feedback", ["voter_key", "anchor"])


def downgrade() -> None:
    op.drop_index("ix_faq_feedback_voter_key_anchor", table_name="faq_feedback")
    op.drop_index("ix_faq_feedback_client_key_at", table_name="faq_feedback")
    op.drop_index(op.f("ix_faq_feedback_at"), table_name="faq_feedback")
    op.drop_table("faq_feedback")
