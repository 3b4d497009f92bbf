"""Retention of the send lists (README, "Retention").

A finished row (sent, blocked, failed…) names a chat, so it goes after the notices' period
(``RETENTION_NOTICES_DAYS``) — but a row of a timeline announcement only once that
announcement can no longer be sent: until then the row is what keeps it from going twice.
Pending rows stay until they are sent. Subscriptions stay until the person unsubscribes
(or blocks the bot): keeping them is what they asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select

from ntsa_assistant.core.settings import Settings
from ntsa_assistant.storage.engine import SessionFactory, delete_rows
from ntsa_assistant.storage.models import Announcement, AnnouncementDelivery, DeliveryState

KINDS = ("announcement_deliveries",)


@dataclass(frozen=True)
class AnnouncementRetention:
    deliveries: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> AnnouncementRetention:
        return cls(deliveries=timedelta(days=settings.retention_notices_days))


async def purge(
    sessions: SessionFactory, now: datetime, keep: AnnouncementRetention, *, dry_run: bool = False
) -> dict[str, int]:
    """Purges (or, with ``dry_run``, counts) finished rows older than their period."""
    over = select(Announcement.id).where(
        or_(Announcement.send_until.is_(None), Announcement.send_until <= now)
    )
    old = (
        (AnnouncementDelivery.state != DeliveryState.PENDING)
        & (AnnouncementDelivery.finished_at < now - keep.deliveries)
        & AnnouncementDelivery.announcement_id.in_(over)
    )
    async with sessions() as session, session.begin():
        count = await delete_rows(session, AnnouncementDelivery, old, dry_run=dry_run)
        return {"announcement_deliveries": count}
