"""Limits that hold under concurrency, codes sent off the reply path, indexed instants.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

``limit_locks``: one row per limit and key, locked before a limit is checked and counted.
``limit_events.phone_key``: an HMAC of the phone a code went to (daily cap, SMS budget).
``sms_outbox``: codes the gateway sends. Indexes on the instants retention purges by.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "limit_locks",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("touched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key", name=op.f("pk_limit_locks")),
    )
    op.create_index(op.f("ix_limit_locks_touched_at"), "limit_locks", ["touched_at"])
    op.add_column("limit_events", sa.Column("phone_key", sa.String(length=64), nullable=True))
    op.create_index(op.f("ix_limit_events_phone_key"), "limit_events", ["phone_key"])
    op.create_table(
        "sms_outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_outbox")),
    )
    op.create_index(op.f("ix_sms_outbox_created_at"), "sms_outbox", ["created_at"])
    op.create_index(op.f("ix_one_time_codes_created_at"), "one_time_codes", ["created_at"])
    op.create_index(op.f("ix_ownership_proofs_proven_at"), "ownership_proofs", ["proven_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_ownership_proofs_proven_at"), table_name="ownership_proofs")
    op.drop_index(op.f("ix_one_time_codes_created_at"), table_name="one_time_codes")
    op.drop_index(op.f("ix_sms_outbox_created_at"), table_name="sms_outbox")
    op.drop_table("sms_outbox")
    op.drop_index(op.f("ix_limit_events_phone_key"), table_name="limit_events")
    with op.batch_alter_table("limit_events") as batch:
        batch.drop_column("phone_key")
    op.drop_index(op.f("ix_limit_locks_touched_at"), table_name="limit_locks")
    op.drop_table("limit_locks")
