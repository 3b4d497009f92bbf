"""The four record tables of DESIGN.md: accounts, organisations, transactions, sessions.

Revision ID: 0001
Revises:
Create Date: 2026-11-27

Enumerations are stored as strings and checked by named CHECK constraints (the same names
the models' naming convention gives), so SQLite and PostgreSQL hold identical schemas.
The value lists are frozen here on purpose: a later change to an enum is a new revision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CATEGORIES = (
    "motor_dealer",
    "financial_institution",
    "insurance",
    "company",
    "embassy_mission",
    "government_mda",
)
LINK_STATUSES = ("linked", "pending", "not_linked")
TRANSACTION_STATUSES = (
    "submitted",
    "awaiting_payment",
    "awaiting_inspection",
    "awaiting_approval",
    "approved",
    "completed",
    "rejected",
    "cancelled",
)
AUDIENCES = (
    "motorists",
    "motor_dealers",
    "financial_institutions",
    "insurance",
    "companies",
    "embassies_missions",
    "government_mdas",
    "all",
)
LANGUAGES = ("en", "sw")


def _one_of(table: str, column: str, name: str, values: Sequence[str]) -> sa.CheckConstraint:
    """``column IN (...)``, named ``ck_<table>_<name>`` like the models' Enum constraints."""
    allowed = ", ".join(f"'{value}'" for value in values)
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=op.f(f"ck_{table}_{name}"))


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id_number", sa.String(length=8), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("validated_on", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id_number", name=op.f("pk_accounts")),
    )
    op.create_table(
        "organisations",
        sa.Column("kra_pin", sa.String(length=11), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("representative_id_number", sa.String(length=8), nullable=False),
        sa.Column("link_status", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("kra_pin", name=op.f("pk_organisations")),
        _one_of("organisations", "category", "organisation_category", CATEGORIES),
        _one_of("organisations", "link_status", "link_status", LINK_STATUSES),
    )
    op.create_index(
        op.f("ix_organisations_representative_id_number"),
        "organisations",
        ["representative_id_number"],
    )
    op.create_table(
        "transactions",
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("id_number", sa.String(length=8), nullable=False),
        sa.Column("service", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("submitted_on", sa.Date(), nullable=False),
        sa.Column("updated_on", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("reference", name=op.f("pk_transactions")),
        _one_of("transactions", "status", "transaction_status", TRANSACTION_STATUSES),
    )
    op.create_index(op.f("ix_transactions_id_number"), "transactions", ["id_number"])
    op.create_table(
        "training_sessions",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("audience", sa.String(length=32), nullable=False),
        sa.Column("language", sa.String(length=32), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("join_url", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_training_sessions")),
        _one_of("training_sessions", "audience", "audience", AUDIENCES),
        _one_of("training_sessions", "language", "language", LANGUAGES),
    )
    op.create_index(op.f("ix_training_sessions_starts_at"), "training_sessions", ["starts_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_training_sessions_starts_at"), table_name="training_sessions")
    op.drop_table("training_sessions")
    op.drop_index(op.f("ix_transactions_id_number"), table_name="transactions")
    op.drop_table("transactions")
    op.drop_index(op.f("ix_organisations_representative_id_number"), table_name="organisations")
    op.drop_table("organisations")
    op.drop_table("accounts")
