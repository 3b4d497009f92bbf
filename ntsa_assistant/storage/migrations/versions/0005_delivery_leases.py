"""Registrations and deliveries: only a proven phone reserves a seat; claims are leases.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28

- ``training_registrations.phone_proven``: true only for a phone proven by Telegram's own
  contact share. The per-phone unique index covers only those, so a typed phone (which
  anyone can type) never blocks another person. Existing rows count as typed.
- ``attempts`` and ``retry_at`` on reminder deliveries and outbox notices: a claim whose
  sender never finished can be claimed again after a lease, and a transient failure is
  retried with backoff.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PHONE_INDEX = "uq_training_registrations_session_phone"
ACTIVE = sa.text("status <> 'cancelled'")
ACTIVE_PROVEN = sa.text("status <> 'cancelled' AND phone_proven")
DELIVERY_TABLES = ("training_reminder_deliveries", "outbox_notices")


def _phone_index(where: sa.TextClause) -> None:
    op.create_index(
        PHONE_INDEX,
        "training_registrations",
        ["session_code", "phone"],
        unique=True,
        sqlite_where=where,
        postgresql_where=where,
    )


def upgrade() -> None:
    op.add_column(
        "training_registrations",
        sa.Column("phone_proven", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.drop_index(PHONE_INDEX, table_name="training_registrations")
    _phone_index(ACTIVE_PROVEN)
    for table in DELIVERY_TABLES:
        op.add_column(
            table, sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
        op.add_column(table, sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for table in DELIVERY_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("retry_at")
            batch.drop_column("attempts")
    op.drop_index(PHONE_INDEX, table_name="training_registrations")
    # Typed phones may now repeat; the old index (every active phone) may no longer fit.
    _phone_index(ACTIVE)
    with op.batch_alter_table("training_registrations") as batch:
        batch.drop_column("phone_proven")
