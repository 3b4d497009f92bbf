"""Retention of the status feature's personal data (README, "Retention").

Each kind is purged once it is older than its period: one-time codes and the queued texts
that carried them, limit events and their lock rows (a limit never looks back more than a
day), ownership proofs (they expire within minutes), and the disclosure audit trail (kept
long enough to answer a person's or the regulator's question about who was told what).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement

from ntsa_assistant.core.settings import Settings
from ntsa_assistant.storage.engine import SessionFactory, delete_rows
from ntsa_assistant.storage.models import (
    LimitEvent,
    LimitLock,
    OneTimeCode,
    OwnershipProof,
    SmsOutbox,
    StatusDisclosure,
)
from ntsa_assistant.storage.models.base import Base

KINDS = ("codes", "sms", "limit_events", "limit_locks", "proofs", "audit")


@dataclass(frozen=True)
class StatusRetention:
    """How long each kind is kept."""

    codes: timedelta
    limits: timedelta
    proofs: timedelta
    audit: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> StatusRetention:
        return cls(
            codes=timedelta(days=settings.retention_codes_days),
            limits=timedelta(days=settings.retention_limits_days),
            proofs=timedelta(days=settings.retention_proofs_days),
            audit=timedelta(days=settings.retention_audit_days),
        )


def _old_rows(
    now: datetime, keep: StatusRetention
) -> list[tuple[str, type[Base], ColumnElement[bool]]]:
    return [
        ("codes", OneTimeCode, OneTimeCode.created_at < now - keep.codes),
        ("sms", SmsOutbox, SmsOutbox.created_at < now - keep.codes),
        ("limit_events", LimitEvent, LimitEvent.at < now - keep.limits),
        ("limit_locks", LimitLock, LimitLock.touched_at < now - keep.limits),
        ("proofs", OwnershipProof, OwnershipProof.proven_at < now - keep.proofs),
        ("audit", StatusDisclosure, StatusDisclosure.disclosed_at < now - keep.audit),
    ]


async def purge(
    sessions: SessionFactory, now: datetime, keep: StatusRetention, *, dry_run: bool = False
) -> dict[str, int]:
    """Purges (or, with ``dry_run``, counts) what is older than its period, in one
    transaction; the count per kind, in :data:`KINDS` order."""
    async with sessions() as session, session.begin():
        return {
            kind: await delete_rows(session, model, condition, dry_run=dry_run)
            for kind, model, condition in _old_rows(now, keep)
        }
