"""Retention of the FAQ page's "Did this help?" votes (README, "Retention").

A vote holds no address, only an HMAC of it, but that key still links one client's votes:
they go once older than the feedback period, which is long enough for a year's report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ntsa_assistant.core.settings import Settings
from ntsa_assistant.storage.engine import SessionFactory, delete_rows
from ntsa_assistant.storage.models import FaqFeedback

KINDS = ("feedback",)


@dataclass(frozen=True)
class FaqRetention:
    feedback: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> FaqRetention:
        return cls(feedback=timedelta(days=settings.retention_feedback_days))


async def purge(
    sessions: SessionFactory, now: datetime, keep: FaqRetention, *, dry_run: bool = False
) -> dict[str, int]:
    """Purges (or, with ``dry_run``, counts) the votes older than their period."""
    async with sessions() as session, session.begin():
        old = FaqFeedback.at < now - keep.feedback
        return {"feedback": await delete_rows(session, FaqFeedback, old, dry_run=dry_run)}
