"""Ownership proof for status look-ups: one-time codes, proofs, limit events, audit trail.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

Codes are stored only as a salted HMAC. Limit events are one row per counted attempt, so
the limits survive restarts and hold across replicas.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PROOF_METHODS = ("contact", "code")
LIMIT_KINDS = ("lookup", "failed_proof", "code_sent")


def _one_of(table: str, column: str, name: str, values: Sequence[str]) -> sa.CheckConstraint:
    allowed = ", ".join(f"'{value}'" for value in values)
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=op.f(f"ck_{table}_{name}"))


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer(), autoincrement=True, nullable=False)


def _instant(name: str, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "one_time_codes",
        _id(),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("id_number", sa.String(length=8), nullable=False),
        sa.Column("salt", sa.String(length=64), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("phone_hint", sa.String(length=2), nullable=False),
        _instant("created_at"),
        _instant("expires_at"),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _instant("used_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_one_time_codes")),
    )
    op.create_index(op.f("ix_one_time_codes_chat_id"), "one_time_codes", ["chat_id"])
    op.create_index(op.f("ix_one_time_codes_id_number"), "one_time_codes", ["id_number"])
    op.create_table(
        "ownership_proofs",
        _id(),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("id_number", sa.String(length=8), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        _instant("proven_at"),
        _instant("expires_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ownership_proofs")),
        _one_of("ownership_proofs", "method", "proof_method", PROOF_METHODS),
    )
    op.create_index(op.f("ix_ownership_proofs_chat_id"), "ownership_proofs", ["chat_id"])
    op.create_table(
        "limit_events",
        _id(),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("id_number", sa.String(length=8), nullable=False),
        _instant("at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_limit_events")),
        _one_of("limit_events", "kind", "limit_kind", LIMIT_KINDS),
    )
    op.create_index(op.f("ix_limit_events_chat_id"), "limit_events", ["chat_id"])
    op.create_index(op.f("ix_limit_events_id_number"), "limit_events", ["id_number"])
    op.create_index(op.f("ix_limit_events_at"), "limit_events", ["at"])
    op.create_table(
        "status_disclosures",
        _id(),
        _instant("disclosed_at"),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("id_number", sa.String(length=8), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("parts", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_disclosures")),
        _one_of("status_disclosures", "method", "disclosure_method", PROOF_METHODS),
    )
    op.create_index(
        op.f("ix_status_disclosures_disclosed_at"), "status_disclosures", ["disclosed_at"]
    )
    op.create_index(op.f("ix_status_disclosures_id_number"), "status_disclosures", ["id_number"])


def downgrade() -> None:
    op.drop_index(op.f("ix_status_disclosures_id_number"), table_name="status_disclosures")
    op.drop_index(op.f("ix_status_disclosures_disclosed_at"), table_name="status_disclosures")
    op.drop_table("status_disclosures")
    op.drop_index(op.f("ix_limit_events_at"), table_name="limit_events")
    op.drop_index(op.f("ix_limit_events_id_number"), table_name="limit_events")
    op.drop_index(op.f("ix_limit_events_chat_id"), table_name="limit_events")
    op.drop_table("limit_events")
    op.drop_index(op.f("ix_ownership_proofs_chat_id"), table_name="ownership_proofs")
    op.drop_table("ownership_proofs")
    op.drop_index(op.f("ix_one_time_codes_id_number"), table_name="one_time_codes")
    op.drop_index(op.f("ix_one_time_codes_chat_id"), table_name="one_time_codes")
    op.drop_table("one_time_codes")
