"""Retention of the activity record (README, "Retention").

An event holds no personal data, but its chat hash links one person's events, and a missed
message's masked text may still hold what masking cannot recognise (a name): the texts go
first, once the next round of training could have used them; the events once a year's
report no longer needs them. The HMAC key stays (a new one would split everyone in two).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update

from ntsa_assistant.core.settings import Settings
from ntsa_assistant.storage.engine import SessionFactory, claimed_rows, delete_rows
from ntsa_assistant.storage.models import ActivityEvent

KINDS = ("activity_texts", "activity_events")


@dataclass(frozen=True)
class ActivityRetention:
    events: timedelta
    texts: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> ActivityRetention:
        return cls(
            events=timedelta(days=settings.retention_activity_days),
            texts=timedelta(days=settings.retention_activity_text_days),
        )


async def purge(
    sessions: SessionFactory, now: datetime, keep: ActivityRetention, *, dry_run: bool = False
) -> dict[str, int]:
    """Clears the texts and deletes the events past their periods (``dry_run``: counts)."""
    async with sessions() as session, session.begin():
        old_event = ActivityEvent.at < now - keep.events
        old_text = (ActivityEvent.at < now - keep.texts) & ActivityEvent.text.is_not(None)
        if dry_run:
            texts = await delete_rows(session, ActivityEvent, old_text & ~old_event, dry_run=True)
        else:
            texts = claimed_rows(
                await session.execute(
                    update(ActivityEvent)
                    .where(old_text, ~old_event)
                    .values(text=None)
                    .execution_options(synchronize_session=False)
                )
            )
        events = await delete_rows(session, ActivityEvent, old_event, dry_run=dry_run)
    return {"activity_texts": texts, "activity_events": events}
