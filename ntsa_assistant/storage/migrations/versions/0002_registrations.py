"""Training registrations, their reminder sent-markers, and the gateway's outbox.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

"One registration per person per session" is two partial unique indexes (only rows that
are not cancelled count), which SQLite and PostgreSQL both support.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LANGUAGES = ("en", "sw")
STATUSES = ("confirmed", "waitlisted", "cancelled")
ACTIVE = sa.text("status <> 'cancelled'")


def _one_of(table: str, column: str, name: str, values: Sequence[str]) -> sa.CheckConstraint:
    allowed = ", ".join(f"'{value}'" for value in values)
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=op.f(f"ck_{table}_{name}"))


def upgrade() -> None:
    op.create_table(
        "training_registrations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("reference", sa.String(length=16), nullable=False),
        sa.Column("session_code", sa.String(length=32), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("full_name", sa.String(length=100), nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("kra_pin", sa.String(length=11), nullable=True),
        sa.Column("language", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_registrations")),
        sa.UniqueConstraint("reference", name=op.f("uq_training_registrations_reference")),
        sa.ForeignKeyConstraint(
            ["session_code"],
            ["training_sessions.code"],
            name=op.f("fk_training_registrations_session_code_training_sessions"),
            ondelete="RESTRICT",
        ),
        _one_of("training_registrations", "language", "registration_language", LANGUAGES),
        _one_of("training_registrations", "status", "registration_status", STATUSES),
    )
    op.create_index(
        op.f("ix_training_registrations_chat_id"), "training_registrations", ["chat_id"]
    )
    op.create_index(
        "ix_training_registrations_session_status",
        "training_registrations",
        ["session_code", "status"],
    )
    for name, column in (("chat", "chat_id"), ("phone", "phone")):
        op.create_index(
            f"uq_training_registrations_session_{name}",
            "training_registrations",
            ["session_code", column],
            unique=True,
            sqlite_where=ACTIVE,
            postgresql_where=ACTIVE,
        )
    op.create_table(
        "training_reminder_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("registration_id", sa.Integer(), nullable=False),
        sa.Column("offset_minutes", sa.Integer(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_reminder_deliveries")),
        sa.UniqueConstraint(
            "registration_id",
            "offset_minutes",
            name=op.f("uq_training_reminder_deliveries_registration_id"),
        ),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["training_registrations.id"],
            name=op.f("fk_training_reminder_deliveries_registration_id_training_registrations"),
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "outbox_notices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("registration_id", sa.Integer(), nullable=True),
        sa.Column("language", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_notices")),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["training_registrations.id"],
            name=op.f("fk_outbox_notices_registration_id_training_registrations"),
            ondelete="CASCADE",
        ),
        _one_of("outbox_notices", "language", "outbox_language", LANGUAGES),
    )
    op.create_index(op.f("ix_outbox_notices_created_at"), "outbox_notices", ["created_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_outbox_notices_created_at"), table_name="outbox_notices")
    op.drop_table("outbox_notices")
    op.drop_table("training_reminder_deliveries")
    for name in (
        "uq_training_registrations_session_phone",
        "uq_training_registrations_session_chat",
    ):
        op.drop_index(name, table_name="training_registrations")
    op.drop_index("ix_training_registrations_session_status", table_name="training_registrations")
    op.drop_index(op.f("ix_training_registrations_chat_id"), table_name="training_registrations")
    op.drop_table("training_registrations")
